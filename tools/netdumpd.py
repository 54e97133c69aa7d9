"""netdumpd: receive FreeBSD-compatible network kernel dumps (and our boards').

Command line as upstream netdumpd(8) (markjdb/netdumpd), plus ports, IPv6,
an allow list and resource limits. `python -m netdump_tools.netdumpd --help`.
"""
import argparse
import errno
import fcntl
import ipaddress
import logging
import logging.handlers
import math
import os
import re
import signal
import stat
import sys

from netdump import wire

from .netdumpd_server import HERALD_TIMEOUT, HOOK_TIMEOUT, MAX_HOOKS, REPLACE_IDLE, Config, Server, ServerError

DEFAULT_DUMPDIR = "/var/crash"
DEFAULT_PIDFILE = "/var/run/netdumpd.pid"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text):
    """Bytes from '123', '64M', '2G', '1T' (binary units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError("not a size: %r (use e.g. 512M, 4G)" % text)
    n = int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]
    if n <= 0 or n >= 1 << 63:
        raise argparse.ArgumentTypeError("size out of range: %r" % text)
    return n


def _number(kind, zero_ok=False, limit=None):
    # an argparse type: a finite number > 0 (>= 0 with zero_ok), at most limit
    def conv(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("not a number: %r" % text)
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError("not a finite number: %r" % text)
        if v < 0 or (v == 0 and not zero_ok):
            raise argparse.ArgumentTypeError("must be %s: %r" % ("0 or more" if zero_ok else "positive", text))
        if limit is not None and v > limit:
            raise argparse.ArgumentTypeError("must be at most %s: %r" % (limit, text))
        return v
    return conv


_SECONDS = _number(float, limit=10 ** 7)  # up to about 115 days
_SECONDS0 = _number(float, zero_ok=True, limit=10 ** 7)


def udp_port(text):
    """A UDP port number, for argparse (0..65535)."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError("not a UDP port: %r" % text)
    return v


def _cidr(text):
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError("not an address or CIDR network: %r" % text)


def build_parser():
    """The argparse parser of the netdumpd command."""
    p = argparse.ArgumentParser(
        prog="netdumpd",
        description="Receive network kernel dumps from FreeBSD kernels and netdump-for-MicroPython boards. "
                    "Each dump is written to <dumpdir>/<path>/vmcore.<host>.<N> with its header summary in "
                    "info.<host>.<N>; <host> is the client's reverse-DNS name cut at the first dot, else its "
                    "address. Clients are not authenticated: listen only on trusted networks, use --allow.",
        epilog="Exit status: 0 after a clean shutdown (SIGINT/SIGTERM), 1 on a start-up error, 2 on bad usage.")
    p.add_argument("-a", dest="addr", metavar="ADDR", default=None,
                   help="address to receive heralds on: IPv4 or IPv6, e.g. 192.0.2.1, :: (default: all IPv4 "
                        "interfaces, 0.0.0.0)")
    p.add_argument("-D", dest="debug", action="store_true",
                   help="stay in the foreground and log to stdout (info) / stderr (warnings, errors) "
                        "instead of syslog")
    p.add_argument("-d", dest="dumpdir", metavar="DUMPDIR", default=DEFAULT_DUMPDIR,
                   help="directory that receives the dumps; must exist (default %(default)s)")
    p.add_argument("-i", dest="script", metavar="SCRIPT",
                   help="program run after each dump with the arguments: reason (success, timeout, error), "
                        "client IP, host, info file, core file (as upstream), then the status the info file "
                        "ends in (complete, incomplete, refused); empty environment, cwd = dumpdir, its own "
                        "process group")
    p.add_argument("-P", dest="pidfile", metavar="PIDFILE", default=None,
                   help="pid file, locked while running (default %s)" % DEFAULT_PIDFILE)
    p.add_argument("-p", dest="defpath", metavar="PATH", default=".",
                   help="sub-directory of DUMPDIR for clients whose herald names no path (default .)")
    p.add_argument("--herald-port", type=udp_port, default=wire.HERALD_PORT,
                   help="UDP port heralds arrive on (default %(default)s)")
    p.add_argument("--client-port", type=udp_port, default=wire.CLIENT_PORT,
                   help="UDP port acks are sent to on the client (default %(default)s)")
    p.add_argument("--dual-stack", action="store_true",
                   help="with -a ::, accept IPv4 clients on the same socket too")
    p.add_argument("--allow", type=_cidr, action="append", default=[], metavar="CIDR",
                   help="accept heralds only from this network (repeatable); default: from anyone, with a warning")
    p.add_argument("--max-dump-size", type=parse_size, default=1 << 40, metavar="SIZE",
                   help="refuse data past this file size, e.g. 512M, 64G (default 1T)")
    p.add_argument("--timeout", type=_SECONDS, default=600.0, metavar="SECONDS",
                   help="end a dump after this many idle seconds, keeping what arrived (default %(default)s)")
    p.add_argument("--herald-timeout", type=_SECONDS, default=None, metavar="SECONDS",
                   help="forget a client that sent a herald and then nothing for this long; until its first "
                        "message it has no files (default: min(--timeout, %g))" % HERALD_TIMEOUT)
    p.add_argument("--replace-idle", type=_SECONDS0, default=REPLACE_IDLE, metavar="SECONDS",
                   help="a herald from the address of a dump in progress starts a new dump only once that "
                        "dump has been idle this long, and only such a dump is ended to make room for "
                        "another client (default %(default)s)")
    p.add_argument("--finish-linger", type=_SECONDS0, default=None, metavar="SECONDS",
                   help="after a completed dump, keep its socket this long to re-ack a retransmitted FINISHED "
                        "(0: off; default: min(--timeout, 12))")
    p.add_argument("--max-clients", type=_number(int, limit=4096), default=128, metavar="N",
                   help="clients at once, heralded or dumping, one per address; when full, a herald evicts a "
                        "client that sent only a herald, else a dump idle for --replace-idle (default %(default)s)")
    p.add_argument("--hook-timeout", type=_SECONDS, default=HOOK_TIMEOUT, metavar="SECONDS",
                   help="kill a -i handler (and its process group) still running after this long "
                        "(default %(default)s)")
    p.add_argument("--max-hooks", type=_number(int, limit=1024), default=MAX_HOOKS, metavar="N",
                   help="-i handlers running at once; more wait their turn (default %(default)s)")
    p.add_argument("-n", "--no-resolve", dest="resolve", action="store_false",
                   help="name files by client address, without reverse DNS")
    return p


