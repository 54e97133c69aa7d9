"""A user's session on the stock RPI_PICO firmware (MicroPython v1.28.0, no
network module) with a W5500 wired to SPI0 and the project's own polled
driver, on rp2040js: install the .mpy set with mpremote mip, configure with
dumpon, arm from boot.py, a test dump with netdump-testdump whose SRAM is
compared with the emulator's own copy, a guard() fault that dumps and resets,
and the machine.Timer hang watchdog. Every dump runs under heap_lock() on
the real firmware: one allocation and it fails."""

import pytest

import rp2bed
from netdump_tools import reader, rp2board
from test_packages import W5500_CHAIN  # host_tests/ (conftest.py's folder) is on sys.path

pytestmark = pytest.mark.usefixtures("rp2_bed")


BOARD = "pico_w5500"
MARK_LEN = 4096
MARK = bytes((i * 73 + 11) & 0xFF for i in range(MARK_LEN))

# Where a dump may legitimately differ from SRAM as it was when the dump
# began: memory the dump itself (or the firmware beside it) writes while it
# runs, with the most bytes allowed to differ in each. Measured on this bed:
# stack ~3100, heap ~2100, statics ~90 bytes of 270336 (2.0 %).
BOUND_STACK = 4096  # C stack: the dump's own calls
BOUND_HEAP = 3072  # GC heap: the armed dump's buffers and counters (frame, block, SPI staging)
BOUND_STATIC = 256  # interpreter state and TinyUSB's CDC state (console output while dumping)
BOUND_TOTAL = 6144  # < 2.3 % of SRAM
STATIC_OK = rp2bed.CONSOLE_STATICS


@pytest.fixture(scope="module")
def net(rp2_net):
    return rp2_net


@pytest.fixture(scope="module")
def pico(net, tmp_path_factory):
    b = rp2bed.start_board("RPI_PICO", net, tmp_path_factory)
    yield b
    b.stop()


def test_mip_install_mpy_set(pico, tmp_path):
    # the board's own package (make mip, the README's line): exactly its chain, as armv6m .mpy
    before = pico.stats()["flash"]
    st, out = rp2board.install(pico.link, "mpy", work=str(tmp_path), board=BOARD)
    assert st == 0, out
    installed = sorted(ln.split()[-1] for ln in out.splitlines() if ln.startswith("Installing:"))
    assert installed == sorted("lib/" + t[:-3] + ".mpy" for t in W5500_CHAIN + ["pico_w5500.py"]), out
    # on the board's littlefs, through the flash model: erased and programmed for real
    after = pico.stats()["flash"]
    assert after["programs"] - before["programs"] >= len(installed) and after["erases"] > before["erases"]
    out = rp2bed.board_exec(pico.link, "import os, netdump.panic, pico_w5500\n"
                                       "print('LIB', sorted(os.listdir('/lib/netdump')))")
    assert "'panic.mpy'" in out and "'drivers'" in out, out


def test_dumpon_and_boot_py_arm(pico, net, tmp_path):
    st, out = rp2bed.tool("dumpon", "-p", pico.link, *net.dumpon_args(BOARD))
    assert st == 0 and "dumpon: saved netdump.json: w5500 client 10.0.2.15 server 10.0.2.2" in out, out
    boot = tmp_path / "boot.py"
    boot.write_text("import netdump.panic; netdump.panic.arm_config()\n")
    st, out = rp2bed.mpremote(pico.link, "fs", "cp", str(boot), ":boot.py")
    assert st == 0, out
    # without `resume` mpremote soft-resets the board first: boot.py arms it, as at power-up
    st, out = rp2bed.mpremote(pico.link, "exec", "import netdump.panic as p; print('ARMED', p.fault.armed[0] is not None)")
    assert st == 0 and "ARMED True" in out, out
    assert "netdump: armed: w5500 10.0.2.15 -> 10.0.2.2 port %d" % net.nd.herald_port in pico.console()
    assert pico.chip.stats["bytes_in_reset"] == 0  # the driver never talked to a chip held in reset


def _marker(dev):
    # 4 KiB of a known pattern in a REPL global (kept alive across `resume` sessions) -> its address
    out = rp2bed.board_exec(dev, "import uctypes\nND_MARK = bytearray((i * 73 + 11) & 255 for i in range(%d))\n"
                                 "print('MARK', uctypes.addressof(ND_MARK))" % MARK_LEN)
    return int(out.split("MARK")[1].split()[0])


