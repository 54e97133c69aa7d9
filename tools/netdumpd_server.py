"""The netdumpd event loop: herald sockets, per-dump sockets, idle timeouts
and handler processes, in one thread driven by selectors.

Behaviour follows markjdb/netdumpd (netdumpd.c server_event, cap_herald.c):
a valid herald gets a new UDP socket bound to the address the herald was sent
to and connected to <client-ip>:<client port>; clients are keyed by source IP.

Unlike upstream, a completed dump keeps its socket for a short "linger" time
to re-ack a retransmitted FINISHED (or KDH/VMCORE/EKCD_KEY duplicate) whose
first ack was lost; see Server.finish_session.
"""
import errno
import ipaddress
import os
import selectors
import socket
import struct
import subprocess
import threading
import time

from netdump import wire

from . import netdumpd_files
from .netdumpd_session import Session

HERALD_BUF = wire.HDR_LEN + netdumpd_files.MAXPATHLEN  # cap_herald.c receive buffer
DUMP_BUF = wire.HDR_LEN + wire.MAX_PAYLOAD + 1  # one more byte shows an oversize datagram
RCVBUF = 128 * 1024  # netdumpd.c alloc_client SO_RCVBUF
BATCH = 64  # datagrams read from one socket per wakeup, so no client starves the rest
TPASS_MAX = 10.0  # netdumpd.c CLIENT_TPASS
HERALD_LOG_PER_S = 10  # bad-herald log lines per second at most
# How long a completed dump's socket stays open to re-ack a retransmitted
# FINISHED. A FreeBSD client gives up on a message after 12 rounds of
# 2000 x 500 us polls (DN.c debugnet_send: nretries 10, "retries++ > nretries"),
# about 12 s, so lingering longer cannot help it. Capped by --timeout too.
FINISH_LINGER_MAX = 12.0

# Linux <linux/in.h> IP_PKTINFO / <linux/in6.h> IPV6_RECVPKTINFO, IPV6_PKTINFO
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_CMSG_SPACE = 64


class ServerError(Exception):
    """A start-up problem, with a one-line message."""


class Config:
    """Server settings (what the command line sets)."""

    def __init__(self, dumpdir, addr="0.0.0.0", herald_port=wire.HERALD_PORT, client_port=wire.CLIENT_PORT,
                 default_path=".", hook=None, allow=(), max_dump_size=1 << 40, timeout=600.0,
                 max_clients=128, dual_stack=False, resolve=True, resolve_timeout=2.0, finish_linger=None):
        self.dumpdir = dumpdir
        self.addr = addr
        self.herald_port = herald_port
        self.client_port = client_port
        self.default_path = default_path
        self.hook = hook
        self.allow = [ipaddress.ip_network(a, strict=False) for a in allow]
        self.max_dump_size = max_dump_size
        self.timeout = timeout
        self.max_clients = max_clients
        self.dual_stack = dual_stack
        self.resolve = resolve
        self.resolve_timeout = resolve_timeout
        # seconds a completed dump re-acks retransmissions; None: min(timeout, FINISH_LINGER_MAX); 0: never
        if finish_linger is None:
            finish_linger = min(timeout, FINISH_LINGER_MAX)
        if finish_linger < 0:
            raise ValueError("finish linger must be >= 0 seconds")
        self.finish_linger = float(finish_linger)


def _unmap(ip):
    # ::ffff:a.b.c.d (a v4 client on a dual-stack socket) -> a.b.c.d
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


class Resolver:
    """Reverse lookup cut at the first dot, bounded in time; numeric on failure."""

    def __init__(self, timeout=2.0, enabled=True, lookup=None):
        self.timeout = timeout
        self.enabled = enabled
        self.lookup = lookup or self._getnameinfo

    @staticmethod
    def _getnameinfo(ip):
        try:
            return socket.getnameinfo((ip, 0), socket.NI_NAMEREQD)[0]
        except (OSError, UnicodeError):
            return None

    def __call__(self, ip):
        name = None
        if self.enabled:
            # a daemon thread, so a hung resolver delays one herald, never shutdown
            box = []
            done = threading.Event()

            def run():
                try:
                    box.append(self.lookup(ip))
                finally:
                    done.set()

            threading.Thread(target=run, name="netdumpd-dns", daemon=True).start()
            if done.wait(self.timeout) and box:
                name = box[0]
        if name:
            name = name.split(".")[0]
        # A name from DNS becomes part of file names: anything odd -> numeric.
        if not name or "/" in name or any(c <= " " or c == "\x7f" for c in name):
            return ip
        return name


