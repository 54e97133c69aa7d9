# debugnet: the transport of FreeBSD's netdump (sys/net/debugnet.c), for
# MicroPython. It knows nothing of dumps or NICs: it cuts messages into
# numbered datagrams, hands them to an endpoint and waits for 4-byte acks.
#
# API (everything allocates at construction, nothing after):
#   Debugnet(endpoint, mtu=1500, window=32, mode=MODE_WINDOW, path=None, ...)
#       tunables (keyword, defaults in the _DEF_* block below): rto_init_us,
#       rto_min_us, rto_max_us, retries, fast_thresh, npolls, poll_us,
#       deadline_ms, poll_after, verbose
#   .connect(path=None) -> err   herald (seqno 1) to the herald port, retried;
#                                its ack's UDP source port becomes the session port.
#                                path=None reuses the path given at construction;
#                                a different path allocates (call before locking).
#   .send(mtype, src, offset, length, pos=0) -> err
#                                one message of `length` bytes read from src at
#                                positions pos.., file offset `offset`. Window
#                                mode: returns once every datagram of it has been
#                                handed to the endpoint (the window runs on across
#                                messages; src must stay readable until flush());
#                                FreeBSD mode: once every datagram is acked.
#   .flush() -> err              wait until every datagram sent is acked
#   .finish() -> err             flush, then FINISHED (empty message); closes the
#                                connection. FIN_UNCONFIRMED (not a failure:
#                                everything before was acked) when FINISHED
#                                itself was not acked.
#   .set_deadline(ms)            the whole connection's deadline (arm time)
#   .chunk                       payload bytes per datagram
#   .stats                       list of counters, indexes ST_*, names STAT_NAMES
#   .err                         last error code (0 = none)
#   message(err) -> str          one-line text of an error code (ERR_NAMES too)
#   BufferSource(buf)            a source over a bytes-like object
#
# Source protocol: src.readinto_at(dst, doff, pos, n) -> sum copies the n bytes
# at position pos of the source into dst[doff:] and returns their RFC 1071 sum
# (fast.csum(dst, doff, n, 0): folded, not inverted). It is called again, with
# the same arguments, for a retransmission: the data is read from the source
# again, not kept (each window slot keeps only the source and the position).
# A source in memory may also say where: src.mem >= 0, its bytes at pos are at
# address mem + pos (word-aligned, below 2**30); then, where fast.mem_read
# exists, window mode reads a message's datagrams with one mem_read call each
# (no method call) after one src.first(pos, length) -> the CRC-32 state those
# first copies feed, or None (dumper.MemSource); retransmissions still call
# readinto_at. Sources without `mem` are read through readinto_at only.
#
# Endpoint protocol (SocketEndpoint in endpoint.py, EtherEndpoint in ether.py):
#   ep.overhead          IP + UDP header bytes per datagram (28 IPv4, 48 IPv6);
#                        chunk = min(mtu - overhead - 24, 4096)
#   ep.reset()           new connection: destination = the herald port again;
#                        a result of 0 (the NIC did not start, the next hop is
#                        unknown) ends connect() at once with ERR_SEND (1 or
#                        None: go on)
#   ep.send(buf, n)      send buf[0:n] as one datagram -> 1 sent, 0 failed (a
#                        failure is treated as a lost packet). Used for the
#                        herald, always with n == len(buf).
#   ep.tx_buffer(n) -> (buf, off)   arm time, optional: where debugnet builds
#                        each datagram of up to n bytes in place (buf[off:]);
#   ep.xmit(n, sum) -> 1/0  then sends the n-byte datagram at buf[off:] (sum:
#                        its RFC 1071 sum, < 2**20, for the UDP checksum).
#                        Without tx_buffer, debugnet builds datagrams in a
#                        buffer of its own and hands them to ep.send(buf, n).
#   ep.poll_ack(ack)     non-blocking: 1 if a 4-byte ack from the server was
#                        copied into ack[0:4] (ep.ack_port = its UDP source
#                        port), else 0; other datagrams are dropped.
#   ep.poll_seq()        optional, the same as a number: the ack's seqno, -2
#                        for one of 2**30 or more, -1 if none came (saves
#                        parsing the 4 bytes on the fault path).
#   ep.adopt_port(port)  send to server:port from now on (and accept acks only
#                        from there) -> 0, or nonzero if it could not.
#   ep.wait(ms)          block up to ms for something to read (may return early).
#
# The hardware watchdog (netdump/feed.py) is fed at every look for acks (window
# mode: every poll_after datagrams, every wait), once per message, and per wait
# and retransmission scan (FreeBSD mode).
#
# Modes:
#   MODE_WINDOW   one sliding window of up to `window` datagrams in flight for
#                 the whole connection: datagrams of successive messages follow
#                 each other without waiting; only connect(), flush() and
#                 finish() wait for the acks. Per-datagram timers with an
#                 adaptive RTO (Jacobson/Karels, RFC 6298, one datagram timed
#                 per round trip as in section 3; Karn's rule: no RTT samples
#                 from retransmitted datagrams; doubled on expiry), selective
#                 retransmission, fast retransmit after `fast_thresh` acks of
#                 datagrams sent after its last copy (RFC 5681 uses 3
#                 duplicate acks; counting from the last copy, as RFC 8985's
#                 time order, finds a lost retransmission the same way); a loss
#                 with nothing sent after it waits for its timer. The window
#                 counts datagrams in flight (sent, not acked), not the span
#                 from the oldest unacked one: a loss does not stop new
#                 datagrams (up to a span of 128). Acks are looked for after
#                 every `poll_after` datagrams sent (default: an eighth of the
#                 window), so each look usually finds several.
#   MODE_FREEBSD  debugnet_send() as written: bursts of up to 64 chunks, then
#                 npolls x poll_us of polling; resend only what is unacked;
#                 give up after the `retries++ > nretries` check. Every send()
#                 returns when its message is acked.
#
# Sequence numbers start at 1 (the herald) and run for the whole connection.
# Every int stays below 2**30: acks >= 2**30 are ignored.
from array import array

