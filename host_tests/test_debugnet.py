# Unit tests of the debugnet transport against an in-process scripted endpoint.
# dual-runtime: the same tests run on CPython and on the MicroPython unix port;
# the *_locked tests run the whole transport under micropython.heap_lock().
# dual-runtime
from dualtest import locked, raises

from netdump import debugnet, wire
from netdump.debugnet import BufferSource, Debugnet

SESSION_PORT = 40001
_QCAP = 512


class Fake:
    """A scripted server behind the endpoint protocol.

    record=True: every datagram is parsed and kept in .sent as
    (port, type, seqno, offset, length, payload); policy(fake, type, seqno, nth)
    returns the acks to queue (ints, or 4-byte bytes for raw values); without a
    policy every datagram is acked at once. record=False: allocation-free, acks
    everything at once (or drops the first ack of every `drop_every`-th seqno)
    and keeps only counts and a byte sum. payload=False: .sent keeps b"" for the
    payload (long runs fit a board-sized heap)."""

    overhead = 28

    def __init__(self, policy=None, record=True, drop_every=0, payload=True):
        self.policy = policy
        self.record = record
        self.payload = payload
        self.drop_every = drop_every
        self.q = bytearray(4 * _QCAP)
        self.qh = 0
        self.qt = 0
        self.ack_port = 0
        self.port = 0  # the adopted destination port (0 = herald port)
        self.adopted = 0
        self.resets = 0
        self.nsent = 0
        self.psum = 0
        self.bad_herald_len = 0
        self.send_ok = 1
        self.sent = []
        self.events = []
        self.seen = {}
        self.acked = {}
        self.max_out = 0
        self.firsts = bytearray(256)
        self.silent = 0
        self.fail_mode = 0
        self.src = None

    # endpoint protocol
    def reset(self):
        self.port = 0
        self.resets += 1
        self.qh = 0
        self.qt = 0

    def send(self, buf, n):
        self.nsent += 1
        if self.port == 0 and n != len(buf):
            self.bad_herald_len += 1
        seq = (buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]
        if not self.record:
            s = self.psum
            i = wire.HDR_LEN
            while i < n:
                s += buf[i]
                i += 1
            first = not self.firsts[seq & 255]
            self.firsts[seq & 255] = 1
            if first:
                self.psum = s & 0xFFFFFF
            if self.silent or not self.send_ok:
                pass
            elif first and self.drop_every and seq % self.drop_every == 0:
                pass  # lose this ack
            else:
                self._push_int(seq)
            return self.send_ok
        mtype, seqno, off, ln, aux = wire.parse_header(bytes(buf[:n]))
        self.sent.append((self.port, mtype, seqno, off, ln, bytes(buf[wire.HDR_LEN:n]) if self.payload else b""))
        self.events.append(("send", seqno))
        nth = self.seen.get(seqno, 0) + 1
        self.seen[seqno] = nth
        out = 0
        for k in self.seen:
            if k not in self.acked:
                out += 1
        if out > self.max_out:
            self.max_out = out
        acks = [seqno] if self.policy is None else self.policy(self, mtype, seqno, nth)
        if not self.send_ok:
            acks = []  # the datagram never left
        for a in acks:
            self.push(a)
        return self.send_ok

    def poll_ack(self, ack):
        if self.qh == self.qt:
            return 0
        i = (self.qh % _QCAP) * 4
        q = self.q
        ack[0] = q[i]
        ack[1] = q[i + 1]
        ack[2] = q[i + 2]
        ack[3] = q[i + 3]
        self.qh += 1
        self.ack_port = SESSION_PORT
        if self.record:
            a = (ack[0] << 24) | (ack[1] << 16) | (ack[2] << 8) | ack[3]
            self.events.append(("ack", a))
            self.acked[a] = 1
        return 1

    def adopt_port(self, port):
        self.port = port
        self.adopted += 1
        return 0

    def wait(self, ms):
        pass

    # helpers
    def _push_int(self, a):
        i = (self.qt % _QCAP) * 4
        q = self.q
        q[i] = (a >> 24) & 255
        q[i + 1] = (a >> 16) & 255
        q[i + 2] = (a >> 8) & 255
        q[i + 3] = a & 255
        self.qt += 1

    def push(self, a):
        if isinstance(a, int):
            self._push_int(a)
        else:
            i = (self.qt % _QCAP) * 4
            self.q[i:i + 4] = a
            self.qt += 1

    def data(self, mtype):
        return [s for s in self.sent if s[1] == mtype]


def pattern(n, k=0):
    b = bytearray(n)
    for i in range(n):
        b[i] = (i * 13 + k) & 255
    return b


