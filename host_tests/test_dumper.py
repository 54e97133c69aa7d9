# dual-runtime
# The dumper (firmware/netdump/dumper.py) over a scripted transport, heap
# locked: progress at every 10% of the bytes sent within one large region,
# each region's CRC-32 computed while sending (a retransmission, at once or
# after later regions, does not count twice and reads the same bytes) and sent again in the digest note, the deadline scaled at arm time,
# and a FINISHED whose ack never came reported as delivered, not failed.
import struct

from dualtest import big_buffer, locked
from netdump import crc32, debugnet, dumper, elfcore, fast, fast_py, kdh, wire

CHUNK = 1448
BIG = 640 * 1024  # one region: 10% marks fall inside it
SPARSE = 40 * 1024  # zero blocks the dumper skips (holes in the file)


class FakeNet:
    """A transport that copies every message into a file image, as a server would,
    reads the first chunk of each VMCORE message a second time at once (a
    retransmission), and its last chunk once more at the next flush() (a late
    retransmission: the window runs on across messages and regions)."""

    def __init__(self, size, finish_result=0):
        self.image = big_buffer(size, 1)  # outside the heap on the QEMU firmware
        self.log = [0] * (4 * 256)  # preallocated: send() runs with the heap locked
        self.n = 0
        self.finish_result = finish_result
        self.d = None
        self.pkt = bytearray(CHUNK)
        self.kdh = bytearray(24 + kdh.SIZE)  # a datagram: the debugnet header, then the KDH
        self.late = [None] * 256  # (src, pos, offset, length) of the late retransmissions
        self.late_pos = [0] * (3 * 256)
        self.nlate = 0
        self.flushes = 0

    @property
    def sends(self):
        """(type, offset, length, the dumper's next_pct when it was sent) of each message."""
        return [tuple(self.log[4 * i:4 * i + 4]) for i in range(self.n)]

    def connect(self):
        return 0

    def send(self, mtype, src, off, n, pos=0):
        k = 4 * self.n
        self.log[k] = mtype
        self.log[k + 1] = off
        self.log[k + 2] = n
        self.log[k + 3] = self.d.next_pct
        self.n += 1
        if mtype == wire.KDH:  # encoded straight into the datagram, twice as for a retransmission
            src.readinto_at(self.kdh, 24, 0, n)
            src.readinto_at(self.kdh, 24, 0, n)
        if mtype != wire.VMCORE:
            return 0
        i = 0
        while i < n:
            k = n - i
            if k > CHUNK:
                k = CHUNK
            s = src.readinto_at(self.pkt, 0, pos + i, k)
            assert s == fast.csum(self.pkt, 0, k, 0)
            if i == 0:
                src.readinto_at(self.pkt, 0, pos, k)  # a retransmission of the first chunk
            fast.copy(self.image, off + i, self.pkt, 0, k)
            if i + k >= n and src is not self.d.hdr_src:  # (the header's digest note is filled in later)
                self.late[self.nlate] = src
                self.late_pos[3 * self.nlate] = pos + i
                self.late_pos[3 * self.nlate + 1] = off + i
                self.late_pos[3 * self.nlate + 2] = k
                self.nlate += 1
            i += k
        return 0

    def next_seq(self):
        return self.n + 1

    def flush(self, upto=0):
        self.flushes += 1
        j = 0
        while j < self.nlate:  # read again long after it was first sent: the same bytes
            p = 3 * j
            self.late[j].readinto_at(self.pkt, 0, self.late_pos[p], self.late_pos[p + 2])
            k = 0
            while k < self.late_pos[p + 2]:
                assert self.pkt[k] == self.image[self.late_pos[p + 1] + k]
                k += 1
            j += 1
        self.nlate = 0
        return 0

    def finish(self):
        return self.finish_result


def _setup(finish_result=0, digest=True):
    big = big_buffer(BIG)  # outside the heap on the QEMU firmware (140 KiB)
    x = 12345
    for i in range(0, BIG, 64):  # not zero anywhere, cheap to fill on MicroPython
        x = (x * 1103515245 + 12345) & 0x3FFFFFFF
        big[i] = x & 0xFF
        big[i + 1] = ((x >> 8) & 0xFF) | 1
    sparse = big_buffer(SPARSE, 2)
    sparse[5] = 0xA5
    sparse[SPARSE - 1] = 0x5A
    regions = [("big", fast.addr_of(big), BIG), ("sparse", fast.addr_of(sparse), SPARSE)]
    d = dumper.Dumper(None, regions, elfcore.EM_X86_64, 64, "amd64", digest=digest)
    net = FakeNet(d.layout.total_size, finish_result)
    net.d = d
    d.net = net
    return d, net, (big, sparse)


def _equal(a, aoff, b, n):
    # a[aoff:aoff+n] == b[0:n], compared in pieces: a board's heap has no room for 40 KiB copies
    for i in range(0, n, 1024):
        k = min(1024, n - i)
        if a[aoff + i:aoff + i + k] != b[i:i + k]:
            return False
    return True


