"""One dump in progress on netdumpd: its socket, files, write-back buffer and
the handling of every message type (markjdb/netdumpd netdumpd.c handle_*),
with upstream's defects fixed: buffered data is flushed on every way out,
the KDH is decoded by its own version, offsets and sizes are capped, and a
completed dump lingers to re-ack a retransmitted FINISHED (upstream closes the
socket at once, so a lost FINISHED ack made the client report failure).
"""
import os
import time

from netdump import kdh, wire

from . import netdumpd_elf, netdumpd_files

BUF_SIZE = 128 * 1024  # netdumpd.c VMCORE_BUFSZ
KEY_MAX = 64 * 1024  # the key blob must fit netdump's 64 KiB dumper buffer (ND_client.c)
DOT_EVERY = 16 * 1024 * 1024 // 1456  # netdumpd.c: a "." about every 16 MiB at MTU 1500
NOISY_LIMIT = 20  # per-dump log lines about bad packets before they are only counted
_SUFFIXES = {1: ".gz", 2: ".zst"}  # netdumpd.c handle_kdh suffixes[]


class Session:
    """State of one client's dump; the server owns the socket's registration."""

    def __init__(self, srv, ip, host, sock, dir_fd, dirname, index, info_fd, core_fd):
        self.srv = srv
        self.log = srv.log
        self.ip = ip
        self.host = host
        self.who = "%s [%s]" % (host, ip)
        self.sock = sock
        self.dir_fd = dir_fd
        self.dirname = dirname
        self.index = index
        self.info = os.fdopen(info_fd, "a", encoding="utf-8", errors="replace")
        self.core_fd = core_fd
        self.core_base = "vmcore.%s.%d" % (host, index)  # current basename
        self.key_fd = -1
        self.any_data = False
        self.last_msg = time.monotonic()
        self.buf = bytearray(BUF_SIZE)
        self.buf_len = 0  # bytes buffered
        self.buf_off = 0  # file offset of buf[0]
        self.kdh_raw = None
        self.compressed = False
        self.encrypted = False
        self.refused = 0
        self.noisy = 0
        self.closed = False  # socket closed too: nothing more to do
        self.files_closed = False
        self.finished = False  # FINISHED handled: only re-acking until linger_until
        self.linger_until = 0.0
        self.late = 0  # messages re-acked while finished
        self.max_size = srv.cfg.max_dump_size
        self.pkts = 0
        self.bytes = 0

    # ---- names as upstream builds them ("<path>/<file>", relative to dumpdir)

    @property
    def info_name(self):
        return "%s/info.%s.%d" % (self.dirname, self.host, self.index)

    @property
    def core_name(self):
        return "%s/%s" % (self.dirname, self.core_base)

    def pinfo(self, text):
        """Append text to the info file."""
        try:
            self.info.write(text)
        except (OSError, ValueError) as e:
            self._noisy("info file write for client %s: %s\n" % (self.who, e))

    def _noisy(self, msg):
        # log lines a misbehaving client can provoke: bounded per dump
        self.noisy += 1
        if self.noisy <= NOISY_LIMIT:
            self.log.error(msg)
            if self.noisy == NOISY_LIMIT:
                self.log.error("Further bad packets from %s are not logged\n" % self.ip)

    def send_ack(self, seqno):
        try:
            self.sock.send(wire.encode_ack(seqno))
        except OSError as e:
            self._noisy("send(): %s\n" % e.strerror)

    # ---- packets

    def handle(self, data):
        """Process one datagram (a memoryview) received on the dump socket."""
        n = len(data)
        if n < wire.HDR_LEN:
            self._noisy("Ignoring runt packet from %s (got %d)\n" % (self.ip, n))
            return
        if n > wire.HDR_LEN + wire.MAX_PAYLOAD:
            self._noisy("Bad packet size from %s\n" % self.ip)
            return
        try:
            mtype, seqno, offset, length, _aux2 = wire.parse_header(data)
        except wire.BadMessage:
            self._noisy("Bad packet size from %s\n" % self.ip)
            return
        if self.finished:
            self.handle_late(mtype, seqno)
            return
        self.last_msg = time.monotonic()
        if mtype == wire.VMCORE:
            self.handle_vmcore(data, seqno, offset, length)
        elif mtype == wire.KDH:
            self.handle_kdh(data, seqno, length)
        elif mtype == wire.EKCD_KEY:
            self.handle_key(data, seqno, offset, length)
        elif mtype == wire.FINISHED:
            self.handle_finish(seqno)
        else:
            self._noisy("Received unexpected message type %d from %s\n" % (mtype, self.ip))

    def handle_late(self, mtype, seqno):
        """After FINISHED: re-ack a retransmission by its seqno; the files are closed and stay untouched."""
        if mtype in (wire.VMCORE, wire.KDH, wire.EKCD_KEY, wire.FINISHED):
            self.late += 1
            self.send_ack(seqno)
        else:
            self._noisy("Received unexpected message type %d from %s\n" % (mtype, self.ip))

    def handle_vmcore(self, data, seqno, offset, length):
        self.any_data = True
        if offset + length > self.max_size:
            self.refused += 1
            if self.refused == 1:
                self.log.error("Refusing data beyond the maximum dump size (%d bytes) from %s\n"
                               % (self.max_size, self.ip))
                self.pinfo("Refused data beyond the maximum dump size (%d bytes)\n" % self.max_size)
            return
        if seqno % DOT_EVERY == 0:
            self.log.info(".")
        if self.buf_len + length > BUF_SIZE or (self.buf_len and self.buf_off + self.buf_len != offset):
            if not self.flush():
                return
        if self.buf_len == 0:
            self.buf_off = offset
        self.buf[self.buf_len:self.buf_len + length] = data[wire.HDR_LEN:]
        self.buf_len += length
        self.pkts += 1
        self.bytes += length
        self.send_ack(seqno)

    def flush(self):
        """Write the buffered data; on a write error end the dump and return False."""
        if self.buf_len == 0:
            return True
        mv = memoryview(self.buf)
        done = 0
        while done < self.buf_len:
            try:
                done += os.pwrite(self.core_fd, mv[done:self.buf_len], self.buf_off + done)
            except InterruptedError:
                continue
            except OSError as e:
                self.log.error("pwrite (for client %s): %s\n" % (self.who, e.strerror))
                self.pinfo("Dump unsuccessful: write error @ offset %08x: %s\n"
                           % (self.buf_off + done, e.strerror))
                self.buf_len = 0
                self.srv.end_session(self, "error")
                return False
        self.buf_len = 0
        return True

    def handle_kdh(self, data, seqno, length):
        self.any_data = True
        self.log.info("(KDH from %s)\n" % self.who)
        self.send_ack(seqno)
        raw = bytes(data[wire.HDR_LEN:wire.HDR_LEN + kdh.SIZE])
        if raw == self.kdh_raw:
            return  # a retransmitted KDH whose ack was lost: already recorded
        self.kdh_raw = raw
        if length < kdh.SIZE:
            self.log.error("Bad KDH from %s: packet too small\n" % self.who)
            self.pinfo("Bad KDH: packet too small\n")
            return
        h = kdh.decode(raw)
        self.pinfo("  Architecture: %s\n" % h["architecture"])
        self.pinfo("  Architecture Version: %d\n" % h["architectureversion"])
        dumplen = h["dumplength"]
        self.pinfo("  Dump Length: %dB (%d MB)\n" % (dumplen, dumplen >> 20))
        self.pinfo("  Blocksize: %d\n" % h["blocksize"])
        if h["layout"] >= 3:
            self.pinfo("  Compression: %s\n" % kdh.COMPRESSION_NAMES.get(h["compression"], "???"))
        self.pinfo("  Dumptime: %s\n" % _ctime(h["dumptime"]))
        self.pinfo("  Hostname: %s\n" % h["hostname"])
        self.pinfo("  Version String: %s" % h["versionstring"])
        self.pinfo("  Panic String: %s\n" % h["panicstring"])
        self.pinfo("  Header Parity Check: %s\n" % ("Pass" if h["parity_ok"] else "Fail"))
        for p in h["problems"]:
            if p != "parity mismatch":
                self.log.warning("Bad KDH from %s: %s\n" % (self.who, p))
                self.pinfo("Bad KDH: %s\n" % p)
        try:
            self.info.flush()
        except OSError:
            pass
        self.encrypted = h["layout"] >= 2 and h["dumpkeysize"] > 0
        self.compressed = h["layout"] >= 3 and h["compression"] in _SUFFIXES
        base = "vmcore_encrypted" if self.encrypted else "vmcore"
        new = "%s.%s.%d%s" % (base, self.host, self.index, _SUFFIXES.get(h["compression"], "")
                              if self.compressed else "")
        if new != self.core_base:
            try:
                netdumpd_files.rename(self.dir_fd, self.core_base, new)
                self.core_base = new
            except OSError as e:
                self.log.warning("Couldn't rename '%s' to '%s': %s\n" % (self.core_name, new, e.strerror))
        if self.compressed:
            # The kernel writes whole blocks; decompressors want the exact length.
            if self.flush():
                try:
                    os.ftruncate(self.core_fd, min(dumplen, self.max_size))
                except OSError as e:
                    self.log.error("ftruncate(): %s\n" % e.strerror)

    def handle_key(self, data, seqno, offset, length):
        if offset + length > KEY_MAX:
            self._noisy("Refusing EKCD key data beyond %d bytes from %s\n" % (KEY_MAX, self.ip))
            return
        if self.key_fd < 0:
            name = "key.%s.%d" % (self.host, self.index)
            try:
                self.key_fd = netdumpd_files.open_key_file(self.dir_fd, name)
            except OSError as e:
                self._noisy("openat(%s/%s): %s\n" % (self.dirname, name, e.strerror))
                return
            self.log.info("(EKCD key from %s)\n" % self.who)
        try:
            os.pwrite(self.key_fd, data[wire.HDR_LEN:], offset)
        except OSError as e:
            self._noisy("write(): %s\n" % e.strerror)
            return
        self.send_ack(seqno)

    def handle_finish(self, seqno):
        if not self.flush():
            return
        try:
            os.fsync(self.core_fd)
        except OSError as e:
            self.log.error("fsync(): %s\n" % e.strerror)
        for link, target in (("vmcore", self.core_base), ("info", "info.%s.%d" % (self.host, self.index))):
            try:
                netdumpd_files.replace_symlink(self.dir_fd, "%s.%s.last" % (link, self.host), target)
            except OSError as e:
                self.log.error("symlink(): %s\n" % e.strerror)
        self.log.info("Completed dump from client %s\n" % self.who)
        self.pinfo("Dump complete\n")
        self.send_ack(seqno)
        self.srv.finish_session(self)

    def timeout(self):
        """End the dump as upstream's handle_timeout does, keeping all acked data."""
        self.log.info("Client %s timed out\n" % self.ip)
        if self.flush():
            self.pinfo("Dump incomplete: client timed out\n")
            self.srv.end_session(self, "timeout")

    def release_files(self):
        """Append the board-dump summary and close every file (not the socket)."""
        if self.files_closed:
            return
        self.files_closed = True
        if not self.compressed and not self.encrypted:
            for line in netdumpd_elf.summary_lines(self.core_fd):
                self.pinfo(line)
        for fd in (self.key_fd, self.core_fd, self.dir_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.key_fd = self.core_fd = self.dir_fd = -1
        try:
            self.info.close()
        except OSError:
            pass
        self.buf = bytearray(0)  # a lingering session keeps only its socket
        self.buf_len = 0

    def close(self):
        """Release the files (if not yet done) and the socket."""
        if self.closed:
            return
        self.closed = True
        self.release_files()
        self.sock.close()


def _ctime(t):
    # ctime(3) without its newline; out-of-range times do not break the line
    try:
        return time.ctime(t)
    except (OverflowError, ValueError, OSError):
        return "??? (%d)" % t