def send_all(dn, mtype, src, offset, length):
    """send() and, in window mode, flush(): the message is acked -> err."""
    e = dn.send(mtype, src, offset, length)
    if e:
        return e
    return dn.flush()


def fast(ep, **kw):
    """A Debugnet with millisecond timers, for tests that lose acks."""
    args = {"rto_init_us": 3000, "rto_min_us": 1000, "rto_max_us": 20000, "npolls": 4, "poll_us": 500}
    for k in kw:
        args[k] = kw[k]
    return Debugnet(ep, **args)


# ---- chunking, herald, sequence numbers ---------------------------------------


def test_chunk_sizes():
    assert Debugnet(Fake()).chunk == 1448  # 1500 - 20 - 8 - 24
    e6 = Fake()
    e6.overhead = 48
    assert Debugnet(e6).chunk == 1428
    assert Debugnet(Fake(), mtu=9000).chunk == 4096  # netdumpd's buffer limit
    assert Debugnet(Fake(), mtu=576).chunk == 524
    raises(ValueError, Debugnet, Fake(), 50)
    raises(ValueError, Debugnet, Fake(), 1500, 0)
    raises(ValueError, Debugnet, Fake(), 1500, 65)
    assert Debugnet(Fake(), window=64).window == 64


def test_chunking_offsets_and_seqnos():
    ep = Fake()
    dn = Debugnet(ep)
    src = pattern(5000)
    assert dn.connect() == 0
    assert dn.send(wire.VMCORE, BufferSource(src), 4096, 5000) == 0
    v = ep.data(wire.VMCORE)
    assert [s[4] for s in v] == [1448, 1448, 1448, 656]
    assert [s[3] for s in v] == [4096, 4096 + 1448, 4096 + 2896, 4096 + 4344]
    assert [s[2] for s in v] == [2, 3, 4, 5]
    assert b"".join([s[5] for s in v]) == bytes(src)
    assert dn.send(wire.KDH, BufferSource(pattern(512, 5)), 0, 512) == 0
    assert dn.finish() == 0
    seqs = [s[2] for s in ep.sent]
    assert seqs == [1, 2, 3, 4, 5, 6, 7]
    assert [s[1] for s in ep.sent] == [1, 3, 3, 3, 3, 4, 2]
    fin = ep.sent[-1]
    assert fin[3] == 0 and fin[4] == 0 and fin[5] == b""
    assert dn.stats[debugnet.ST_SENT] == 7
    assert dn.stats[debugnet.ST_RETX] == 0


def test_exact_multiple_and_empty_messages():
    ep = Fake()
    dn = Debugnet(ep, mtu=100)  # chunk 48
    assert dn.chunk == 48
    dn.connect()
    assert dn.send(wire.VMCORE, BufferSource(pattern(96)), 0, 96) == 0
    assert dn.send(wire.VMCORE, BufferSource(b""), 96, 0) == 0
    v = ep.data(wire.VMCORE)
    assert [(s[3], s[4]) for s in v] == [(0, 48), (48, 48), (96, 0)]


def test_herald_payload_and_port_adoption():
    ep = Fake()
    dn = Debugnet(ep, path="crash/board1")
    assert dn.connect() == 0
    h = ep.sent[0]
    assert h[0] == 0  # to the herald port
    assert h[1] == wire.HERALD and h[2] == 1 and h[3] == 0
    assert h[5] == b"crash/board1\x00" and h[4] == 13
    assert ep.port == SESSION_PORT and ep.adopted == 1 and ep.resets == 1
    dn.send(wire.VMCORE, BufferSource(b"abc"), 0, 3)
    assert ep.sent[1][0] == SESSION_PORT
    assert ep.bad_herald_len == 0
    # no path: an empty herald; a new path on connect() replaces it
    ep2 = Fake()
    dn2 = Debugnet(ep2)
    dn2.connect()
    assert ep2.sent[0][4] == 0 and ep2.sent[0][5] == b""
    dn2.connect(b"x")
    assert ep2.sent[1][5] == b"x\x00" and ep2.sent[1][2] == 1 and ep2.resets == 2


