"""A test peer that netdumps like a FreeBSD kernel (sys/net/debugnet.c
debugnet_send/debugnet_handle_ack, sys/netinet/netdump/netdump_client.c,
kern_shutdown.c), written from docs/protocol.md and independent of
firmware/netdump/debugnet.py, so it checks netdumpd on its own terms.

Loopback only: the server address must be 127.0.0.0/8 or ::1.
"""
import random
import socket
import struct
import time

HERALD, FINISHED, VMCORE, KDH, EKCD_KEY = 1, 2, 3, 4, 5  # debugnet.h, netdump.h
HDR = struct.Struct(">IIQII")  # struct debugnet_msg_hdr, 24 bytes, big-endian
MAX_IN_FLIGHT = 64  # DEBUGNET_MAX_IN_FLIGHT
DUMPER_BUF = 64 * 1024  # MAXDUMPPGS * PAGE_SIZE on amd64
BLOCK = 4096  # NETDUMP_DATASIZE; the dump code writes whole aligned blocks
IP_UDP_V4 = 28  # IPv4 + UDP headers, no options
IP_UDP_V6 = 48  # IPv6 + UDP headers


class DumpFailed(Exception):
    """ETIMEDOUT: a burst was not acked after every retry."""


class Faults:
    """Network misbehaviour applied by the fake kernel to its own traffic."""

    def __init__(self, seed=0, drop=0.0, dup=0.0, reorder=False, ack_loss=0.0):
        self.rng = random.Random(seed)
        self.drop = drop
        self.dup = dup
        self.reorder = reorder
        self.ack_loss = ack_loss


def build_kdh(dumplength, dumptime=1700000000, hostname="fakehost", versionstring="FreeBSD 15.0-CURRENT\n",
              panicstring="page fault", arch="amd64", archver=2, keysize=0, compression=0, version=4,
              magic=b"FreeBSD Kernel Dump", parity=True):
    """A 512-byte kerneldumpheader v4 as kern_shutdown.c dump_init_header writes it."""
    b = bytearray(512)
    struct.pack_into(">20s12sIIQQII64s192s175sBQ", b, 0, magic, arch.encode(), version, archver, dumplength,
                     dumptime, keysize, BLOCK, hostname.encode(), versionstring.encode(),
                     panicstring.encode(), compression, dumplength)
    if parity:
        p = 0
        for (w,) in struct.iter_unpack(">I", bytes(b)):
            p ^= w
        struct.pack_into(">I", b, 508, p)
    return bytes(b)


class FakeKernel:
    """One debugnet connection from client_ip:client_port to server:herald_port."""

    def __init__(self, server, herald_port, client_ip="127.0.0.1", client_port=20024, mtu=1500,
                 round_timeout=0.25, nretries=10, faults=None):
        self.v6 = ":" in server
        fam = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.server = server
        self.dport = herald_port
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((client_ip, client_port))
        self.chunk = mtu - (IP_UDP_V6 if self.v6 else IP_UDP_V4) - HDR.size
        self.round_timeout = round_timeout
        self.nretries = nretries
        self.faults = faults
        self.seq = 1  # debugnet_connect
        self.got_port = False
        self.retransmits = 0
        self.sent = 0
        self.bytes = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _out(self, pkt):
        f = self.faults
        copies = 1
        if f is not None:
            if f.rng.random() < f.drop:
                return
            if f.rng.random() < f.dup:
                copies = 2
        for _ in range(copies):
            self.sock.sendto(pkt, (self.server, self.dport))
            self.sent += 1

    def _handle_acks(self, base, n, acked, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(2048)
            except socket.timeout:
                return
            if src[0] != self.server:  # debugnet_inet.c: source must be the server IP
                continue
            if len(data) != 4:  # only 4-byte payloads are acks
                continue
            if self.faults is not None and self.faults.rng.random() < self.faults.ack_loss:
                continue
            (s,) = struct.unpack(">I", data)
            if not self.got_port:  # the first ack gives the per-dump server port
                self.dport = src[1]
                self.got_port = True
            if base <= s < base + MAX_IN_FLIGHT and s - base < n:
                acked.add(s - base)
                if len(acked) == n:
                    return

    def send(self, mtype, data=b"", offset=0):
        """debugnet_send: cut data into chunks, send the burst, wait for every ack, retransmit."""
        data = bytes(data)
        pkts = []
        pos = 0
        while True:
            part = data[pos:pos + self.chunk]
            pkts.append(HDR.pack(mtype, self.seq + len(pkts), offset + pos, len(part), 0) + part)
            pos += len(part)
            if pos >= len(data):
                break
        if len(pkts) > MAX_IN_FLIGHT:
            raise ValueError("burst of %d packets exceeds DEBUGNET_MAX_IN_FLIGHT" % len(pkts))
        base = self.seq
        acked = set()
        retries = 0
        order = list(range(len(pkts)))
        while True:
            todo = [i for i in order if i not in acked]
            if self.faults is not None and self.faults.reorder:
                self.faults.rng.shuffle(todo)
            for i in todo:
                self._out(pkts[i])
            self._handle_acks(base, len(pkts), acked, time.monotonic() + self.round_timeout)
            if len(acked) == len(pkts):
                break
            retries += 1
            self.retransmits += 1
            if retries > self.nretries:  # "retries++ > nretries"
                raise DumpFailed("no ack for %d of %d packets (type %d)" % (len(pkts) - len(acked), len(pkts), mtype))
        self.seq += len(pkts)
        self.bytes += len(data)

    def connect(self, path=None):
        """The herald, with the net.netdump.path string plus its NUL (or nothing)."""
        payload = b"" if path is None else (path.encode() if isinstance(path, str) else path) + b"\0"
        self.send(HERALD, payload, 0)

    def dump(self, vmcore, kdh, key=None, path=None, extents=None):
        """A whole netdump: herald, key, vmcore in 64 KiB bursts, KDH, FINISHED.

        vmcore is zero-padded to whole 4096-byte blocks as the dump code writes it;
        extents, if given, is a list of (offset, bytes) written in that order."""
        self.connect(path)
        if key is not None:
            self.send(EKCD_KEY, key, 0)
        if extents is None:
            extents = [(0, vmcore)]
        for off, data in extents:
            data = bytes(data)
            if len(data) % BLOCK:
                data += bytes(BLOCK - len(data) % BLOCK)
            for pos in range(0, len(data), DUMPER_BUF):
                self.send(VMCORE, data[pos:pos + DUMPER_BUF], off + pos)
        self.send(KDH, kdh, 0)
        self.send(FINISHED)


def padded(data):
    """data zero-padded to whole 4096-byte blocks (what the server receives)."""
    data = bytes(data)
    if len(data) % BLOCK:
        data += bytes(BLOCK - len(data) % BLOCK)
    return data
