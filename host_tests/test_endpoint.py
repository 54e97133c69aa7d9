"""SocketEndpoint + debugnet on the real MicroPython unix port, heap locked from
the herald to FINISHED (host_tests/mp/endpoint_run.py), talking to a scripted
netdumpd-like peer on 127.0.0.1 / ::1 that acks from a new ephemeral port.

Each test runs on the unix port's own socket module ("unix") and on the
stand-ins for the esp32 module (host_tests/esp32_standin/socket.py, "esp32")
and for lwIP's (host_tests/lwip_standin/socket.py, "lwip"), both IPv4 only as
on those ports. No root and no capabilities are needed (test_dumps_without_any_capability
proves it); the heap-full tests prove the herald's one recvfrom() lives on the
reserve made at arm, and fails without it."""
import os
import shutil
import subprocess

import pytest

from conftest import HERE, micropython_exe, mp_env, run_micropython
from netdump import endpoint, wire
from netutil import HOSTS, free_udp_port
from peer import Peer

ESP32 = os.path.join(HERE, "esp32_standin")
STACKS = ["unix", "esp32", "lwip"]
# (host, stack) pairs: the esp32 and lwIP stand-ins have IPv4 only
HOST_STACKS = [(h, s) for h in HOSTS for s in STACKS if s == "unix" or ":" not in h]
STACKS_INDEX = endpoint.STACKS.index("unix")


def pattern(n, k):
    return bytes((i * 7 + k) & 255 for i in range(n))


def mp_paths(stack):
    return [os.path.join(HERE, stack + "_standin")] if stack != "unix" else []


def run_mp(peer, mode, size, path="crash/b1", repeat=1, stack="unix", script="mp/endpoint_run.py"):
    cport = free_udp_port(peer.host)
    args = [peer.host, str(peer.herald_port), str(cport), mode, str(size), path, str(repeat),
            stack if stack != "unix" else ""]
    proc = run_micropython([script] + args, timeout=120, extra_paths=mp_paths(stack))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    stats = dict((ln.split()[1], int(ln.split()[2])) for ln in proc.stdout.splitlines() if ln.startswith("STAT "))
    assert res, proc.stdout + proc.stderr
    assert "STACK " + stack in proc.stdout, proc.stdout
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


@pytest.mark.parametrize("mode", ["window", "freebsd"])
@pytest.mark.parametrize("host,stack", HOST_STACKS)
def test_locked_dump_over_udp(host, stack, mode):
    size = 150000
    with Peer(host) as p:
        err, stats, proc = run_mp(p, mode, size, stack=stack)
        assert err == 0, proc.stdout
        check(p, size)
        assert stats["sent"] == len(p.log)


@pytest.mark.parametrize("mode", ["window", "freebsd"])
@pytest.mark.parametrize("host,stack", HOST_STACKS)
def test_locked_dump_with_losses_and_bad_acks(host, stack, mode):
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
        err, stats, proc = run_mp(p, mode, size, stack=stack)
        assert err == 0, proc.stdout
        check(p, size)
        assert p.count(1) == 2
        for s in range(9, max(p.seen) - 1, 9):
            assert p.count(s) >= 2
        for s in range(11, max(p.seen) - 1, 11):
            assert p.count(s) >= 2  # the wrong-port ack was not taken
        assert stats["retx"] >= 1 and stats["ignored"] >= 1


def test_wrong_port_herald_ack_and_junk_before_the_real_one():
    # before the herald ack: a 4-byte "ack" from another host port is from the
    # server's address, so it is taken only if it acks the herald; junk of other
    # lengths is dropped; the real ack from the session port then wins
    def policy(peer, mtype, seq, nth):
        if mtype == wire.HERALD and nth == 1:
            return [("wraw", b"\x00\x00\x00\x07", 0), ("wraw", b"junk-datagram", 0), ("ack", seq, 0.05)]
        return [("ack", seq, 0)]

    size = 20000
    with Peer(policy=policy) as p:
        err, stats, proc = run_mp(p, "window", size)
        assert err == 0, proc.stdout
        check(p, size)


@pytest.mark.parametrize("stack", STACKS)
def test_two_connections_on_one_endpoint_locked(stack):
    # the second connect() resets the endpoint; the session socket stays
    # connected to the first session port, so the second herald ack (from a
    # new port) still arrives on the herald socket
    size = 20000
    with Peer() as p:
        err, stats, proc = run_mp(p, "window", size, repeat=2, stack=stack)
        assert err == 0, proc.stdout
        check(p, size)
        assert len(p.heralds) == 2
        assert [s for (w, t, s, o, n) in p.log if t == wire.HERALD] == [1, 1]
        assert len([1 for (w, t, s, o, n) in p.log if t == wire.FINISHED]) == 2


def test_herald_without_path():
    with Peer() as p:
        cport = free_udp_port()
        proc = run_micropython(["mp/endpoint_run.py", "127.0.0.1", str(p.herald_port), str(cport), "window", "3000"])
        assert "RESULT 0 " in proc.stdout, proc.stdout + proc.stderr
        assert p.wait_finished(5)
        assert p.heralds == [b""]