def _crc(data, off, n):
    st = bytearray(4)
    crc32.start(st)
    fast_py.crc32_update(st, data, off, n)
    out = bytearray(4)
    crc32.final(st, out, 0)
    return struct.unpack("<I", out)[0]


def test_progress_every_10_percent_within_a_region():
    d, net, bufs = _setup()
    assert locked(d.dump, "p") == 0
    data = [(off, n, pct) for (t, off, n, pct) in net.sends if t == wire.VMCORE]
    # the big region went out in pieces, one 10% mark at a time: the progress printed
    # after each piece reached the next mark (0, 10, ..., 90 when each piece started)
    starts = [pct for (off, n, pct) in data if d.layout.offsets[0] <= off < d.layout.offsets[0] + BIG]
    assert starts == sorted(starts) and len(set(starts)) >= 9, starts
    assert d.next_pct == 100
    assert all(n % dumper.BLOCK == 0 for (off, n, pct) in data[1:-2])  # block-aligned pieces
    sparse_off = d.layout.offsets[1]
    assert [(off, n) for (off, n, pct) in data if off >= sparse_off] == [(sparse_off, 4096),
                                                                         (sparse_off + SPARSE - 4096, 4096)]


def test_digests_computed_while_sending_and_sent_again():
    d, net, bufs = _setup()
    assert locked(d.dump, "p") == 0
    lay = d.layout
    # the digest note went again, after the regions, at its own offset
    vm = [(off, n) for (t, off, n, pct) in net.sends if t == wire.VMCORE]
    assert vm[-1] == (lay.digest_off, lay.digest_len) and vm[0] == (0, lay.header_len) and lay.header_len < lay.header_size
    algo, s0, v0, s1, v1 = struct.unpack_from("<IIIII", net.image, lay.digest_off)
    assert (algo, s0, s1) == (elfcore.DIGEST_CRC32, elfcore.DIGEST_COMPUTED, elfcore.DIGEST_COMPUTED)
    # the CRC-32 of each region as the file holds it (holes read as zeros)
    assert v0 == _crc(net.image, lay.offsets[0], BIG)
    assert v1 == _crc(net.image, lay.offsets[1], SPARSE)
    assert _equal(net.image, lay.offsets[1], bufs[1], SPARSE)
    # the window waited for its acks twice: for the header's before the digest note, for
    # all before the KDH
    assert net.flushes == 2
    # a second dump starts over
    assert locked(d.dump, "again") == 0
    assert struct.unpack_from("<IIIII", lay.buf, lay.digest_off) == (1, 1, v0, 1, v1)


def test_digest_off_says_none():
    d, net, bufs = _setup(digest=False)
    assert locked(d.dump, "p") == 0
    assert bytes(net.image[d.layout.digest_off:d.layout.digest_off + d.layout.digest_len]) == bytes(20)
    assert [t for (t, off, n, pct) in net.sends if off == d.layout.digest_off] == []
    assert net.flushes == 1  # before the KDH


def test_dump_without_digests_reads_no_crc_tables():
    # arm(digest=False) drops the viper CRC tables (fast.drop_crc_tables): a CRC call after that
    # fails (no buffer to point at) instead of reading freed memory, so a whole dump without
    # digests, retransmissions and zero blocks included, must make none
    fast.drop_crc_tables()
    try:
        d, net, bufs = _setup(digest=False)
        assert locked(d.dump, "p") == 0
        assert locked(d.dump, "again") == 0
    finally:
        fast.crc_tables()


def test_unconfirmed_finish_is_delivered():
    d, net, bufs = _setup(finish_result=debugnet.FIN_UNCONFIRMED)
    err = locked(d.dump, "p")
    assert err == debugnet.FIN_UNCONFIRMED and d.err == err and debugnet.delivered(err)


def test_deadline_scales_with_size_and_mode():
    mib = 1 << 20
    assert dumper.auto_deadline_ms(264 * 1024, False) == 300000  # the floor
    assert dumper.auto_deadline_ms(64 * mib, False) == (60 + 64 * 10) * 1000
    assert dumper.auto_deadline_ms(64 * mib, True) == (60 + 64 * 30) * 1000
    assert dumper.auto_deadline_ms(1023 * mib, True) < 1 << 29


class NullEp:
    """Just enough of an endpoint to arm with."""

    overhead = 28
    ack_port = 0

    def reset(self):
        pass

    def send(self, buf, n):
        return 0

    def poll_ack(self, ack):
        return 0

    def adopt_port(self, port):
        return 0

    def wait(self, ms):
        pass


def test_arm_scales_the_deadline_unless_given():
    from netdump import panic

    big = bytearray(4096)
    regions = [("r", fast.addr_of(big), len(big))]
    try:
        d = panic.arm("127.0.0.1", regions, elfcore.EM_X86_64, 64, "amd64", endpoint=NullEp(), action="continue")
        assert d.net._deadline_ms == dumper.auto_deadline_ms(d.layout.total_size, False) == 300000
        d = panic.arm("127.0.0.1", regions, elfcore.EM_X86_64, 64, "amd64", endpoint=NullEp(), action="continue",
                      deadline_ms=4321)
        assert d.net._deadline_ms == 4321
    finally:
        panic.disarm()


