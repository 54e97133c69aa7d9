"""netdumpd against an attacker on the LAN, bounded (loopback only; 127.0.0.0/8
source addresses stand in for other hosts): spoofed heralds from a thousand
addresses, a spoofed herald against a dump in progress, crafted notes, SIGKILL
in the middle of a dump, a full file system, files that must not be
overwritten. What must hold: real clients still get a slot and complete, no
file for a client that never sent data, nothing acked is lost, nothing
existing is overwritten, the info file always ends in a status."""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import fakekernel as fk
from netdump import elfcore
from netdump_tools.netdumpd_harness import NetdumpdProc
from test_vnet import announce

STATUS_IN_PROGRESS = "Dump incomplete: in progress, or netdumpd stopped before the dump ended"


def _data(n, seed):
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    out = bytearray(n)
    for i in range(0, n, 4):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i:i + 4] = struct.pack("<I", x)[:n - i]
    return bytes(out)


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@pytest.fixture
def dumpdir(tmp_path):
    d = tmp_path / "crash"
    d.mkdir()
    return d


class AckClient:
    """A netdump client at packet level that remembers exactly which VMCORE
    bytes the server acked (FakeKernel only says whether a whole burst was)."""

    def __init__(self, srv, ip):
        self.srv = srv
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, srv.client_port))
        self.port = None
        self.seq = 1
        self.acked = {}  # offset -> payload of every acked VMCORE packet

    def close(self):
        self.sock.close()

    def _acks(self, want, wait):
        """Collect acks for the seqnos in want (a dict seq -> anything) until all came or
        `wait` s passed without one; returns the acked seqnos."""
        got = set()
        self.sock.settimeout(wait)
        while len(got) < len(want):
            try:
                data, src = self.sock.recvfrom(64)
            except socket.timeout:
                break
            if len(data) == 4:
                (s,) = struct.unpack(">I", data)
                if s in want:
                    got.add(s)
                    if self.port is None:
                        self.port = src[1]
        return got

    def herald(self, tries=20, wait=0.5):
        pkt = fk.HDR.pack(fk.HERALD, 1, 0, 0, 0)
        for _ in range(tries):
            self.sock.sendto(pkt, ("127.0.0.1", self.srv.herald_port))
            if self._acks({1: 1}, wait):
                self.seq = 2
                return True
        return False

    def send(self, mtype, payload=b"", offset=0, tries=5, wait=0.5):
        """One packet, retried; True once acked."""
        s = self.seq
        self.seq += 1
        pkt = fk.HDR.pack(mtype, s, offset, len(payload), 0) + payload
        for _ in range(tries):
            self.sock.sendto(pkt, ("127.0.0.1", self.port))
            if self._acks({s: 1}, wait):
                if mtype == fk.VMCORE:
                    self.acked[offset] = payload
                return True
        return False

    def window(self, items, wait=1.0):
        """Send [(offset, payload)] as VMCORE back to back, one round; record what was acked."""
        want = {}
        for off, payload in items:
            want[self.seq] = (off, payload)
            self.sock.sendto(fk.HDR.pack(fk.VMCORE, self.seq, off, len(payload), 0) + payload,
                             ("127.0.0.1", self.port))
            self.seq += 1
        for s in self._acks(want, wait):
            off, payload = want[s]
            self.acked[off] = payload
        return len(self.acked)


def check_acked(core_path, client):
    """Every byte the server acked is in the file."""
    with open(core_path, "rb") as f:
        data = f.read()
    for off, payload in client.acked.items():
        assert data[off:off + len(payload)] == payload, "acked bytes at %d lost" % off


# ---- spoofed heralds --------------------------------------------------------------------

FLOOD = r"""
import socket, struct, sys, time
port, count, nets = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
paths = [b"", b"../../etc\0", b"x" * 50 + b"\0", b"sub\0"]
for i in range(count):
    a = i % (nets * 250)
    src = bytes([127, 1, a // 250, 1 + a % 250])
    p = paths[i % 4]
    pkt = struct.pack(">IIQII", 1, 1, 0, len(p), 0) + p
    cm = struct.pack("=I4s4s", 0, src, bytes(4))  # struct in_pktinfo: the spoofed source address
    s.sendmsg([pkt], [(socket.IPPROTO_IP, 8, cm)], 0, ("127.0.0.1", port))  # 8 = IP_PKTINFO
    if i % 50 == 49:
        time.sleep(0.01)  # about 5000 heralds a second at most: what netdumpd can read, not a packet flood
print("sent", count)
"""


