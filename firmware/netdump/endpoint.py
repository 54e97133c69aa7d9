# Endpoints: what debugnet talks to ("send these bytes to the server", "is there
# an ack?"). The protocol is described at the top of debugnet.py.
#
# SocketEndpoint(server, client_ip="", herald_port=20023, client_port=20024,
#                port_discovery="raw")
#   UDP over the board's own network stack (the MicroPython `socket` module; the
#   same code runs on CPython for tests). IPv4 or IPv6, chosen by the server
#   string (":" means IPv6). Everything is allocated in the constructor.
#
# The session port problem: netdumpd acks the herald from a new ephemeral port,
# and debugnet must send everything else there (debugnet_handle_ack). Learning
# a datagram's source port on MicroPython means recvfrom(), which allocates.
# So, by default (port_discovery="raw"):
#   * a SOCK_RAW socket for protocol 17 (UDP) is opened; Linux hands it a copy
#     of every UDP datagram the host receives. readinto() gives, without
#     allocating, the IPv4 packet (IP header + UDP header + payload) or, for
#     IPv6, the UDP header + payload. While no session port is known, acks are
#     taken from it: source IP == server (IPv4 only: an IPv6 raw socket gives no
#     source address), UDP destination port == client_port, UDP length == 12
#     (RFC 768 header + 4-byte ack). The UDP source port is the session port.
#   * the UDP socket is bound to (client_ip, client_port) and unconnected; the
#     herald goes out with sendto() to the herald port; its copy of the herald
#     ack is drained.
#   * adopt_port() patches the port bytes of a preallocated sockaddr and
#     connect()s the UDP socket to it: from then on write(buf, 0, n) sends and
#     readinto(ack, 4) reads acks, which the kernel filters to server:port.
# Opening a raw socket needs root or CAP_NET_RAW; without it the constructor
# raises OSError. port_discovery="recvfrom" takes the port from recvfrom()
# instead: fine on CPython, allocating on MicroPython (not for fault time).
#
# Limits: raw reads on MicroPython take 32 (IPv4) / 12 (IPv6) bytes per packet,
# so an ack packet carrying IPv4 options is not recognised, and a UDP packet
# shorter than an ack costs the packet after it. In the session, MicroPython's
# readinto(ack, 4) cannot tell a 4-byte datagram from a longer one; only
# server:session_port can reach the connected socket, and netdumpd sends
# nothing but acks from there. On CPython recv_into gives exact lengths.
import socket

from netdump.compat import IS_MICROPYTHON, const, small
from netdump.wire import CLIENT_PORT, HERALD_PORT

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select

_IPPROTO_UDP = const(17)  # IANA protocol number, RFC 768
_IPV4_OVERHEAD = const(28)  # 20-byte IPv4 header (RFC 791) + 8-byte UDP header
_IPV6_OVERHEAD = const(48)  # 40-byte IPv6 header (RFC 8200) + 8-byte UDP header
_UDP_ACK_LEN = const(12)  # UDP header + struct debugnet_ack
_RAW_READ_V4 = const(32)  # IPv4 header without options + _UDP_ACK_LEN
_RAW_READ_V6 = const(12)  # IPv6 raw sockets deliver from the UDP header on
_READ_MAX = const(64)  # CPython reads: room to see that a datagram is not 4 bytes
_DRAIN_MAX = const(256)  # datagrams looked at per poll_ack / drain (bounded)
_AF_INET6 = const(10)  # Linux value; used only to size the sockaddr copy
_POLLIN = const(1)  # select.POLLIN on every port

_NO_RAW = "SocketEndpoint needs a raw socket (root or CAP_NET_RAW) to learn netdumpd's session port without allocating"


def _sockaddr(host, port, family):
    """The connect()/sendto() address for host:port (a bytearray on MicroPython)."""
    if IS_MICROPYTHON:
        return socket.getaddrinfo(host, port)[0][-1]
    for ai in socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM):
        return ai[4]
    raise OSError("cannot resolve " + host)


