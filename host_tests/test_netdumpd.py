# netdumpd (tools/netdumpd*.py) against a fake FreeBSD kernel over real UDP
# sockets on loopback. The server runs as a subprocess with -D.
import gzip
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib

import pytest

import fakekernel as fk
from netdump import elfcore
from netdump_tools.netdumpd_harness import NetdumpdProc, free_udp_port, wait_for_text

HERE = os.path.dirname(os.path.abspath(__file__))


def _data(n, seed):
    # deterministic, incompressible-looking bytes
    out = bytearray()
    x = seed * 2654435761 & 0xFFFFFFFF
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out += struct.pack(">I", x)
    return bytes(out[:n])


@pytest.fixture
def dumpdir(tmp_path):
    d = tmp_path / "crash"
    d.mkdir()
    return d


def _server(tmp_path, dumpdir, *args, **kw):
    return NetdumpdProc(tmp_path, dumpdir, args=args, **kw)


def _kernel(srv, ip="127.0.0.1", **kw):
    kw.setdefault("round_timeout", 1.0)
    server = srv.addr if srv.addr not in ("0.0.0.0", "::") else "127.0.0.1"
    return fk.FakeKernel(server, srv.herald_port, ip, srv.client_port, **kw)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


UPSTREAM_INFO = [
    "Dump from localhost [127.0.0.1]",
    "  Architecture: amd64",
    "  Architecture Version: 2",
    "  Dump Length: %dB (%s)",
    "  Blocksize: 4096",
    "  Compression: none",
    "  Dumptime: " + time.ctime(1700000000),
    "  Hostname: fakehost",
    "  Version String: FreeBSD 15.0-CURRENT",
    "  Panic String: page fault",
    "  Header Parity Check: Pass",
    "Dump complete",
]


def test_freebsd_kernel_dump(tmp_path, dumpdir):
    data = _data(3 * 65536 + 8192, 1)  # 3 full bursts and a short one
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(data, fk.build_kdh(len(data)))
            # 46 packets of <= 1448 bytes per 64 KiB burst, plus herald, KDH, FINISHED
            assert k.sent == 3 * 46 + 6 + 3 and k.retransmits == 0
        srv.wait_log("Completed dump from client localhost [127.0.0.1]")
        with _kernel(srv) as k:
            k.dump(data[:4096], fk.build_kdh(4096))
        srv.wait_log("(to ./vmcore.localhost.1)")
        time.sleep(0.2)
        assert srv.stop() == 0
    assert _read(dumpdir / "vmcore.localhost.0") == data
    assert _read(dumpdir / "vmcore.localhost.1") == data[:4096]
    expect = list(UPSTREAM_INFO)
    expect[3] = expect[3] % (len(data), "200 KiB")
    assert (dumpdir / "info.localhost.0").read_text().splitlines() == expect
    assert os.readlink(dumpdir / "vmcore.localhost.last") == "vmcore.localhost.1"
    assert os.readlink(dumpdir / "info.localhost.last") == "info.localhost.1"
    assert (dumpdir / "bounds.localhost").read_text() == "2\n"
    for name in ("vmcore.localhost.0", "info.localhost.0"):
        assert stat.S_IMODE(os.stat(dumpdir / name).st_mode) == 0o600
    out = srv.out()
    assert out.startswith("Waiting for clients.\n")
    assert ("Empty bounds file for client localhost [127.0.0.1]\n"
            "New dump from client localhost [127.0.0.1] (to ./vmcore.localhost.0)\n"
            "(KDH from localhost [127.0.0.1])\n"
            "Completed dump from client localhost [127.0.0.1]\n") in out
    assert out.endswith("Shutting down...\n")
    assert "default: listening" not in srv.err() and "No --allow given" in srv.err()


def test_progress_dots(tmp_path, dumpdir):
    # a "." every 11522 sequence numbers (16 MiB / 1456), as upstream
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.connect()
            k.seq = 11522
            k.send(fk.VMCORE, b"\1" * 4096, 0)
            k.send(fk.KDH, fk.build_kdh(4096))
            k.send(fk.FINISHED)
        srv.wait_log("Completed")
    assert "(to ./vmcore.localhost.0)\n.(KDH from" in srv.out()


def test_encrypted_dump_with_key(tmp_path, dumpdir):
    key = _data(4096, 7)
    data = _data(65536, 8)
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(data, fk.build_kdh(len(data), keysize=len(key)), key=key)
        srv.wait_log("Completed dump")
    out = srv.out()
    assert "(EKCD key from localhost [127.0.0.1])\n" in out
    assert _read(dumpdir / "key.localhost.0") == key
    assert stat.S_IMODE(os.stat(dumpdir / "key.localhost.0").st_mode) == 0o400
    assert _read(dumpdir / "vmcore_encrypted.localhost.0") == data
    assert not (dumpdir / "vmcore.localhost.0").exists()
    assert os.readlink(dumpdir / "vmcore.localhost.last") == "vmcore_encrypted.localhost.0"


@pytest.mark.parametrize("algo,suffix", [(1, ".gz"), (2, ".zst")])
def test_compressed_dump_is_truncated(tmp_path, dumpdir, algo, suffix):
    raw = b"".join(b"line %d of a compressible kernel dump\n" % i for i in range(20000))
    comp = gzip.compress(raw) if algo == 1 else _data(50001, 3)  # zstd: only the length matters
    assert len(comp) % 4096
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(comp, fk.build_kdh(len(comp), compression=algo))  # last block zero-padded
        srv.wait_log("Completed dump")
    got = _read(dumpdir / ("vmcore.localhost.0" + suffix))
    assert got == comp
    if algo == 1:
        assert gzip.decompress(got) == raw
    assert os.readlink(dumpdir / "vmcore.localhost.last") == "vmcore.localhost.0" + suffix
    info = (dumpdir / "info.localhost.0").read_text()
    assert "  Compression: %s\n" % ("gzip" if algo == 1 else "zstd") in info