def test_states_and_errors():
    ep = Fake()
    dn = Debugnet(ep)
    src = BufferSource(b"x")
    assert dn.send(wire.VMCORE, src, 0, 1) == debugnet.ERR_STATE
    assert dn.finish() == debugnet.ERR_STATE
    assert dn.connect() == 0
    assert dn.send(wire.VMCORE, src, 0x3FFFFFFF, 1) == debugnet.ERR_TOO_BIG
    assert dn.send(wire.VMCORE, src, -1, 1) == debugnet.ERR_TOO_BIG
    assert dn.err == debugnet.ERR_TOO_BIG
    assert dn.finish() == 0
    assert dn.send(wire.VMCORE, src, 0, 1) == debugnet.ERR_STATE
    for code in range(len(debugnet.ERR_NAMES)):
        assert debugnet.message(code)
    assert "herald" in debugnet.message(debugnet.ERR_HERALD_TIMEOUT)
    assert debugnet.message(99) == "netdump: unknown error"
    assert len(debugnet.STAT_NAMES) == len(dn.stats)


# ---- window behaviour -----------------------------------------------------------


def hold_until(n):
    """Policy: hold data acks until n datagrams are outstanding, then ack them all."""
    held = []

    def policy(fake, mtype, seq, nth):
        if mtype == wire.HERALD:
            return [seq]
        held.append(seq)
        if len(held) >= n or mtype == wire.FINISHED:
            out = held[:]
            del held[:]
            return out
        return []

    return policy


def test_window_limit():
    # chunk 72 (mtu 124), two windows each, one pattern: fits a board's 140 KiB heap
    data = BufferSource(pattern(2 * 64 * 72))
    for win in (1, 8, 32, 64):
        ep = Fake(policy=hold_until(win), payload=False)
        # timers far longer than filling a window takes: only the window limit is at work
        dn = fast(ep, window=win, mtu=124, rto_init_us=500000, rto_min_us=500000, rto_max_us=1000000)
        dn.connect()
        size = 2 * win * dn.chunk  # whole windows: the policy never strands a tail
        assert send_all(dn, wire.VMCORE, data, 0, size) == 0
        assert ep.max_out == win, (win, ep.max_out)
        assert dn.stats[debugnet.ST_RETX] == 0


def test_window_fills_before_first_ack_and_freebsd_bursts_64():
    for mode, burst in ((debugnet.MODE_WINDOW, 32), (debugnet.MODE_FREEBSD, 64)):
        ep = Fake()
        dn = Debugnet(ep, mode=mode, mtu=124)  # chunk 72
        dn.connect()
        ep.events = []
        assert send_all(dn, wire.VMCORE, BufferSource(pattern(72 * 100)), 0, 72 * 100) == 0
        kinds = [e[0] for e in ep.events]
        if mode == debugnet.MODE_WINDOW:
            burst = dn.poll_after  # window mode looks for acks once half the window is out
        assert kinds.index("ack") == burst, (mode, kinds.index("ack"))
        assert len([k for k in kinds if k == "send"]) == 100


def test_out_of_window_ack_is_ignored():
    # chunk seq 5's own ack is lost; an ack for 5 arrives while 5 is not yet sent
    # (out of the window): it must be ignored, so 5 is retransmitted
    def policy(fake, mtype, seq, nth):
        if seq == 3:
            return [5, 3]
        if seq == 5 and nth == 1:
            return []
        return [seq]

    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Fake(policy=policy)
        dn = fast(ep, window=2, mode=mode, mtu=100)
        assert dn.connect() == 0
        # FreeBSD mode: bursts are whole calls, so send chunk by chunk
        for i in range(6):
            assert send_all(dn, wire.VMCORE, BufferSource(pattern(48)), i * 48, 48) == 0
        assert ep.seen[5] == 2
        assert dn.stats[debugnet.ST_IGNORED] >= 1


def test_far_future_and_old_acks_are_counted_and_ignored():
    def policy(fake, mtype, seq, nth):
        if mtype == wire.HERALD:
            return [seq]
        return [seq + 1000, 1, seq]  # far future, old (the herald), then the real one

    ep = Fake(policy=policy)
    dn = Debugnet(ep, window=4, mtu=100)
    dn.connect()
    assert send_all(dn, wire.VMCORE, BufferSource(pattern(480)), 0, 480) == 0
    st = dn.stats
    assert st[debugnet.ST_IGNORED] + st[debugnet.ST_DUPACKS] == 20
    assert st[debugnet.ST_RETX] == 0
    assert [s[2] for s in ep.sent] == list(range(1, 12))


def test_acks_of_2_30_and_more_are_ignored():
    # the low 30 bits equal a real seqno: a careless parser would accept them
    def policy(fake, mtype, seq, nth):
        if seq == 3 and nth == 1:
            return [b"\x40\x00\x00\x03", b"\xc0\x00\x00\x03", b"\xff\xff\xff\xff"]
        return [seq]

    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Fake(policy=policy)
        dn = fast(ep, mode=mode, mtu=100)
        dn.connect()
        assert send_all(dn, wire.VMCORE, BufferSource(pattern(200)), 0, 200) == 0
        assert ep.seen[3] == 2
        assert dn.stats[debugnet.ST_IGNORED] == 3


