# Bounded fuzzing of netdumpd: random and mutated datagrams to the herald port
# and to per-dump ports. The server must stay up, log no internal error, write
# nothing outside its dump directory, and still complete a valid dump after.
import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fakekernel as fk
from netdump_tools.netdumpd_harness import NetdumpdProc

NASTY_PATHS = [b"", b".", b"..", b"../outside", b"/etc", b"link", b"link/x", b"sub", b"sub/../..",
               b"sub/./", b"a" * 300, b"sub//", b"\xff\xfe", b"x/" * 100, b"sub\0../outside"]
SOURCES = ["127.0.0.%d" % i for i in range(2, 12)]


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    dumpdir = root / "crash"
    dumpdir.mkdir()
    (dumpdir / "sub").mkdir()
    outside = root / "outside"
    outside.mkdir()
    os.symlink(str(outside), str(dumpdir / "link"))
    # --replace-idle 0: a herald from an address whose dump is in progress starts a new dump at once
    srv = NetdumpdProc(root, dumpdir, args=["--max-dump-size", "1M", "-n", "--replace-idle", "0"], timeout=2,
                       nclients=len(SOURCES) + 2)
    srv.start()
    socks = {}
    for ip in SOURCES:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, srv.client_port))
        s.setblocking(False)
        socks[ip] = s
    yield root, dumpdir, outside, srv, socks
    for s in socks.values():
        s.close()
    if srv.proc.poll() is None:
        srv.stop()


def _herald(path=None, seqno=1):
    payload = b"" if path is None else path + b"\0"
    return fk.HDR.pack(fk.HERALD, seqno, 0, len(payload), 0) + payload


def _drain(s):
    got = []
    while True:
        try:
            got.append(s.recvfrom(64))
        except (BlockingIOError, InterruptedError):
            return got


def _session_port(s, srv, path):
    # herald (with path) and wait briefly for the ack: its source port is the dump
    # socket. One VMCORE packet then creates the files (in path, else the default
    # path) and marks the dump as started, so that the next herald from this
    # address (with whatever path) replaces it instead of being re-acked.
    s.sendto(_herald(path), ("127.0.0.1", srv.herald_port))
    s.settimeout(1.0)
    try:
        while True:
            data, src = s.recvfrom(64)
            if len(data) == 4:
                s.sendto(fk.HDR.pack(fk.VMCORE, 2, 0, 4, 0) + b"data", ("127.0.0.1", src[1]))
                return src[1]
    except socket.timeout:
        return None
    finally:
        s.setblocking(False)


def _mutate(data, flips, cut, extra):
    b = bytearray(data)
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val
    if cut is not None:
        b = b[:cut]
    return bytes(b) + extra


message = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=24, max_size=4200),
    st.builds(lambda t, s, o, p, fix: fk.HDR.pack(t, s, o, len(p) if fix else (len(p) * 7 + 1) & 0xFFFFFFFF, 0) + p,
              st.integers(0, 8), st.integers(0, 2**32 - 1),
              st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 1 << 21).map(lambda x: x & ~7)),
              st.binary(max_size=4200), st.booleans()),
    st.builds(_mutate,
              st.sampled_from([_herald(b"sub"), _herald(), fk.HDR.pack(fk.VMCORE, 5, 4096, 8, 0) + b"12345678",
                               fk.HDR.pack(fk.KDH, 6, 0, 512, 0) + fk.build_kdh(4096),
                               fk.HDR.pack(fk.EKCD_KEY, 7, 65000, 600, 0) + b"k" * 600,
                               fk.HDR.pack(fk.FINISHED, 8, 0, 0, 0)]),
              st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=4),
              st.one_of(st.none(), st.integers(0, 600)), st.binary(max_size=8)),
    st.builds(_herald, st.sampled_from(NASTY_PATHS), st.integers(0, 2**32 - 1)),
    st.builds(lambda t, o, p: fk.HDR.pack(t, 9, o, len(p), 0) + p,
              st.sampled_from([fk.VMCORE, fk.EKCD_KEY, fk.KDH]),
              st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 1 << 21)), st.binary(max_size=4096)),
)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SOURCES), st.lists(st.tuples(st.booleans(), message), min_size=1, max_size=8),
       st.sampled_from([None] + NASTY_PATHS))
def test_fuzz_server_survives(fuzz_env, src, msgs, path):
    _root, _dumpdir, outside, srv, socks = fuzz_env
    s = socks[src]
    port = None
    if any(to_session for to_session, _ in msgs):
        port = _session_port(s, srv, path)
    for to_session, data in msgs:
        if to_session and port is not None:
            s.sendto(data, ("127.0.0.1", port))
        else:
            s.sendto(data, ("127.0.0.1", srv.herald_port))
    _drain(s)
    assert srv.proc.poll() is None, srv.err()
    assert os.listdir(str(outside)) == []


def test_fuzz_then_valid_dump(fuzz_env):
    # runs after the fuzz test (file order): the server still works
    root, dumpdir, outside, srv, _socks = fuzz_env
    data = bytes(range(256)) * 1024
    with fk.FakeKernel("127.0.0.1", srv.herald_port, "127.0.0.12", srv.client_port, round_timeout=0.3) as k:
        k.dump(data, fk.build_kdh(len(data)))
    srv.wait_log("Completed dump from client 127.0.0.12 [127.0.0.12]")
    with open(os.path.join(str(dumpdir), "vmcore.127.0.0.12.0"), "rb") as f:
        assert f.read() == data
    assert srv.stop() == 0
    err = srv.err()
    assert "Internal error" not in err and "Traceback" not in err, err[-3000:]
    assert os.listdir(str(outside)) == []
    assert sorted(os.listdir(str(root))) == ["crash", "netdumpd.err", "netdumpd.out", "outside"]
    for dirpath, dirnames, filenames in os.walk(str(dumpdir)):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) and name != "link":
                assert "/" not in os.readlink(p)  # only our .last links, to basenames
        assert os.path.realpath(dirpath).startswith(os.path.realpath(str(dumpdir)))
        dirnames[:] = [d for d in dirnames if d != "link"]
    for name in os.listdir(str(dumpdir)):
        p = os.path.join(str(dumpdir), name)
        if os.path.isfile(p) and not os.path.islink(p):
            assert os.path.getsize(p) <= 1 << 20
    # the fuzz reached the interesting paths, not only the first length check
    log = srv.out() + err
    for what in ("New dump from client", "Bad packet size", "Ignoring herald", "Ignoring runt packet",
                 "Can't create output files in path", "Received unexpected message type", "(KDH from"):
        assert what in log, what
