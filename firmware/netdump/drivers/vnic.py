# VNic: a host-only frame NIC for the MicroPython unix port (and CPython), the
# board side of tools/vnet.py. It moves raw Ethernet frames to and from the
# bridge over UDP on the loopback interface: one datagram = one frame.
#
#   VNic(mac, port=20230, host="127.0.0.1")
#     .mac                6 bytes ("02:00:00:00:00:01" text accepted too)
#     send(buf, n) -> 1/0 buf[0:n] as one frame
#     poll(buf) -> n / 0  one frame into buf (non-blocking; 0 = none)
#     wait(ms)            block up to ms until a datagram is queued
#     close()
#
# NIC-side protocol (tools/vnet.py's module comment is the reference):
#   * The bridge listens on host:port. The NIC binds an ephemeral port,
#     connect()s to the bridge and sends one empty datagram ("hello") so the
#     bridge learns where to send frames.
#   * Each non-empty datagram is one Ethernet frame: destination MAC first,
#     no preamble, no FCS.
#   * Empty datagrams carry nothing. The bridge sends one after every frame:
#     MicroPython's stream readinto() keeps reading queued datagrams until the
#     buffer is full, and an empty datagram (a read of 0) is what stops it at the
#     frame boundary. poll() skips them.
#   (UDP rather than AF_UNIX datagrams: Linux queues only
#   net.unix.max_dgram_qlen = 10 datagrams per AF_UNIX socket, too few for a
#   window of frames and their delimiters.)
#
# Nothing after construction allocates on MicroPython: sends use
# sock.write(buf, 0, n), receives readinto(buf, len) on a non-blocking socket,
# waits poll.ipoll() (warmed up here).
import socket

from netdump.compat import IS_MICROPYTHON, const

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select

DEFAULT_PORT = const(20230)  # tools/vnet.py --nic-port default
_SO_RCVBUF = const(8)  # Linux SOL_SOCKET option number (asm-generic/socket.h)
_RCVBUF = const(1048576)  # room for a window of frames plus their delimiters
_POLLIN = const(1)
_SKIP_MAX = const(8)  # empty datagrams skipped per poll()


def _mac_bytes(mac):
    if isinstance(mac, str):
        parts = mac.split(":")
        if len(parts) != 6:
            raise ValueError("bad MAC: " + mac)
        return bytes([int(p, 16) for p in parts])
    if len(mac) != 6:
        raise ValueError("MAC must be 6 bytes")
    return bytes(mac)


class VNic:
    """Frame NIC over UDP to the tools/vnet.py bridge (see the module comment)."""

    def __init__(self, mac, port=DEFAULT_PORT, host="127.0.0.1"):  # arm-time
        self.mac = _mac_bytes(mac)
        self.sent = 0
        self.received = 0
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, _SO_RCVBUF, _RCVBUF)
        except OSError:
            pass
        if IS_MICROPYTHON:
            s.bind(socket.getaddrinfo(host, 0)[0][-1])
            s.connect(socket.getaddrinfo(host, port)[0][-1])
        else:
            s.bind((host, 0))
            s.connect((host, port))
        s.setblocking(False)
        self._sock = s
        self._mp = IS_MICROPYTHON
        if IS_MICROPYTHON:
            self._write = s.write
            self._rd = s.readinto
        else:
            self._write = None
            self._rd = s.recv_into
        self._poll = select.poll()
        self._poll.register(s, _POLLIN)
        self._ipoll = getattr(self._poll, "ipoll", None)
        if self._ipoll is not None:
            for _ in self._ipoll(0):  # the first ipoll() allocates its result tuple
                break
        self.hello()

    def hello(self):
        """Send the empty datagram that tells the bridge where this NIC is."""
        try:
            self._sock.send(b"")  # send(), not write(): a stream write of 0 bytes sends nothing
        except OSError:
            pass

    def send(self, buf, n):
        """Send buf[0:n] as one frame -> 1, or 0 if the socket refused it."""
        try:
            if self._mp:
                r = self._write(buf, 0, n)
            else:
                r = self._sock.send(memoryview(buf)[:n])
        except OSError:  # ENOBUFS, ECONNREFUSED (no bridge yet): a lost frame
            return 0
        if r:
            self.sent += 1
            return 1
        return 0

    def poll(self, buf):
        """Copy the next queued frame into buf -> its length, or 0 if none."""
        rd = self._rd
        k = 0
        while k < _SKIP_MAX:
            k += 1
            try:
                r = rd(buf, len(buf))
            except OSError:  # nothing queued (CPython), or ECONNREFUSED
                return 0
            if r is None:  # nothing queued (MicroPython)
                return 0
            if r > 0:
                self.received += 1
                return r
            # r == 0: an empty delimiter datagram; look again
        return 0

    def wait(self, ms):
        """Block up to ms milliseconds until a datagram is queued."""
        if self._ipoll is not None:
            for _ in self._ipoll(ms):
                break
        else:
            self._poll.poll(ms)

    def close(self):
        """Close the socket."""
        self._sock.close()
