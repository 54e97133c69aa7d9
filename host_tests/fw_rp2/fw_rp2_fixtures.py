"""Fixtures of the RP2040 firmware test bed (a pytest plugin, loaded by
host_tests/conftest.py for the folder fw_rp2): the stock MicroPython v1.28.0
firmware on rp2040js (tools/rp2board.py). Each test module gets one network
(vnet user mode + netdumpd) and one board, and runs its tests in order as one
user's session on it.

Without node, rp2040js, socat or the firmware images every test here is
skipped with one line saying which; with NETDUMP_FIRMWARE_REQUIRED=1 (CI, when
the images are there) that is an error instead."""
import os

import pytest

import rp2bed


def _available():
    why = rp2bed.why_not()
    if why:
        if os.environ.get("NETDUMP_FIRMWARE_REQUIRED") == "1":
            pytest.fail("RP2040 firmware bed required but unavailable: " + why, pytrace=False)
        pytest.skip("RP2040 firmware bed: " + why)


@pytest.fixture
def rp2_bed():
    """Skip (or, when required, fail) unless the RP2040 bed can run here."""
    _available()


@pytest.fixture(scope="module")
def rp2_net(tmp_path_factory):
    """vnet + netdumpd for one test module."""
    _available()
    n = rp2bed.Net(tmp_path_factory.mktemp("rp2net"))
    yield n
    n.stop()