def test_64_clients_at_once(tmp_path, dumpdir):
    n = 64
    size = 4 * 65536 + 4096
    with _server(tmp_path, dumpdir, "-n", nclients=n + 1) as srv:
        errors = []

        def client(i):
            try:
                with _kernel(srv, "127.0.0.%d" % (i + 2), round_timeout=0.5) as k:
                    k.dump(_data(size, 100 + i), fk.build_kdh(size, hostname="h%d" % i))
            except Exception as e:  # reported below
                errors.append((i, repr(e)))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert srv.stop() == 0
    out = srv.out()
    assert out.count("Completed dump from client") == n
    for i in range(n):
        ip = "127.0.0.%d" % (i + 2)
        assert _read(dumpdir / ("vmcore.%s.0" % ip)) == _data(size, 100 + i), ip
        info = (dumpdir / ("info.%s.0" % ip)).read_text()
        assert info.startswith("Dump from %s [%s]\n" % (ip, ip))
        assert "  Hostname: h%d\n" % i in info and info.endswith("Dump complete\n")


def test_duplicated_reordered_retransmitted(tmp_path, dumpdir):
    data = _data(6 * 65536, 5)
    faults = fk.Faults(seed=11, drop=0.1, dup=0.2, reorder=True, ack_loss=0.1)
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv, faults=faults, round_timeout=0.1, nretries=30) as k:
            k.dump(data, fk.build_kdh(len(data)))
            assert k.retransmits > 0
        srv.wait_log("Completed dump")
    assert _read(dumpdir / "vmcore.localhost.0") == data
    assert (dumpdir / "info.localhost.0").read_text().count("Architecture: amd64") == 1


def test_sparse_dump_leaves_holes(tmp_path, dumpdir):
    a, b = _data(8192, 1), _data(4096, 2)
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(None, fk.build_kdh(65536), extents=[(40960, b), (0, a)])
        srv.wait_log("Completed dump")
    assert _read(dumpdir / "vmcore.localhost.0") == a + bytes(40960 - 8192) + b


def _write_hook(tmp_path, status=0):
    rec = tmp_path / "hook.json"
    hook = tmp_path / "hook.py"
    hook.write_text("#!%s\nimport json, os, sys\n"
                    "with open(%r, 'a') as f:\n"
                    "    f.write(json.dumps([sys.argv[1:], dict(os.environ), os.getcwd()]) + '\\n')\n"
                    "sys.exit(%d)\n" % (sys.executable, str(rec), status))
    hook.chmod(0o755)
    return hook, rec


def test_hook_arguments_environment_cwd(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    (dumpdir / "sub").mkdir()
    with _server(tmp_path, dumpdir, "-i", str(hook)) as srv:
        with _kernel(srv) as k:
            k.dump(b"x" * 4096, fk.build_kdh(4096), path="sub")
        srv.wait_log("exited with status 0")
    argv, env, cwd = json.loads(rec.read_text().splitlines()[0])
    assert argv == ["success", "127.0.0.1", "localhost", "sub/info.localhost.0", "sub/vmcore.localhost.0", "complete"]
    assert env == {} or set(env) <= {"LC_CTYPE"}  # CPython may set LC_CTYPE itself (PEP 538)
    assert os.path.realpath(cwd) == os.path.realpath(str(dumpdir))
    assert _read(dumpdir / "sub" / "vmcore.localhost.0") == b"x" * 4096
    assert os.path.exists(dumpdir / "sub" / "bounds.localhost")


def test_hook_failure_status_logged(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path, status=3)
    with _server(tmp_path, dumpdir, "-i", str(hook)) as srv:
        with _kernel(srv) as k:
            k.dump(b"x" * 4096, fk.build_kdh(4096))
        srv.wait_log("exited with status 3\n", stream="err")  # the exit status, not the wait(2) word (768)


def test_idle_timeout_keeps_partial_dump(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    part = _data(5000, 9)  # 5000 bytes stay in the write-back buffer upstream and were lost
    with _server(tmp_path, dumpdir, "-i", str(hook), timeout=0.5) as srv:
        with _kernel(srv) as k:
            k.connect()
            k.send(fk.VMCORE, part, 0)
            srv.wait_log("Client 127.0.0.1 timed out\n", timeout=10)
            srv.wait_log("exited with status 0")
    assert _read(dumpdir / "vmcore.localhost.0") == part
    assert (dumpdir / "info.localhost.0").read_text().endswith("Dump incomplete: client timed out\n")
    assert json.loads(rec.read_text())[0][0] == "timeout"
    assert not (dumpdir / "vmcore.localhost.last").exists()  # links only at completion


def test_shutdown_flushes_and_exits_cleanly(tmp_path, dumpdir):
    part = _data(12288, 4)
    srv = _server(tmp_path, dumpdir).start()
    with _kernel(srv) as k:
        k.connect()
        k.send(fk.VMCORE, part, 0)
        assert int(open(srv.pidfile).read()) == srv.proc.pid
        assert srv.stop() == 0
    assert _read(dumpdir / "vmcore.localhost.0") == part
    assert srv.out().endswith("Shutting down...\nClient 127.0.0.1: dump incomplete, shutting down\n")
    assert (dumpdir / "info.localhost.0").read_text().endswith("\nDump incomplete: netdumpd shut down\n")
    assert not os.path.exists(srv.pidfile)


def _fd_count(pid, sockets=False):
    """The server's open file descriptors, or only its sockets (not the files a session opens
    and closes on its own schedule)."""
    d = "/proc/%d/fd" % pid
    if not sockets:
        return len(os.listdir(d))
    n = 0
    for f in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, f)).startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return n


