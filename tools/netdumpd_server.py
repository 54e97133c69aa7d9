"""The netdumpd event loop: herald sockets, per-dump sockets, idle timeouts,
worker threads that close finished dumps, and handler processes; one thread
driven by selectors.

Behaviour follows markjdb/netdumpd (netdumpd.c server_event, cap_herald.c):
a valid herald gets a new UDP socket bound to the address the herald was sent
to and connected to <client-ip>:<client port>; clients are keyed by source IP.

Hardened against clients that lie (anyone on the LAN can send a herald, from
any source address; the reasoning is in docs/netdumpd-policy.md):
- A herald costs a socket only. The files are made, and the client's name
  looked up, when the first message arrives on that socket, which only a
  client that received the herald's ack can send (it carries the new port).
  A session that stays heralded ends after --herald-timeout seconds.
- At most --max-clients sessions exist at once (one per address, as
  upstream). When full, a herald evicts a heralded-only session first (the
  oldest one of the /24 or /64 network that holds the most), else a receiving
  dump idle for --replace-idle seconds or more; a progressing dump is never
  evicted.
- A herald from the address of a receiving dump is a new dump (FreeBSD: a
  kernel that rebooted and panicked again dumps anew) only once the old dump
  has been idle for --replace-idle seconds; until then it is ignored (not
  acked) and the client's herald retries (about 12 s on FreeBSD, 9 s on ours)
  bring it in later. A spoofed herald cannot cut a progressing dump short.
- The end of a dump (fsync, the board-dump summary, closing) runs in worker
  threads with a size and time budget; the handler runs afterwards.

Unlike upstream, a completed dump keeps its socket for a short "linger" time
to re-ack a retransmitted FINISHED (or KDH/VMCORE/EKCD_KEY duplicate) whose
first ack was lost; see Server.finish_session.
"""
import collections
import errno
import ipaddress
import math
import os
import queue
import selectors
import socket
import struct
import threading
import time

from netdump import wire

from . import netdumpd_files, netdumpd_session
from .netdumpd_hooks import Hooks
from .netdumpd_resolver import Resolver  # noqa: F401  (also imported from here by the tests)
from .netdumpd_session import HERALDED, LINGERING, RECEIVING, DumpFiles, Session
from .netdumpd_text import clean

HERALD_BUF = wire.HDR_LEN + netdumpd_files.MAXPATHLEN  # cap_herald.c receive buffer
DUMP_BUF = wire.HDR_LEN + wire.MAX_PAYLOAD + 1  # one more byte shows an oversize datagram
RCVBUF = 128 * 1024  # netdumpd.c alloc_client SO_RCVBUF
BATCH = 64  # datagrams read from one socket per wakeup, so no client starves the rest
TPASS_MAX = 10.0  # netdumpd.c CLIENT_TPASS
HERALD_LOG_PER_S = 10  # herald log lines per second at most
# How long a completed dump's socket stays open to re-ack a retransmitted
# FINISHED. A FreeBSD client gives up on a message after 12 rounds of
# 2000 x 500 us polls (DN.c debugnet_send: nretries 10, "retries++ > nretries"),
# about 12 s, so lingering longer cannot help it. Capped by --timeout too.
FINISH_LINGER_MAX = 12.0
HERALD_TIMEOUT = 10.0  # default --herald-timeout
REPLACE_IDLE = 5.0  # default --replace-idle
HOOK_TIMEOUT = 3600.0  # default --hook-timeout
MAX_HOOKS = 4  # default --max-hooks
HOST_WAIT = 0.1  # longest wait for a client's name at its first message (then it is retried)
WORKERS = 2  # threads that close finished dumps
SHUTDOWN_JOBS_S = 30.0  # how long shutdown waits for dumps being closed
SHUTDOWN_HOOKS_S = 5.0  # how long shutdown lets handlers run before killing them

# Linux <linux/in.h> IP_PKTINFO / <linux/in6.h> IPV6_RECVPKTINFO, IPV6_PKTINFO
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_CMSG_SPACE = 64


class ServerError(Exception):
    """A start-up problem, with a one-line message."""


def _seconds(name, v, zero_ok=False):
    v = float(v)
    if not math.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
        raise ValueError("%s must be a %s number of seconds, not %r" % (name, "non-negative" if zero_ok else "positive", v))
    return v