class _BelowWarning(logging.Filter):
    def filter(self, record):
        return record.levelno < logging.WARNING


class _SyslogFormatter(logging.Formatter):
    def format(self, record):
        return "netdumpd[%d]: %s" % (os.getpid(), record.getMessage().rstrip("\n"))


def setup_logging(debug):
    """The 'netdumpd' logger: stdout/stderr with -D, else syslog (stderr if none)."""
    log = logging.getLogger("netdumpd")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
    if debug:
        out = logging.StreamHandler(sys.stdout)
        out.addFilter(_BelowWarning())
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        for h in (out, err):
            h.terminator = ""  # messages carry upstream's own newlines ("." has none)
            log.addHandler(h)
        return log
    logging.raiseExceptions = False  # a daemon must not die of (or print) a logging failure
    for path in ("/dev/log", "/var/run/syslog", "/var/run/log"):
        try:
            is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
        except OSError:
            is_socket = False
        if is_socket:
            try:
                h = logging.handlers.SysLogHandler(address=path, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
            except OSError:
                continue
            h.setFormatter(_SyslogFormatter())
            log.addHandler(h)
            return log
    h = logging.StreamHandler(sys.stderr)
    h.terminator = ""
    log.addHandler(h)
    return log


class Pidfile:
    """pidfile(3): an flock()ed file holding our pid, removed at exit."""

    def __init__(self, path):
        self.path = path
        self.fd = -1

    def acquire(self):
        """Lock the file; ServerError with a one-line reason if that fails."""
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise ServerError("cannot open or create pidfile %s: %s" % (self.path, e.strerror))
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            self.fd = -1
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ServerError("netdumpd is already running (pidfile %s is locked)" % self.path)
            raise ServerError("cannot lock pidfile %s: %s" % (self.path, e.strerror))

    def write(self):
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, b"%d\n" % os.getpid(), 0)

    def remove(self):
        if self.fd >= 0:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1


def daemonize():
    """daemon(3): detach from the terminal; the parent exits 0."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def main(argv=None):
    """Run netdumpd; returns the exit status."""
    args = build_parser().parse_args(argv)
    log = setup_logging(args.debug)

    def fail(msg):
        sys.stderr.write("netdumpd: %s\n" % msg)
        if not args.debug:
            log.error(msg + "\n")
        return EXIT_ERROR

    dumpdir = os.path.abspath(args.dumpdir)
    if not os.path.isdir(dumpdir):
        return fail("dump directory %s does not exist or is not a directory" % args.dumpdir)
    hook = None
    if args.script:
        hook = os.path.abspath(args.script)
        if not os.path.isfile(hook) or not os.access(hook, os.X_OK):
            return fail("handler script %s is missing or not executable" % args.script)
    addr = args.addr
    if addr is None:
        addr = "0.0.0.0"
    try:
        cfg = Config(dumpdir, addr=addr, herald_port=args.herald_port, client_port=args.client_port,
                     default_path=args.defpath, hook=hook, allow=args.allow, max_dump_size=args.max_dump_size,
                     timeout=args.timeout, max_clients=args.max_clients, dual_stack=args.dual_stack,
                     resolve=args.resolve, finish_linger=args.finish_linger, herald_timeout=args.herald_timeout,
                     replace_idle=args.replace_idle, hook_timeout=args.hook_timeout, max_hooks=args.max_hooks)
    except ValueError as e:
        return fail(str(e))

    pidfile = Pidfile(args.pidfile or DEFAULT_PIDFILE)
    try:
        pidfile.acquire()
    except ServerError as e:
        if args.pidfile is not None or "already running" in str(e):
            return fail(str(e))
        log.warning("%s; running without a pidfile\n" % e)
        pidfile = None

    server = Server(cfg, log)
    try:
        server.open()
    except ServerError as e:
        if pidfile:
            pidfile.remove()
        server.close()
        return fail(str(e))
    except OSError as e:
        if pidfile:
            pidfile.remove()
        server.close()
        return fail("%s: %s" % (cfg.dumpdir, e.strerror))

    if not args.debug:
        daemonize()
    if pidfile:
        pidfile.write()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: server.stop())
    try:
        server.serve()
    finally:
        server.close()
        if pidfile:
            pidfile.remove()
        logging.shutdown()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