def test_lost_acks_are_retransmitted_selectively():
    lose = (3, 7, 8)

    def policy(fake, mtype, seq, nth):
        if seq in lose and nth == 1:
            return []
        return [seq]

    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Fake(policy=policy)
        dn = fast(ep, mode=mode, mtu=100, fast_thresh=0)
        dn.connect()
        src = pattern(48 * 12)
        assert send_all(dn, wire.VMCORE, BufferSource(src), 0, len(src)) == 0
        for s in range(2, 14):
            assert ep.seen[s] == (2 if s in lose else 1), (mode, s, ep.seen[s])
        assert dn.stats[debugnet.ST_RETX] == 3
        # a retransmission carries the same seqno, offset and bytes
        first = [x for x in ep.sent if x[2] == 7]
        assert first[0][3:] == first[1][3:]


def test_fast_retransmit_before_the_timer():
    def policy(fake, mtype, seq, nth):
        if seq == 3 and nth == 1:
            return []
        return [seq]

    ep = Fake(policy=policy)
    # an RTO far longer than the test: only fast retransmit can recover in time
    dn = Debugnet(ep, mtu=100, rto_init_us=5000000, rto_min_us=5000000, rto_max_us=5000000, deadline_ms=3000)
    dn.connect()
    assert send_all(dn, wire.VMCORE, BufferSource(pattern(480)), 0, 480) == 0
    st = dn.stats
    assert st[debugnet.ST_FAST] == 1 and st[debugnet.ST_RETX] == 1 and st[debugnet.ST_TIMEOUTS] == 0
    assert ep.seen[3] == 2


def test_a_lost_retransmission_is_found_by_later_acks():
    # seqno 3 loses its first two copies: the second fast retransmission follows
    # the first once datagrams sent after it are acked, well before any timer
    def policy(fake, mtype, seq, nth):
        if seq == 3 and nth <= 2:
            return []
        return [seq]

    ep = Fake(policy=policy)
    dn = Debugnet(ep, mtu=100, window=8, poll_after=1, rto_init_us=5000000, rto_min_us=5000000,
                  rto_max_us=5000000, deadline_ms=3000)
    dn.connect()
    assert send_all(dn, wire.VMCORE, BufferSource(pattern(48 * 20)), 0, 48 * 20) == 0
    st = dn.stats
    assert ep.seen[3] == 3 and st[debugnet.ST_FAST] == 2 and st[debugnet.ST_TIMEOUTS] == 0


def test_window_counts_datagrams_in_flight_not_the_span():
    # seqno 3's first ack is lost and nothing but its timer retransmits it
    # (fast_thresh 0): the window of 4 counts unacked datagrams, so all the later
    # ones still go out before that timer, far beyond seqno 3 + 4
    def policy(fake, mtype, seq, nth):
        return [] if seq == 3 and nth == 1 else [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, mtu=100, window=4, poll_after=1, fast_thresh=0, rto_init_us=300000, rto_min_us=300000,
              rto_max_us=600000)
    dn.connect()
    assert send_all(dn, wire.VMCORE, BufferSource(pattern(48 * 40)), 0, 48 * 40) == 0
    sends = [e[1] for e in ep.events if e[0] == "send"]
    assert sends.index(41) < len(sends) - 1 - sends[::-1].index(3)  # 41 went before 3's resend
    assert ep.max_out <= 4 and ep.seen[3] == 2
    assert dn.stats[debugnet.ST_TIMEOUTS] == 1


def test_message_records_are_reused_only_once_acked():
    # 70 one-datagram messages; seqno 2's first ack is lost and only its timer resends
    # it: the message that would reuse its record (32 records, taken in turn) waits
    # until it is acked, and the resent datagram carries message 1's bytes
    def policy(fake, mtype, seq, nth):
        return [] if seq == 2 and nth == 1 else [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, mtu=100, window=64, fast_thresh=0, rto_init_us=100000, rto_min_us=100000, rto_max_us=200000)
    dn.connect()
    for k in range(70):
        assert dn.send(wire.VMCORE, BufferSource(pattern(40, k)), 40 * k, 40) == 0
    assert dn.flush() == 0
    two = [x for x in ep.sent if x[2] == 2]
    assert len(two) == 2 and two[0][3:] == two[1][3:] == (0, 40, bytes(pattern(40, 0)))
    sends = [e[1] for e in ep.events if e[0] == "send"]
    resend = len(sends) - 1 - sends[::-1].index(2)
    assert sends.index(34) > resend  # seqno 34's message reuses seqno 2's record: it waited
    assert sends.index(33) < resend  # the one before did not