def test_spoofed_herald_flood_real_boards_get_slots(tmp_path, dumpdir, request):
    # 1000 spoofed addresses in four /24 networks herald again and again; every
    # herald is acked to nobody and never followed by data. Two real clients
    # elsewhere dump meanwhile, with a FreeBSD client's own retry limits.
    with NetdumpdProc(tmp_path, dumpdir, args=["-n", "--max-clients", "32"], nclients=3) as srv:
        base_fds = _fds(srv.proc.pid)
        flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(srv.herald_port), "30000", "4"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            srv.wait_log("Forgetting client 127.1.", stream="err")  # the table is full of spoofed heralds
            results = {}

            def board(ip, size, seed):
                try:
                    with fk.FakeKernel("127.0.0.1", srv.herald_port, ip, srv.client_port, round_timeout=1.0,
                                       nretries=10) as k:
                        k.dump(_data(size, seed), fk.build_kdh(size))
                    results[ip] = "ok"
                except fk.DumpFailed as e:
                    results[ip] = repr(e)

            threads = [threading.Thread(target=board, args=("127.0.0.%d" % (i + 2), 512 * 1024, i)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            during = flood.poll() is None
            peak_fds = _fds(srv.proc.pid)
        finally:
            out, err = flood.communicate(timeout=120)
        assert out.strip() == "sent 30000", err
        assert results == {"127.0.0.2": "ok", "127.0.0.3": "ok"}, results
        assert srv.stop() == 0
    for i in range(2):
        with open(dumpdir / ("vmcore.127.0.0.%d.0" % (i + 2)), "rb") as f:
            assert f.read() == _data(512 * 1024, i)
    names = os.listdir(dumpdir)
    assert not [n for n in names if "127.1." in n], names  # a herald alone costs no file
    assert peak_fds <= base_fds + 32 + 8  # one socket per client slot, a few files
    log = srv.err()
    assert log.count("\n") < 2000, log[-2000:]  # herald lines are rate-limited (10 a second)
    assert "herald lines not logged" in log
    announce(request, "netdumpd: 30000 spoofed heralds from 1000 addresses (%s during the dumps); two real "
             "dumps complete, no file for a spoofed client" % ("flood still running" if during else "flood over"))


def test_spoofed_herald_cannot_end_a_progressing_dump(tmp_path, dumpdir):
    data = _data(256 * 1024, 7)
    with NetdumpdProc(tmp_path, dumpdir, nclients=2) as srv:
        spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        spoof.bind(("127.0.0.2", 0))  # the board's address, another port: a spoofer on the LAN
        with fk.FakeKernel("127.0.0.1", srv.herald_port, "127.0.0.2", srv.client_port, round_timeout=1.0) as k:
            k.connect()
            for pos in range(0, len(data), fk.DUMPER_BUF):
                k.send(fk.VMCORE, data[pos:pos + fk.DUMPER_BUF], pos)
                if pos == fk.DUMPER_BUF:
                    spoof.sendto(fk.HDR.pack(fk.HERALD, 1, 0, 0, 0), ("127.0.0.1", srv.herald_port))
                    srv.wait_log("Ignoring herald from 127.0.0.2: its dump in progress got a message", stream="err")
            k.send(fk.KDH, fk.build_kdh(len(data)))
            k.send(fk.FINISHED)
        spoof.close()
        srv.wait_log("Completed dump from client 127.0.0.2")
    assert (dumpdir / "vmcore.127.0.0.2.0").read_bytes() == data
    assert (dumpdir / "info.127.0.0.2.0").read_text().endswith("\nDump complete\n")
    assert not (dumpdir / "vmcore.127.0.0.2.1").exists()


# ---- crafted notes ----------------------------------------------------------------------


def _crafted_core():
    """An ELF32 core whose notes would take the old server seconds and hundreds of MB:
    one note segment of 87381 empty notes (just under the 1 MiB budget), then 16 more of them."""
    nseg = 17
    phoff = 52
    data_off = phoff + 32 * nseg
    note = struct.pack("<III", 0, 0, 1)  # namesz 0, descsz 0, type 1
    seg0 = segn = note * ((1 << 20) // 12)
    ehdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 4, 40, 1, 0, phoff, 0, 0, 52, 32,
                                                           nseg, 0, 0, 0)
    ph = b""
    off = data_off
    for i in range(nseg):
        size = len(seg0) if i == 0 else len(segn)
        ph += struct.pack("<8I", elfcore.PT_NOTE, off, 0, 0, size, 0, 0, 4)
        off += size
    return ehdr + ph + seg0 + segn * (nseg - 1)


def test_crafted_notes_are_analysed_on_a_budget(tmp_path, dumpdir, request):
    core = _crafted_core()
    other = _data(2 << 20, 3)
    with NetdumpdProc(tmp_path, dumpdir, nclients=2) as srv:
        gaps = []

        def steady():  # another client dumping all along, at packet level, one packet at a time
            c = AckClient(srv, "127.0.0.3")
            try:
                assert c.herald()
                for off in range(0, len(other), 1024):
                    t = time.monotonic()
                    assert c.send(fk.VMCORE, other[off:off + 1024], off, tries=20)
                    gaps.append(time.monotonic() - t)
                assert c.send(fk.KDH, fk.build_kdh(len(other))) and c.send(fk.FINISHED)
            finally:
                c.close()

        t = threading.Thread(target=steady)
        t.start()
        with fk.FakeKernel("127.0.0.1", srv.herald_port, "127.0.0.2", srv.client_port, round_timeout=1.0) as k:
            k.dump(core, fk.build_kdh(len(fk.padded(core))))
        t.join(300)
        srv.wait_log("Completed dump from client 127.0.0.3")
        with open("/proc/%d/status" % srv.proc.pid) as f:
            hwm = [int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")][0]
        assert srv.stop() == 0
    assert (dumpdir / "vmcore.127.0.0.3.0").read_bytes() == other
    info = (dumpdir / "info.127.0.0.2.0").read_text().splitlines()
    assert info[-2:] == ["ELF core: not analysed: note segments larger than 1048576 bytes in all", "Dump complete"]
    assert hwm < 120 * 1024, hwm  # KiB: the note budget bounds what a client makes the server hold
    announce(request, "netdumpd: crafted notes (%d MiB) analysed on a budget off the event loop; another client's "
             "slowest ack %.0f ms, server peak RSS %d MiB" % (len(core) >> 20, max(gaps) * 1000, hwm >> 10))


# ---- SIGKILL, and files that are never overwritten -----------------------------------------


def test_sigkill_mid_dump_loses_nothing_acked_and_overwrites_nothing(tmp_path, dumpdir):
    data = _data(400 * 1024, 11)
    srv = NetdumpdProc(tmp_path, dumpdir).start()
    c = AckClient(srv, "127.0.0.1")
    try:
        assert c.herald()
        for off in range(0, 200 * 1024, 1400 * 8):
            c.window([(o, data[o:o + 1400]) for o in range(off, off + 1400 * 8, 1400)])
        assert len(c.acked) > 100
        srv.proc.send_signal(signal.SIGKILL)  # no chance to flush or to write anything more
        srv.proc.wait()
    finally:
        c.close()
    check_acked(dumpdir / "vmcore.localhost.0", c)
    assert (dumpdir / "info.localhost.0").read_text().splitlines()[-1] == STATUS_IN_PROGRESS
    kept = (dumpdir / "vmcore.localhost.0").read_bytes()
    # the info and bounds files go; the core must survive the next dump from the same host
    os.unlink(dumpdir / "info.localhost.0")
    os.unlink(dumpdir / "bounds.localhost")
    (dumpdir / "info.localhost.last").write_text("not a link: kept\n")
    with NetdumpdProc(tmp_path, dumpdir) as srv:
        with fk.FakeKernel("127.0.0.1", srv.herald_port, "127.0.0.1", srv.client_port, round_timeout=1.0) as k:
            k.dump(data, fk.build_kdh(len(data)))
        srv.wait_log("Completed dump")
    assert (dumpdir / "vmcore.localhost.0").read_bytes() == kept
    assert (dumpdir / "vmcore.localhost.1").read_bytes() == data
    assert (dumpdir / "info.localhost.last").read_text() == "not a link: kept\n"
    assert os.readlink(dumpdir / "vmcore.localhost.last") == "vmcore.localhost.1"
    assert "symlink(info.localhost.last): " in srv.err()


# ---- a full file system -----------------------------------------------------------------


def _tmpfs(path, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip("cannot mount a tmpfs: " + r.stderr.strip())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_full_file_system_loses_nothing_acked(tmp_path, request):
    d = tempfile.mkdtemp(prefix="ndfull", dir=str(tmp_path))
    _tmpfs(d, "512k")
    try:
        data = _data(1 << 20, 5)
        with NetdumpdProc(tmp_path, d, nclients=2) as srv:
            c = AckClient(srv, "127.0.0.2")
            try:
                assert c.herald()
                for off in range(0, len(data), 1400 * 16):
                    c.window([(o, data[o:o + 1400]) for o in range(off, min(off + 1400 * 16, len(data)), 1400)],
                             wait=0.3)
                    if len(c.acked) * 1400 < off - 1400 * 64:
                        break  # no acks any more: the server ended the dump
            finally:
                c.close()
            srv.wait_log("pwrite (for client 127.0.0.2 [127.0.0.2]): No space left on device", stream="err")
            check_acked(os.path.join(d, "vmcore.127.0.0.2.0"), c)
            info = open(os.path.join(d, "info.127.0.0.2.0")).read().splitlines()
            assert info[-1].startswith("Dump incomplete: write error @ offset ") and \
                info[-1].endswith(": No space left on device"), info
            acked = len(c.acked)
            # the server goes on: a small dump from another client after space is freed
            os.unlink(os.path.join(d, "vmcore.127.0.0.2.0"))
            with fk.FakeKernel("127.0.0.1", srv.herald_port, "127.0.0.3", srv.client_port, round_timeout=1.0) as k:
                k.dump(b"s" * 8192, fk.build_kdh(8192))
            srv.wait_log("Completed dump from client 127.0.0.3")
        assert srv.err().count("No space left on device") <= 3
    finally:
        subprocess.run(["umount", "-l", d])
    announce(request, "netdumpd: tmpfs full after %d acked packets; every acked byte on disk, info says why" % acked)
