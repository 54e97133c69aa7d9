"""One client of netdumpd: its socket, its files and the handling of every
message type (markjdb/netdumpd netdumpd.c handle_*), with upstream's defects
fixed.

A session starts *heralded*: a herald was acked from a new socket, and that is
all it costs (no file, no name lookup result needed). The first message on
its socket makes it *receiving*: the server creates the files then. Every
datagram is written to its file before it is acked, so an acked byte is on
disk (in the page cache; fsync at the end) even if the server is killed. The
info file always ends in a status line: "Dump complete", "Dump incomplete:
<why>" or "Dump refused: <why>" (while receiving it says incomplete, which is
true if the server dies). A completed dump *lingers* to re-ack a
retransmitted FINISHED whose first ack was lost (upstream closes the socket at
once, so a lost FINISHED ack made the client report failure).
"""
import os
import time

from netdump import wire

from . import kdh_host, netdumpd_elf, netdumpd_files
from .netdumpd_text import clean, size

KEY_MAX = 64 * 1024  # the key blob must fit netdump's 64 KiB dumper buffer (ND_client.c)
DOT_EVERY = 16 * 1024 * 1024 // 1456  # netdumpd.c: a "." about every 16 MiB at MTU 1500
NOISY_LIMIT = 20  # per-dump log lines about bad packets before they are only counted
_SUFFIXES = {1: ".gz", 2: ".zst"}  # netdumpd.c handle_kdh suffixes[]

HERALDED, RECEIVING, LINGERING, CLOSED = "heralded", "receiving", "lingering", "closed"

# how a dump ended: (info-file status line, handler reason as upstream, handler status word)
COMPLETE = ("Dump complete", "success", "complete")
IN_PROGRESS = ("Dump incomplete: in progress, or netdumpd stopped before the dump ended", "timeout", "incomplete")
TIMED_OUT = ("Dump incomplete: client timed out", "timeout", "incomplete")
REPLACED = ("Dump incomplete: the client started a new dump", "timeout", "incomplete")
EVICTED = ("Dump incomplete: idle, ended to make room for a new client", "timeout", "incomplete")
SHUTDOWN = ("Dump incomplete: netdumpd shut down", "timeout", "incomplete")
INTERNAL = ("Dump incomplete: netdumpd internal error", "error", "incomplete")


def write_error(offset, why):
    """The ending of a dump whose data could not be written."""
    return ("Dump incomplete: write error @ offset %08x: %s" % (offset, why), "error", "incomplete")


def refused(limit):
    """The ending of a dump that sent data beyond --max-dump-size."""
    return ("Dump refused: data beyond the maximum dump size (%s)" % size(limit), "error", "refused")