def test_karn_rtt_samples_and_rto_bounds():
    def policy(fake, mtype, seq, nth):
        if seq in (2, 4) and nth == 1:
            return []
        return [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, mtu=100, fast_thresh=0)
    dn.connect()
    send_all(dn, wire.VMCORE, BufferSource(pattern(48 * 6)), 0, 48 * 6)
    st = dn.stats
    # Karn: chunk 0 (seq 2) was the timed datagram and was retransmitted, so the
    # data phase gave no sample at all; only the herald was timed
    assert st[debugnet.ST_RTT_SAMPLES] == 1, st
    assert 1000 <= st[debugnet.ST_RTO_US] <= 20000
    assert st[debugnet.ST_RTT_MIN_US] <= st[debugnet.ST_RTT_MAX_US]
    # without loss: one sample per round trip, not one per datagram
    ep = Fake()
    dn = fast(ep, mtu=100, fast_thresh=0, window=4)
    dn.connect()
    send_all(dn, wire.VMCORE, BufferSource(pattern(48 * 40)), 0, 48 * 40)
    n = dn.stats[debugnet.ST_RTT_SAMPLES]
    # herald + at most one per look for acks (every poll_after datagrams; 40 datagrams)
    assert 2 <= n <= 1 + 40 // dn.poll_after, n


def test_duplicated_and_reordered_acks():
    held = []

    def policy(fake, mtype, seq, nth):
        if mtype != wire.VMCORE:
            return [seq]
        held.append(seq)
        if len(held) == 4:  # release in reverse, each twice
            out = []
            for a in reversed(held):
                out.append(a)
                out.append(a)
            del held[:]
            return out
        return []

    ep = Fake(policy=policy)
    # reordering by 3 would trigger a (spurious) fast retransmit at threshold 3
    dn = fast(ep, mtu=100, window=4, fast_thresh=4)
    dn.connect()
    src = pattern(48 * 16)
    assert send_all(dn, wire.VMCORE, BufferSource(src), 0, len(src)) == 0
    assert dn.stats[debugnet.ST_DUPACKS] == 16
    assert dn.stats[debugnet.ST_RETX] == 0
    assert b"".join([s[5] for s in ep.data(wire.VMCORE)]) == bytes(src)


# ---- one window for the whole connection ------------------------------------------


class CountingSource:
    """A BufferSource that counts its reads per position (retransmissions read again)."""

    def __init__(self, buf):
        self.src = BufferSource(buf)
        self.reads = {}

    def readinto_at(self, dst, doff, pos, n):
        self.reads[pos] = self.reads.get(pos, 0) + 1
        return self.src.readinto_at(dst, doff, pos, n)


def test_messages_share_one_window():
    # acks are held until 6 datagrams are out: six one-datagram messages must all go
    # out before any ack (FreeBSD mode: each send waits for its own ack)
    hold = hold_until(6)

    def policy(fake, mtype, seq, nth):
        return hold(fake, mtype, seq, nth) if mtype == wire.VMCORE else [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, window=8, poll_after=8, rto_init_us=500000, rto_min_us=500000, rto_max_us=1000000)
    assert dn.connect() == 0
    ep.events = []
    for i in range(6):
        assert dn.send(wire.VMCORE, BufferSource(pattern(100, i)), 100 * i, 100) == 0
    assert [e[0] for e in ep.events] == ["send"] * 6  # no ack looked at yet
    assert dn.flush() == 0
    assert ep.max_out == 6 and dn.stats[debugnet.ST_RETX] == 0
    assert dn.send(wire.KDH, BufferSource(pattern(512)), 0, 512) == 0
    assert dn.finish() == 0
    assert [s[2] for s in ep.sent] == list(range(1, 10))


def test_sources_are_read_again_for_a_retransmission():
    # datagram 3 (message 0's second chunk) loses its first ack; later messages' acks
    # make it a fast retransmission, read again from message 0's source at its position
    def policy(fake, mtype, seq, nth):
        return [] if seq == 3 and nth == 1 else [seq]

    ep = Fake(policy=policy)
    dn = Debugnet(ep, mtu=100, rto_init_us=5000000, rto_min_us=5000000, rto_max_us=5000000, deadline_ms=3000)
    assert dn.connect() == 0
    srcs = [CountingSource(pattern(96, k)) for k in range(4)]
    for k in range(4):
        assert dn.send(wire.VMCORE, srcs[k], 96 * k, 96) == 0  # two chunks each
    assert dn.flush() == 0
    assert srcs[0].reads == {0: 1, 48: 2}
    assert all(s.reads == {0: 1, 48: 1} for s in srcs[1:])
    st = dn.stats
    assert st[debugnet.ST_FAST] == 1 and st[debugnet.ST_TIMEOUTS] == 0
    three = [x for x in ep.sent if x[2] == 3]
    assert len(three) == 2 and three[0][3:] == three[1][3:] == (48, 48, bytes(pattern(96, 0)[48:]))