def test_testdump_sram_equals_the_emulators_snapshot(pico, net):
    dev = pico.link
    _, before_mark = pico.snapshot()
    addr = _marker(dev)
    n = len(net.cores())
    snaps = len(pico.spi.snapshots)
    st, out = rp2bed.tool("netdump-testdump", "-p", dev, "-v")
    assert st == 0 and "netdump finished." in out, out
    path = net.wait_cores(n + 1)[-1]
    core = reader.Vmcore.open(path)
    r = core.region("sram")
    assert (r.vaddr, r.size) == (rp2board.SRAM_BASE, 264 * 1024)
    assert core.board == BOARD and "Raspberry Pi Pico with RP2040" in core.firmware
    assert core.panic == "netdump test dump"
    # the CRC-32 the board computed while sending (fast_thumb's mem_read on the
    # Cortex-M0+) matches the bytes netdumpd stored
    assert core.check_digest(r)[0] == "ok", core.check_digest(r)
    dumped = core.read_region("sram")
    new = pico.spi.snapshots[snaps:]
    assert [s[0] for s in new] == [rp2board.SNAP_HERALD, rp2board.SNAP_FINISHED], new
    first, last = new[0], new[1]
    stats = rp2bed.board_exec(dev, "import netdump.panic as p, netdump.debugnet as d\n"
                                   "print(dict(zip(d.STAT_NAMES, p.fault.armed[0].net.stats)))")
    rp2bed.log("dump: %.1f ms simulated from HERALD to FINISHED; %s" % ((last[1] - first[1]) / 1e6, stats.strip()))
    off = addr - rp2board.SRAM_BASE
    # addresses line up: the marker is where the board said, in the dump and in the snapshot
    assert dumped[off:off + MARK_LEN] == MARK and first[2][off:off + MARK_LEN] == MARK
    # and the comparison sees a change of that size (a snapshot from before the marker)
    assert sum(1 for i in range(off, off + MARK_LEN) if before_mark[i] != dumped[i]) > MARK_LEN * 9 // 10

    areas = rp2bed.sram_areas(pico.elf, STATIC_OK)
    per, stray = rp2bed.classify(rp2bed.diff_ranges(dumped, first[2]), areas)
    total = sum(per.values())
    rp2bed.log("dump vs SRAM at HERALD: %d of %d bytes differ: %s" % (total, len(dumped), per))
    for name, lo, hi in areas:
        rp2bed.log("  %-16s 0x%08x-0x%08x %6d bytes differ" % (name, lo, hi, per.get(name, 0)))
    assert not stray, "dump differs outside the areas it writes: %s" % [(hex(a), hex(b)) for a, b in stray[:20]]
    assert per.get("C stack", 0) <= BOUND_STACK and per.get("GC heap", 0) <= BOUND_HEAP, per
    assert sum(v for k, v in per.items() if k not in ("C stack", "GC heap")) <= BOUND_STATIC, per
    assert total <= BOUND_TOTAL, per


def test_guard_fault_dumps_and_resets(pico, net):
    dev = pico.link
    n = len(net.cores())
    resets = len(pico.resets)
    code = "import netdump.panic as p\ndef app():\n    return {}['no such key']\np.guard(app)\n"
    st, out = rp2bed.mpremote(dev, "resume", "exec", "--no-follow", code)
    assert st == 0, out
    core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
    assert core.panic == "KeyError: no such key", core.panic
    assert "in app" in core.traceback, core.traceback
    assert pico.wait_reset(resets + 1, 120), "the board did not reset after the fault dump"
    con = pico.console()
    for line in ("panic: unhandled exception", "netdump finished.", "netdump: resetting"):
        assert line in con, con[-2000:]
    # rebooted by the watchdog (machine.reset), and boot.py armed it again (before USB was up,
    # so its line went nowhere, as on a real board)
    out = rp2bed.board_exec(dev, "import machine, netdump.panic as p\n"
                                 "print('CAUSE', machine.reset_cause() == machine.WDT_RESET, p.fault.armed[0] is not None)")
    assert "CAUSE True True" in out, out


@pytest.mark.parametrize("fed", [True, False], ids=["fed", "starved"])
def test_machine_timer_watchdog(pico, net, fed):
    dev = pico.link
    n = len(net.cores())
    resets = len(pico.resets)
    code = ("import netdump.panic as p, time\nw = p.watchdog(300)\nt = time.ticks_ms()\n"
            "while time.ticks_diff(time.ticks_ms(), t) < 1500:\n    %s\n    time.sleep_ms(20)\n"
            "w.stop()\nprint('WATCHDOG QUIET')\n" % ("w.feed()" if fed else "pass"))
    if fed:
        out = rp2bed.board_exec(dev, code)
        assert "WATCHDOG QUIET" in out and len(net.cores()) == n and len(pico.resets) == resets, out
        return
    seen = len(pico.console())
    st, out = rp2bed.mpremote(dev, "resume", "exec", "--no-follow", code)
    assert st == 0, out
    core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
    assert core.panic == "watchdog: no heartbeat for 300 ms", core.panic
    assert pico.wait_reset(resets + 1, 120)
    # Only the first bytes of the console lines reach the host: the expiry runs as a scheduled
    # callback, where MicroPython does not run TinyUSB's task, so the rest waits in the CDC FIFO
    # until the reset drops it (shared/tinyusb/mp_usbd_cdc.c flushes only a full FIFO).
    con = pico.console()[seen:]
    assert "panic:" in con and "WATCHDOG QUIET" not in con, con