class Config:
    """Server settings (what the command line sets); ValueError for a bad one."""

    def __init__(self, dumpdir, addr="0.0.0.0", herald_port=wire.HERALD_PORT, client_port=wire.CLIENT_PORT,
                 default_path=".", hook=None, allow=(), max_dump_size=1 << 40, timeout=600.0,
                 max_clients=128, dual_stack=False, resolve=True, resolve_timeout=2.0, finish_linger=None,
                 herald_timeout=None, replace_idle=REPLACE_IDLE, hook_timeout=HOOK_TIMEOUT, max_hooks=MAX_HOOKS):
        self.dumpdir = dumpdir
        self.addr = addr
        self.herald_port = herald_port
        self.client_port = client_port
        self.default_path = default_path
        self.hook = hook
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]
        if max_dump_size <= 0:
            raise ValueError("the maximum dump size must be positive")
        self.max_dump_size = max_dump_size
        self.timeout = _seconds("the timeout", timeout)
        if int(max_clients) < 1 or int(max_hooks) < 1:
            raise ValueError("max clients and max hooks must be at least 1")
        self.max_clients = int(max_clients)
        self.dual_stack = dual_stack
        self.resolve = resolve
        self.resolve_timeout = _seconds("the resolver timeout", resolve_timeout)
        # seconds a completed dump re-acks retransmissions; None: min(timeout, FINISH_LINGER_MAX); 0: never
        if finish_linger is None:
            finish_linger = min(self.timeout, FINISH_LINGER_MAX)
        self.finish_linger = _seconds("the finish linger", finish_linger, zero_ok=True)
        # seconds a heralded-only session waits for its first message; None: min(timeout, HERALD_TIMEOUT)
        if herald_timeout is None:
            herald_timeout = min(self.timeout, HERALD_TIMEOUT)
        self.herald_timeout = _seconds("the herald timeout", herald_timeout)
        self.replace_idle = _seconds("the replace idle time", replace_idle, zero_ok=True)
        self.hook_timeout = _seconds("the handler timeout", hook_timeout)
        self.max_hooks = int(max_hooks)


def _unmap(ip):
    # ::ffff:a.b.c.d (a v4 client on a dual-stack socket) -> a.b.c.d
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


def _net(ip):
    """The client's /24 (IPv4) or /64 (IPv6): the unit eviction is fair between."""
    try:
        a = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return ip
    return str(ipaddress.ip_network("%s/%d" % (a, 24 if a.version == 4 else 64), strict=False))


