"""A scripted netdumpd-like UDP peer for transport tests (CPython, a thread).

It listens on a herald port, answers a valid herald from a new ephemeral-port
socket connected to <client-ip>:<herald source port> (as netdumpd's
cap_herald.c does), acks every message from there, and stores what it gets.
A policy decides, per received datagram, which acks to send and when:

    policy(peer, mtype, seqno, nth) -> list of actions
        nth: 1 the first time this seqno arrives, 2 for the first retransmit...
        action: ("ack", seqno, delay_s)     ack from the session socket
                ("wrong", seqno, delay_s)   ack from another port (must be ignored)
                ("raw", bytes, delay_s)     any datagram from the session socket
                ("wraw", bytes, delay_s)    any datagram from another port
                ("close", None, delay_s)    close the session socket (FreeBSD's
                                            netdumpd does at FINISHED): later
                                            datagrams to it get ICMP port unreachable
"""
import errno
import heapq
import select
import socket
import threading
import time

from netdump import wire


def ack_all(peer, mtype, seqno, nth):
    return [("ack", seqno, 0)]


class Peer:
    def __init__(self, host="127.0.0.1", policy=ack_all, timeout=30.0):
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.policy = policy
        self.timeout = timeout
        self.hsock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.hsock.bind((host, 0))
        self.herald_port = self.hsock.getsockname()[1]
        self.ssock = None
        self.session_port = 0
        self.closed_port = 0  # the session port a "close" action closed
        self.wsock = socket.socket(self.family, socket.SOCK_DGRAM)  # the "wrong port"
        self.wsock.bind((host, 0))
        self.client = None
        self.log = []  # (where, mtype, seqno, offset, length) for every datagram
        self.heralds = []  # herald payloads
        self.seen = {}  # seqno -> times received
        self.vmcore = bytearray()
        self.kdh = None
        self.finished = threading.Event()
        self.errors = []
        self._timers = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        self._thread.join(5)
        for s in (self.hsock, self.ssock, self.wsock):
            if s is not None:
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- the loop ------------------------------------------------------------
    def _run(self):
        end = time.monotonic() + self.timeout
        while not self._stop and time.monotonic() < end:
            socks = [self.hsock] + ([self.ssock] if self.ssock else [])
            wait = 0.02
            if self._timers:
                wait = max(0.0, min(wait, self._timers[0][0] - time.monotonic()))
            r, _, _ = select.select(socks, [], [], wait)
            for s in r:
                try:
                    data, addr = s.recvfrom(65536)
                except OSError as e:
                    # an ack to a client that has finished and closed its socket
                    # comes back as ICMP port unreachable: not an error then
                    if not (self.finished.is_set() and e.errno == errno.ECONNREFUSED):
                        self.errors.append("recv: %s" % e)
                    continue
                self._datagram(s, data, addr)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, act = heapq.heappop(self._timers)
                self._do(act)

    def _datagram(self, s, data, addr):
        where = "herald" if s is self.hsock else "session"
        try:
            mtype, seqno, offset, length, _ = wire.parse_header(data)
        except wire.BadMessage as e:
            self.errors.append("%s: %s" % (where, e))
            return
        self.log.append((where, mtype, seqno, offset, length))
        if where == "herald":
            if mtype != wire.HERALD:
                self.errors.append("type %d sent to the herald port" % mtype)
                return
            self.heralds.append(bytes(data[wire.HDR_LEN:]))
            if self.ssock is None:
                self.client = addr
                ss = socket.socket(self.family, socket.SOCK_DGRAM)
                ss.bind((self.host, 0))
                ss.connect(addr)
                self.ssock = ss
                self.session_port = ss.getsockname()[1]
        elif mtype == wire.HERALD:
            self.errors.append("herald sent to the session port")
        payload = data[wire.HDR_LEN:]
        if where == "session":
            if mtype == wire.VMCORE:
                if len(self.vmcore) < offset + length:
                    self.vmcore.extend(bytes(offset + length - len(self.vmcore)))
                self.vmcore[offset:offset + length] = payload
            elif mtype == wire.KDH:
                self.kdh = bytes(payload)
            elif mtype == wire.FINISHED:
                self.finished.set()
        nth = self.seen.get(seqno, 0) + 1
        self.seen[seqno] = nth
        for act in self.policy(self, mtype, seqno, nth):
            if act[2] > 0:
                heapq.heappush(self._timers, (time.monotonic() + act[2], id(act), act))
            else:
                self._do(act)

    def _do(self, act):
        kind, what = act[0], act[1]
        try:
            if kind == "ack":
                self.ssock.send(wire.encode_ack(what))
            elif kind == "wrong":
                self.wsock.sendto(wire.encode_ack(what), self.client)
            elif kind == "raw":
                self.ssock.send(what)
            elif kind == "wraw":
                self.wsock.sendto(what, self.client)
            elif kind == "close" and self.ssock is not None:
                self.closed_port = self.session_port
                self.ssock.close()
                self.ssock = None
        except OSError as e:
            self.errors.append("send: %s" % e)

    # ---- summaries -------------------------------------------------------------
    def count(self, seqno):
        """How many times seqno arrived."""
        return self.seen.get(seqno, 0)

    def wait_finished(self, timeout=10):
        return self.finished.wait(timeout)
