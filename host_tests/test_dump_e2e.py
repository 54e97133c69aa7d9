"""End to end on the MicroPython unix port: arm, then dump three regions with
the heap locked for the whole dump, to the project's netdumpd on loopback.
The saved vmcore must hold every region byte for byte, the KDH parity must
pass, and the notes must carry the panic message and traceback."""
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import HERE, run_micropython
from netdump import kdh
from netdump_tools import reader

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (SOCK_RAW to learn the session port)")


def free_udp_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def xorshift_bytes(nbytes, seed):
    out = bytearray(nbytes)
    x = seed
    for i in range(0, nbytes, 4):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        struct.pack_into("<I", out, i, x)
    return bytes(out)


@pytest.fixture
def server(tmp_path):
    dumpdir = tmp_path / "crash"
    dumpdir.mkdir()
    hport = free_udp_port()
    cport = free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "netdump_tools.netdumpd", "-D", "-n", "-a", "127.0.0.1", "-d", str(dumpdir),
         "-P", str(tmp_path / "netdumpd.pid"), "--herald-port", str(hport), "--client-port", str(cport)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read()
    yield dumpdir, hport, cport, proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("mode", ["window", "freebsd"])
def test_dump_three_regions_heap_locked(server, mode):
    dumpdir, hport, cport, proc = server
    big_mib = 8
    r = run_micropython(["mp/dump_e2e.py", "127.0.0.1", str(hport), str(cport), mode, str(big_mib)], timeout=300)
    out = r.stdout + r.stderr
    assert "RESULT 0" in out, out
    assert "Dumping" in out and "..100%" in out and "netdump finished." in out, out
    cores = sorted(p for p in dumpdir.iterdir() if p.name.startswith("vmcore.") and not p.name.endswith(".last"))
    assert len(cores) == 1, list(dumpdir.iterdir())
    core = reader.Vmcore.open(str(cores[0]))
    assert [r.name for r in core.regions] == ["big", "sparse", "small"]
    assert core.read_region("big") == xorshift_bytes(big_mib << 20, 0x2545F491)
    sparse = bytearray(256 * 1024)
    for off in (5, 70000, 262143):
        sparse[off] = 0xA5
    assert core.read_region("sparse") == bytes(sparse)
    assert core.read_region("small") == b"netdump small region 0123456789" * 3
    assert core.panic == "test panic: e2e"
    assert "ZeroDivisionError: divide by zero" in core.traceback
    assert core.board == "unix"
    # zero blocks of the sparse region were skipped (a hole on the server)
    sent = int([ln for ln in out.splitlines() if ln.startswith("SENT")][0].split()[1])
    assert sent < (big_mib << 20) + 256 * 1024
    info = (dumpdir / cores[0].name.replace("vmcore", "info")).read_text()
    assert "Header Parity Check: Pass" in info, info
    assert "Dump complete" in info, info
    assert "Hostname: unix-board" in info, info
    assert "Panic String: test panic: e2e" in info, info


def test_dump_fails_cleanly_when_server_is_silent(tmp_path):
    # nobody listens: the herald is never acked; the dump must end with an error, not hang
    hport = free_udp_port()
    cport = free_udp_port()
    script = tmp_path / "silent.py"
    script.write_text(
        "import uctypes\n"
        "from netdump import elfcore, panic\n"
        "b = bytearray(8192)\n"
        "panic.arm('127.0.0.1', [('r', uctypes.addressof(b), len(b))], elfcore.EM_X86_64, 64, 'amd64',\n"
        "          herald_port=%d, client_port=%d, client_ip='127.0.0.1', deadline_ms=3000)\n"
        "print('RESULT', panic.dump('silent'))\n" % (hport, cport))
    r = run_micropython([str(script)], timeout=120)
    out = r.stdout + r.stderr
    assert "RESULT 0" not in out and "RESULT" in out, out
    assert "netdump failed:" in out, out