class DumpFiles:
    """The open files of one dump; handed to a worker thread when the dump ends."""

    def __init__(self, dir_fd, dirname, host, index, info_fd, core_fd):
        self.dir_fd = dir_fd
        self.dirname = dirname
        self.host = host
        self.index = index
        self.info = netdumpd_files.InfoFile(info_fd, IN_PROGRESS[0])
        self.core_fd = core_fd
        self.core_base = "vmcore.%s.%d" % (host, index)  # current basename
        self.key_fd = -1
        self.compressed = False
        self.encrypted = False

    @property
    def info_name(self):
        """The info file as upstream names it: <path>/info.<host>.<N>, relative to the dump directory."""
        return "%s/info.%s.%d" % (self.dirname, self.host, self.index)

    @property
    def core_name(self):
        """The core file, <path>/<basename>, relative to the dump directory."""
        return "%s/%s" % (self.dirname, self.core_base)

    def finish(self, log, analyse=True):
        """End of the dump, in a worker thread: fsync the core and key, add the
        board-dump summary (netdumpd_elf, bounded) before the status line,
        fsync the info file and the directory, close everything."""
        try:
            if analyse and not self.compressed and not self.encrypted and self.core_fd >= 0:
                lines = netdumpd_elf.summary_lines(self.core_fd)
                if lines:
                    self.info.add("".join(lines))
            for fd, name in ((self.core_fd, self.core_name), (self.key_fd, "key"), (self.info.fd, self.info_name),
                             (self.dir_fd, self.dirname)):
                if fd >= 0:
                    try:
                        os.fsync(fd)
                    except OSError as e:
                        log.error("fsync(%s): %s\n" % (name, e.strerror))
        except OSError as e:
            log.error("Finishing %s: %s\n" % (self.info_name, e.strerror))
        finally:
            self.close()

    def close(self):
        """Close every descriptor (errors ignored)."""
        self.info.close()
        for fd in (self.key_fd, self.core_fd, self.dir_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.key_fd = self.core_fd = self.dir_fd = -1


class Session:
    """State of one client; the server owns the socket's registration and the ending."""

    def __init__(self, srv, ip, sock, path, net):
        self.srv = srv
        self.log = srv.log
        self.ip = ip
        self.net = net  # the client's /24 or /64: eviction takes from the busiest first
        self.host = None
        self.who = "%s [%s]" % (ip, ip)
        self.sock = sock
        self.path = path  # from the latest herald (None: default path)
        self.state = HERALDED
        self.files = None
        self.kdh_raw = None
        self.refused = 0
        self.noisy = 0
        self.last_msg = time.monotonic()
        self.linger_until = 0.0
        self.late = 0  # messages re-acked while lingering
        self.max_size = srv.cfg.max_dump_size
        self.pkts = 0
        self.bytes = 0

    @property
    def receiving(self):
        return self.state == RECEIVING

    def start(self, host, files):
        """First message: the files exist now."""
        self.host = host
        self.who = "%s [%s]" % (host, self.ip)
        self.files = files
        self.state = RECEIVING

    def pinfo(self, text):
        """Append text to the info file (before its status line)."""
        try:
            self.files.info.add(text)
        except OSError as e:
            self._noisy("info file write for client %s: %s\n" % (self.who, e.strerror))

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
        if self.state == LINGERING:
            self.handle_late(mtype, seqno)
            return
        self.last_msg = time.monotonic()
        if mtype not in (wire.VMCORE, wire.KDH, wire.EKCD_KEY, wire.FINISHED):
            self._noisy("Received unexpected message type %d from %s\n" % (mtype, self.ip))
            return
        if self.state == HERALDED and not self.srv.start_files(self):
            return  # not acked: the client sends it again (or the session is gone)
        if mtype == wire.VMCORE:
            self.handle_vmcore(data, seqno, offset, length)
        elif mtype == wire.KDH:
            self.handle_kdh(data, seqno, length)
        elif mtype == wire.EKCD_KEY:
            self.handle_key(data, seqno, offset, length)
        else:
            self.handle_finish(seqno)

    def handle_late(self, mtype, seqno):
        """After FINISHED: re-ack a retransmission by its seqno; the files are closed and stay untouched."""
        if mtype in (wire.VMCORE, wire.KDH, wire.EKCD_KEY, wire.FINISHED):
            self.late += 1
            self.send_ack(seqno)
        else:
            self._noisy("Received unexpected message type %d from %s\n" % (mtype, self.ip))

    def _pwrite(self, fd, data, offset):
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], offset + done)

    def handle_vmcore(self, data, seqno, offset, length):
        if offset + length > self.max_size:
            self.refused += 1
            if self.refused == 1:
                self.log.error("Refusing data beyond the maximum dump size (%s) from %s\n"
                               % (size(self.max_size), self.ip))
            return
        if seqno % DOT_EVERY == 0:
            self.log.info(".")
        try:
            self._pwrite(self.files.core_fd, data[wire.HDR_LEN:], offset)
        except OSError as e:
            self.log.error("pwrite (for client %s): %s\n" % (self.who, e.strerror))
            self.srv.end_session(self, write_error(offset, e.strerror))
            return
        self.pkts += 1
        self.bytes += length
        self.send_ack(seqno)

    def handle_kdh(self, data, seqno, length):
        raw = bytes(data[wire.HDR_LEN:wire.HDR_LEN + kdh_host.SIZE])
        if raw == self.kdh_raw:
            self.send_ack(seqno)
            return  # a retransmitted KDH whose ack was lost: already recorded
        self.log.info("(KDH from %s)\n" % self.who)
        if length < kdh_host.SIZE:
            self.log.error("Bad KDH from %s: packet too small\n" % self.who)
            if self._record_kdh(raw, "Bad KDH: packet too small\n"):
                self.send_ack(seqno)
            return
        h = kdh_host.decode(raw)
        dumplen = h["dumplength"]
        lines = ["  Architecture: %s\n" % clean(h["architecture"]),
                 "  Architecture Version: %d\n" % h["architectureversion"],
                 "  Dump Length: %dB (%s)\n" % (dumplen, size(dumplen)),
                 "  Blocksize: %d\n" % h["blocksize"]]
        if h["layout"] >= 3:
            lines.append("  Compression: %s\n" % kdh_host.COMPRESSION_NAMES.get(h["compression"], "???"))
        version = h["versionstring"]
        if version.endswith("\n"):  # the kernel ends it with a newline (kern_shutdown.c)
            version = version[:-1]
        lines += ["  Dumptime: %s\n" % _ctime(h["dumptime"]),
                  "  Hostname: %s\n" % clean(h["hostname"]),
                  "  Version String: %s\n" % clean(version),
                  "  Panic String: %s\n" % clean(h["panicstring"]),
                  "  Header Parity Check: %s\n" % ("Pass" if h["parity_ok"] else "Fail")]
        for p in h["problems"]:
            if p != "parity mismatch":
                self.log.warning("Bad KDH from %s: %s\n" % (self.who, p))
                lines.append("Bad KDH: %s\n" % p)
        if not self._record_kdh(raw, "".join(lines)):
            return  # not acked: nothing of it is stored
        self.send_ack(seqno)
        f = self.files
        f.encrypted = h["layout"] >= 2 and h["dumpkeysize"] > 0
        f.compressed = h["layout"] >= 3 and h["compression"] in _SUFFIXES
        base = "vmcore_encrypted" if f.encrypted else "vmcore"
        new = "%s.%s.%d%s" % (base, f.host, f.index, _SUFFIXES[h["compression"]] if f.compressed else "")
        if new != f.core_base:
            try:
                netdumpd_files.rename(f.dir_fd, f.core_base, new)
                f.core_base = new
            except OSError as e:
                self.log.warning("Couldn't rename '%s' to '%s': %s\n" % (f.core_name, new, e.strerror))
        if f.compressed:
            # The kernel writes whole blocks; decompressors want the exact length.
            try:
                os.ftruncate(f.core_fd, min(dumplen, self.max_size))
            except OSError as e:
                self.log.error("ftruncate(): %s\n" % e.strerror)

    def _record_kdh(self, raw, text):
        # the KDH lives only in the info file: acked only once it is written there
        try:
            self.files.info.add(text)
        except OSError as e:
            self._noisy("info file write for client %s: %s\n" % (self.who, e.strerror))
            return False
        self.kdh_raw = raw
        return True

    def handle_key(self, data, seqno, offset, length):
        if offset + length > KEY_MAX:
            self._noisy("Refusing EKCD key data beyond %d bytes from %s\n" % (KEY_MAX, self.ip))
            return
        f = self.files
        if f.key_fd < 0:
            name = "key.%s.%d" % (f.host, f.index)
            try:
                f.key_fd = netdumpd_files.open_key_file(f.dir_fd, name)
            except OSError as e:
                self._noisy("openat(%s/%s): %s\n" % (f.dirname, name, e.strerror))
                return
            self.log.info("(EKCD key from %s)\n" % self.who)
        try:
            self._pwrite(f.key_fd, data[wire.HDR_LEN:], offset)
        except OSError as e:
            self._noisy("write(): %s\n" % e.strerror)
            return
        self.send_ack(seqno)

    def handle_finish(self, seqno):
        if self.refused:
            # data is missing: not acked, so the client does not report success
            self.srv.end_session(self, refused(self.max_size))
            return
        f = self.files
        try:
            f.info.set_status(COMPLETE[0])
        except OSError as e:
            self.log.error("info file write for client %s: %s\n" % (self.who, e.strerror))
        for link, target in (("vmcore", f.core_base), ("info", "info.%s.%d" % (f.host, f.index))):
            try:
                netdumpd_files.replace_symlink(f.dir_fd, "%s.%s.last" % (link, f.host), target)
            except OSError as e:
                self.log.error("symlink(%s.%s.last): %s\n" % (link, f.host, e.strerror))
        self.log.info("Completed dump from client %s\n" % self.who)
        self.send_ack(seqno)
        self.srv.finish_session(self)

    def ending(self, default):
        """How this dump ends when stopped from outside with `default` (refused wins)."""
        return refused(self.max_size) if self.refused else default

    def close_socket(self):
        """Close the socket (the files belong to whoever ended the dump)."""
        if self.state != CLOSED:
            self.state = CLOSED
            self.sock.close()


def _ctime(t):
    # ctime(3) without its newline; out-of-range times do not break the line
    try:
        return time.ctime(t)
    except (OverflowError, ValueError, OSError):
        return "??? (%d)" % t