def test_tail_loss_waits_for_the_timer_only_when_nothing_follows():
    def policy(fake, mtype, seq, nth):
        return [] if seq == 5 and nth == 1 else [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, mtu=100, poll_after=1)
    assert dn.connect() == 0
    assert dn.send(wire.VMCORE, BufferSource(pattern(192)), 0, 192) == 0  # seqnos 2..5
    assert dn.flush() == 0
    assert dn.stats[debugnet.ST_TIMEOUTS] == 1 and dn.stats[debugnet.ST_FAST] == 0
    assert ep.seen[5] == 2


def test_flush_upto_a_seqno():
    def policy(fake, mtype, seq, nth):
        return [] if seq == 6 and nth == 1 else [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, mtu=100, poll_after=1, fast_thresh=0)
    assert dn.connect() == 0
    assert dn.send(wire.VMCORE, BufferSource(pattern(192)), 0, 192) == 0  # seqnos 2..5
    upto = dn.next_seq()
    assert upto == 6
    assert dn.send(wire.VMCORE, BufferSource(pattern(48)), 192, 48) == 0  # seqno 6, its ack lost
    assert dn.flush(upto) == 0 and ep.seen[6] == 1  # 2..5 acked: no wait for 6
    assert dn.flush() == 0 and ep.seen[6] == 2  # 6 waited for its timer
    assert dn.finish() == 0


def test_message_with_a_position():
    ep = Fake()
    dn = Debugnet(ep, mtu=100)
    dn.connect()
    src = pattern(300)
    assert dn.send(wire.VMCORE, BufferSource(src), 4096, 100, 150) == 0
    assert dn.send(wire.VMCORE, BufferSource(src), 0, 1, 0x3FFFFFFF) == debugnet.ERR_TOO_BIG
    assert dn.finish() == 0
    v = ep.data(wire.VMCORE)
    assert [(x[3], x[4]) for x in v] == [(4096, 48), (4144, 48), (4192, 4)]
    assert b"".join([x[5] for x in v]) == bytes(src[150:250])


class FakeFrame(Fake):
    """A Fake whose datagrams debugnet builds in place (tx_buffer, xmit), checking the sums."""

    def __init__(self, **kw):
        Fake.__init__(self, **kw)
        self.frame = bytearray(10 + 24 + 4096)
        self.bad_sums = 0

    def tx_buffer(self, n):
        assert n <= len(self.frame) - 10
        return self.frame, 10

    def xmit(self, n, s):
        if fast_csum(self.frame, 10, n, 0) != _fold(s):
            self.bad_sums += 1
        return Fake.send(self, memoryview(self.frame)[10:10 + n], n)


def _fold(s):
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def fast_csum(buf, off, n, acc):
    from netdump import fast as f

    return f.csum(buf, off, n, acc)


def test_datagrams_built_in_the_endpoints_buffer():
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        for lose in (0, 4):
            ep = FakeFrame(policy=lambda f, t, s, nth: [] if s == lose and nth == 1 else [s])
            dn = fast(ep, mode=mode)
            src = pattern(5000, 3)
            assert dn.connect() == 0
            assert dn.send(wire.VMCORE, BufferSource(src), 8192, 5000) == 0
            assert dn.send(wire.VMCORE, BufferSource(src), 0, 1) == 0
            assert dn.finish() == 0
            assert ep.bad_sums == 0 and dn.stats[debugnet.ST_RETX] == (1 if lose else 0)
            by_seq = {}
            for x in ep.data(wire.VMCORE):
                assert by_seq.get(x[2], x) == x  # a retransmission: the same datagram again
                by_seq[x[2]] = x
            assert b"".join([by_seq[q][5] for q in sorted(by_seq) if by_seq[q][3] >= 8192]) == bytes(src)
            assert ep.sent[0][5] == b"" and ep.sent[-1][1] == wire.FINISHED


