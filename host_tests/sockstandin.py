# What the socket-module stand-ins share (host_tests/esp32_standin/socket.py,
# host_tests/lwip_standin/socket.py): the MicroPython unix port's own socket
# underneath (imported as `usocket`, the name that always gives the built-in),
# the address parsers the ports use, and the stream methods every MicroPython
# socket gets from py/stream.c. Each stand-in adds its port's address forms,
# errors and states. MicroPython only (the unix port).
import io

import usocket as _u

EAGAIN = 11  # MP_EAGAIN == MP_EWOULDBLOCK (py/mperrno.h)
ETIMEDOUT = 110  # MP_ETIMEDOUT
_STREAM_CLOSE = 4  # py/stream.h MP_STREAM_CLOSE, MP_STREAM_GET_FILENO
_STREAM_GET_FILENO = 10


def char(s, i):
    """Byte i of a str or bytes, as an int (str: a 1-character string, interned)."""
    c = s[i]
    if isinstance(c, int):
        return c
    return ord(c)


def text_types(x):
    """mp_obj_str_get_data / mp_obj_str_get_str accept str and bytes only."""
    if not (isinstance(x, str) or isinstance(x, bytes)):
        raise TypeError("can't convert to str implicitly")


def addr_items(addr):
    """mp_obj_get_array_fixed_n(addr, 2, ...): a tuple or list of exactly 2 items."""
    if not (isinstance(addr, tuple) or isinstance(addr, list)):
        raise TypeError("object isn't a tuple or list")
    if len(addr) != 2:
        raise ValueError("requested length 2 but object has length %d" % len(addr))


def aton4(h, out, off):
    """lwIP's ip4addr_aton for plain dotted decimal: 1 and out[off:off+4] set, or 0.
    The text ends at its end or at a NUL (the C string lwIP is given). Octal and
    hex forms (a leading 0, 0x) are not modelled: 0."""
    n = len(h)
    part = 0
    val = 0
    digits = 0
    i = 0
    while i < n:
        c = char(h, i)
        if c == 0:
            break
        if 48 <= c <= 57:
            if digits and val == 0:
                return 0
            val = val * 10 + c - 48
            digits += 1
            if val > 255:
                return 0
        elif c == 46:
            if not digits or part == 3:
                return 0
            out[off + part] = val
            part += 1
            val = 0
            digits = 0
        else:
            return 0
        i += 1
    if not digits or part != 3:
        return 0
    out[off + 3] = val
    return 1


def sockaddr_in(sa, port):
    """Family and port of the unix port's struct sockaddr_in in sa (address at sa[4:8])."""
    sa[0] = _u.AF_INET & 0xFF  # sa_family, host order (Linux x86: little-endian)
    sa[1] = _u.AF_INET >> 8
    sa[2] = (port >> 8) & 0xFF  # a uint16 in network order
    sa[3] = port & 0xFF


def format_addr(sa):
    """("a.b.c.d", port) of a unix sockaddr_in, as the boards' recvfrom() gives it."""
    return ("%d.%d.%d.%d" % (sa[4], sa[5], sa[6], sa[7]), (sa[2] << 8) | sa[3])


class Socket(io.IOBase):
    """A UDP/TCP socket over the unix port's; subclasses give the port's behaviour."""

    EMPTY_CLOSES = False  # esp32: a zero-length datagram leaves the socket "peer closed"

    def __init__(self, uaf, utype, proto=0):
        self._u = _u.socket(uaf, utype, proto)
        self._peer_closed = False
        self._fd = self._u.fileno()
        self._sa = bytearray(16)  # scratch struct sockaddr_in for bind/connect/sendto
        self._rd = self._u.readinto
        self._wr = self._u.write

    def setblocking(self, flag):
        """socket.setblocking(flag)."""
        self._u.setblocking(flag)

    def settimeout(self, t):
        """None blocks, 0 does not, else a timeout."""
        if t is None:
            self._u.setblocking(True)
        elif t == 0:
            self._u.setblocking(False)
        else:
            self._u.settimeout(t)

    def send(self, data):
        """The byte count; OSError(EAGAIN) when nothing went out on a non-blocking socket."""
        return self._u.send(data)

    def recvfrom(self, n, flags=0):
        """(bytes, ("a.b.c.d", port))."""
        if self._peer_closed:
            return (b"", ("0.0.0.0", 0))  # uninitialised on the port
        data, sa = self._u.recvfrom(n)
        if len(data) == 0 and self.EMPTY_CLOSES:
            self._peer_closed = True
        return (data, format_addr(sa))

    def recv(self, n, flags=0):
        """bytes."""
        if self._peer_closed:
            return b""
        data = self._u.recv(n)
        if len(data) == 0 and self.EMPTY_CLOSES:
            self._peer_closed = True
        return data

    def readinto(self, buf, n=-1):
        """mp_stream_readinto_obj: read exactly; None if nothing was queued (non-blocking)."""
        if self._peer_closed:
            return 0
        if n < 0:
            r = self._rd(buf)
        else:
            r = self._rd(buf, n)
        if r == 0 and self.EMPTY_CLOSES:
            self._peer_closed = True
        return r

    def write(self, buf, a=-1, b=-1):
        """mp_stream_write_obj: write(buf), write(buf, n), write(buf, off, n); None on EAGAIN."""
        if a < 0:
            return self._wr(buf)
        if b < 0:
            return self._wr(buf, a)
        return self._wr(buf, a, b)

    def ioctl(self, req, arg):
        """The stream ioctl as io.IOBase asks it (select.poll uses the fd on the unix port)."""
        if req == _STREAM_GET_FILENO:
            return self._fd
        if req == _STREAM_CLOSE:
            self.close()
            return 0
        return -1

    def makefile(self, *args):
        """The socket itself."""
        return self

    def close(self):
        """Close; closing twice is fine."""
        self._u.close()
