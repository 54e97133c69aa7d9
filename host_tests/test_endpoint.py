"""SocketEndpoint + debugnet on the real MicroPython unix port, heap locked from
the herald to FINISHED (host_tests/mp/endpoint_run.py), talking to a scripted
netdumpd-like peer on 127.0.0.1 / ::1 that acks from a new ephemeral port."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIRMWARE, HERE, micropython_exe, run_micropython
from netdump import wire
from netutil import HOSTS, free_udp_port
from peer import Peer

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(False, reason="")


def pattern(n, k):
    return bytes((i * 7 + k) & 255 for i in range(n))


def run_mp(peer, mode, size, path="crash/b1", repeat=1):
    cport = free_udp_port(peer.host)
    args = [peer.host, str(peer.herald_port), str(cport), mode, str(size), path, str(repeat)]
    proc = run_micropython(["mp/endpoint_run.py"] + args, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    stats = dict((ln.split()[1], int(ln.split()[2])) for ln in proc.stdout.splitlines() if ln.startswith("STAT "))
    assert res, proc.stdout + proc.stderr
    return int(res[0][1]), stats, proc


def check(peer, size, path="crash/b1"):
    assert peer.wait_finished(5)
    assert peer.errors == []
    assert bytes(peer.vmcore) == pattern(size, 3)
    assert peer.kdh == pattern(512, 100)
    assert peer.heralds and all(h == path.encode() + b"\x00" for h in peer.heralds)
    assert all(w == "herald" for (w, t, s, o, n) in peer.log if t == wire.HERALD)
    assert all(w == "session" for (w, t, s, o, n) in peer.log if t != wire.HERALD)
    assert peer.session_port != peer.herald_port


@needs_root
@pytest.mark.parametrize("mode", ["window", "freebsd"])
@pytest.mark.parametrize("host", HOSTS)
def test_locked_dump_over_udp(host, mode):
    size = 150000
    with Peer(host) as p:
        err, stats, proc = run_mp(p, mode, size)
        assert err == 0, proc.stdout
        check(p, size)
        assert stats["sent"] == len(p.log)


@needs_root
@pytest.mark.parametrize("mode", ["window", "freebsd"])
@pytest.mark.parametrize("host", HOSTS)
def test_locked_dump_with_losses_and_bad_acks(host, mode):
    # lost herald ack, lost data acks, acks from a wrong port, duplicated and
    # out-of-window acks: retransmission paths run with the heap locked too
    def policy(peer, mtype, seq, nth):
        if mtype == wire.HERALD:
            return [] if nth == 1 else [("ack", seq, 0)]
        if nth == 1 and seq % 9 == 0:
            return []
        if nth == 1 and seq % 11 == 0:
            return [("wrong", seq, 0)]
        acts = [("ack", seq, 0)]
        if seq % 5 == 0:
            acts += [("ack", seq, 0), ("raw", wire.encode_ack(seq + 300), 0), ("raw", b"\xc0\x00\x00\x01", 0)]
        return acts

    size = 100000
    with Peer(host, policy=policy) as p:
        err, stats, proc = run_mp(p, mode, size)
        assert err == 0, proc.stdout
        check(p, size)
        assert p.count(1) == 2
        for s in range(9, max(p.seen) - 1, 9):
            assert p.count(s) >= 2
        for s in range(11, max(p.seen) - 1, 11):
            assert p.count(s) >= 2  # the wrong-port ack was not taken
        assert stats["retx"] >= 1 and stats["ignored"] >= 1


@needs_root
@pytest.mark.parametrize("host", HOSTS)
def test_two_connections_on_one_endpoint_locked(host):
    # the second connect() resets the endpoint (disconnects the UDP socket,
    # re-arms the raw socket) with the heap locked
    size = 20000
    with Peer(host) as p:
        err, stats, proc = run_mp(p, "window", size, repeat=2)
        assert err == 0, proc.stdout
        check(p, size)
        assert len(p.heralds) == 2
        assert [s for (w, t, s, o, n) in p.log if t == wire.HERALD] == [1, 1]
        assert len([1 for (w, t, s, o, n) in p.log if t == wire.FINISHED]) == 2


@needs_root
def test_herald_without_path():
    with Peer() as p:
        cport = free_udp_port()
        proc = run_micropython(["mp/endpoint_run.py", "127.0.0.1", str(p.herald_port), str(cport), "window", "3000"])
        assert "RESULT 0 " in proc.stdout, proc.stdout + proc.stderr
        assert p.wait_finished(5)
        assert p.heralds == [b""]


@needs_root
@pytest.mark.parametrize("runtime", ["cpy", "mpy"])
def test_no_raw_socket_gives_a_clear_error(runtime):
    # a child without CAP_NET_RAW: SOCK_RAW must fail with the documented message
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv(1) not installed")
    code = (
        "from netdump.endpoint import SocketEndpoint\n"
        "try:\n"
        "    SocketEndpoint('127.0.0.1', herald_port=1, client_port=%d)\n"
        "    print('NO ERROR')\n"
        "except OSError as e:\n"
        "    print('ERR', e)\n"
        "ep = SocketEndpoint('127.0.0.1', herald_port=1, client_port=%d, port_discovery='recvfrom')\n"
        "print('RECVFROM OK')\n" % (free_udp_port(), free_udp_port())
    )
    if runtime == "cpy":
        cmd = [sys.executable, "-c", code]
        env = dict(os.environ, PYTHONPATH=FIRMWARE)
    else:
        cmd = [micropython_exe(), "-c", code]
        env = dict(os.environ, MICROPYPATH=FIRMWARE)
    cmd = [setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw"] + cmd
    proc = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=60)
    assert "needs a raw socket (root or CAP_NET_RAW)" in proc.stdout, proc.stdout + proc.stderr
    assert "RECVFROM OK" in proc.stdout
