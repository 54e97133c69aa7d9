# MicroPython side of bench/bench_client.py: a whole dump with an in-process
# server, so that what runs is the client and nothing waits on another process.
# Prints "KEY value" lines.
#   argv: ENDPOINT MODE KIB FILL DIGEST PHASE
#   ENDPOINT: ether  - EtherEndpoint (own Ethernet/ARP/IPv4/UDP) over LoopNic, a
#                      frame NIC that answers ARP and acks every debugnet datagram
#                      with a prebuilt frame, at once
#             socket - LoopEp, an endpoint with SocketEndpoint's shape (the
#                      datagram built in its buffer, sent with one call, acks
#                      read with poll_seq) whose "sending" queues the ack
#   MODE: window | freebsd    FILL: random | zero75    DIGEST: 1 | 0
#   PHASE: setup (arm only) | dump (arm + dump) | nic (arm + the NIC alone: the
#          same number of data frames sent and acks polled, nothing else)
# bench_client.py runs two region sizes under callgrind and takes differences.
import sys

import micropython
import uctypes

import frames  # host_tests/frames.py (host_tests is on MICROPYPATH)
from mp import testram  # host_tests/mp/testram.py
from netdump import debugnet, elfcore, fast, inet, panic, wire
from netdump.ether import EtherEndpoint

MAC = b"\x02\x00\x00\x00\x00\x15"
PEER = b"\x02\x00\x00\x00\x00\x02"
CIP = b"\x0a\x00\x02\x0f"  # 10.0.2.15
SIP = b"\x0a\x00\x02\x02"  # 10.0.2.2
CPORT = 20024
SPORT = 40000
_Q = 256  # acks queued at most (more than a window)


class LoopNic:
    """A frame NIC with the server inside: ARP requests get a reply, debugnet
    datagrams an ack (a prebuilt frame with the seqno and UDP checksum patched)."""

    def __init__(self):
        self.mac = MAC
        self.arp = bytearray(60)
        inet.eth_header(self.arp, 0, MAC, PEER, inet.ETHERTYPE_ARP)
        inet.arp_packet(self.arp, inet.ARP_OFF, inet.ARP_REPLY, PEER, SIP, MAC, CIP)
        self.ackf = bytearray(60)
        frames.udp4_frame(self.ackf, 0, MAC, PEER, SIP, CIP, SPORT, CPORT, 4)
        self.usum = inet.pseudo4_sum(SIP, CIP, inet.PROTO_UDP, 12) + SPORT + CPORT + 12
        self.q = bytearray(4 * _Q)  # seqnos to ack, 4 bytes each
        self.qh = 0
        self.qt = 0
        self.arp_due = 0
        self.copy = fast.copy

    def send(self, buf, n):
        if buf[12] == 0x08 and buf[13] == 0x06:
            self.arp_due = 1
            return 1
        q = self.q
        i = (self.qt % _Q) * 4
        p = inet.UDP4_PAYLOAD + 4  # the debugnet header's seqno
        q[i] = buf[p]
        q[i + 1] = buf[p + 1]
        q[i + 2] = buf[p + 2]
        q[i + 3] = buf[p + 3]
        self.qt += 1
        return 1

    def poll(self, buf):
        if self.arp_due:
            self.arp_due = 0
            self.copy(buf, 0, self.arp, 0, 60)
            return 60
        if self.qh == self.qt:
            return 0
        q = self.q
        i = (self.qh % _Q) * 4
        self.qh += 1
        f = self.ackf
        a = inet.UDP4_PAYLOAD
        f[a] = q[i]
        f[a + 1] = q[i + 1]
        f[a + 2] = q[i + 2]
        f[a + 3] = q[i + 3]
        c = 0xFFFF ^ inet.fold(self.usum + ((q[i] << 8) | q[i + 1]) + ((q[i + 2] << 8) | q[i + 3]))
        f[inet.UDP4_OFF + 6] = c >> 8
        f[inet.UDP4_OFF + 7] = c & 0xFF
        self.copy(buf, 0, f, 0, 60)
        return 60

    def wait(self, ms):
        pass


class LoopEp:
    """An endpoint shaped like SocketEndpoint whose server acks at once."""

    overhead = 28
    ack_port = SPORT

    def __init__(self):
        self.tx = None
        self.q = bytearray(4 * _Q)
        self.qh = 0
        self.qt = 0

    def tx_buffer(self, n):
        self.tx = bytearray(n)
        return self.tx, 0

    def _push(self, buf):
        q = self.q
        i = (self.qt % _Q) * 4
        q[i] = buf[4]
        q[i + 1] = buf[5]
        q[i + 2] = buf[6]
        q[i + 3] = buf[7]
        self.qt += 1

    def reset(self):
        return 1

    def send(self, buf, n):
        self._push(buf)
        return 1

    def xmit(self, n, s):
        self._push(self.tx)
        return 1

    def poll_seq(self):
        if self.qh == self.qt:
            return -1
        q = self.q
        i = (self.qh % _Q) * 4
        self.qh += 1
        if q[i] >= 0x40:
            return -2
        return (q[i] << 24) | (q[i + 1] << 16) | (q[i + 2] << 8) | q[i + 3]

    def poll_ack(self, ack):
        return 0  # debugnet uses poll_seq

    def adopt_port(self, port):
        return 0

    def wait(self, ms):
        pass


def nic_only(nic, npk, frame, rx, res):
    # the NIC's own share: one data frame out and its ack polled, per packet
    i = 0
    while i < npk:
        frame[inet.UDP4_PAYLOAD + 7] = i & 0xFF
        nic.send(frame, 1514)
        nic.poll(rx)
        nic.poll(rx)  # the look that finds nothing
        i += 1
    res[0] = i


def main():
    endpoint, mode, kib, fill, digest, phase = sys.argv[1:7]
    mode = debugnet.MODE_FREEBSD if mode == "freebsd" else debugnet.MODE_WINDOW
    region = bytearray(int(kib) << 10)
    testram.xorshift_fill(region, len(region) // 4, 0x9E3779B9)
    if fill == "zero75":
        z = bytes(4096)
        for b in range(len(region) // 4096):
            if b % 4:
                region[4096 * b:4096 * b + 4096] = z
    if endpoint == "ether":
        nic = LoopNic()
        ep = EtherEndpoint(nic, "10.0.2.15", "10.0.2.2", netmask=24, verbose=False)
    else:
        nic = None
        ep = LoopEp()
    d = panic.arm("10.0.2.2", [("ram", uctypes.addressof(region), len(region))], elfcore.EM_X86_64, 64, "amd64",
                  endpoint=ep, mode=mode, digest=digest == "1", action="continue")
    if phase == "setup":
        print("ERR 0")
        return
    if phase == "nic":
        res = [0]
        npk = len(region) // d.net.chunk
        frame = bytearray(1514)
        rx = bytearray(1536)
        micropython.heap_lock()
        try:
            nic_only(nic, npk, frame, rx, res)
        finally:
            micropython.heap_unlock()
        print("ERR 0")
        print("PKTS", res[0])
        return
    err = panic.dump("benchmark")
    print("ERR", err)
    print("PKTS", d.net.stats[debugnet.ST_SENT])
    print("STATS", " ".join([str(x) for x in d.net.stats]))
    print("STAT_NAMES", " ".join(debugnet.STAT_NAMES))
    print("CHUNK", d.net.chunk, wire.HDR_LEN)


main()