class SocketEndpoint:
    """debugnet endpoint over a UDP socket (see the module comment)."""

    def __init__(self, server, client_ip="", herald_port=HERALD_PORT, client_port=CLIENT_PORT,
                 port_discovery="raw"):
        if port_discovery not in ("raw", "recvfrom"):
            raise ValueError("port_discovery must be 'raw' or 'recvfrom'")
        herald_port = small(herald_port)  # a long-int object if it came from a frozen tuple
        client_port = small(client_port)
        v6 = ":" in server
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        self.overhead = _IPV6_OVERHEAD if v6 else _IPV4_OVERHEAD
        self.ack_port = 0
        self.server = server
        self.client_port = client_port
        self._mp = IS_MICROPYTHON
        self._v6 = v6
        self._fam = fam
        self._sip = bytes(socket.inet_pton(fam, server))  # server address bytes
        self._hsa = _sockaddr(server, herald_port, fam)
        if IS_MICROPYTHON:
            self._ssa = bytearray(self._hsa)  # session sockaddr; port patched in adopt_port
            self._unspec = bytearray(len(self._hsa))  # family AF_UNSPEC (0): disconnect
        else:
            self._ssa = self._hsa
            self._unspec = None
        self._bind_sa = _sockaddr(client_ip or ("::" if v6 else "0.0.0.0"), client_port, fam)
        self._port = 0  # session port, 0 until adopted
        self._scratch = bytearray(_READ_MAX)
        self._ackread = 4 if IS_MICROPYTHON else _READ_MAX
        self._raw = None
        self._rawbuf = None
        self._rawread = _READ_MAX
        self._rawrd = None
        if port_discovery == "raw":
            try:
                raw = socket.socket(fam, socket.SOCK_RAW, _IPPROTO_UDP)
            except OSError as e:
                raise OSError(e.args[0] if e.args else 1, _NO_RAW)
            raw.setblocking(False)
            self._raw = raw
            self._rawbuf = bytearray(_READ_MAX)
            if IS_MICROPYTHON:
                self._rawread = _RAW_READ_V6 if v6 else _RAW_READ_V4
                self._rawrd = raw.readinto
            else:
                self._rawrd = raw.recv_into
        # Two poll sets made here, so no registration changes on the fault path
        # (poll.modify() allocates on ports whose heap lies at or above 2**31:
        # the socket's id becomes a long int): the herald state waits on the UDP
        # and raw sockets, the session on the UDP socket alone.
        self._poll_h = select.poll()
        self._poll_s = select.poll()
        self._sock = None
        self._open_udp()
        if self._raw is not None:
            self._poll_h.register(self._raw, _POLLIN)
        self._ipoll_h = getattr(self._poll_h, "ipoll", None)
        self._ipoll_s = getattr(self._poll_s, "ipoll", None)
        for ip in (self._ipoll_h, self._ipoll_s):
            if ip is not None:
                for _ in ip(0):  # the first ipoll() allocates its result tuple
                    break
        self._poll = self._poll_h  # the set wait() uses now
        self._ipoll = self._ipoll_h

    def _open_udp(self):
        s = socket.socket(self._fam, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except (OSError, AttributeError):
            pass
        s.bind(self._bind_sa)
        s.setblocking(False)
        self._sock = s
        self._sendto = s.sendto
        if IS_MICROPYTHON:
            self._write = s.write
            self._rd = s.readinto
        else:
            self._write = None
            self._rd = s.recv_into
        self._poll_h.register(s, _POLLIN)
        self._poll_s.register(s, _POLLIN)

    # ---- endpoint protocol ----------------------------------------------------
    def reset(self):
        """Start a new connection: forget the session port, drain old datagrams."""
        if self._port:
            if self._mp:
                try:
                    self._sock.connect(self._unspec)  # AF_UNSPEC: dissolve the association
                except OSError:
                    pass
            else:
                self._poll_h.unregister(self._sock)
                self._poll_s.unregister(self._sock)
                self._sock.close()
                self._open_udp()
            self._port = 0
        self.ack_port = 0
        self._poll = self._poll_h
        self._ipoll = self._ipoll_h
        self._drain(self._sock, self._rd, self._ackread)
        if self._raw is not None:
            self._drain(self._raw, self._rawrd, self._rawread)

    def send(self, buf, n):
        """Send buf[0:n] as one datagram -> 1, or 0 if the socket refused it."""
        try:
            if self._port:
                if self._mp:
                    r = self._write(buf, 0, n)
                else:
                    r = self._sock.send(memoryview(buf)[:n])
            elif n == len(buf):
                r = self._sendto(buf, self._hsa)
            else:  # allocates; debugnet never does this
                r = self._sendto(memoryview(buf)[:n], self._hsa)
        except OSError:  # EAGAIN, ENOBUFS, ECONNREFUSED...: a lost packet
            return 0
        if r:
            return 1
        return 0

    def poll_ack(self, ack):
        """Copy the next 4-byte ack from the server into ack[0:4] -> 1, else 0."""
        if not self._port:
            if self._raw is not None:
                return self._poll_raw(ack)
            return self._poll_recvfrom(ack)
        rd = self._rd
        buf = self._scratch
        k = 0
        while k < _DRAIN_MAX:
            try:
                r = rd(buf, self._ackread)
            except OSError:  # nothing queued (CPython), or a pending ICMP error
                return 0
            if r is None:  # nothing queued (MicroPython)
                return 0
            if r == 4:
                ack[0] = buf[0]
                ack[1] = buf[1]
                ack[2] = buf[2]
                ack[3] = buf[3]
                self.ack_port = self._port
                return 1
            k += 1
        return 0

    def adopt_port(self, port):
        """Send to server:port from now on -> 0, or 1 if connect() failed."""
        try:
            if self._mp:
                sa = self._ssa
                sa[2] = port >> 8  # sin_port / sin6_port, network order
                sa[3] = port & 0xFF
                self._sock.connect(sa)
            else:
                sa = self._hsa
                self._sock.connect((sa[0], port) + tuple(sa[2:]))
        except OSError:
            return 1
        self._port = port
        self._poll = self._poll_s  # raw traffic no longer wakes wait()
        self._ipoll = self._ipoll_s
        # the UDP socket's own copy of the herald ack (and anything older)
        self._drain(self._sock, self._rd, self._ackread)
        return 0

    def wait(self, ms):
        """Block up to ms milliseconds until a socket is readable."""
        if self._ipoll is not None:
            for _ in self._ipoll(ms):
                break
        else:
            self._poll.poll(ms)

    def close(self):
        """Close the sockets."""
        self._sock.close()
        if self._raw is not None:
            self._raw.close()

    # ---- helpers --------------------------------------------------------------
    def _drain(self, sock, rd, n):
        buf = self._scratch if sock is self._sock else self._rawbuf
        k = 0
        while k < _DRAIN_MAX:
            try:
                r = rd(buf, n)
            except OSError:
                return
            if r is None:
                return
            k += 1

    def _poll_raw(self, ack):
        """Herald state: find an ack for client_port from the server in the raw
        socket's copies of incoming UDP packets; note its source port."""
        self._drain(self._sock, self._rd, self._ackread)
        rd = self._rawrd
        p = self._rawbuf
        sip = self._sip
        cport = self.client_port
        k = 0
        while k < _DRAIN_MAX:
            k += 1
            try:
                r = rd(p, self._rawread)
            except OSError:
                return 0
            if r is None:
                return 0
            if self._v6:
                u = 0  # no IPv6 header: no source address to check
            else:
                if r < 20 or p[0] >> 4 != 4 or p[9] != _IPPROTO_UDP:  # RFC 791 layout
                    continue
                u = (p[0] & 15) << 2  # IHL in 32-bit words
                if (p[2] << 8) | p[3] != u + _UDP_ACK_LEN:  # total length
                    continue
                if p[12] != sip[0] or p[13] != sip[1] or p[14] != sip[2] or p[15] != sip[3]:
                    continue
            if r < u + _UDP_ACK_LEN:
                continue
            if (p[u + 2] << 8) | p[u + 3] != cport or (p[u + 4] << 8) | p[u + 5] != _UDP_ACK_LEN:
                continue
            ack[0] = p[u + 8]
            ack[1] = p[u + 9]
            ack[2] = p[u + 10]
            ack[3] = p[u + 11]
            self.ack_port = (p[u] << 8) | p[u + 1]
            return 1
        return 0

    def _poll_recvfrom(self, ack):
        """Herald state without a raw socket: recvfrom() (allocates on MicroPython)."""
        k = 0
        while k < _DRAIN_MAX:
            k += 1
            try:
                data, addr = self._sock.recvfrom(_READ_MAX)
            except OSError:
                return 0
            if data is None:
                return 0
            if len(data) != 4:
                continue
            if self._mp:  # a raw struct sockaddr_in / sockaddr_in6
                port = (addr[2] << 8) | addr[3]
                ip = bytes(addr[8:24]) if self._v6 else bytes(addr[4:8])
            else:
                port = addr[1]
                ip = socket.inet_pton(self._fam, addr[0].split("%")[0])
            if ip != self._sip:
                continue
            ack[0] = data[0]
            ack[1] = data[1]
            ack[2] = data[2]
            ack[3] = data[3]
            self.ack_port = port
            return 1
        return 0