class Server:
    """netdumpd: open() binds, serve() runs until stop() (thread-safe) or a signal."""

    def __init__(self, cfg, log, resolver=None):
        self.cfg = cfg
        self.log = log
        self.resolver = resolver or Resolver(cfg.resolve_timeout, cfg.resolve)
        self.sel = selectors.DefaultSelector()
        self.sessions = {}  # client ip -> Session (dump in progress)
        self.lingering = {}  # client ip -> finished Session, re-acking until its linger_until
        self.hooks = []  # running handler processes
        self.dumpdir_fd = -1
        self.herald_socks = []
        self.rxbuf = bytearray(DUMP_BUF)
        self.rxview = memoryview(self.rxbuf)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = False
        self._bad_herald_times = []
        self.tpass = min(TPASS_MAX, max(0.02, cfg.timeout / 10.0))
        self.herald_port = cfg.herald_port  # actual port after bind (0 = any)
        self.stats = {"heralds": 0, "dumps": 0, "packets": 0}

    # ---- start-up

    def open(self):
        """Check the dump dir and default path, bind the herald socket; ServerError on failure."""
        cfg = self.cfg
        if not os.path.isdir(cfg.dumpdir):
            raise ServerError("dump directory %s does not exist or is not a directory" % cfg.dumpdir)
        self.dumpdir_fd = os.open(cfg.dumpdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd, _ = netdumpd_files.open_subdir(self.dumpdir_fd, cfg.default_path)
            os.close(fd)
        except (OSError, netdumpd_files.PathError) as e:
            raise ServerError("default path %s: %s" % (cfg.default_path, getattr(e, "strerror", None) or e))
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
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def serve(self):
        """Run until stop(); then end every open dump as a timeout."""
        self.log.info("Waiting for clients.\n")
        last_check = time.monotonic()
        while not self._stop:
            wait = 0.1 if self.hooks else self.tpass
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
            now = time.monotonic()
            if self.lingering:
                self._expire_lingering(now)
            if now - last_check >= self.tpass:
                last_check = now
                self._timeout_clients(now)
            if self.hooks:
                self._reap()
        self.log.info("Shutting down...\n")
        for sess in list(self.sessions.values()):
            sess.timeout()
        for sess in list(self.lingering.values()):  # complete already: closed quietly
            self.end_linger(sess)
        deadline = time.monotonic() + 5.0
        while self.hooks and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)

    def close(self):
        """Release sockets and descriptors (after serve())."""
        for sess in list(self.sessions.values()):
            self.end_session(sess, None)
        for sess in list(self.lingering.values()):
            self.end_linger(sess)
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
            if now - sess.last_msg > self.cfg.timeout:
                sess.timeout()

    # ---- heralds

    def _bad_herald(self, ip, why):
        now = time.monotonic()
        self._bad_herald_times = [t for t in self._bad_herald_times if now - t < 1.0]
        if len(self._bad_herald_times) < HERALD_LOG_PER_S:
            self._bad_herald_times.append(now)
            self.log.error("Ignoring herald from %s: %s\n" % (ip, why))

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
        if self.cfg.allow:
            addr = ipaddress.ip_address(ip.split("%")[0])
            if not any(addr in net for net in self.cfg.allow):
                self._bad_herald(ip, "not in the --allow list")
                return
        path = None
        if 1 <= length <= netdumpd_files.MAXPATHLEN and data[-1] == 0:
            path = os.fsdecode(bytes(data[wire.HDR_LEN:]).split(b"\0")[0])
        old = self.lingering.get(ip)
        if old is not None:  # a new dump from a client whose last one is complete
            self.end_linger(old)
        sess = self.sessions.get(ip)
        if sess is not None:
            if not sess.any_data:
                sess.send_ack(seqno)  # a retransmitted herald
                return
            sess.timeout()
        if len(self.sessions) >= self.cfg.max_clients:
            self._bad_herald(ip, "too many clients (--max-clients %d)" % self.cfg.max_clients)
            return
        local, ifindex = self._local_addr(sock, anc)
        local = _unmap(local)
        dsock = self._dump_socket(ip, local, ifindex)
        if dsock is None:
            return
        host = self.resolver(ip)
        sess = self._new_session(ip, host, dsock, path)
        if sess is None:
            dsock.close()
            self.log.error("server_event(): new client allocation failure\n")
            return
        self.sessions[ip] = sess
        self.sel.register(dsock, selectors.EVENT_READ, sess)
        self.stats["heralds"] += 1
        sess.pinfo("Dump from %s\n" % sess.who)
        self.log.info("New dump from client %s (to %s)\n" % (sess.who, sess.core_name))
        sess.send_ack(seqno)

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
            self.log.error("Cannot make a socket for client %s: %s\n" % (ip, e.strerror))
            return None
        return s

    def _new_session(self, ip, host, dsock, path):
        who = "%s [%s]" % (host, ip)
        tries = [path, None] if path is not None else [None]
        for i, p in enumerate(tries):
            use = self.cfg.default_path if p is None else p
            try:
                dir_fd, dirname = netdumpd_files.open_subdir(self.dumpdir_fd, use)
            except (OSError, netdumpd_files.PathError):
                got = None
            else:
                got = netdumpd_files.create_dump_files(dir_fd, dirname, host, self.log, who)
                if got is None:
                    os.close(dir_fd)
            if got is not None:
                index, info_fd, core_fd = got
                netdumpd_files.write_index(dir_fd, host, index, self.log)
                return Session(self, ip, host, dsock, dir_fd, dirname, index, info_fd, core_fd)
            if p is not None:
                self.log.warning("Can't create output files in path for client %s, retrying with default\n" % who)
        self.log.error("Can't create output files for new client %s\n" % who)
        return None

    # ---- dumps

    def _on_dump(self, sock, sess):
        if sess.closed:
            return
        view = self.rxview
        for _ in range(BATCH):
            try:
                n = sock.recv_into(self.rxbuf)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier ack; the client may come back
            except OSError as e:
                self.log.error("recv(): %s\n" % e.strerror)
                sess.timeout()
                return
            self.stats["packets"] += 1
            try:
                sess.handle(view[:n])
            except Exception as e:  # a bug hit by one client ends that dump only
                self.log.error("Internal error on dump from %s: %r\n" % (sess.who, e))
                try:
                    ok = sess.flush()  # keep what was acked
                except Exception:
                    ok = True
                if sess.finished:
                    self.end_linger(sess)
                elif ok:
                    self.end_session(sess, "error")
            if sess.closed:
                return

    def end_session(self, sess, reason):
        """Close a dump and run the handler with reason (None: no handler)."""
        if sess.closed:
            return
        if sess.finished:  # its handler already ran at FINISHED
            self.end_linger(sess)
            return
        if self.sessions.get(sess.ip) is sess:
            del self.sessions[sess.ip]
        try:
            self.sel.unregister(sess.sock)
        except (KeyError, ValueError):
            pass
        info_name, core_name = sess.info_name, sess.core_name
        sess.close()
        self.stats["dumps"] += 1
        if reason is not None and self.cfg.hook:
            self._run_hook(reason, sess.ip, sess.host, info_name, core_name)

    def finish_session(self, sess):
        """FINISHED was handled and acked: close the files, run the handler with
        "success", and keep the socket to re-ack retransmissions for the linger time.

        A lingering dump is no longer a client: it does not count against
        --max-clients and a new herald from its IP ends the linger and starts a
        new dump. At most max_clients dumps linger (the one nearest its end is
        dropped first), so sockets stay bounded by 2 x --max-clients."""
        if self.sessions.get(sess.ip) is sess:
            del self.sessions[sess.ip]
        info_name, core_name = sess.info_name, sess.core_name
        sess.release_files()
        self.stats["dumps"] += 1
        if self.cfg.hook:
            self._run_hook("success", sess.ip, sess.host, info_name, core_name)
        old = self.lingering.pop(sess.ip, None)
        if old is not None and old is not sess:
            self.end_linger(old)
        if self.cfg.finish_linger <= 0:
            self._drop(sess)
            return
        while len(self.lingering) >= self.cfg.max_clients:
            self.end_linger(min(self.lingering.values(), key=lambda s: s.linger_until))
        sess.finished = True
        sess.linger_until = time.monotonic() + self.cfg.finish_linger
        self.lingering[sess.ip] = sess

    def end_linger(self, sess):
        """Close a completed dump's lingering socket (quietly: it was logged at FINISHED)."""
        if self.lingering.get(sess.ip) is sess:
            del self.lingering[sess.ip]
        if sess.closed:
            return
        self.log.debug("Closed the socket of the completed dump from %s (%d late messages re-acked)\n"
                       % (sess.who, sess.late))
        self._drop(sess)

    def _drop(self, sess):
        try:
            self.sel.unregister(sess.sock)
        except (KeyError, ValueError):
            pass
        sess.close()

    # ---- handler script

    def _run_hook(self, reason, ip, host, info_name, core_name):
        try:
            p = subprocess.Popen([self.cfg.hook, reason, ip, host, info_name, core_name], env={},
                                 cwd=self.cfg.dumpdir, stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as e:
            self.log.error("netdump_cap_handler(): %s\n" % e.strerror)
            return
        self.hooks.append(p)

    def _reap(self):
        for p in list(self.hooks):
            rc = p.poll()
            if rc is None:
                continue
            self.hooks.remove(p)
            status = (rc << 8) if rc >= 0 else -rc  # the raw wait(2) status upstream logs
            if status == 0:
                self.log.info("Process %d exited with status 0\n" % p.pid)
            else:
                self.log.warning("Process %d exited with status %d\n" % (p.pid, status))


def run_in_thread(server):
    """Start server.serve() in a daemon thread (tests, benchmarks); returns the thread."""
    t = threading.Thread(target=server.serve, name="netdumpd", daemon=True)
    t.start()
    return t