def test_a_failed_connection_keeps_its_error():
    ep = Fake(policy=never_ack_from(2))
    dn = fast(ep, retries=2, mtu=100)
    assert dn.connect() == 0
    assert dn.send(wire.VMCORE, BufferSource(pattern(48)), 0, 48) == 0  # queued
    assert dn.finish() == debugnet.ERR_TIMEOUT  # its data was never acked: a failure
    assert dn.send(wire.VMCORE, BufferSource(pattern(48)), 48, 48) == debugnet.ERR_TIMEOUT
    assert dn.flush() == debugnet.ERR_TIMEOUT and dn.err == debugnet.ERR_TIMEOUT
    assert [x[1] for x in ep.sent].count(wire.FINISHED) == 0


# ---- giving up ------------------------------------------------------------------


def never_ack_from(first):
    def policy(fake, mtype, seq, nth):
        return [] if seq >= first else [seq]

    return policy


def test_herald_timeout_and_lost_herald_ack():
    ep = Fake(policy=never_ack_from(1))
    dn = fast(ep, retries=3)
    assert dn.connect() == debugnet.ERR_HERALD_TIMEOUT
    assert ep.seen[1] == 4 and all(s[0] == 0 for s in ep.sent)  # all to the herald port
    assert send_all(dn, wire.VMCORE, BufferSource(b"x"), 0, 1) == debugnet.ERR_STATE

    ep = Fake(policy=lambda f, t, s, nth: [] if nth == 1 else [s])
    dn = fast(ep)
    assert dn.connect() == 0
    assert ep.seen[1] == 2 and ep.port == SESSION_PORT


def test_window_retries_exhausted():
    ep = Fake(policy=never_ack_from(3))
    dn = fast(ep, retries=4, mtu=100)
    err = send_all(dn, wire.VMCORE, BufferSource(b"x"), 0, 1)
    assert err == debugnet.ERR_STATE
    dn.connect()
    assert send_all(dn, wire.VMCORE, BufferSource(pattern(200)), 0, 200) == debugnet.ERR_TIMEOUT
    assert ep.seen[3] == 5  # first send + 4 retries
    assert dn.err == debugnet.ERR_TIMEOUT


def test_freebsd_retries_exhausted_counts_like_freebsd():
    ep = Fake(policy=never_ack_from(2))
    dn = fast(ep, mode=debugnet.MODE_FREEBSD, retries=3, mtu=100)
    dn.connect()
    assert send_all(dn, wire.VMCORE, BufferSource(pattern(96)), 0, 96) == debugnet.ERR_TIMEOUT
    # "if (retries++ > debugnet_nretries)": nretries + 2 transmissions in all
    assert ep.seen[2] == 5 and ep.seen[3] == 5
    assert dn.stats[debugnet.ST_TIMEOUTS] == 4


def test_freebsd_mode_takes_port_from_any_ack():
    def policy(fake, mtype, seq, nth):
        if mtype == wire.HERALD and nth == 1:
            return [77]  # a wrong seqno: FreeBSD still takes its source port
        return [seq]

    ep = Fake(policy=policy)
    dn = fast(ep, mode=debugnet.MODE_FREEBSD)
    assert dn.connect() == 0
    assert ep.seen[1] == 2
    assert ep.sent[1][0] == SESSION_PORT  # the herald's resend went to the new port
    ep = Fake(policy=policy)
    dn = fast(ep)
    assert dn.connect() == 0
    assert ep.seen[1] == 2
    assert ep.sent[1][0] == 0  # window mode waited for the herald's own ack


def test_deadline_bounds_a_silent_server():
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Fake(record=False)  # records nothing: retransmits for 300 ms fit a board's heap
        dn = fast(ep, mode=mode, retries=250, deadline_ms=300, rto_max_us=5000, mtu=100)
        assert dn.connect() == 0
        ep.silent = 1  # the server answers the herald, then nothing
        err = send_all(dn, wire.VMCORE, BufferSource(pattern(480)), 0, 480)
        # the deadline ended it, not the 250 retries (those end in ERR_TIMEOUT / ERR_SEND)
        assert err == debugnet.ERR_DEADLINE, err


def test_send_failures_report_err_send():
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Fake()
        dn = fast(ep, mode=mode, retries=2)
        assert dn.connect() == 0
        ep.send_ok = 0
        assert send_all(dn, wire.VMCORE, BufferSource(b"abc"), 0, 3) == debugnet.ERR_SEND
        assert dn.stats[debugnet.ST_SEND_ERR] >= 3


# ---- under the heap lock ----------------------------------------------------------


def dump_locked(dn, vsrc, vlen, ksrc, res):
    e = dn.connect()
    if not e:
        e = dn.send(wire.VMCORE, vsrc, 0, vlen)
    if not e:
        e = dn.send(wire.VMCORE, vsrc, vlen, vlen)
    if not e:
        e = dn.send(wire.KDH, ksrc, 0, 512)
    if not e:
        e = dn.finish()
    res[0] = e