class Server:
    """netdumpd: open() binds, serve() runs until stop() (thread-safe) or a signal."""

    def __init__(self, cfg, log, resolver=None):
        self.cfg = cfg
        self.log = log
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.resolver = resolver or Resolver(cfg.resolve_timeout, cfg.resolve, wake=self._wake)
        self.sel = selectors.DefaultSelector()
        self.sessions = {}  # client ip -> Session, heralded or receiving
        self.heralded = {}  # network -> OrderedDict(ip -> heralded Session), oldest herald first
        self.lingering = {}  # client ip -> finished Session, re-acking until its linger_until
        self.hooks = Hooks(cfg.hook, cfg.dumpdir, log, cfg.max_hooks, cfg.hook_timeout) if cfg.hook else None
        self.dumpdir_fd = -1
        self.herald_socks = []
        self.rxbuf = bytearray(DUMP_BUF)
        self.rxview = memoryview(self.rxbuf)
        self._stop = False
        self._herald_log = []  # times of recent herald log lines
        self._herald_quiet = 0  # herald log lines not written since the last one
        self._jobs = queue.Queue()
        self._done = collections.deque()  # jobs the workers finished, for the event loop
        self._open_jobs = 0
        self._workers = []
        self.tpass = min(TPASS_MAX, max(0.02, min(cfg.timeout, cfg.herald_timeout) / 10.0))
        self.herald_port = cfg.herald_port  # actual port after bind (0 = any)
        self.stats = {"heralds": 0, "dumps": 0, "packets": 0, "evicted": 0, "expired": 0}

    # ---- start-up

    def open(self):
        """Check the dump dir and default path (they must exist and take new files), bind the
        herald socket; ServerError on failure."""
        cfg = self.cfg
        if not os.path.isdir(cfg.dumpdir):
            raise ServerError("dump directory %s does not exist or is not a directory" % cfg.dumpdir)
        self.dumpdir_fd = os.open(cfg.dumpdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd, _ = netdumpd_files.open_subdir(self.dumpdir_fd, cfg.default_path)
        except (OSError, netdumpd_files.PathError) as e:
            raise ServerError("default path %s: %s" % (cfg.default_path, getattr(e, "strerror", None) or e))
        try:
            netdumpd_files.check_writable(fd)
        except OSError as e:
            where = cfg.dumpdir if cfg.default_path in (".", "") else os.path.join(cfg.dumpdir, cfg.default_path)
            raise ServerError("cannot create files in %s: %s" % (where, e.strerror))
        finally:
            os.close(fd)
        try:
            info = socket.getaddrinfo(cfg.addr, cfg.herald_port, 0, socket.SOCK_DGRAM, 0,
                                      socket.AI_NUMERICHOST | socket.AI_PASSIVE)[0]
        except socket.gaierror:
            raise ServerError("invalid bind address %s" % cfg.addr)
        family, _, _, _, sockaddr = info
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if cfg.dual_stack else 1)
                s.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            s.bind(sockaddr)
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRINUSE:
                raise ServerError("port %d on %s is already in use (another netdumpd?)" % (cfg.herald_port, cfg.addr))
            raise ServerError("cannot bind %s port %d: %s" % (cfg.addr, cfg.herald_port, e.strerror))
        s.setblocking(False)
        self.herald_port = s.getsockname()[1]
        self.herald_socks.append(s)
        self.sel.register(s, selectors.EVENT_READ, self._on_herald)
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        if ipaddress.ip_address(sockaddr[0]).is_unspecified:
            self.log.warning("default: listening on all interfaces\n")
        if not cfg.allow:
            self.log.warning("No --allow given: accepting dumps from any client; listen only on trusted networks\n")

    # ---- main loop

    def stop(self):
        """Ask serve() to shut down (safe from another thread or a signal handler)."""
        self._stop = True
        self._wake()

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def serve(self):
        """Run until stop(); then end every open dump as incomplete."""
        self.log.info("Waiting for clients.\n")
        last_check = time.monotonic()
        while not self._stop:
            wait = 0.1 if self.hooks and self.hooks.busy else self.tpass
            if self.lingering:
                first = min(s.linger_until for s in self.lingering.values())
                wait = max(0.0, min(wait, first - time.monotonic()))
            try:
                events = self.sel.select(wait)
            except InterruptedError:
                continue
            for key, _mask in events:
                if isinstance(key.data, Session):
                    self._on_dump(key.fileobj, key.data)
                else:
                    key.data(key.fileobj)
            self._run_done()
            now = time.monotonic()
            if self.lingering:
                self._expire_lingering(now)
            if now - last_check >= self.tpass:
                last_check = now
                self._timeout_clients(now)
            if self.hooks:
                self.hooks.poll()
        self.log.info("Shutting down...\n")
        for sess in list(self.sessions.values()):
            if sess.state == RECEIVING:
                self.log.info("Client %s: dump incomplete, shutting down\n" % sess.ip)
            self.end_session(sess, sess.ending(netdumpd_session.SHUTDOWN), analyse=False)
        for sess in list(self.lingering.values()):  # complete already: closed quietly
            self.end_linger(sess)
        end = time.monotonic() + SHUTDOWN_JOBS_S
        while self._open_jobs and time.monotonic() < end:
            self._run_done()
            time.sleep(0.01)
        if self._open_jobs:
            self.log.error("%d dumps still being closed at exit\n" % self._open_jobs)
        if self.hooks:
            self.hooks.shutdown(SHUTDOWN_HOOKS_S)

    def close(self):
        """Release sockets and descriptors (after serve())."""
        for sess in list(self.sessions.values()):
            self.end_session(sess, None)
        for sess in list(self.lingering.values()):
            self.end_linger(sess)
        for _ in self._workers:
            self._jobs.put(None)
        for s in self.herald_socks:
            self.sel.unregister(s)
            s.close()
        self.herald_socks = []
        self.sel.close()
        self._wake_r.close()
        self._wake_w.close()
        if self.dumpdir_fd >= 0:
            os.close(self.dumpdir_fd)
            self.dumpdir_fd = -1

    def _on_wake(self, sock):
        try:
            while sock.recv(64):
                pass
        except OSError:
            pass

    def _expire_lingering(self, now):
        for sess in list(self.lingering.values()):
            if now >= sess.linger_until:
                self.end_linger(sess)

    def _timeout_clients(self, now):
        for sess in list(self.sessions.values()):
            idle = now - sess.last_msg
            if sess.state == HERALDED:
                if idle > self.cfg.herald_timeout:
                    self.stats["expired"] += 1
                    self._herald_note("Forgetting client %s: heralded, then nothing for %g s"
                                      % (sess.ip, self.cfg.herald_timeout))
                    self._drop_heralded(sess)
            elif idle > self.cfg.timeout:
                self.log.info("Client %s timed out\n" % sess.ip)
                self.end_session(sess, sess.ending(netdumpd_session.TIMED_OUT))

    # ---- worker threads: the end of a dump, off the event loop

    def _worker(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            files, analyse, then = job
            try:
                files.finish(self.log, analyse)
            except Exception as e:  # a bug must not kill the worker
                self.log.error("Internal error finishing %s: %r\n" % (files.info_name, e))
            self._done.append(then)
            self._wake()

    def _submit(self, files, analyse, then):
        if len(self._workers) < WORKERS:
            t = threading.Thread(target=self._worker, name="netdumpd-finish", daemon=True)
            t.start()
            self._workers.append(t)
        self._open_jobs += 1
        self._jobs.put((files, analyse, then))

    def _run_done(self):
        while self._done:
            then = self._done.popleft()
            self._open_jobs -= 1
            if then is not None:
                then()

    # ---- heralds

    def _herald_note(self, msg):
        # log lines anyone can provoke with heralds: HERALD_LOG_PER_S at most, the rest counted
        now = time.monotonic()
        self._herald_log = [t for t in self._herald_log if now - t < 1.0]
        if len(self._herald_log) >= HERALD_LOG_PER_S:
            self._herald_quiet += 1
            return
        self._herald_log.append(now)
        if self._herald_quiet:
            msg += " (and %d herald lines not logged)" % self._herald_quiet
            self._herald_quiet = 0
        self.log.error(msg + "\n")

    def _bad_herald(self, ip, why, path=None):
        where = "" if path is None else " (path '%s')" % clean(path, limit=256)
        self._herald_note("Ignoring herald from %s%s: %s" % (ip, where, why))

    def _on_herald(self, sock):
        for _ in range(BATCH):
            try:
                data, anc, _flags, src = sock.recvmsg(HERALD_BUF + 1, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.log.error("recvmsg(): %s\n" % e.strerror)
                return
            try:
                self._herald(sock, data, anc, src)
            except Exception as e:  # one bad herald must not stop the server
                self.log.error("Internal error handling herald from %s: %r\n" % (src[0], e))

    def _local_addr(self, sock, anc):
        # the address the herald was sent to (IP_PKTINFO / IPV6_PKTINFO), else the bound one
        for level, ctype, cdata in anc:
            if level == socket.IPPROTO_IP and ctype == _IP_PKTINFO and len(cdata) >= 12:
                return socket.inet_ntop(socket.AF_INET, cdata[8:12]), 0
            if level == socket.IPPROTO_IPV6 and ctype == _IPV6_PKTINFO and len(cdata) >= 20:
                return socket.inet_ntop(socket.AF_INET6, cdata[0:16]), struct.unpack("=I", cdata[16:20])[0]
        return sock.getsockname()[0], 0

    def _herald(self, sock, data, anc, src):
        ip = _unmap(src[0])
        try:
            mtype, seqno, _off, length, _aux2 = wire.parse_header(data)
        except wire.BadMessage as e:
            self._bad_herald(ip, str(e))
            return
        if mtype != wire.HERALD:
            self._bad_herald(ip, "message type %d on the herald port" % mtype)
            return
        path = None
        if 1 <= length <= netdumpd_files.MAXPATHLEN and data[-1] == 0:
            path = os.fsdecode(bytes(data[wire.HDR_LEN:]).split(b"\0")[0])
        if self.cfg.allow:
            addr = ipaddress.ip_address(ip.split("%")[0])
            if not any(addr in net for net in self.cfg.allow):
                self._bad_herald(ip, "not in the --allow list", path)
                return
        now = time.monotonic()
        sess = self.sessions.get(ip)
        if sess is not None:
            if sess.state == HERALDED:  # a retransmitted herald (or a new one before any data)
                sess.path = path
                sess.last_msg = now
                self.heralded[sess.net].move_to_end(ip)
                sess.send_ack(seqno)
                return
            idle = now - sess.last_msg
            if idle < self.cfg.replace_idle:
                self._bad_herald(ip, "its dump in progress got a message %.1f s ago (a new dump replaces it "
                                 "after %g s idle)" % (idle, self.cfg.replace_idle), path)
                return
            self.log.info("Client %s started a new dump; the previous one was idle for %.1f s\n" % (ip, idle))
            self.end_session(sess, sess.ending(netdumpd_session.REPLACED))
        if len(self.sessions) >= self.cfg.max_clients and not self._make_room(now):
            self._bad_herald(ip, "too many clients (--max-clients %d), none idle" % self.cfg.max_clients, path)
            return
        old = self.lingering.get(ip)
        if old is not None:  # a new dump from a client whose last one is complete
            self.end_linger(old)
        local, ifindex = self._local_addr(sock, anc)
        dsock = self._dump_socket(ip, _unmap(local), ifindex)
        if dsock is None:
            return
        sess = Session(self, ip, dsock, path, _net(ip))
        self.sessions[ip] = sess
        self.heralded.setdefault(sess.net, collections.OrderedDict())[ip] = sess
        self.sel.register(dsock, selectors.EVENT_READ, sess)
        self.stats["heralds"] += 1
        self.resolver.start(ip)
        sess.send_ack(seqno)

    def _make_room(self, now):
        """Free one session slot for a herald -> True, or False if every session is progressing."""
        if self.heralded:
            net = max(self.heralded, key=lambda n: len(self.heralded[n]))
            victim = next(iter(self.heralded[net].values()))
            self.stats["evicted"] += 1
            self._herald_note("Forgetting client %s: heralded only, and --max-clients %d are in use"
                              % (victim.ip, self.cfg.max_clients))
            self._drop_heralded(victim)
            return True
        idle = [s for s in self.sessions.values() if now - s.last_msg >= self.cfg.replace_idle]
        if not idle:
            return False
        victim = min(idle, key=lambda s: s.last_msg)
        self.stats["evicted"] += 1
        self.log.warning("Ending the dump from %s, idle for %.1f s, to make room for a new client\n"
                         % (victim.who, now - victim.last_msg))
        self.end_session(victim, victim.ending(netdumpd_session.EVICTED))
        return True

    def _unlist_heralded(self, sess):
        group = self.heralded.get(sess.net)
        if group is not None and group.get(sess.ip) is sess:
            del group[sess.ip]
            if not group:
                del self.heralded[sess.net]

    def _drop_heralded(self, sess):
        """Forget a session that never got past its herald (it has no files)."""
        self._unlist_heralded(sess)
        if self.sessions.get(sess.ip) is sess:
            del self.sessions[sess.ip]
        self._drop(sess)

    def _dump_socket(self, ip, local, ifindex):
        v6 = ":" in ip
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            except OSError:
                self.log.warning("May drop packets from %s due to small receive buffer\n" % ip)
            if v6:
                s.bind((local, 0, 0, ifindex))
                s.connect((ip, self.cfg.client_port, 0, ifindex))
            else:
                s.bind((local, 0))
                s.connect((ip, self.cfg.client_port))
            s.setblocking(False)
        except OSError as e:
            s.close()
            self._herald_note("Cannot make a socket for client %s: %s" % (ip, e.strerror))
            return None
        return s

    # ---- the first message: files

    def start_files(self, sess):
        """Create the files of a heralded session at its first message -> True; False to drop
        the message unacked (its name is still being looked up, or the files could not be made:
        then the session is gone)."""
        host = self.resolver.result(sess.ip, HOST_WAIT)
        if host is None:
            return False
        who = "%s [%s]" % (host, sess.ip)
        files = self._create_files(sess, host, who)
        if files is None:
            self._drop_heralded(sess)
            return False
        self._unlist_heralded(sess)
        sess.start(host, files)
        sess.pinfo("Dump from %s\n" % who)
        self.log.info("New dump from client %s (to %s)\n" % (who, files.core_name))
        return True

    def _create_files(self, sess, host, who):
        tries = [sess.path, None] if sess.path is not None else [None]
        for p in tries:
            use = self.cfg.default_path if p is None else p
            try:
                dir_fd, dirname = netdumpd_files.open_subdir(self.dumpdir_fd, use)
            except (OSError, netdumpd_files.PathError) as e:
                why = getattr(e, "strerror", None) or str(e)
                got = None
            else:
                got = netdumpd_files.create_dump_files(dir_fd, dirname, host, self.log, who)
                why = "see above"
                if got is None:
                    os.close(dir_fd)
            if got is not None:
                index, info_fd, core_fd = got
                netdumpd_files.write_index(dir_fd, host, index, self.log)
                return DumpFiles(dir_fd, dirname, host, index, info_fd, core_fd)
            if p is not None:
                self.log.warning("Can't create output files in path '%s' for client %s (%s), retrying with default\n"
                                 % (clean(p, limit=256), who, why))
        return None

    # ---- dumps

    def _on_dump(self, sock, sess):
        view = self.rxview
        for _ in range(BATCH):
            if sess.state not in (HERALDED, RECEIVING, LINGERING):
                return
            try:
                n = sock.recv_into(self.rxbuf)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier ack; the client may come back
            except OSError as e:
                self.log.error("recv(): %s\n" % e.strerror)
                self.end_session(sess, sess.ending(netdumpd_session.INTERNAL))
                return
            self.stats["packets"] += 1
            try:
                sess.handle(view[:n])
            except Exception as e:  # a bug hit by one client ends that dump only
                self.log.error("Internal error on dump from %s: %r\n" % (sess.who, e))
                if sess.state == LINGERING:
                    self.end_linger(sess)
                else:
                    self.end_session(sess, sess.ending(netdumpd_session.INTERNAL))

    def end_session(self, sess, ending, analyse=True):
        """End a heralded or receiving dump: its info file ends in ending's status line, its
        files are closed by a worker, then the handler runs (ending None: no handler)."""
        if sess.state not in (HERALDED, RECEIVING):
            if sess.state == LINGERING:
                self.end_linger(sess)
            return
        if sess.state == HERALDED:
            self._drop_heralded(sess)
            return
        if self.sessions.get(sess.ip) is sess:
            del self.sessions[sess.ip]
        self._drop(sess)
        files, sess.files = sess.files, None
        line, reason, status = ending if ending is not None else netdumpd_session.IN_PROGRESS
        try:
            files.info.set_status(line)
        except OSError as e:
            self.log.error("info file write for client %s: %s\n" % (sess.who, e.strerror))
        self.stats["dumps"] += 1
        self._submit(files, analyse, self._hook_call(ending and reason, sess, files, status))

    def finish_session(self, sess):
        """FINISHED was handled and acked: a worker closes the files, then the handler runs
        with "success"; the socket stays to re-ack retransmissions for the linger time.

        A lingering dump is no longer a client: it does not count against
        --max-clients and a new herald from its IP ends the linger and starts a
        new dump. At most max_clients dumps linger (the one nearest its end is
        dropped first), so sockets stay bounded by 2 x --max-clients."""
        if self.sessions.get(sess.ip) is sess:
            del self.sessions[sess.ip]
        files, sess.files = sess.files, None
        self.stats["dumps"] += 1
        self._submit(files, True, self._hook_call("success", sess, files, "complete"))
        old = self.lingering.pop(sess.ip, None)
        if old is not None and old is not sess:
            self.end_linger(old)
        if self.cfg.finish_linger <= 0:
            self._drop(sess)
            return
        while len(self.lingering) >= self.cfg.max_clients:
            self.end_linger(min(self.lingering.values(), key=lambda s: s.linger_until))
        sess.state = LINGERING
        sess.linger_until = time.monotonic() + self.cfg.finish_linger
        self.lingering[sess.ip] = sess

    def end_linger(self, sess):
        """Close a completed dump's lingering socket (quietly: it was logged at FINISHED)."""
        if self.lingering.get(sess.ip) is sess:
            del self.lingering[sess.ip]
        if sess.state == netdumpd_session.CLOSED:
            return
        self.log.debug("Closed the socket of the completed dump from %s (%d late messages re-acked)\n"
                       % (sess.who, sess.late))
        self._drop(sess)

    def _drop(self, sess):
        try:
            self.sel.unregister(sess.sock)
        except (KeyError, ValueError):
            pass
        sess.close_socket()

    # ---- handler script

    def _hook_call(self, reason, sess, files, status):
        """What to run once a dump's files are closed: the handler, if any and reason is set."""
        if self.hooks is None or not reason:
            return None
        args = [reason, sess.ip, files.host, files.info_name, files.core_name, status]
        return lambda: self.hooks.submit(args)


def run_in_thread(server):
    """Start server.serve() in a daemon thread (tests, benchmarks); returns the thread."""
    t = threading.Thread(target=server.serve, name="netdumpd", daemon=True)
    t.start()
    return t
