"""Client names for netdumpd: the reverse-DNS name cut at the first dot (as
upstream names files), looked up in background threads so that a slow or
hung resolver never stalls the event loop."""
import socket
import threading
import time

MAX_LOOKUPS = 8  # lookup threads alive at once; beyond, clients are named by address
CACHE_S = 300.0  # seconds a name (or its absence) is remembered


def _getnameinfo(ip):
    try:
        return socket.getnameinfo((ip, 0), socket.NI_NAMEREQD)[0]
    except (OSError, UnicodeError):
        return None


def safe_name(ip, name):
    """name cut at its first dot, or ip when that is empty or unfit for a file name."""
    if name:
        name = name.split(".")[0]
    if not name or "/" in name or any(c <= " " or c == "\x7f" for c in name) or not name.isprintable():
        return ip
    return name


class Resolver:
    """Reverse lookup cut at the first dot, bounded in time; numeric on failure.

    resolver(ip) blocks for at most `timeout` seconds; start(ip) and
    result(ip, wait) do the same without blocking the caller for longer than
    `wait`. At most MAX_LOOKUPS lookups run at once (a hung lookup keeps its
    thread), beyond which a client is named by its address."""

    def __init__(self, timeout=2.0, enabled=True, lookup=None, wake=None):
        self.timeout = timeout
        self.enabled = enabled
        self.lookup = lookup or _getnameinfo
        self.wake = wake  # called (from the lookup thread) when a lookup ends
        self._lock = threading.Lock()
        self._running = 0
        self._pending = {}  # ip -> (event, deadline) of a running lookup
        self._cache = {}  # ip -> (name, expires)

    def __call__(self, ip):
        self.start(ip)
        name = self.result(ip, self.timeout)
        return name if name is not None else ip

    def _run(self, ip, box):
        name = None
        try:
            name = self.lookup(ip)
        except Exception:  # a broken lookup names the client by address
            pass
        finally:
            self._store(ip, safe_name(ip, name))
            with self._lock:
                self._running -= 1
                if self._pending.get(ip) is box:
                    del self._pending[ip]
            box[0].set()
            if self.wake is not None:
                self.wake()

    def _store(self, ip, name):
        now = time.monotonic()
        with self._lock:
            if len(self._cache) >= 4096:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) >= 4096:  # a flood of addresses: start over
                    self._cache = {}
            self._cache[ip] = (name, now + CACHE_S)

    def _cached(self, ip):
        hit = self._cache.get(ip)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def start(self, ip):
        """Begin a lookup of ip in the background, unless cached or running."""
        if not self.enabled or self._cached(ip) is not None:
            return
        with self._lock:
            if ip in self._pending or self._running >= MAX_LOOKUPS:
                return
            self._running += 1
            box = (threading.Event(), time.monotonic() + self.timeout)
            self._pending[ip] = box
        threading.Thread(target=self._run, args=(ip, box), name="netdumpd-dns", daemon=True).start()

    def result(self, ip, wait=0.0):
        """The name of ip; None while its lookup runs (waiting at most `wait` s).

        A lookup that is not over after `timeout` seconds names ip by its address."""
        if not self.enabled:
            return ip
        name = self._cached(ip)
        if name is not None:
            return name
        self.start(ip)
        box = self._pending.get(ip)
        if box is None:
            return self._cached(ip) or ip  # just finished, or too many lookups running
        left = box[1] - time.monotonic()
        box[0].wait(max(0.0, min(wait, left)))
        name = self._cached(ip)
        if name is not None:
            return name
        if left > wait:
            return None
        self._store(ip, ip)  # timed out: by address from now on
        return ip
