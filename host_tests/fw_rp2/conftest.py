"""Fixtures of the RP2040 firmware tests (tools/rp2board.py): each module
gets one network (vnet user mode + netdumpd) and one board, and its tests run
in order as one user's session on it. Without node, rp2040js, socat or the
firmware images every test is skipped with the reason; with
NETDUMP_FIRMWARE_REQUIRED=1 (CI) that is an error instead."""
import os

import pytest

import rp2bed


@pytest.fixture(autouse=True)
def _rp2_bed_available():
    why = rp2bed.why_not()
    if why:
        if os.environ.get("NETDUMP_FIRMWARE_REQUIRED") == "1":
            pytest.fail("RP2040 firmware bed required but unavailable: " + why)
        pytest.skip("RP2040 firmware bed: " + why)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    if rp2bed.why_not():
        pytest.skip("RP2040 firmware bed: " + rp2bed.why_not())
    n = rp2bed.Net(tmp_path_factory.mktemp("rp2net"))
    yield n
    n.stop()