# ---- the dump time and the uptime, past the wrap of ticks_ms() ---------------------

DAY_MS = 86400000
T_RTC = 1700000000  # the RTC at arm, seconds since 1970 (2023)


class BoardTicks:
    """ticks_ms/ticks_diff/ticks_add as a board has them (period 2**30 ms; ticks_diff signed,
    -2**29 .. 2**29-1: extmod/modtime.c) on a clock the test moves by hand; installed into
    compat and dumper while a test runs. Everything stays below 2**30: it runs under
    heap_lock() on the firmware too."""

    def __init__(self, t):
        self.t = t
        self.saved = None

    def ms(self):
        return self.t

    def advance(self, ms):
        self.t = self.add(self.t, ms)

    @staticmethod
    def diff(a, b):
        d = (a - b) & 0x3FFFFFFF
        if d >= 0x20000000:
            d = d - 0x3FFFFFFF - 1
        return d

    @staticmethod
    def add(a, b):
        # a + b can pass 2**30 (a long int on a board, under heap_lock): folded in small steps
        s = a - 0x3FFFFFFF - 1 + b
        if s < 0:
            s += 0x3FFFFFFF
            s += 1
        return s

    def install(self):
        from netdump import compat

        self.saved = (compat.ticks_ms, compat.ticks_diff, compat.ticks_add, dumper.ticks_ms, dumper.ticks_add,
                      compat._up[0], compat._up[1])
        compat.ticks_ms = dumper.ticks_ms = self.ms
        compat.ticks_diff = self.diff
        compat.ticks_add = dumper.ticks_add = self.add
        compat._up[0] = 0  # booted now
        compat._up[1] = self.t

    def remove(self):
        from netdump import compat

        s = self.saved
        compat.ticks_ms, compat.ticks_diff, compat.ticks_add, dumper.ticks_ms, dumper.ticks_add = s[:5]
        compat._up[0] = s[5]
        compat._up[1] = s[6]


def _stamped(days, ticks_every_day, dumptime=T_RTC):
    """Arm at a tick value 5 s before ticks_ms() wraps, let `days` days pass (with a hang
    watchdog's fault.tick() once a day, or nothing in between), dump -> (dump time, uptime)."""
    from netdump import compat, fault

    clock = BoardTicks(0x3FFFFFFF - 5000)
    clock.install()
    old = fault.armed[0]
    try:
        buf = bytearray(4096)
        buf[0] = 1
        d = dumper.Dumper(None, [("r", fast.addr_of(buf), 4096)], elfcore.EM_X86_64, 64, "amd64", dumptime=dumptime)
        net = FakeNet(d.layout.total_size)
        net.d = d
        d.net = net
        fault.armed[0] = d
        compat.uptime_s()  # arm's anchor
        for _ in range(days):
            clock.advance(DAY_MS)
            if ticks_every_day:
                fault.tick()
        clock.advance(1500)
        assert locked(d.dump, "p") == 0
    finally:
        fault.armed[0] = old
        clock.remove()
    z, hi, lo = struct.unpack_from(">IHH", net.kdh, 24 + 48)  # kerneldumpheader.dumptime, u64 big-endian
    up = struct.unpack_from("<I", d.layout.buf, d.layout.uptime_off)[0]
    return (hi << 16) | lo, up


def test_dump_time_and_uptime_a_week_after_arm():
    # 7 days: past 2**29 ms, where ticks_diff() turns negative (the time went 5.4 days back)
    t, up = _stamped(7, False)
    assert t == T_RTC + 7 * 86400 + 1 and up == 7 * 86400 + 1, (t, up)


def test_dump_time_and_uptime_after_40_days_with_the_hang_watchdog():
    # past several wraps of ticks_ms(): each check of the hang watchdog folds the time in
    t, up = _stamped(40, True)
    assert t == T_RTC + 40 * 86400 + 1 and up == 40 * 86400 + 1, (t, up)


def test_dump_time_stays_zero_without_an_rtc():
    assert _stamped(3, True, dumptime=0)[0] == 0


def test_kdh_encoded_into_the_datagram():
    d, net, _ = _setup()
    assert locked(d.dump, "kdh test", None, -1, 5) == 0
    k = net.kdh
    assert bytes(k[24:44]) == b"FreeBSD Kernel Dump\0" and kdh.parity_ok(k, 24)
    assert bytes(k[24 + 320:24 + 326]) == b"kdh t\0"  # panicstring: its first panic_len bytes
    assert struct.unpack_from(">Q", k, 24 + 40)[0] == d.layout.total_size  # dumplength


def test_mtu_too_small_for_the_kdh_is_refused():
    class Tiny:
        chunk = 511

    try:
        dumper.Dumper(Tiny(), [("r", 0x1000, 4096)], elfcore.EM_X86_64, 64, "amd64")
    except ValueError as e:
        assert "mtu too small" in str(e)
    else:
        assert False, "a 511-byte chunk was taken"