def byte_sum(b):
    s = 0
    for x in b:
        s += x
    return s


def test_whole_send_path_locked():
    vlen = 30000
    vbuf = pattern(vlen, 1)
    kbuf = pattern(512, 2)
    want = (2 * byte_sum(vbuf) + byte_sum(kbuf) + byte_sum(b"a/b")) & 0xFFFFFF
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Fake(record=False)
        dn = Debugnet(ep, mode=mode, path="a/b")
        res = [None]
        vsrc = BufferSource(vbuf)
        ksrc = BufferSource(kbuf)
        locked(dump_locked, dn, vsrc, vlen, ksrc, res)
        assert res[0] == 0, debugnet.message(res[0])
        n = 1 + 2 * ((vlen + 1447) // 1448) + 1 + 1
        assert ep.nsent == n and dn.stats[debugnet.ST_SENT] == n
        assert ep.psum == want
        assert ep.port == SESSION_PORT


def test_losses_locked():
    # every 5th seqno loses its first ack: timers, fast retransmit and the
    # FreeBSD rounds all run under the lock
    vlen = 40000
    vbuf = pattern(vlen, 3)
    kbuf = pattern(512, 4)
    want = (2 * byte_sum(vbuf) + byte_sum(kbuf)) & 0xFFFFFF
    n = 1 + 2 * ((vlen + 1447) // 1448) + 1 + 1
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        for thresh in (3, 0):
            ep = Fake(record=False, drop_every=5)
            dn = fast(ep, mode=mode, fast_thresh=thresh)
            res = [None]
            locked(dump_locked, dn, BufferSource(vbuf), vlen, BufferSource(kbuf), res)
            assert res[0] == 0, debugnet.message(res[0])
            assert dn.stats[debugnet.ST_RETX] == n // 5
            assert ep.nsent == n + n // 5 and dn.stats[debugnet.ST_SENT] == ep.nsent
            assert ep.psum == want  # first copies only
            if mode == debugnet.MODE_WINDOW and thresh:
                assert dn.stats[debugnet.ST_FAST] > 0


def dump_until_error(dn, ep, res):
    e = dn.connect()
    if e:
        res[0] = e
        return
    ep.silent = ep.fail_mode  # the server goes silent, or the network goes away
    ep.send_ok = 0 if ep.fail_mode == 2 else 1
    res[0] = send_all(dn, wire.VMCORE, ep.src, 0, 3000)


def test_timeout_and_send_errors_locked():
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        for fail_mode, want in ((1, debugnet.ERR_TIMEOUT), (2, debugnet.ERR_SEND)):
            ep = Fake(record=False)
            ep.fail_mode = fail_mode
            ep.src = BufferSource(pattern(3000))
            dn = fast(ep, mode=mode, retries=3)
            res = [None]
            locked(dump_until_error, dn, ep, res)
            assert res[0] == want, (mode, fail_mode, res[0])


class Flood(Fake):
    """After connecting, answers every poll with a stale ack, forever: a
    misbehaving peer that must not keep the board past its deadline."""

    def __init__(self):
        Fake.__init__(self, record=False)
        self.flooding = 0
        self.flood_acks = 0

    def poll_ack(self, ack):
        if not self.flooding:
            r = Fake.poll_ack(self, ack)
            if r and ack[3] == 1:  # the herald's ack: flood from now on
                self.flooding = 1
            return r
        self.flood_acks += 1
        if self.flood_acks > 2000000:
            raise RuntimeError("the transport never looked at its deadline")
        ack[0] = 0
        ack[1] = 0
        ack[2] = 0
        ack[3] = 1  # the herald's seqno again: a duplicate, always ignored
        self.ack_port = SESSION_PORT
        return 1

    def send(self, buf, n):
        if self.flooding:
            self.nsent += 1
            return 1  # data goes nowhere: only the flood comes back
        return Fake.send(self, buf, n)


def test_ack_flood_cannot_outlast_the_deadline():
    src = BufferSource(bytearray(200))
    for mode in (debugnet.MODE_WINDOW, debugnet.MODE_FREEBSD):
        ep = Flood()
        dn = fast(ep, mtu=100, mode=mode, deadline_ms=200)
        assert dn.connect() == 0
        err = locked(send_all, dn, wire.VMCORE, src, 0, 200)
        assert err in (debugnet.ERR_DEADLINE, debugnet.ERR_TIMEOUT), err
        assert ep.flood_acks > 0