def test_duplicate_heralds_and_replacement(tmp_path, dumpdir):
    with _server(tmp_path, dumpdir, "--replace-idle", "0.3") as srv:
        with _kernel(srv) as k:
            k.connect()
            before = _fd_count(srv.proc.pid, sockets=True)
            ack_port = k.dport
            for _ in range(30):  # retransmitted heralds: re-acked from the same socket, no new one
                k.sock.sendto(fk.HDR.pack(fk.HERALD, 1, 0, 0, 0), ("127.0.0.1", srv.herald_port))
                k.sock.settimeout(2)
                data, src = k.sock.recvfrom(64)
                assert data == struct.pack(">I", 1) and src[1] == ack_port
            assert _fd_count(srv.proc.pid, sockets=True) == before
            k.send(fk.VMCORE, b"A" * 3000, 0)  # stays buffered in the server
        with _kernel(srv) as k2:  # same IP heralds again after data: once idle 0.3 s, the old dump ends
            k2.dump(b"B" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump")
    out = srv.out()
    assert "Client 127.0.0.1 started a new dump; the previous one was idle for " in out
    assert "(to ./vmcore.localhost.1)" in out
    assert _read(dumpdir / "vmcore.localhost.0") == b"A" * 3000
    assert (dumpdir / "info.localhost.0").read_text().endswith("\nDump incomplete: the client started a new dump\n")
    assert _read(dumpdir / "vmcore.localhost.1") == b"B" * 4096


def test_path_escapes_stay_inside(tmp_path, dumpdir):
    outside = tmp_path / "outside"
    outside.mkdir()
    (dumpdir / "sub").mkdir()
    os.symlink(str(outside), str(dumpdir / "link"))
    os.symlink(str(outside), str(dumpdir / "sub" / "deeper"))
    bad = ["../outside", "/" + str(outside).lstrip("/"), "sub/../../outside", "link", "link/x",
           "sub/deeper", "./../outside", "nonexistent"]
    with _server(tmp_path, dumpdir) as srv:
        for i, path in enumerate(bad):
            with _kernel(srv, "127.0.0.%d" % (i + 2)) as k:
                k.dump(b"z" * 4096, fk.build_kdh(4096), path=path)
        srv.wait_log("Completed dump from client 127.0.0.%d" % (len(bad) + 1))
    assert os.listdir(str(outside)) == []
    err = srv.err()
    assert err.count("Can't create output files in path '") == len(bad)
    assert "Can't create output files in path 'sub/../../outside' for client 127.0.0.4 [127.0.0.4] ('..' in path), " \
           "retrying with default" in err
    for i in range(len(bad)):
        assert _read(dumpdir / ("vmcore.127.0.0.%d.0" % (i + 2))) == b"z" * 4096


def test_planted_symlinks_are_not_followed(tmp_path, dumpdir):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"precious")
    for name in ("vmcore.localhost.last", "info.localhost.last", "bounds.localhost"):
        os.symlink(str(victim), str(dumpdir / name))
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(b"q" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump")
    assert victim.read_bytes() == b"precious"
    assert os.listdir(str(outside)) == ["victim"]
    assert os.readlink(dumpdir / "vmcore.localhost.last") == "vmcore.localhost.0"
    # a core file name planted as a symlink: that index is skipped, the target untouched
    os.symlink(str(victim), str(dumpdir / "vmcore.127.0.0.2.0"))
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv, "127.0.0.2") as k:
            k.dump(b"q" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump")
    assert victim.read_bytes() == b"precious"
    assert os.readlink(dumpdir / "vmcore.127.0.0.2.0") == str(victim)
    assert _read(dumpdir / "vmcore.127.0.0.2.1") == b"q" * 4096


def test_planted_hard_links_and_fifos_are_refused(tmp_path, dumpdir):
    # bounds.<host> hard-linked to a file elsewhere is not truncated or written;
    # a FIFO planted as bounds.<host> or key.<host>.<N> does not hang the server
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"precious")
    os.link(str(victim), str(dumpdir / "bounds.localhost"))
    os.mkfifo(str(dumpdir / "bounds.127.0.0.2"))
    os.mkfifo(str(dumpdir / "key.127.0.0.3.0"))
    key = _data(64, 3)
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(b"q" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump from client localhost")
        with _kernel(srv, "127.0.0.2") as k:
            k.dump(b"r" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump from client 127.0.0.2")
        with _kernel(srv, "127.0.0.3") as k:  # the index of the planted key FIFO is skipped
            k.dump(b"s" * 4096, fk.build_kdh(4096, keysize=len(key)), key=key)
        with _kernel(srv, "127.0.0.4") as k:  # the server still serves
            k.dump(b"t" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump from client 127.0.0.4")
    assert victim.read_bytes() == b"precious"
    assert _read(dumpdir / "vmcore.localhost.0") == b"q" * 4096
    assert _read(dumpdir / "vmcore.127.0.0.2.0") == b"r" * 4096
    assert _read(dumpdir / "vmcore.127.0.0.4.0") == b"t" * 4096
    assert _read(dumpdir / "vmcore_encrypted.127.0.0.3.1") == b"s" * 4096
    assert _read(dumpdir / "key.127.0.0.3.1") == key
    assert stat.S_ISFIFO(os.lstat(dumpdir / "key.127.0.0.3.0").st_mode)


def test_bad_packets_are_not_acked(tmp_path, dumpdir):
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.connect()
            dst = ("127.0.0.1", k.dport)
            bad = [
                b"\0" * 10,  # runt
                fk.HDR.pack(fk.VMCORE, 50, 0, 4097, 0) + b"\1" * 4097,  # oversize payload
                fk.HDR.pack(fk.VMCORE, 51, 0, 100, 0) + b"\1" * 50,  # length mismatch
                fk.HDR.pack(9, 52, 0, 0, 0),  # unknown type
                fk.HDR.pack(fk.HERALD, 53, 0, 0, 0),  # a herald on the dump socket
            ]
            for pkt in bad:
                k.sock.sendto(pkt, dst)
            k.sock.settimeout(0.5)
            with pytest.raises(socket.timeout):
                k.sock.recvfrom(64)
            k.send(fk.VMCORE, b"v" * 4096, 0)
            k.send(fk.KDH, fk.build_kdh(4096))
            k.send(fk.FINISHED)
        # and on the herald port
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.3", srv.client_port))
        for pkt in (b"\0" * 5, fk.HDR.pack(fk.VMCORE, 1, 0, 0, 0), fk.HDR.pack(fk.HERALD, 1, 0, 5, 0) + b"ab"):
            s.sendto(pkt, ("127.0.0.1", srv.herald_port))
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recvfrom(64)
        s.close()
        srv.wait_log("Completed dump")
        srv.wait_log("message type 3 on the herald port", stream="err")
    err = srv.err()
    assert "Ignoring runt packet from 127.0.0.1 (got 10)\n" in err
    assert err.count("Bad packet size from 127.0.0.1\n") == 2
    assert "Received unexpected message type 9 from 127.0.0.1\n" in err
    assert "Received unexpected message type 1 from 127.0.0.1\n" in err
    assert err.count("Ignoring herald from 127.0.0.3") == 3
    assert _read(dumpdir / "vmcore.localhost.0") == b"v" * 4096


def test_kdh_problems_reported(tmp_path, dumpdir):
    cases = [
        (fk.build_kdh(4096, magic=b"Not A Kernel Dump"), ["Bad KDH: bad magic"]),
        (fk.build_kdh(4096, parity=False), ["  Header Parity Check: Fail"]),
        (fk.build_kdh(4096, version=7), ["Bad KDH: unknown version 7"]),
        (b"\0" * 100, ["Bad KDH: packet too small"]),
    ]
    with _server(tmp_path, dumpdir) as srv:
        for i, (kdh, _lines) in enumerate(cases):
            with _kernel(srv, "127.0.0.%d" % (i + 2)) as k:
                k.dump(b"k" * 4096, kdh)
        srv.wait_log("Completed dump from client 127.0.0.%d" % (len(cases) + 1))
    for i, (_kdh, lines) in enumerate(cases):
        info = (dumpdir / ("info.127.0.0.%d.0" % (i + 2))).read_text().splitlines()
        for ln in lines:
            assert ln in info
        assert info[-1] == "Dump complete"


def test_kdh_v1_layout_has_no_compression_line(tmp_path, dumpdir):
    from netdump_tools import kdh_host as kdhmod

    v1 = kdhmod.build(version=1, dumplength=4096, blocksize=4096, hostname="oldbox", panicstring="old panic")
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(b"o" * 4096, v1)
        srv.wait_log("Completed dump")
    info = (dumpdir / "info.localhost.0").read_text()
    assert "Compression" not in info
    assert "  Hostname: oldbox\n" in info and "  Panic String: old panic\n" in info


def test_max_dump_size_refuses_more(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    with _server(tmp_path, dumpdir, "--max-dump-size", "64K", "-i", str(hook)) as srv:
        with _kernel(srv, nretries=1, round_timeout=0.1) as k:
            k.connect()
            k.send(fk.VMCORE, b"m" * 4096, 61440)
            with pytest.raises(fk.DumpFailed):
                k.send(fk.VMCORE, b"m" * 4096, 65536)
            with pytest.raises(fk.DumpFailed):
                k.send(fk.VMCORE, b"m" * 16, (1 << 64) - 8)
            k.send(fk.KDH, fk.build_kdh(65536))
            with pytest.raises(fk.DumpFailed):  # a client that goes on regardless is not told "complete"
                k.send(fk.FINISHED)
        srv.wait_log("exited with status 0")
        assert srv.stop() == 0
    assert os.path.getsize(dumpdir / "vmcore.localhost.0") == 65536
    info = (dumpdir / "info.localhost.0").read_text()
    assert info.endswith("\nDump refused: data beyond the maximum dump size (64 KiB)\n") and "Dump complete" not in info
    assert "Refusing data beyond the maximum dump size (64 KiB) from 127.0.0.1" in srv.err()
    assert json.loads(rec.read_text())[0] == ["error", "127.0.0.1", "localhost", "./info.localhost.0",
                                                 "./vmcore.localhost.0", "refused"]
    assert not (dumpdir / "vmcore.localhost.last").exists()


def test_allow_list_and_max_clients(tmp_path, dumpdir):
    with _server(tmp_path, dumpdir, "--allow", "127.0.0.2/31", "--allow", "10.0.0.0/8", "--max-clients", "1",
                 nclients=4) as srv:
        with _kernel(srv, "127.0.0.4", nretries=1, round_timeout=0.1) as k:
            with pytest.raises(fk.DumpFailed):
                k.connect()
        with _kernel(srv, "127.0.0.2") as k2, _kernel(srv, "127.0.0.3", nretries=1, round_timeout=0.1) as k3:
            k2.connect()
            k2.send(fk.VMCORE, b"a" * 4096, 0)
            with pytest.raises(fk.DumpFailed):  # allowed, but a progressing dump holds the only slot
                k3.connect()
            k2.send(fk.KDH, fk.build_kdh(4096))
            k2.send(fk.FINISHED)
        with _kernel(srv, "127.0.0.3", nretries=1, round_timeout=0.1) as k3:
            k3.connect()  # heralded only: the next herald takes its slot
            with _kernel(srv, "127.0.0.2") as k2:
                k2.dump(b"b" * 4096, fk.build_kdh(4096))
            with pytest.raises(fk.DumpFailed):
                k3.send(fk.VMCORE, b"c" * 4096, 0)
        with _kernel(srv, "127.0.0.3") as k3:
            k3.dump(b"c" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump from client 127.0.0.3")
    err = srv.err()
    assert "Ignoring herald from 127.0.0.4: not in the --allow list" in err
    assert "Ignoring herald from 127.0.0.3: too many clients (--max-clients 1), none idle" in err
    assert "Forgetting client 127.0.0.3: heralded only, and --max-clients 1 are in use" in err
    assert "No --allow given" not in err
    assert _read(dumpdir / "vmcore.127.0.0.2.1") == b"b" * 4096
    assert _read(dumpdir / "vmcore.127.0.0.3.0") == b"c" * 4096
    assert not (dumpdir / "vmcore.127.0.0.3.1").exists()


def test_ipv6_loopback(tmp_path, dumpdir):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    data = _data(100000, 6)
    with _server(tmp_path, dumpdir, addr="::1", client_port=free_udp_port("::1")) as srv:
        with fk.FakeKernel("::1", srv.herald_port, "::1", srv.client_port, round_timeout=0.2) as k:
            k.dump(data, fk.build_kdh(len(fk.padded(data))))
            assert k.chunk == 1500 - 48 - 24
        srv.wait_log("Completed dump")
    out = srv.out()
    host = out.split("New dump from client ")[1].split(" ")[0]
    assert "[::1] (to ./vmcore.%s.0)" % host in out
    assert _read(dumpdir / ("vmcore.%s.0" % host)) == fk.padded(data)


def test_dual_stack_accepts_ipv4(tmp_path, dumpdir):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        s.close()
    except OSError:
        pytest.skip("no dual-stack sockets")
    with _server(tmp_path, dumpdir, "--dual-stack", addr="::") as srv:
        with _kernel(srv, "127.0.0.1") as k:
            k.dump(b"d" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump from client localhost [127.0.0.1]")
    assert _read(dumpdir / "vmcore.localhost.0") == b"d" * 4096
    assert "default: listening on all interfaces" in srv.err()


def _crc_state(data):
    # the running CRC-32 value the board keeps (netdump/crc32.py): the complement of zlib's
    import zlib

    return bytearray(b ^ 0xFF for b in zlib.crc32(data).to_bytes(4, "little"))


def test_board_dump_info_lists_regions_and_notes(tmp_path, dumpdir):
    regions = [("dram", 0x3FFB0000, 8192), ("iram", 0x40080000, 5000)]
    core = elfcore.CoreLayout(regions, elfcore.EM_XTENSA, board="esp32-devkit", firmware="MicroPython v1.29")
    core.set_panic("MemoryError: out of memory")
    tb = b'Traceback (most recent call last):\n  File "main.py", line 3\nMemoryError\n'
    core.set_traceback(tb, len(tb))
    core.set_uptime(1234)
    image = bytearray(core.total_size)
    for (_n, _a, size), off in zip(regions, core.offsets):
        image[off:off + size] = _data(size, off)
    dram = bytes(image[core.offsets[0]:core.offsets[0] + 8192])
    core.clear_digests(elfcore.DIGEST_CRC32)
    core.set_digest(0, _crc_state(dram))  # iram's stays "not computed"
    image[0:len(core.buf)] = core.buf
    bad = bytearray(image)
    bad[core.offsets[0] + 100] ^= 1  # one bit flipped on the way
    with _server(tmp_path, dumpdir, nclients=2) as srv:
        with _kernel(srv) as k:
            k.dump(image, fk.build_kdh(len(fk.padded(image)), arch="xtensa", panicstring="MemoryError"))
        with _kernel(srv, "127.0.0.2") as k:
            k.dump(bad, fk.build_kdh(len(fk.padded(bad)), arch="xtensa", panicstring="MemoryError"))
        srv.wait_log("Completed dump from client 127.0.0.2")
        for name in ("info.localhost.0", "info.127.0.0.2.0"):  # the worker adds the summary after FINISHED
            assert wait_for_text(str(dumpdir / name), "Traceback:", srv.proc), name
    info = (dumpdir / "info.localhost.0").read_text()
    head, tail = info.split("  Header Parity Check: Pass\n")  # upstream lines unchanged, ours after them
    lines = tail.splitlines()
    assert lines[-1] == "Dump complete"  # the status line stays last
    assert lines[0] == "ELF core: Xtensa, ELFCLASS32, 2 regions"
    assert lines[1] == "  Region dram: 0x3ffb0000-0x3ffb2000 (8192 bytes) @ file 0x%x, CRC-32 %08x verified" % (
        core.offsets[0], zlib.crc32(dram))
    assert lines[2] == ("  Region iram: 0x40080000-0x40081388 (5000 bytes) @ file 0x%x, CRC-32 not computed "
                        "(the dump ended before it)" % core.offsets[1])
    assert "  Board: esp32-devkit" in lines and "  Firmware: MicroPython v1.29" in lines
    assert "  Uptime: 1234 s" in lines and "  Panic: MemoryError: out of memory" in lines
    assert "    MemoryError" in lines and "  Traceback:" in lines
    bad_lines = (dumpdir / "info.127.0.0.2.0").read_text().splitlines()
    assert "  Region dram: 0x3ffb0000-0x3ffb2000 (8192 bytes) @ file 0x%x, CRC-32 MISMATCH: the board sent %08x, " \
           "the file holds %08x" % (core.offsets[0], zlib.crc32(dram), zlib.crc32(bad[core.offsets[0]:][:8192])) \
           in bad_lines


def _run_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "netdump_tools.netdumpd", "-D"] + list(args),
                          capture_output=True, text=True, timeout=20, cwd=str(tmp_path))


def test_cli_errors_are_one_line(tmp_path, dumpdir):
    port = str(free_udp_port())
    base = ["-a", "127.0.0.1", "--herald-port", port, "-P", str(tmp_path / "p.pid")]
    r = _run_cli(tmp_path, "-d", str(tmp_path / "missing"), *base)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "netdumpd: dump directory %s does not exist or is not a directory" % (tmp_path / "missing")]
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    r = _run_cli(tmp_path, "-d", str(dumpdir), "-i", str(script), *base)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].endswith("is missing or not executable")
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", int(port)))
    try:
        r = _run_cli(tmp_path, "-d", str(dumpdir), *base)
    finally:
        busy.close()
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == (
        "netdumpd: port %s on 127.0.0.1 is already in use (another netdumpd?)" % port)
    r = _run_cli(tmp_path, "-d", str(dumpdir), "--timeout", "0", *base)
    assert r.returncode == 2
    assert "--allow CIDR" in _run_cli(tmp_path, "--help").stdout


def test_locked_pidfile(tmp_path, dumpdir):
    with _server(tmp_path, dumpdir) as srv:
        r = _run_cli(tmp_path, "-d", str(dumpdir), "-a", "127.0.0.1", "--herald-port", str(free_udp_port()),
                     "-P", srv.pidfile)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines()[-1] == (
            "netdumpd: netdumpd is already running (pidfile %s is locked)" % srv.pidfile)
        assert int(open(srv.pidfile).read()) == srv.proc.pid


def test_console_script_and_module_entry():
    from netdump_tools import netdumpd

    assert callable(netdumpd.main)
    with pytest.raises(SystemExit) as e:
        netdumpd.main(["--help"])
    assert e.value.code == 0
    assert netdumpd.parse_size("64M") == 64 << 20 and netdumpd.parse_size("1T") == 1 << 40


def _limit_file_size():
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))  # CPython ignores SIGXFSZ: pwrite gets EFBIG