from netdump import fast
from netdump.compat import const, ticks_add, ticks_diff, ticks_ms, ticks_us
from netdump.feed import feed
from netdump.wire import FINISHED, HDR_LEN, HERALD, MAX_PAYLOAD, SMALL_LIMIT, pack_header

MODE_WINDOW = const(0)
MODE_FREEBSD = const(1)

# ---- tunables: every default in one place ---------------------------------
_DEF_MTU = const(1500)  # Ethernet
_DEF_WINDOW = const(64)
_MAX_WINDOW = const(64)  # DEBUGNET_MAX_IN_FLIGHT (debugnet.h): FreeBSD's bursts, our most in flight
# window mode: the oldest unacked datagram to the newest sent may span this many
# seqnos (slots): losses do not stop new datagrams until then
_RING = const(128)
_NREC = const(32)  # message records: reused in turn once all of a record's datagrams are acked
_MMASK = const(31)  # _NREC - 1
_DEF_RTO_INIT_US = const(200000)  # before the first RTT sample
_DEF_RTO_MIN_US = const(10000)  # above a LAN's RTT plus queueing: no spurious resends
_DEF_RTO_MAX_US = const(1000000)
_DEF_RETRIES = const(10)  # debugnet_nretries (debugnet.c)
_DEF_FAST = const(3)  # dupack threshold, RFC 5681 section 3.2; 0 disables
_DEF_NPOLLS = const(2000)  # debugnet_npolls (debugnet.c)
_DEF_POLL_US = const(500)  # DELAY(500) per poll (debugnet.c)
_DEF_DEADLINE_MS = const(300000)  # whole connection, herald to FINISHED
_IDLE_MAX_MS = const(20)  # longest single ep.wait() (deadline checks between)
_ACK_BATCH = const(128)  # acks handled before the timers and the deadline are looked at again
# send()'s quick check that a window-mode message keeps every int small: offsets and
# positions below _SEND_MAX, and sequence numbers (at most one per byte, or one for an
# empty message) below SMALL_LIMIT
_SEND_MAX = const(0x1FFFFFFF)
_SEQ_MAX = const(0x1FFFFFFF)

# ---- error codes ----------------------------------------------------------
ERR_OK = const(0)
ERR_TIMEOUT = const(1)
ERR_HERALD_TIMEOUT = const(2)
ERR_DEADLINE = const(3)
ERR_SEND = const(4)
ERR_TOO_BIG = const(5)
ERR_STATE = const(6)
# Not a failure: every message before FINISHED was acked, so the server holds
# the whole dump; only FINISHED's ack never came (lost, and a FreeBSD netdumpd
# closes the session at FINISHED, so it never acks a retransmission).
FIN_UNCONFIRMED = const(7)

ERR_NAMES = ("OK", "TIMEOUT", "HERALD_TIMEOUT", "DEADLINE", "SEND", "TOO_BIG", "STATE", "FIN_UNCONFIRMED")
_MESSAGES = (
    "ok",
    "netdump: no ack from server (retries exhausted)",
    "netdump: server did not answer the herald",
    "netdump: dump deadline passed",
    "netdump: packets could not be sent",
    "netdump: offset, length or sequence number too large",
    "netdump: not connected",
    "netdump finished (the server did not confirm the end)",
)

