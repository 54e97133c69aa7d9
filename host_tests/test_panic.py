"""Fault entry points end to end on the MicroPython unix port, dumping to the
project's netdumpd on 127.0.0.1: guard() with the traceback in the notes, the
watchdog firing on a stalled heartbeat, and the panic console retrying with
another server after the first one did not answer. Every fault path runs
with the heap locked (host_tests/mp_board/panic_run.py)."""
import os

import pytest

from conftest import HERE, ROOT, run_micropython
from netdump_tools import reader
from netutil import cores, free_udp_port, server, start_netdumpd, stop  # noqa: F401  (server: fixture; test_dumpon)


BOARDS = os.path.join(ROOT, "boards")


def ram_image():
    ram = bytearray(64 * 1024)
    for i in range(0, len(ram), 251):
        ram[i] = (i // 251) & 0xFF
    ram[0:16] = b"virtual-ram-0123"
    return ram


def run(args, paths=(), **kw):
    return run_micropython(["mp_board/panic_run.py"] + [str(a) for a in args], extra_paths=list(paths) + [BOARDS],
                           **kw)


def test_guard_dumps_traceback(server):
    dumpdir, hport, cport = server
    r = run(["guard", hport, cport], timeout=120)
    out = r.stdout + r.stderr
    assert "RESULT 0" in out and "netdump finished." in out, out
    # the traceback on the console too, after the panic line (printed with the heap locked)
    after = r.stdout.split("panic: unhandled exception", 1)[1]
    assert "Traceback (most recent call last):" in after and "in level3" in after, r.stdout
    assert "ZeroDivisionError: divide by zero" in after, r.stdout
    (core_path,) = cores(dumpdir)
    core = reader.Vmcore.open(str(core_path))
    assert core.panic == "ZeroDivisionError: divide by zero"
    tb = core.traceback
    assert tb.startswith("Traceback (most recent call last):"), tb
    assert "in guarded" in tb and "in app" in tb and "in level3" in tb, tb
    assert tb.rstrip().endswith("ZeroDivisionError: divide by zero")
    ram = ram_image()
    ram[100:104] = b"app!"  # what the application wrote before it failed
    assert core.read_region("ram") == bytes(ram)
    info = (dumpdir / core_path.name.replace("vmcore", "info")).read_text()
    assert "Panic String: ZeroDivisionError: divide by zero" in info, info


@pytest.mark.parametrize("reserve", [-1, 0], ids=["reserve", "no-reserve"])
def test_guard_dumps_after_the_heap_is_exhausted(server, reserve):
    # the application fills the heap until MemoryError (a board-sized heap);
    # guard() dumps through the socket endpoint, whose herald recvfrom() runs on
    # the reserve made at arm. Without the reserve (0) the herald cannot be
    # answered and the dump fails.
    dumpdir, hport, cport = server
    r = run(["oom", hport, cport, reserve], timeout=120, heapsize="256K")
    out = r.stdout + r.stderr
    if reserve:
        assert "RESULT 0" in out and "netdump finished." in out, out
        (core_path,) = cores(dumpdir)
        core = reader.Vmcore.open(str(core_path))
        assert core.panic.startswith("MemoryError"), core.panic
        assert "in hungry" in core.traceback, core.traceback
        ram = ram_image()
        ram[100:104] = b"oom!"
        assert core.read_region("ram") == bytes(ram)
    else:
        assert "netdump failed:" in out and "RESULT 0" not in out, out


def test_watchdog_fires_on_stalled_heartbeat(server):
    dumpdir, hport, cport = server
    r = run(["watchdog", hport, cport], timeout=120)
    out = r.stdout + r.stderr
    assert "WATCHDOG thread" in out, out
    assert "FED 0" in out, out  # fed every 20 ms for 1 s: no expiry
    assert "RESULT 0" in out and "FIRED 1" in out, out
    (core_path,) = cores(dumpdir)
    core = reader.Vmcore.open(str(core_path))
    assert core.panic == "watchdog: no heartbeat for 300 ms"
    assert core.read_region("ram") == bytes(ram_image())


@pytest.mark.parametrize("stack", ["unix", "esp32", "lwip"])
def test_console_retries_with_another_server(server, stack):
    # the retarget runs under the outer heap lock on every socket module
    # (esp32 and lwip: the stand-ins in host_tests/<stack>_standin)
    dumpdir, live_hport, cport = server
    silent = free_udp_port()  # nothing listens there: the herald is never acked
    script = "help\nnetdump -s 127.0.0.1:%d\nshow\ncontinue\n" % live_hport
    paths = [os.path.join(HERE, stack + "_standin")] if stack != "unix" else []
    r = run(["console", silent, cport, stack], timeout=120, input=script, paths=paths)
    out = r.stdout + r.stderr
    first = out.index("netdump failed:")
    retry = out.index("netdump: server 127.0.0.1 port %d" % live_hport)
    done = out.index("netdump finished.")
    assert first < retry < done, out
    assert "last dump: ok" in out, out
    assert "RESULT 0 0" in out, out
    (core_path,) = cores(dumpdir)
    core = reader.Vmcore.open(str(core_path))
    assert core.panic == "console test"
    assert core.read_region("ram") == bytes(ram_image())


def test_console_timeout_takes_default_action(tmp_path):
    # a silent server and no input at all: the console gives up, the action runs
    silent, cport = free_udp_port(), free_udp_port()
    r = run(["console", silent, cport], timeout=120, input="")
    out = r.stdout + r.stderr
    assert "netdump failed:" in out and "netdump: console input ended" in out, out
    res = [ln.split() for ln in out.splitlines() if ln.startswith("RESULT")]
    assert res and res[0][1] == res[0][2] and res[0][1] != "0", out  # the dump's error code, returned
