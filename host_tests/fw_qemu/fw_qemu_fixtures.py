"""Fixtures and helpers of the QEMU firmware test bed (a pytest plugin, loaded by
host_tests/conftest.py for the folder fw_qemu): MicroPython v1.28.0 (ports/qemu,
BOARD=MPS2_AN385, Cortex-M3) with netdump frozen, built from $MICROPYTHON_SRC
by tools/fwbuild.py (cached under build/), run in qemu-system-arm with its
UART on a pty (mpremote) and its LAN9118 on the virtual network.

Without the source or the toolchain every test here is skipped with one line
saying which (with NETDUMP_FIRMWARE_REQUIRED=1, set by CI when the inputs are
there, that is an error instead); a build that fails is an error, not a skip."""
import os
import subprocess

import pytest

from netdump_tools import fwbuild
from netdump_tools.qemu_board import Bed, QemuBoard

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(HOST_TESTS)
BOARD_SIDE = os.path.join(HERE, "board")  # code sent to the board (mpremote exec)
PROBE_DIR = os.path.join(HERE, "frozen")  # frozen into the test-bed firmware only

_reason = []
_built = {}


def skip_reason():
    """None when the bed can run, else a one-line reason to skip."""
    if not _reason:
        missing = fwbuild.toolchain_missing()
        r = None
        if missing:
            r = "no toolchain: %s not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi " \
                "qemu-system-arm)" % ", ".join(missing)
        else:
            try:
                fwbuild.source_path()
            except fwbuild.BuildError as e:
                r = "no source: %s" % e
        _reason.append(r)
    return _reason[0]


def _skip_or_fail():
    r = skip_reason()
    if r:
        if os.environ.get("NETDUMP_FIRMWARE_REQUIRED") == "1":
            pytest.fail("QEMU firmware bed required but unavailable: " + r, pytrace=False)
        pytest.skip(r)


def build(variant="default"):
    """The test-bed firmware ELF of a variant (built once per session); skip or fail."""
    _skip_or_fail()
    if variant not in _built:
        try:
            _built[variant] = (fwbuild.build_qemu(variant), None)
        except fwbuild.BuildError as e:
            _built[variant] = (None, str(e))
    elf, err = _built[variant]
    if err:
        pytest.fail("firmware build failed: " + err, pytrace=False)
    return elf


@pytest.fixture(scope="session")
def firmware():
    """build/qemu/default/firmware.elf: the port's own settings (140 KiB heap, armv7m native code)."""
    return build("default")


@pytest.fixture(scope="session")
def firmware_armv6m():
    """build/qemu/armv6m/firmware.elf: viper and .mpy native code restricted to armv6m (the RP2040's)."""
    return build("armv6m")


@pytest.fixture(scope="session")
def mpy_cross_128():
    """mpy-cross of the same MicroPython source (build/mpy-cross-1.28.0/mpy-cross)."""
    _skip_or_fail()
    try:
        return fwbuild.build_mpy_cross()
    except fwbuild.BuildError as e:
        pytest.fail("mpy-cross build failed: %s" % e, pytrace=False)


def _running(thing):
    # a fixture's body: start it, hand it to the test, close it whatever happened
    thing.start()
    try:
        yield thing
    finally:
        thing.close()


@pytest.fixture
def bed(firmware, tmp_path):
    """The default firmware in QEMU on the virtual network, netdumpd on private ports."""
    yield from _running(Bed(firmware, str(tmp_path / "bed")))


@pytest.fixture
def lossy_bed(firmware, tmp_path):
    """The same with 5 % of the frames lost each way (seeded)."""
    yield from _running(Bed(firmware, str(tmp_path / "bed"), loss=0.05, seed=3))


@pytest.fixture
def board(firmware, tmp_path):
    """The default firmware in QEMU without a network."""
    yield from _running(QemuBoard(firmware, str(tmp_path / "qemu")))


def board_code(name):
    """The text of host_tests/fw_qemu/board/<name>.py (run on the board with mpremote exec)."""
    with open(os.path.join(BOARD_SIDE, name + ".py")) as f:
        return f.read()


def compile_mpy(mpy_cross, src, out, arch="armv7m"):
    """mpy-cross -march=arch src -o out (the 1.28.0 mpy-cross); AssertionError with its output."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    r = subprocess.run([mpy_cross, "-march=" + arch, "-o", out, src], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "mpy-cross %s:\n%s%s" % (src, r.stdout, r.stderr)
    return out


STACK = 16 * 1024  # below _estack: the port's 10 KiB C stack limit (main.c) and the frames above main


def elf_symbols(elf):
    """name -> (address, size) of the firmware's defined symbols (arm-none-eabi-nm)."""
    r = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", elf], capture_output=True, text=True,
                       timeout=60, check=True)
    out = {}
    for ln in r.stdout.splitlines():
        p = ln.split()
        if len(p) == 4:
            out[p[3]] = (int(p[0], 16), int(p[1], 16))
        elif len(p) == 3:
            out.setdefault(p[2], (int(p[0], 16), 0))
    return out


def ram_regions(elf):
    """[(name, address, size)]: .data + .bss (GC heap included) and the C stack."""
    s = elf_symbols(elf)
    data = s["_sdata"][0]
    top = s["_estack"][0]
    return [("data_bss", data, s["_ebss"][0] - data), ("stack", top - STACK, STACK)]


def lines_with(out, prefix):
    """The lines of out that start with prefix, prefix removed."""
    return [ln[len(prefix):].strip() for ln in out.splitlines() if ln.startswith(prefix)]