# ---- statistics (indexes into Debugnet.stats) -----------------------------
ST_SENT = const(0)  # datagrams handed to the endpoint, retransmits included
ST_RETX = const(1)  # retransmitted datagrams
ST_FAST = const(2)  # of which fast retransmits
ST_TIMEOUTS = const(3)  # RTO expiries (window) / retransmit rounds (FreeBSD)
ST_ACKS = const(4)  # acks received
ST_IGNORED = const(5)  # acks out of the window or >= 2**30
ST_DUPACKS = const(6)  # acks for datagrams already acked
ST_SEND_ERR = const(7)  # endpoint.send failures
ST_RTT_SAMPLES = const(8)
ST_RTT_LAST_US = const(9)
ST_RTT_MIN_US = const(10)
ST_RTT_MAX_US = const(11)
ST_SRTT_US = const(12)
ST_RTTVAR_US = const(13)
ST_RTO_US = const(14)
_NSTATS = const(15)
STAT_NAMES = (
    "sent", "retx", "fast", "timeouts", "acks", "ignored", "dupacks", "send_err",
    "rtt_samples", "rtt_last_us", "rtt_min_us", "rtt_max_us", "srtt_us", "rttvar_us", "rto_us",
)

# per-slot state (an array of _RING 16-bit words, slot = seqno & _RMASK): flags in
# bits 0-3, retransmissions in bits 4-11; one store when a datagram is first sent
_F_ACKED = const(1)
_F_RETX = const(2)  # retransmitted: no RTT sample (Karn)
_F_FAST = const(4)  # fast-retransmitted at least once
_F_SENT = const(8)  # the endpoint took at least one copy
_TRY = const(0x10)  # one retransmission
_TRY_SHIFT = const(4)
_MAX_FAST = const(16)  # largest fast_thresh
_RMASK = const(127)  # _RING - 1

# connection states
_S_IDLE = const(0)
_S_CONNECTED = const(1)
_S_CLOSED = const(2)
_S_FAILED = const(3)  # a transport error ended it: every call returns that error


def delivered(err):
    """True when a dump with this result is on the server: 0, or FIN_UNCONFIRMED."""
    return err == 0 or err == FIN_UNCONFIRMED


def message(err):
    """One-line text for an error code."""
    if 0 <= err < len(_MESSAGES):
        return _MESSAGES[err]
    return "netdump: unknown error"


class BufferSource:
    """A message source over a bytes-like object."""

    def __init__(self, buf):
        self._buf = buf

    def readinto_at(self, dst, doff, pos, n):
        """Copy n bytes at position pos of the buffer into dst[doff:] -> their RFC 1071 sum."""
        return fast.copy_csum(dst, doff, self._buf, pos, n, 0)


