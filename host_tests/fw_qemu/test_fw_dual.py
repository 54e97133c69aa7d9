"""Every dual-runtime test file of host_tests (conftest.DUAL_MARKER) on the firmware: the
default-heap build (140 KiB) in QEMU, the package frozen, the test modules and
their helpers precompiled with the same source's mpy-cross and loaded through
`mpremote mount` over the UART's pty (host_tests/mprun.py runs them, as on the
unix port). One item per file; it fails with the names and output of the
tests that failed. The armv6m build runs the files with viper fast paths
(fast, inet: the RP2040's instruction set) and the driver-independent
transport tests."""
import glob
import os

import pytest

from dualtest import parse_mprun
from fw_qemu_fixtures import HOST_TESTS, ROOT, compile_mpy
from netdump_tools.qemu_board import QemuBoard, mpremote

from conftest import DUAL_MARKER as MARKER  # noqa: E402  (host_tests/conftest.py)
DUAL = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HOST_TESTS, "test_*.py"))
              if MARKER in open(p, encoding="utf-8").read())
ARMV6M = ["test_fast", "test_inet", "test_wire"]
# helpers the test files import; board modules (test_config loads them; the
# QEMU board's own module stays the frozen one)
HELPERS = ["dualtest", "frames", "mprun"]


def mpy_dir(mpy_cross, out, arch):
    """The folder mounted on the board: test modules, helpers and board modules as .mpy."""
    for name in DUAL + HELPERS:
        compile_mpy(mpy_cross, os.path.join(HOST_TESTS, name + ".py"), os.path.join(out, name + ".mpy"), arch)
    for p in glob.glob(os.path.join(ROOT, "boards", "*.py")):
        b = os.path.basename(p)[:-3]
        if b != "qemu_mps2_an385":
            compile_mpy(mpy_cross, p, os.path.join(out, b + ".mpy"), arch)
    return out


def results(out):
    """{test name: (status, output)} from mprun's @@BEGIN/@@END lines."""
    res, cur, text = parse_mprun(out)
    if cur is not None:  # the board stopped answering inside a test
        res[cur] = ("FAIL", text + "\n[no @@END line]")
    return res


def run_file(device, folder, name):
    code = "import sys\nsys.argv[:] = ['mprun', %r]\nimport mprun\n" % name
    # no `resume`: mpremote soft-resets first, so every file starts with an empty heap
    st, out = mpremote(device, "mount", folder, "exec", code, timeout=900)
    res = results(out)
    assert st == 0 and res, "mpremote exit %d:\n%s" % (st, out[-4000:])
    bad = dict((k, v) for k, v in res.items() if v[0] == "FAIL")
    skipped = sorted(k for k, v in res.items() if v[0] == "SKIP")
    assert not bad, "\n\n".join("%s:\n%s" % (k, v[1]) for k, v in sorted(bad.items()))
    print("[firmware] %s: %d passed, skipped: %s" % (name, len(res) - len(skipped), skipped or "none"))
    return res


@pytest.fixture(scope="module")
def qboard(firmware, tmp_path_factory):
    b = QemuBoard(firmware, str(tmp_path_factory.mktemp("qemu")))
    b.start()
    yield b
    b.close()


@pytest.fixture(scope="module")
def mpys(mpy_cross_128, tmp_path_factory):
    return mpy_dir(mpy_cross_128, str(tmp_path_factory.mktemp("mpy")), "armv7m")


@pytest.mark.parametrize("name", DUAL)
def test_dual_runtime_file_on_default_heap_firmware(qboard, mpys, name):
    res = run_file(qboard.device, mpys, name)
    # only tests for another runtime may skip on the firmware
    for k, (status, text) in res.items():
        if status == "SKIP":
            assert "CPython only" in text or "unix port only" in text, (k, text)


@pytest.mark.parametrize("name", ARMV6M)
def test_dual_runtime_file_on_armv6m_firmware(firmware_armv6m, mpy_cross_128, tmp_path, name):
    folder = mpy_dir(mpy_cross_128, str(tmp_path / "mpy6"), "armv6m")
    with QemuBoard(firmware_armv6m, str(tmp_path / "qemu")) as b:
        run_file(b.device, folder, name)