def test_write_error_ends_dump(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    with _server(tmp_path, dumpdir, "-i", str(hook), preexec_fn=_limit_file_size) as srv:
        with _kernel(srv, nretries=1, round_timeout=0.1) as k:
            k.connect()
            k.send(fk.VMCORE, _data(65536, 1), 0)
            with pytest.raises(fk.DumpFailed):  # written before acked: the write fails, no ack, the dump is over
                k.send(fk.VMCORE, _data(65536, 2), 65536)
        srv.wait_log("exited with status 0")
    info = (dumpdir / "info.localhost.0").read_text()
    assert info.splitlines()[-1] == "Dump incomplete: write error @ offset 00010000: File too large"
    assert "pwrite (for client localhost [127.0.0.1]): " in srv.err()
    assert json.loads(rec.read_text())[0][::5] == ["error", "incomplete"]
    assert _read(dumpdir / "vmcore.localhost.0") == _data(65536, 1)


def test_plain_elf_core_gets_no_board_summary(tmp_path, dumpdir):
    image = bytearray(8192)
    image[0:4] = b"\x7fELF"
    image[4], image[5], image[6] = 2, 1, 1  # ELFCLASS64, little-endian: a FreeBSD full dump looks like this
    struct.pack_into("<HHIQQ", image, 16, 4, 62, 1, 0, 64)
    struct.pack_into("<HHHHHH", image, 52, 64, 56, 1, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", image, 64, 1, 6, 4096, 0xFFFF0000, 0, 4096, 4096, 4096)
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(image, fk.build_kdh(len(image)))
        srv.wait_log("Completed dump")
    assert (dumpdir / "info.localhost.0").read_text().endswith("Header Parity Check: Pass\nDump complete\n")


def test_flooding_client_does_not_disturb_others(tmp_path, dumpdir):
    data = _data(16 * 65536, 12)
    with _server(tmp_path, dumpdir, nclients=3) as srv:
        with _kernel(srv, "127.0.0.2") as bad:
            bad.connect()
            bad.send(fk.VMCORE, b"x" * 4096, 0)
            stop = threading.Event()
            junk = [fk.HDR.pack(9, 1, 0, 1000, 0) + b"j" * 1000, b"\0" * 7,
                    fk.HDR.pack(fk.VMCORE, 3, 0, 1448, 0) + b"x" * 1448]

            def flood():
                i = 0
                while not stop.is_set():
                    bad.sock.sendto(junk[i % 3], ("127.0.0.1", bad.dport if i % 4 else srv.herald_port))
                    i += 1

            t = threading.Thread(target=flood)
            t.start()
            try:
                with _kernel(srv, "127.0.0.3") as good:
                    good.dump(data, fk.build_kdh(len(data)))
            finally:
                stop.set()
                t.join()
        srv.wait_log("Completed dump from client 127.0.0.3 [127.0.0.3]")
    assert _read(dumpdir / "vmcore.127.0.0.3.0") == data
    assert srv.err().count("Received unexpected message type 9 from 127.0.0.2") <= 20  # bounded logging


def test_resolver_names_are_bounded_and_safe():
    from netdump_tools.netdumpd_server import Resolver

    names = {"192.0.2.1": "board7.lab.example.org", "192.0.2.2": "../../etc/passwd", "192.0.2.3": ".hidden",
             "192.0.2.4": "bad name.example", "192.0.2.5": None}
    r = Resolver(timeout=1.0, lookup=names.get)
    assert r("192.0.2.1") == "board7"
    for ip in ("192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
        assert r(ip) == ip
    # a lookup that has not ended when the resolver answers: its timeout decided, not the lookup
    release = threading.Event()
    ended = []

    def stuck(ip):
        release.wait(60)
        ended.append(ip)
        return "late"

    slow = Resolver(timeout=0.05, lookup=stuck)
    try:
        assert slow("192.0.2.9") == "192.0.2.9"
        assert ended == []
    finally:
        release.set()
    assert Resolver(enabled=False, lookup=names.get)("192.0.2.1") == "192.0.2.1"
    assert Resolver()("127.0.0.1") == "localhost"


# ---- a completed dump lingers to re-ack a retransmitted FINISHED ------------------------


def _recv_ack(k, timeout=2.0):
    """(seqno, source address) of the next 4-byte datagram; socket.timeout if none."""
    k.sock.settimeout(timeout)
    while True:
        data, src = k.sock.recvfrom(64)
        if len(data) == 4:
            return struct.unpack(">I", data)[0], src


def _send_raw(k, srv, mtype, seqno, offset=0, payload=b""):
    k.sock.sendto(fk.HDR.pack(mtype, seqno, offset, len(payload), 0) + payload, (srv.addr, k.dport))


def _dump_dropping_finished_ack(srv, k, data):
    """Herald, VMCORE, KDH as usual; FINISHED once by hand, its ack read and ignored (lost)."""
    k.connect()
    for pos in range(0, len(data), fk.DUMPER_BUF):
        k.send(fk.VMCORE, data[pos:pos + fk.DUMPER_BUF], pos)
    k.send(fk.KDH, fk.build_kdh(len(data)))
    fin = k.seq
    _send_raw(k, srv, fk.FINISHED, fin)
    assert _recv_ack(k) == (fin, (srv.addr, k.dport))  # ... and then "lost"
    return fin


def _snapshot(d):
    return {p.name: (os.readlink(str(p)) if p.is_symlink() else p.read_bytes()) for p in d.iterdir()}


def test_lost_finished_ack_is_reacked_files_untouched(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    data = _data(2 * 65536, 21)
    with _server(tmp_path, dumpdir, "-i", str(hook)) as srv:
        with _kernel(srv) as k:
            fin = _dump_dropping_finished_ack(srv, k, data)
            port = k.dport
            srv.wait_log("Process ")  # the handler ran (and was reaped)
            before = _snapshot(dumpdir)
            assert before["vmcore.localhost.0"] == data
            fds = _fd_count(srv.proc.pid)
            for _ in range(3):  # the client retransmits FINISHED: same seqno, same server port
                _send_raw(k, srv, fk.FINISHED, fin)
                assert _recv_ack(k) == (fin, (srv.addr, port))
            # late duplicates with different bytes: acked by seqno, the files untouched
            _send_raw(k, srv, fk.VMCORE, 7, 4096, b"\xee" * 1448)
            assert _recv_ack(k) == (7, (srv.addr, port))
            _send_raw(k, srv, fk.VMCORE, 8, 3 * 65536, b"\xee" * 4096)  # past the end: no growth
            assert _recv_ack(k) == (8, (srv.addr, port))
            _send_raw(k, srv, fk.KDH, fin - 1, 0, fk.build_kdh(4096, hostname="other", compression=1))
            assert _recv_ack(k) == (fin - 1, (srv.addr, port))
            _send_raw(k, srv, fk.EKCD_KEY, 2, 0, b"k" * 64)
            assert _recv_ack(k) == (2, (srv.addr, port))
            _send_raw(k, srv, 9, 99)  # still not a message type: not acked
            with pytest.raises(socket.timeout):
                _recv_ack(k, 0.3)
            assert _snapshot(dumpdir) == before
            assert _fd_count(srv.proc.pid) == fds  # nothing opened or leaked by late messages
        time.sleep(0.3)
        # a new herald from the same IP during the linger: dump 1 proceeds normally
        with _kernel(srv) as k2:
            k2.dump(data[:4096], fk.build_kdh(4096))
            assert k2.dport != port
            k2.dport = port  # the old dump's socket is gone: no answer there
            _send_raw(k2, srv, fk.FINISHED, fin)
            with pytest.raises(socket.timeout):
                _recv_ack(k2, 0.5)
        srv.wait_log("(to ./vmcore.localhost.1)")
        deadline = time.monotonic() + 5
        while len(rec.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.stop() == 0
    out = srv.out()
    assert out.count("Completed dump from client") == 2  # once per dump, never for a retransmission
    assert out.count("New dump from client") == 2 and "(to ./vmcore.localhost.1)" in out
    assert "timed out" not in out
    runs = [json.loads(ln)[0] for ln in rec.read_text().splitlines()]
    assert runs == [["success", "127.0.0.1", "localhost", "./info.localhost.0", "./vmcore.localhost.0", "complete"],
                    ["success", "127.0.0.1", "localhost", "./info.localhost.1", "./vmcore.localhost.1", "complete"]]
    assert _read(dumpdir / "vmcore.localhost.0") == data
    assert _read(dumpdir / "vmcore.localhost.1") == data[:4096]
    info0 = (dumpdir / "info.localhost.0").read_text()
    assert info0.count("Dump complete") == 1 and "other" not in info0 and "Compression: none" in info0
    assert not (dumpdir / "key.localhost.0").exists()
    assert os.readlink(dumpdir / "vmcore.localhost.last") == "vmcore.localhost.1"


def test_finish_linger_ends_quietly_and_frees_the_socket(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    data = _data(8192, 22)
    # --timeout 1: the linger is min(timeout, 12 s) = 1 s
    with _server(tmp_path, dumpdir, "-i", str(hook), timeout=1.0, nclients=2) as srv:
        with _kernel(srv, "127.0.0.2") as w:  # warm-up, so lazily opened descriptors are in the baseline
            w.dump(data, fk.build_kdh(len(data)))
        srv.wait_log("Process ")
        time.sleep(1.5)
        base = _fd_count(srv.proc.pid)
        with _kernel(srv) as k:
            fin = _dump_dropping_finished_ack(srv, k, data)
            port = k.dport
            deadline = time.monotonic() + 5
            while len(rec.read_text().splitlines()) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)
            _send_raw(k, srv, fk.FINISHED, fin)
            assert _recv_ack(k) == (fin, (srv.addr, port))
            assert _fd_count(srv.proc.pid) == base + 1  # only the lingering socket
            time.sleep(1.5)
            _send_raw(k, srv, fk.FINISHED, fin)
            with pytest.raises(socket.timeout):
                _recv_ack(k, 0.5)
            assert _fd_count(srv.proc.pid) == base
        assert srv.stop() == 0
    out = srv.out()
    assert "timed out" not in out and out.count("Completed dump from client localhost") == 1
    assert len(rec.read_text().splitlines()) == 2  # warm-up + this dump, never again at the linger's end
    assert out.endswith("Completed dump from client localhost [127.0.0.1]\nProcess %s exited with status 0\n"
                        "Shutting down...\n" % out.split("Process ")[-1].split(" ")[0])


def test_shutdown_closes_lingering_sockets_quietly(tmp_path, dumpdir):
    hook, rec = _write_hook(tmp_path)
    with _server(tmp_path, dumpdir, "-i", str(hook)) as srv:
        with _kernel(srv) as k:
            _dump_dropping_finished_ack(srv, k, b"s" * 4096)
            srv.wait_log("Process ")
            assert srv.stop() == 0  # linger is min(30 s, 12 s): still lingering here
    out = srv.out()
    assert out.endswith(" exited with status 0\nShutting down...\n")
    assert "timed out" not in out
    assert len(rec.read_text().splitlines()) == 1
    assert (dumpdir / "info.localhost.0").read_text().endswith("Dump complete\n")


def test_finish_linger_option():
    from netdump_tools import netdumpd as cli

    p = cli.build_parser()
    assert p.parse_args(["--finish-linger", "3"]).finish_linger == 3.0
    assert p.parse_args([]).finish_linger is None
    with pytest.raises(SystemExit):
        p.parse_args(["--finish-linger", "-1"])


# ---- hardening: heralds cost nothing, arguments, untrusted strings, handlers ----------------


def test_herald_alone_costs_no_file_and_is_forgotten(tmp_path, dumpdir):
    with _server(tmp_path, dumpdir, "-n", "--herald-timeout", "0.5", nclients=2) as srv:
        base = _fd_count(srv.proc.pid)
        with _kernel(srv, "127.0.0.2") as k:
            k.connect("sub")  # acked from a new socket; the path is not even looked at yet
            assert _fd_count(srv.proc.pid) == base + 1
            assert os.listdir(dumpdir) == []
            srv.wait_log("Forgetting client 127.0.0.2: heralded, then nothing for 0.5 s", stream="err")
            assert _fd_count(srv.proc.pid) == base
        with _kernel(srv, "127.0.0.2") as k:  # a herald again, then data: now the files exist
            k.dump(b"h" * 4096, fk.build_kdh(4096))
        srv.wait_log("Completed dump")
    assert sorted(os.listdir(dumpdir)) == ["bounds.127.0.0.2", "info.127.0.0.2.0", "info.127.0.0.2.last",
                                           "vmcore.127.0.0.2.0", "vmcore.127.0.0.2.last"]


@pytest.mark.parametrize("args", [["--timeout", "nan"], ["--timeout", "-1"], ["--timeout", "inf"],
                                  ["--finish-linger", "nan"], ["--herald-timeout", "0"], ["--replace-idle", "-0.5"],
                                  ["--hook-timeout", "nan"], ["--max-hooks", "0"], ["--max-clients", "-3"],
                                  ["--max-dump-size", "0"], ["--max-dump-size", "-5M"]])
def test_bad_numbers_are_usage_errors(tmp_path, dumpdir, args):
    r = _run_cli(tmp_path, "-d", str(dumpdir), "-a", "127.0.0.1", "--herald-port", "0", "-P",
                 str(tmp_path / "p.pid"), *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("netdumpd: error: argument %s: " % args[0])


def _mount(path, opts):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip("cannot mount a tmpfs: " + r.stderr.strip())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a read-only tmpfs (root writes anywhere else)")
def test_unwritable_dump_directory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    _mount(d, "size=64k,mode=0755")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        r = _run_cli(tmp_path, "-d", str(d), "-a", "127.0.0.1", "--herald-port", "0", "-P", str(tmp_path / "p.pid"))
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == ["netdumpd: cannot create files in %s: Read-only file system" % d]
        # writable at start, read-only later: one line per client, not one per index tried
        subprocess.run(["mount", "-o", "remount,rw", str(d)], check=True)
        with _server(tmp_path, d) as srv:
            subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
            with _kernel(srv, nretries=1, round_timeout=0.2) as k:
                k.connect()
                with pytest.raises(fk.DumpFailed):
                    k.send(fk.VMCORE, b"r" * 4096, 0)
            srv.wait_log("Can't create output files", stream="err")
            assert srv.stop() == 0
        err = [ln for ln in srv.err().splitlines() if "Read-only" in ln or "bounds" in ln]
        assert len(err) <= 2, err
        assert "Can't create output files for client localhost [127.0.0.1] in .: Read-only file system" in err[-1]
    finally:
        subprocess.run(["umount", "-l", str(d)])


def test_kdh_strings_are_sanitised(tmp_path, dumpdir):
    evil = fk.build_kdh(4096, hostname="box\nDump complete", versionstring="FreeBSD\x1b[2J\x1b]0;pwned\x07 15\n",
                        panicstring="oops\r\nDump complete\n\x1b[31mred \u202egnp.exe".encode("utf-8").decode("latin-1"),
                        arch="am\nd64")
    with _server(tmp_path, dumpdir) as srv:
        with _kernel(srv) as k:
            k.dump(b"e" * 4096, evil)
        srv.wait_log("Completed dump")
    info = (dumpdir / "info.localhost.0").read_text()
    lines = info.splitlines()
    assert lines.count("Dump complete") == 1 and lines[-1] == "Dump complete"
    assert "  Hostname: box?Dump complete" in lines
    assert "  Version String: FreeBSD?[2J?]0;pwned? 15" in lines
    assert "  Architecture: am?d64" in lines
    panic = [ln for ln in lines if ln.startswith("  Panic String: ")]
    assert len(panic) == 1 and "\x1b" not in info and "\u202e" not in info and "\r" not in info, panic
    assert "\x1b" not in srv.out() + srv.err()


def _slow_hook(tmp_path, seconds):
    # records start and end, refuses to run next to another instance (O_EXCL lock), leaves a child behind
    log = tmp_path / "hook.log"
    hook = tmp_path / "slow.py"
    hook.write_text("#!%s\nimport os, subprocess, sys, time\n"
                    "log = open(%r, 'a')\n"
                    "try:\n    fd = os.open(%r, os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
                    "except FileExistsError:\n    log.write('OVERLAP\\n'); log.flush(); sys.exit(9)\n"
                    "child = subprocess.Popen(['sleep', '60'])\n"
                    "log.write('start %%d %%d %%s\\n' %% (os.getpid(), child.pid, sys.argv[6])); log.flush()\n"
                    "time.sleep(%s)\n"
                    "child.kill()\nos.unlink(%r)\nlog.write('end %%d\\n' %% os.getpid())\n"
                    % (sys.executable, str(log), str(tmp_path / "lock"), seconds, str(tmp_path / "lock")))
    hook.chmod(0o755)
    log.write_text("")
    return hook, log


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def test_hook_runs_one_at_a_time_and_is_killed_after_its_timeout(tmp_path, dumpdir):
    hook, log = _slow_hook(tmp_path, 0.3)
    with _server(tmp_path, dumpdir, "-i", str(hook), "--max-hooks", "1", nclients=4) as srv:
        for i in range(3):
            with _kernel(srv, "127.0.0.%d" % (i + 2)) as k:
                k.dump(b"k" * 4096, fk.build_kdh(4096))
        deadline = time.monotonic() + 30
        while log.read_text().count("end ") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.stop() == 0
    text = log.read_text()
    assert "OVERLAP" not in text and text.count("end ") == 3, text
    assert [ln.split()[3] for ln in text.splitlines() if ln.startswith("start")] == ["complete"] * 3
    (tmp_path / "lock").unlink(missing_ok=True)
    os.unlink(log)
    hook, log = _slow_hook(tmp_path, 60)
    with _server(tmp_path, dumpdir, "-i", str(hook), "--hook-timeout", "0.5") as srv:
        with _kernel(srv) as k:
            k.dump(b"k" * 4096, fk.build_kdh(4096))
        srv.wait_log("killed by signal 15 (SIGTERM)", stream="err")
        assert srv.stop() == 0
    _, pid, child, _ = log.read_text().split()
    assert "Process %s still running after 0.5 s: killing it" % pid in srv.err()
    assert not _alive(int(pid)) and not _alive(int(child))  # its process group went with it


def test_hooks_are_killed_at_shutdown(tmp_path, dumpdir):
    hook, log = _slow_hook(tmp_path, 60)
    with _server(tmp_path, dumpdir, "-i", str(hook)) as srv:
        with _kernel(srv) as k:
            k.dump(b"k" * 4096, fk.build_kdh(4096))
        deadline = time.monotonic() + 20
        while "start" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.stop(timeout=30) == 0
    _, pid, child, _ = log.read_text().split()
    assert "Process %s still running at shutdown: killing it" % pid in srv.err()
    assert not _alive(int(pid)) and not _alive(int(child))