class Debugnet:
    """One debugnet connection over an endpoint (see the module comment)."""

    def __init__(self, endpoint, mtu=_DEF_MTU, window=_DEF_WINDOW, mode=MODE_WINDOW, path=None,
                 rto_init_us=_DEF_RTO_INIT_US, rto_min_us=_DEF_RTO_MIN_US, rto_max_us=_DEF_RTO_MAX_US,
                 retries=_DEF_RETRIES, fast_thresh=_DEF_FAST, npolls=_DEF_NPOLLS, poll_us=_DEF_POLL_US,
                 deadline_ms=_DEF_DEADLINE_MS, poll_after=0, verbose=False):  # arm-time
        if not 1 <= window <= _MAX_WINDOW:
            raise ValueError("window must be 1..64")
        if mode != MODE_WINDOW and mode != MODE_FREEBSD:
            raise ValueError("mode must be MODE_WINDOW or MODE_FREEBSD")
        if not 0 <= retries <= 250 or not 0 <= fast_thresh <= _MAX_FAST:
            raise ValueError("retries must be 0..250, fast_thresh 0..16")
        if not 0 < rto_min_us <= rto_init_us <= rto_max_us <= 60000000:
            raise ValueError("need 0 < rto_min_us <= rto_init_us <= rto_max_us <= 60 s")
        if not 0 < npolls * poll_us <= 60000000 or not 0 < deadline_ms < 0x20000000:
            raise ValueError("npolls * poll_us must be 1 us..60 s, deadline_ms 1..2**29")
        if not 0 <= poll_after <= window:
            raise ValueError("poll_after must be 0..window")
        ep_mtu = getattr(endpoint, "mtu", mtu)  # never build datagrams the endpoint cannot carry
        if ep_mtu < mtu:
            mtu = ep_mtu
        chunk = mtu - getattr(endpoint, "overhead", 28) - HDR_LEN
        if chunk > MAX_PAYLOAD:
            chunk = MAX_PAYLOAD
        if chunk < 1:
            raise ValueError("mtu too small")
        self.chunk = chunk
        self.mode = mode
        self.window = window
        self.poll_after = poll_after or (window + 7) // 8
        self.err = 0
        self.stats = [0] * _NSTATS
        self._ep = endpoint
        self._ep_send = endpoint.send
        self._ep_poll = endpoint.poll_ack
        self._ep_wait = endpoint.wait
        # the next ack's seqno: straight from the endpoint, or parsed from poll_ack's 4 bytes
        self._poll = getattr(endpoint, "poll_seq", None) or self._poll_ack_seq
        # where datagrams are built: in place in the endpoint's frame, or in a buffer of our own
        txb = getattr(endpoint, "tx_buffer", None)
        if txb is not None:
            self._tx, self._txoff = txb(HDR_LEN + chunk)
            self._emit = endpoint.xmit
        else:
            self._tx = bytearray(HDR_LEN + chunk)
            self._txoff = 0
            self._emit = self._send_own
        self._put_header = fast.put_header
        self._ack = bytearray(4)
        # the window: one slot per datagram in flight (seqno & _RMASK): its state,
        # when it was sent, and the message it belongs to. A message record says how
        # to build any of its datagrams again; records are used in turn, and one is
        # reused only once every datagram of its message is acked
        self._sst = array("H", bytes(2 * _RING))
        self._tsent = [0] * _RING
        self._smsg = bytearray(_RING)
        self._mtype = bytearray(_NREC)  # message type
        self._msrc = [None] * _NREC  # source
        self._mpos = [0] * _NREC  # position in the source
        self._moff = [0] * _NREC  # file offset
        self._mlen = [0] * _NREC  # bytes
        self._mseq = [0] * _NREC  # seqno of its first datagram
        self._inflight = 0  # datagrams sent and not acked (window mode)
        self._pq = 1  # _seq when acks were last looked for
        self._top = 1  # one past the highest seqno acked
        # loss detection (window mode): the send times of the fast_thresh latest-sent
        # datagrams acked while an older one was not, oldest first (_late[0])
        self._late = [0] * (fast_thresh or 1)
        self._nlate = 0
        self._check = 0  # 1 when new acks may show a loss
        self._mi = 0  # the last record used
        # what every _window_send call needs, in one tuple: unpacking it is cheaper than
        # a dozen attribute look-ups per message (a sparse region sends many small ones)
        self._wconst = (chunk, window, self.poll_after, self._sst, self._tsent, self._smsg, self.stats, self._tx,
                        self._txoff, self._put_header, self._emit)
        # mem_read for sources in memory (see the source protocol): only where the
        # payload lands word-aligned and every datagram's position stays aligned
        mr = fast.mem_read
        if mr is not None and (chunk & 3 or (fast.addr_of(self._tx) + self._txoff + HDR_LEN) & 3):
            mr = None
        self._mem_read = mr
        self._rto_init = rto_init_us
        self._rto_min = rto_min_us
        self._rto_max = rto_max_us
        self._retries = retries
        self._fast = fast_thresh
        self._round_us = npolls * poll_us
        self._deadline_ms = deadline_ms
        self._verbose = verbose
        # connection state (all created here, only reassigned later)
        self._state = _S_IDLE
        self._seq = 1  # next sequence number (window mode: the next datagram never sent)
        self._lo = 1  # window mode: the oldest datagram not yet acked
        self._end = 0
        self._rto = rto_init_us
        self._srtt8 = 0
        self._rttvar4 = 0
        self._nsamples = 0
        self._next_scan = 0
        self._timed = -1  # seqno whose round trip is being timed (window mode)
        self._nacked = 0
        self._hstate = 0  # 1 until a session port has been adopted
        self._path = None
        self._hbuf = None
        self._hlen = 0
        self.set_path(path)

    # ---- herald ------------------------------------------------------------
    def set_path(self, path):  # arm-time
        """Build the herald for this relative dump path (None: no path). Allocates."""
        self._path = path
        if path is None or len(path) == 0:
            plen = 0
        else:
            if isinstance(path, str):
                path = path.encode()
            plen = len(path) + 1  # NUL-terminated (netdump_client.c)
        if plen > self.chunk:
            raise ValueError("herald path longer than one chunk")
        hb = bytearray(HDR_LEN + plen)
        if plen:
            hb[HDR_LEN:HDR_LEN + plen - 1] = path
        self._hbuf = hb
        self._hlen = HDR_LEN + plen

    def connect(self, path=None):
        """Send the herald and wait for its ack -> err (0 = connected)."""
        if path is not None and path is not self._path and path != self._path:
            self.set_path(path)
        st = self.stats
        i = 0
        while i < _NSTATS:
            st[i] = 0
            i += 1
        self.err = 0
        if self._ep.reset() == 0:
            # the endpoint cannot reach the server (its NIC failed, no next hop): give up now,
            # as FreeBSD's debugnet_connect() does when debugnet_arp_gw() fails
            self._state = _S_IDLE
            self.err = ERR_SEND
            return ERR_SEND
        self._rto = self._rto_init
        self._srtt8 = 0
        self._rttvar4 = 0
        self._nsamples = 0
        st[ST_RTO_US] = self._rto
        self._end = ticks_add(ticks_ms(), self._deadline_ms)
        self._seq = 1  # debugnet_connect(): the herald is seqno 1
        self._lo = 1
        self._top = 1
        self._inflight = 0
        self._pq = 1
        self._nlate = 0
        self._check = 0
        self._timed = -1
        pack_header(self._hbuf, 0, HERALD, 1, 0, self._hlen - HDR_LEN)
        self._hstate = 1
        self._state = _S_CONNECTED
        err = self._message(HERALD, None, 0, 0, 0)
        if not err:
            err = self._drain()
        if err:
            self._state = _S_IDLE
            if err == ERR_TIMEOUT:
                err = ERR_HERALD_TIMEOUT
            self.err = err
        return err

    # ---- messages ----------------------------------------------------------
    def send(self, mtype, src, offset, length, pos=0):
        """Send one message (type, `length` bytes of src from pos, at file offset `offset`) -> err."""
        if self._state != _S_CONNECTED:
            return self._not_connected()
        if self.mode == MODE_WINDOW and 0 <= offset and 0 <= pos and 0 <= length < _SEND_MAX - offset \
                and length < _SEND_MAX - pos and self._seq < _SEQ_MAX:
            err = self._window_send(mtype, src, pos, offset, length)  # the common case: one call less
        else:
            err = self._message(mtype, src, offset, length, pos)
        if err:
            self.err = err
            if err != ERR_TOO_BIG:
                self._state = _S_FAILED
        return err

    def flush(self, upto=0):
        """Wait until every datagram sent so far (upto > 0: every one before seqno
        upto) is acked -> err."""
        if self._state != _S_CONNECTED:
            return self._not_connected()
        err = self._drain(upto)
        if err:
            self.err = err
            self._state = _S_FAILED
        return err

    def next_seq(self):
        """The sequence number the next datagram will carry (for flush(upto))."""
        return self._seq

    def finish(self):
        """Flush, send FINISHED and close the connection -> err."""
        err = self.flush()
        if err:
            return err
        err = self._message(FINISHED, None, 0, 0, 0)
        if not err:
            err = self._drain()
        self._state = _S_CLOSED
        if err == ERR_TIMEOUT or err == ERR_DEADLINE or err == ERR_SEND:
            err = FIN_UNCONFIRMED
        self.err = err
        return err

    def set_deadline(self, ms):  # arm-time
        """Deadline of a whole connection, herald to FINISHED, in ms (1 .. 2**29-1)."""
        if not 0 < ms < 0x20000000:
            raise ValueError("deadline_ms must be 1..2**29-1")
        self._deadline_ms = ms

    def _not_connected(self):
        # a connection that failed keeps its error; otherwise there is none
        if self._state == _S_FAILED:
            return self.err
        self.err = ERR_STATE
        return ERR_STATE

    def _send_own(self, n, s):
        # endpoints without tx_buffer: the datagram is in our own buffer
        return self._ep_send(self._tx, n)

    def _fits(self, offset, length, pos):
        """1 if a message's offsets, positions and sequence numbers all stay small ints."""
        if offset < 0 or length < 0 or length > SMALL_LIMIT - offset or pos < 0 or length > SMALL_LIMIT - pos:
            return 0
        ch = self.chunk
        # an empty message is still one datagram (debugnet_send)
        return 1 if (length + ch - 1) // ch < SMALL_LIMIT - self._seq else 0

    def _message(self, mtype, src, offset, length, pos):
        feed()
        if not self._fits(offset, length, pos):
            self.err = ERR_TOO_BIG
            return ERR_TOO_BIG
        ch = self.chunk
        n = (length + ch - 1) // ch
        if n == 0:
            n = 1
        if self.mode == MODE_FREEBSD:
            m = self._record(mtype, src, pos, offset, length, self._seq)
            smsg = self._smsg
            err = 0
            while n and not err:
                cnt = n
                if cnt > _MAX_WINDOW:
                    cnt = _MAX_WINDOW
                q = self._seq
                i = 0
                while i < cnt:
                    smsg[(q + i) & _RMASK] = m
                    i += 1
                err = self._burst(q, cnt)
                self._seq = q + cnt
                n -= cnt
        else:
            err = self._window_send(mtype, src, pos, offset, length)
        if err:
            self.err = err
        return err

    def _record(self, mtype, src, pos, offset, length, q):
        """The next message record: how to build the datagrams from seqno q on -> its index."""
        m = (self._mi + 1) & _MMASK
        self._mi = m
        self._mtype[m] = mtype
        self._msrc[m] = src
        self._mpos[m] = pos
        self._moff[m] = offset
        self._mlen[m] = length
        self._mseq[m] = q
        return m

    def _record_busy(self):
        """1 while a datagram of the message whose record is used next is not acked."""
        m = (self._mi + 1) & _MMASK
        ch = self.chunk
        n = (self._mlen[m] + ch - 1) // ch
        return 1 if self._mseq[m] + (n or 1) > self._lo else 0

    def _poll_ack_seq(self):
        # endpoints without poll_seq: the seqno of poll_ack's 4 bytes, -2 if >= 2**30, -1 if none
        ack = self._ack
        if not self._ep_poll(ack):
            return -1
        b = ack[0]
        if b >= 0x40:
            return -2
        return (b << 24) | (ack[1] << 16) | (ack[2] << 8) | ack[3]

    def _xmit(self, q):
        """(Re)build datagram q from its message record and hand it to the endpoint -> 1 if taken."""
        st = self.stats
        st[ST_SENT] += 1
        m = self._smsg[q & _RMASK]
        t = self._mtype[m]
        if t == HERALD:
            ok = self._ep_send(self._hbuf, self._hlen)
        else:
            tx = self._tx
            o = self._txoff
            ch = self.chunk
            k = (q - self._mseq[m]) * ch  # the datagram's place in its message
            n = self._mlen[m] - k
            if n > ch:
                n = ch
            c = self._put_header(tx, o, t, q, self._moff[m] + k, n)
            if n:
                c += self._msrc[m].readinto_at(tx, o + HDR_LEN, self._mpos[m] + k, n)
            ok = self._emit(HDR_LEN + n, c)
        if ok:
            return 1
        st[ST_SEND_ERR] += 1
        return 0

    def _adopt(self, a):
        """In the herald state: take the ack's source port as the session port.
        FreeBSD takes it from any ack (debugnet_handle_ack); window mode only from
        the herald's own ack. -> 1 if the ack may be used, 0 to drop it."""
        if self.mode == MODE_WINDOW and a != 1:
            return 0
        ep = self._ep
        if ep.adopt_port(ep.ack_port):
            return 0
        self._hstate = 0
        return 1

    def _sample(self, r):
        """Feed one RTT sample (us) to the RFC 6298 estimator; updates the RTO."""
        if r < 0:
            r = 0
        if r > self._rto_max:
            r = self._rto_max
        st = self.stats
        if self._nsamples == 0:
            self._srtt8 = r << 3  # SRTT = R
            self._rttvar4 = r << 1  # RTTVAR = R/2, kept x4
        else:
            d = r - (self._srtt8 >> 3)
            self._srtt8 += d  # SRTT += (R - SRTT)/8, kept x8
            if d < 0:
                d = -d
            self._rttvar4 += d - (self._rttvar4 >> 2)  # RTTVAR += (|d| - RTTVAR)/4, x4
        self._nsamples += 1
        rto = (self._srtt8 >> 3) + self._rttvar4  # SRTT + 4*RTTVAR
        if rto < self._rto_min:
            rto = self._rto_min
        if rto > self._rto_max:
            rto = self._rto_max
        self._rto = rto
        st[ST_RTT_SAMPLES] += 1
        st[ST_RTT_LAST_US] = r
        if st[ST_RTT_SAMPLES] == 1 or r < st[ST_RTT_MIN_US]:
            st[ST_RTT_MIN_US] = r
        if r > st[ST_RTT_MAX_US]:
            st[ST_RTT_MAX_US] = r
        st[ST_SRTT_US] = self._srtt8 >> 3
        st[ST_RTTVAR_US] = self._rttvar4 >> 2
        st[ST_RTO_US] = rto

    # ---- MODE_WINDOW -------------------------------------------------------
    def _window_send(self, mtype, src, pos, offset, length):
        """Hand the datagrams of one message to the endpoint, waiting only for room in the window."""
        ch, win, after, sst, tsent, smsg, st, tx, o, put, emit = self._wconst
        d = o + HDR_LEN
        herald = mtype == HERALD
        end = pos + length
        q = self._seq
        q0 = q
        # the window's state in locals between looks for acks (_pump reads and
        # changes the attributes: they are written before each call and read after)
        lo = self._lo
        inflight = self._inflight
        pq = self._pq
        timed = self._timed
        m = -1
        err = 0
        # a source in memory: each datagram read by one mem_read call (source protocol)
        ma = -1
        mr = self._mem_read
        crc = None
        if mr is not None and length and not herald and not pos & 3:
            ma = getattr(src, "mem", -1)
            if ma >= 0:
                crc = src.first(pos, length)
        while True:
            if inflight >= win or q - lo >= _RING:  # full: acks, timers, waiting
                self._seq = q
                self._inflight = inflight
                self._timed = timed
                while self._inflight >= win or q - self._lo >= _RING:
                    err = self._pump(1)
                    if err:
                        break
                lo = self._lo
                inflight = self._inflight
                pq = self._pq
                timed = self._timed
                if err:
                    break
            if m < 0:
                # the message's record, once the one it replaces is free (all acked)
                if self._record_busy():
                    self._seq = q
                    self._inflight = inflight
                    self._timed = timed
                    while self._record_busy():
                        err = self._pump(1)
                        if err:
                            break
                    lo = self._lo
                    inflight = self._inflight
                    pq = self._pq
                    timed = self._timed
                    if err:
                        break
                m = self._record(mtype, src, pos, offset, length, q)
            n = end - pos
            if n > ch:
                n = ch
            s = q & _RMASK
            smsg[s] = m
            # the first copy, built in place (_xmit builds retransmissions the same way)
            if herald:
                ok = self._ep_send(self._hbuf, self._hlen)
            else:
                c = put(tx, o, mtype, q, offset, n)
                if ma >= 0:
                    c += mr(tx, d | (n << 16), ma + pos, crc)
                elif n:
                    c += src.readinto_at(tx, d, pos, n)
                ok = emit(HDR_LEN + n, c)
            if ok:
                sst[s] = _F_SENT
            else:
                sst[s] = 0
                st[ST_SEND_ERR] += 1
            t = ticks_us()
            tsent[s] = t
            if q == lo:  # the window was empty: the next timer is this one's
                self._next_scan = ticks_add(t, self._rto)
            if timed < 0:  # time one datagram per round trip (RFC 6298 section 3)
                timed = q
            q += 1
            pos += n
            offset += n
            inflight += 1
            if q - pq >= after:  # every poll_after datagrams: look for acks
                self._seq = q
                self._inflight = inflight
                self._timed = timed
                err = self._pump(0)
                lo = self._lo
                inflight = self._inflight
                pq = self._pq
                timed = self._timed
                if err:
                    break
            if pos >= end:
                break
        self._seq = q
        self._inflight = inflight
        self._timed = timed
        st[ST_SENT] += q - q0
        return err

    def _drain(self, upto=0):
        """Window mode: wait until every datagram sent (before upto) is acked -> err."""
        if self.mode == MODE_FREEBSD:
            return 0  # every message waited for its acks
        if upto <= 0 or upto > self._seq:
            upto = self._seq
        while self._lo < upto:
            err = self._pump(1)
            if err:
                return err
        return 0

    def _pump(self, wait):
        """Take the queued acks, find losses, run the timers, check the deadline; with
        wait, block when nothing came (until the next timer, _IDLE_MAX_MS at most) -> err."""
        feed()
        sst = self._sst
        st = self.stats
        poll = self._poll
        lo = self._lo
        hi = self._seq
        top = self._top
        timed = self._timed
        fast = self._fast
        self._pq = hi
        got = 0
        new = 0
        while got < _ACK_BATCH:  # bounded: a flood of acks cannot starve the deadline
            a = poll()
            if a == -1:
                break
            got += 1
            if a < 0:  # 2**30 or more: never one of ours
                st[ST_IGNORED] += 1
                continue
            if self._hstate and not self._adopt(a):
                st[ST_IGNORED] += 1
                continue
            if a < lo or a >= hi:
                st[ST_DUPACKS if 0 < a < lo else ST_IGNORED] += 1
                continue
            s = a & _RMASK
            f = sst[s]
            if f & _F_ACKED:
                st[ST_DUPACKS] += 1
                continue
            sst[s] = f | _F_ACKED
            new += 1
            if a >= top:
                top = a + 1
            if a == timed:
                timed = -1
                if not f & _F_RETX:  # Karn: never time a retransmitted datagram
                    self._sample(ticks_diff(ticks_us(), self._tsent[s]))
            if a == lo:
                lo += 1
                while lo < hi and sst[lo & _RMASK] & _F_ACKED:
                    lo += 1
            if lo < top and fast:  # older datagrams unacked: a loss, or reordering
                self._acked_late(self._tsent[s])
        st[ST_ACKS] += got
        self._inflight -= new
        self._top = top
        self._timed = timed
        self._lo = lo
        if self._check:
            err = self._losses(lo)
            if err:
                return err
        if lo < hi:
            now = ticks_us()
            if ticks_diff(now, self._next_scan) >= 0:
                err = self._scan(lo, hi, now)
                if err:
                    return err
        if ticks_diff(ticks_ms(), self._end) >= 0:
            return ERR_DEADLINE
        if wait and not got:  # wait for an ack or the next timer
            ms = ticks_diff(self._next_scan, ticks_us()) // 1000
            if ms > _IDLE_MAX_MS:
                ms = _IDLE_MAX_MS
            if ms > 0:
                feed()
                self._ep_wait(ms)
        return 0

    def _acked_late(self, t):
        """An ack while an older datagram is not acked: keep the send time t among the
        fast_thresh latest of such acks (sorted, oldest first)."""
        late = self._late
        k = self._nlate
        n = len(late)
        if k < n:
            self._nlate = k + 1
        elif ticks_diff(t, late[0]) <= 0:
            return  # older than all kept: counts for nothing they do not
        else:
            k = n - 1
            i = 0
            while i < k:  # drop the oldest
                late[i] = late[i + 1]
                i += 1
        while k > 0 and ticks_diff(late[k - 1], t) > 0:  # insert in order
            late[k] = late[k - 1]
            k -= 1
        late[k] = t
        if self._nlate == n:
            self._check = 1

    def _losses(self, lo):
        """Retransmit every unacked datagram older than the acked ones: fast_thresh
        datagrams sent after its last copy have been acked (RFC 5681's three
        duplicate acks, counted in the time order of RFC 8985 RACK, so a lost
        retransmission is found the same way; a tie counts: a needless resend
        costs less than waiting for a timer) -> err."""
        self._check = 0
        sst = self._sst
        tsent = self._tsent
        t = self._late[0]
        i = lo
        top = self._top
        while i < top:
            s = i & _RMASK
            if not sst[s] & _F_ACKED and ticks_diff(t, tsent[s]) >= 0:
                sst[s] |= _F_FAST
                err = self._retx(i)
                if err:
                    return err
                self.stats[ST_FAST] += 1
            i += 1
        return 0

    def _retx(self, q):
        """Retransmit datagram q -> 0, or an error once it has used up its retries."""
        s = q & _RMASK
        sst = self._sst
        f = sst[s]
        if (f >> _TRY_SHIFT) & 0xFF >= self._retries:
            return ERR_TIMEOUT if f & _F_SENT else ERR_SEND
        f += _TRY
        f |= _F_RETX
        if self._xmit(q):
            f |= _F_SENT
        sst[s] = f
        self._tsent[s] = ticks_us()
        self.stats[ST_RETX] += 1
        return 0

    def _scan(self, lo, hi, now):
        """Retransmit every unacked datagram whose timer ran out; back the RTO off
        once per scan that found one; set the time of the next scan."""
        feed()
        sst = self._sst
        tsent = self._tsent
        rto = self._rto
        nxt = ticks_add(now, rto)
        expired = 0
        i = lo
        while i < hi:
            s = i & _RMASK
            if not sst[s] & _F_ACKED:
                if ticks_diff(now, tsent[s]) >= rto:
                    err = self._retx(i)
                    if err:
                        return err
                    expired = 1
                due = ticks_add(tsent[s], rto)
                if ticks_diff(nxt, due) > 0:
                    nxt = due
            i += 1
        if expired:
            self.stats[ST_TIMEOUTS] += 1
            rto += rto  # RFC 6298 5.5: back off
            if rto > self._rto_max:
                rto = self._rto_max
            self._rto = rto
            self.stats[ST_RTO_US] = rto
            if self._verbose:
                print(". ", end="")
        self._next_scan = nxt
        return 0

    # ---- MODE_FREEBSD ------------------------------------------------------
    def _burst(self, q0, cnt):
        """debugnet_send(): send datagrams q0..q0+cnt-1 back to back, poll for
        ~npolls*poll_us, resend the unacked ones, at most nretries+1 times."""
        sst = self._sst
        tsent = self._tsent
        st = self.stats
        poll = self._poll
        i = 0
        while i < cnt:
            sst[(q0 + i) & _RMASK] = 0
            i += 1
        self._nacked = 0
        retries = 0
        while True:
            i = 0
            while i < cnt:
                s = (q0 + i) & _RMASK
                if not sst[s] & _F_ACKED:
                    if retries:
                        sst[s] |= _F_RETX
                        st[ST_RETX] += 1
                    if self._xmit(q0 + i):
                        sst[s] |= _F_SENT
                    tsent[s] = ticks_us()
                i += 1
            t0 = ticks_us()
            while True:
                k = 0
                while k < _ACK_BATCH:  # bounded, as in window mode
                    a = poll()
                    if a == -1:
                        break
                    k += 1
                    st[ST_ACKS] += 1
                    if self._hstate:
                        self._adopt(a)
                    if a < 0:
                        st[ST_IGNORED] += 1
                        continue
                    j = a - q0
                    if j < 0 or j >= _MAX_WINDOW:
                        # older than this burst, or "ACK too far in future"
                        st[ST_IGNORED] += 1
                        continue
                    if j >= cnt:
                        # FreeBSD would set a bit no one waits for (and then never
                        # see rcvd == want); we just ignore it
                        st[ST_IGNORED] += 1
                        continue
                    s = a & _RMASK
                    f = sst[s]
                    if f & _F_ACKED:
                        st[ST_DUPACKS] += 1
                        continue
                    sst[s] = f | _F_ACKED
                    self._nacked += 1
                    if not f & _F_RETX:
                        self._sample(ticks_diff(ticks_us(), tsent[s]))
                if self._nacked >= cnt:
                    return 0
                if ticks_diff(ticks_us(), t0) > self._round_us:
                    break
                if ticks_diff(ticks_ms(), self._end) >= 0:
                    return ERR_DEADLINE
                feed()
                self._ep_wait(1)
            if retries > self._retries:  # "if (retries++ > debugnet_nretries)"
                i = 0
                while i < cnt:
                    if not sst[(q0 + i) & _RMASK] & (_F_ACKED | _F_SENT):
                        return ERR_SEND
                    i += 1
                return ERR_TIMEOUT
            retries += 1
            st[ST_TIMEOUTS] += 1
            if self._verbose:
                print(". ", end="")