@pytest.mark.parametrize("off", ["", "a", "b"], ids=["revive", "no-revive-session", "no-revive-herald"])
def test_esp32_zero_length_datagrams(off):
    # ports/esp32/modsocket.c _socket_read_data: a zero-length datagram leaves a
    # socket "peer closed" for good; the endpoint resets the state (connect() on
    # the session socket, bind() on the herald socket). Without either, the dump fails.
    sent = {"a": 0}

    def policy(peer, mtype, seq, nth):
        if mtype == wire.HERALD and nth == 1:
            return [("wraw", b"", 0), ("ack", seq, 0.05)]  # to the herald socket, before the ack
        acts = []
        if seq == 6 and not sent["a"]:
            sent["a"] = 1
            acts.append(("raw", b"", 0))  # to the session socket, mid-dump
        acts.append(("ack", seq, 0.02 if seq == 6 else 0))
        return acts

    size = 30000
    script = "mp/endpoint_norevive.py" if off else "mp/endpoint_run.py"
    with Peer(policy=policy) as p:
        cport = free_udp_port()
        env = dict(os.environ, NETDUMP_NOREVIVE=off)
        proc = subprocess.run([micropython_exe(), script, "127.0.0.1", str(p.herald_port), str(cport), "window",
                               str(size), "crash/b1", "1", "esp32"], env=dict(mp_env([ESP32]), **env),
                              cwd=HERE, capture_output=True, text=True, timeout=120)
        out = proc.stdout + proc.stderr
        assert "STACK esp32" in out, out
        if not off:
            assert "RESULT 0 " in out, out
            check(p, size)
        else:
            assert "RESULT 0 " not in out and "RESULT " in out, out


@pytest.mark.parametrize("stack", STACKS)
def test_dumps_without_any_capability(stack):
    # every capability dropped (what an unprivileged user has): a raw socket
    # is refused, the dump still goes through
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv(1) not installed")
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the other tests prove it")
    drop = [setpriv, "--bounding-set=-all", "--inh-caps=-all"]
    env = mp_env(mp_paths(stack))
    raw = subprocess.run(drop + [micropython_exe(), "-c", "import usocket as s\n"
                                 "try:\n s.socket(s.AF_INET, s.SOCK_RAW, 17); print('RAW ok')\n"
                                 "except OSError as e:\n print('RAW refused', e.errno)"],
                         env=env, cwd=HERE, capture_output=True, text=True, timeout=60)
    assert "RAW refused 1" in raw.stdout, raw.stdout + raw.stderr  # EPERM
    with Peer() as p:
        cport = free_udp_port()
        proc = subprocess.run(drop + [micropython_exe(), "mp/endpoint_run.py", "127.0.0.1", str(p.herald_port),
                                      str(cport), "window", "20000", "crash/b1", "1",
                                      stack if stack != "unix" else ""],
                              env=env, cwd=HERE, capture_output=True, text=True, timeout=120)
        assert "RESULT 0 " in proc.stdout, proc.stdout + proc.stderr
        check(p, 20000)


@pytest.mark.parametrize("blocks_less", [0, 1], ids=["default-reserve", "one-block-less"])
def test_herald_with_the_heap_full(blocks_less):
    # the heap filled to its last block (host_tests/mp/heapfill.py) and locked:
    # the herald ack's recvfrom() lives on the reserve; one block less and it fails
    block = 32  # the x64 unix port: MICROPY_BYTES_PER_GC_BLOCK = 4 words
    reserve = endpoint._RESERVE_BLOCKS[STACKS_INDEX] * block - block * blocks_less
    with Peer() as p:
        r = run_micropython(["mp/heapfull_dump.py", "127.0.0.1", str(p.herald_port), str(free_udp_port()),
                             str(reserve)], heapsize="256K", timeout=120)
        out = r.stdout + r.stderr
        assert "FREE_AFTER_FILL 0" in out and "RESERVE %d" % reserve in out, out
        if blocks_less:
            assert "RESULT 2" in out, out  # debugnet.ERR_HERALD_TIMEOUT
        else:
            assert "RESULT 0" in out, out
            assert p.wait_finished(5)
            assert bytes(p.vmcore) == bytes(3000)


@pytest.mark.parametrize("window", ["native", "bytecode"])
def test_scheduled_callbacks_stay_out_of_the_heap_window(window):
    # review finding M1: the heap is full and locked, and the application has a
    # scheduled callback (a soft Timer / Pin IRQ) that keeps one more GC block
    # each time it runs. The bytecode VM runs pending callbacks at every jump, so
    # in a bytecode window (the parameter "bytecode": the same method without
    # @micropython.native) the callback runs while the heap is open, takes the
    # reserve, and the herald's recvfrom() fails on every retry. The native
    # window lets no callback in: it ran throughout the dump, never with memory.
    with Peer() as p:
        r = run_micropython(["mp/heapfull_dump.py", "127.0.0.1", str(p.herald_port), str(free_udp_port()), "-1", "",
                             "sched" if window == "native" else "sched-bytecode"], heapsize="256K", timeout=120)
        out = r.stdout + r.stderr
        got = dict(ln.split() for ln in r.stdout.splitlines() if ln.split()[:1] and ln.split()[0].isupper())
        assert "FREE_AFTER_FILL 0" in out and int(got["APP_RUNS"]) > 10, out
        if window == "native":
            assert got["APP_ALLOCS"] == "0" and got["RESULT"] == "0" and got["WINDOWS"] == "1", out
            assert p.wait_finished(5)
        else:
            assert int(got["APP_ALLOCS"]) >= 1 and got["RESULT"] == "2", out  # debugnet.ERR_HERALD_TIMEOUT
