"""Helpers shared by the CPython tests that talk over loopback: free ports,
whether ::1 works, netdumpd in a subprocess, stopping a subprocess (the last
three from tools/netdumpd_harness.py, which the benchmarks use too), and the
expected contents of the test RAM that host_tests/mp/testram.py fills on the
MicroPython side, and the frame patterns of the NIC driver tests
(host_tests/mp/framepat.py builds the same frames on the MicroPython side)."""
import socket
import struct
import threading

import pytest

from netdump_tools.netdumpd_harness import NetdumpdProc, free_udp_port, stop_process  # noqa: F401  (re-exports)

# the seed of the "big" test region (testram.BIG_SEED on the MicroPython side)
BIG_SEED = 0x2545F491


def has_ipv6():
    """True if a UDP socket can bind ::1."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


# the loopback addresses the socket tests run on
HOSTS = ["127.0.0.1"] + (["::1"] if has_ipv6() else [])


def start_netdumpd(dumpdir, hport, cport):
    """netdumpd -D -n on 127.0.0.1 writing to dumpdir (created; its logs go there too),
    once it waits for clients -> its Popen."""
    dumpdir.mkdir(exist_ok=True)
    return NetdumpdProc(dumpdir, dumpdir, args=("-n",), herald_port=hport, client_port=cport,
                        timeout=600).start().proc


stop = stop_process  # stop(proc): SIGTERM, wait, kill if it does not end


@pytest.fixture
def server(tmp_path):
    """netdumpd on 127.0.0.1 writing to tmp_path/crash -> (dumpdir, herald_port, client_port)."""
    hport, cport = free_udp_port(), free_udp_port()
    proc = start_netdumpd(tmp_path / "crash", hport, cport)
    yield tmp_path / "crash", hport, cport
    stop(proc)


def cores(dumpdir):
    """The vmcore files netdumpd saved in dumpdir (not the vmcore.last links), sorted."""
    return sorted(p for p in dumpdir.iterdir() if p.name.startswith("vmcore.") and not p.name.endswith(".last"))


def xorshift_bytes(nbytes, seed=BIG_SEED):
    """What testram.xorshift_fill writes: xorshift32 words (Marsaglia 2003: 13, 17, 5), little-endian."""
    out = bytearray(nbytes)
    x = seed
    for i in range(0, nbytes, 4):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        struct.pack_into("<I", out, i, x)
    return bytes(out)


def sparse_bytes():
    """The "sparse" test region of testram.regions()."""
    sparse = bytearray(256 * 1024)
    for off in (5, 70000, 262143):
        sparse[off] = 0xA5
    return bytes(sparse)


SMALL = b"netdump small region 0123456789" * 3  # the "small" test region


def check_regions(core, big_size):
    """Assert a vmcore (reader.Vmcore) holds testram.regions(big_size) byte for byte, and that
    the CRC-32 the board computed of each region while sending it matches the file."""
    assert [r.name for r in core.regions] == ["big", "sparse", "small"]
    assert core.read_region("big") == xorshift_bytes(big_size)
    assert core.read_region("sparse") == sparse_bytes()
    assert core.read_region("small") == SMALL
    assert [core.check_digest(r)[0] for r in core.regions] == ["ok"] * 3
    assert core.problems() == []


# ---- NIC driver tests: the frame patterns of host_tests/mp/framepat.py ----
PEER_MAC = b"\x02\x00\x00\x00\x00\x09"


def tx_len(i):
    """Length of transmit frame i."""
    return 1514 if i % 5 == 4 else 60 + (i * 331) % 1455


def rx_len(i):
    """Length of receive frame i."""
    return 60 + (i * 577) % 1455


def tx_frame(i, mac):
    """Transmit frame i as the NIC with address mac sends it (broadcast)."""
    return b"\xff" * 6 + mac + b"\x88\xb5" + bytes((j * 7 + i) & 255 for j in range(14, tx_len(i)))


def rx_frame(i, mac, n=None):
    """Receive frame i (rx_len(i) bytes, or n) from PEER_MAC to mac."""
    return mac + PEER_MAC + b"\x88\xb5" + bytes((j * 5 + i * 3) & 255 for j in range(14, n or rx_len(i)))


def parse_results(stdout):
    """"RESULT k=v ..." and "MESSAGE text" lines of a MicroPython test script -> dict."""
    res = {}
    for ln in stdout.splitlines():
        if ln.startswith("RESULT "):
            for kv in ln.split()[1:]:
                k, _, v = kv.partition("=")
                res[k] = v
        elif ln.startswith("MESSAGE "):
            res["message"] = ln[8:]
    return res


class Wire:
    """The far end of an emulated chip's cable: a datagram socket (a unix path, or UDP
    on 127.0.0.1 when path is None) and a thread collecting what arrives in .received."""

    def __init__(self, path=None):
        if path is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(path)
            self.address = path
        self.sock.settimeout(0.2)
        self.received = []
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while not self._stop:
            try:
                self.received.append(self.sock.recv(65536))
            except socket.timeout:
                pass
            except OSError:
                return

    def sendto(self, frame, addr):
        self.sock.sendto(frame, addr)

    def close(self):
        self._stop = True
        self.sock.close()
        self._reader.join(2)


def closing_factory(cls):
    """Body of a pytest fixture handing out cls(**kw) objects, closed at the end:
    `yield from closing_factory(Bench)`."""
    made = []

    def make(**kw):
        obj = cls(**kw)
        made.append(obj)
        return obj

    yield make
    for obj in made:
        obj.close()
