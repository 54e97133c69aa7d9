"""End to end on the MicroPython unix port: arm, then dump three regions with
the heap locked for the whole dump, to the project's netdumpd on loopback.
The saved vmcore must hold every region byte for byte, the KDH parity must
pass, and the notes must carry the panic message and traceback."""

import pytest

from conftest import run_micropython
from netdump_tools import reader
from netdump_tools.netdumpd_harness import NetdumpdProc, wait_for_text
from netutil import check_regions, cores, free_udp_port, server  # noqa: F401  (server: fixture)


@pytest.mark.parametrize("mode", ["window", "freebsd"])
def test_dump_three_regions_heap_locked(server, mode):
    dumpdir, hport, cport = server
    big_mib = 8
    r = run_micropython(["mp/dump_e2e.py", "127.0.0.1", str(hport), str(cport), mode, str(big_mib)], timeout=300)
    out = r.stdout + r.stderr
    assert "RESULT 0" in out, out
    assert "Dumping" in out and "..100%" in out and "netdump finished." in out, out
    found = cores(dumpdir)
    assert len(found) == 1, list(dumpdir.iterdir())
    core_path = found[0]
    core = reader.Vmcore.open(str(core_path))
    check_regions(core, big_mib << 20)
    assert core.panic == "test panic: e2e"
    assert "ZeroDivisionError: divide by zero" in core.traceback
    assert core.board == "unix"
    # zero blocks of the sparse region were skipped (a hole on the server)
    sent = int([ln for ln in out.splitlines() if ln.startswith("SENT")][0].split()[1])
    assert sent < (big_mib << 20) + 256 * 1024
    info = (dumpdir / core_path.name.replace("vmcore", "info")).read_text()
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


@pytest.mark.parametrize("linger", [None, "0"], ids=["netdumpd-lingers", "closes-at-finished"])
@pytest.mark.parametrize("mode", ["window", "freebsd"])
def test_lost_finished_ack_heap_locked(tmp_path, mode, linger):
    # The first ack of FINISHED is lost. Our netdumpd, lingering, acks the
    # retransmission: "netdump finished.". With --finish-linger 0 it closes the
    # session at FINISHED as FreeBSD's netdumpd does: the board says the dump
    # finished unconfirmed (FIN_UNCONFIRMED, not a failure). Either way the
    # server has the whole dump and every region's CRC-32 matches.
    dumpdir = tmp_path / "crash"
    dumpdir.mkdir()
    args = ["-n"] + (["--finish-linger", linger] if linger else [])
    with NetdumpdProc(tmp_path, dumpdir, args=args) as srv:
        r = run_micropython(["mp/dump_e2e.py", "127.0.0.1", str(srv.herald_port), str(srv.client_port), mode, "1",
                             "lose_fin"], timeout=300)
        out = r.stdout + r.stderr
        assert "LOST_FIN_ACK 1" in out, out
        if linger is None:
            assert "RESULT 0" in out and "netdump finished.\n" in out, out
        else:
            assert "RESULT 7" in out, out
            assert "netdump finished (the server did not confirm the end)" in out, out
            assert "netdump failed" not in out, out
        info = dumpdir / "info.127.0.0.1.0"
        assert wait_for_text(str(info), "CRC-32", srv.proc), info.read_text()  # the worker's summary
        assert srv.stop() == 0
    core = reader.Vmcore.open(str(cores(dumpdir)[0]))
    check_regions(core, 1 << 20)
    text = info.read_text()
    assert text.endswith("\nDump complete\n") and text.count("verified") == 3, text
