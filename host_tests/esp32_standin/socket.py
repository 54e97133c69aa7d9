# A stand-in for the esp32 port's `socket` module, for the MicroPython unix
# port. Put host_tests/esp32_standin first on MICROPYPATH and `import socket`
# gets this file (socket is an extensible built-in: py/builtinimport.c tries
# the filesystem first); it runs over the unix port's own sockets
# (host_tests/sockstandin.py, shared with the lwIP stand-in).
#
# What it models, each checked against MicroPython v1.28.0's
# ports/esp32/modsocket.c (functions named per item; "lwIP" = the lwIP 2.x
# sockets/netdb code that esp-idf builds, which the modsocket.c calls reach):
#   * the module's names and their lwIP values (mp_module_socket_globals_table;
#     values from lwIP's sockets.h/netdb.h)
#   * getaddrinfo(host, port, af=0, type=0, proto=0, flags=0) -> a list of
#     (family, type, proto, canonname, ("a.b.c.d", port) or None)
#     (esp_socket_getaddrinfo, _getaddrinfo_inner)
#   * bind()/connect() taking any 2-item tuple or list, resolved like
#     getaddrinfo with an int port turned into text by "%s" % port, which
#     allocates (_socket_getaddrinfo, _getaddrinfo_inner); a str or bytes port
#     does not; both set the socket's state to connected (socket_bind,
#     socket_connect)
#   * sendto(data, addr) parsing addr with netutils_parse_inet_addr
#     (shared/netutils/netutils.c): AF_INET only, the address text up to the
#     first character that is not a digit or '.', the port through
#     mp_obj_get_int; EWOULDBLOCK on a non-blocking socket becomes ETIMEDOUT
#     (socket_sendto)
#   * recvfrom(n) -> (bytes, ("a.b.c.d", port)) (socket_recvfrom,
#     netutils_format_inet_addr); recv, readinto, write through
#     _socket_read_data / socket_stream_write with py/stream.c's semantics
#     (readinto reads exactly, None when nothing is queued on a non-blocking
#     socket; write returns None on EWOULDBLOCK)
#   * SOCKET_STATE_PEER_CLOSED: a zero-length datagram makes every later
#     read return 0 without reading (_socket_read_data) until bind() or
#     connect() sets the state again
#   * setsockopt() ignoring `level` and switching on the option alone
#     (socket_setsockopt); SO_REUSEADDR and SO_BROADCAST are passed on,
#     unknown options print the port's warning
#   * setblocking()/settimeout() (socket_setblocking, _socket_settimeout)
#   * poll/ipoll: ioctl(MP_STREAM_POLL) readiness of the underlying socket
#     (socket_stream_ioctl); here the unix select module polls its fd
#     (MP_STREAM_GET_FILENO), which reports the same readiness
# Not modelled: TCP (listen, accept, sendall, makefile semantics), mDNS
# names, SO_BINDTODEVICE, TCP_NODELAY, IP_ADD_MEMBERSHIP, settimeout's
# polling granularity, IPv6 sockets (AF_INET6 results carry no address, as
# on the port), the address of a recvfrom() on a peer-closed socket
# (uninitialised stack memory on the port: here ("0.0.0.0", 0)), and a
# zero-length datagram met in the middle of a readinto() that already read
# something (not marked peer-closed here).
import usocket as _u

import sockstandin as _s

# lwIP sockets.h / netdb.h values, the names esp32's module exports
AF_INET = 2
AF_INET6 = 10
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
IPPROTO_IP = 0
IPPROTO_TCP = 6
IPPROTO_UDP = 17
SOL_SOCKET = 0xFFF
SO_REUSEADDR = 0x0004
SO_BROADCAST = 0x0020
SO_BINDTODEVICE = 0x100B
IP_ADD_MEMBERSHIP = 3
TCP_NODELAY = 0x01
MSG_PEEK = 0x01
MSG_DONTWAIT = 0x08

_EAI_NONAME = 200  # lwIP netdb.h
_EAI_SERVICE = 201
_EAI_FAIL = 202

_UNIX_FAMILY = {AF_INET: _u.AF_INET, AF_INET6: _u.AF_INET6}
_UNIX_TYPE = {SOCK_STREAM: _u.SOCK_STREAM, SOCK_DGRAM: _u.SOCK_DGRAM, SOCK_RAW: _u.SOCK_RAW}


def _parse_ipv4_netutils(h, out, off):
    """netutils_parse_ipv4_addr into out[off:off+4]; raises ValueError("invalid arguments")."""
    n = len(h)
    if n == 0:  # "special case of no address given"
        for i in range(4):
            out[off + i] = 0
        return
    top = 0
    while top < n:  # scan for the end of valid address characters
        c = _s.char(h, top)
        if not (c == 46 or 48 <= c <= 57):
            break
        top += 1
    s = 0
    i = 3
    while True:
        val = 0
        while s < top and _s.char(h, s) != 46:
            val = val * 10 + _s.char(h, s) - 48
            s += 1
        out[off + 3 - i] = val & 0xFF  # stored into a uint8_t
        if i == 0 and s == top:
            return
        if i > 0 and s < top and _s.char(h, s) == 46:
            s += 1
        else:
            raise ValueError("invalid arguments")
        i -= 1


def _atoi_port(p):
    # lwip_getaddrinfo: port_nr = atoi(servname); 0 is an error unless servname starts with '0'
    n = len(p)
    v = 0
    i = 0
    while i < n:
        c = _s.char(p, i)
        if not 48 <= c <= 57:
            break
        v = v * 10 + c - 48
        if v > 0xFFFF:
            break
        i += 1
    if (v == 0 and (n == 0 or _s.char(p, 0) != 48)) or v > 0xFFFF:
        raise OSError(-_EAI_SERVICE)
    return v


def _resolve(host, port, sa):
    """_getaddrinfo_inner for bind()/connect(): fills sockaddr_in sa (unix layout)."""
    if isinstance(port, int):
        port = "%s" % port  # mp_obj_str_binary_op(MP_BINARY_OP_MODULO, "%s", port): allocates
    _s.text_types(port)
    _s.text_types(host)
    p = _atoi_port(port)
    if len(host) == 0 or _s.char(host, 0) == 0:
        host = "0.0.0.0"  # a host of "" is the default/all-local address
    _s.sockaddr_in(sa, p)
    if not _s.aton4(host, sa, 4):  # a name: lwIP asks DNS; here the host's resolver
        try:
            ai = _u.getaddrinfo(host, 0, _u.AF_INET)
        except OSError:
            raise OSError(-_EAI_FAIL)
        a = ai[0][-1]
        for i in range(4):
            sa[4 + i] = a[4 + i]


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """esp_socket_getaddrinfo: [(family, type, proto, canonname, ("a.b.c.d", port) or None)]."""
    if type == 0:
        type = SOCK_STREAM  # "Rather than returning 0 (invalid in a result), make it SOCK_STREAM"
    if isinstance(port, int):
        port = "%s" % port
    p = _atoi_port(port)
    _s.text_types(host)
    name = host if len(host) else "0.0.0.0"
    ip4 = bytearray(4)
    if _s.aton4(name, ip4, 0):
        fam = AF_INET
    elif ":" in name and af != AF_INET:
        fam = AF_INET6  # an IPv6 literal: lwIP returns it; esp32 gives no address for it
    else:
        try:
            ai = _u.getaddrinfo(name, 0, _u.AF_INET)
        except OSError:
            raise OSError(-_EAI_FAIL)
        ip4[:] = bytes(ai[0][-1][4:8])
        fam = AF_INET
    if af and af != fam:
        raise OSError(-_EAI_NONAME)
    if fam == AF_INET:
        sa = ("%d.%d.%d.%d" % (ip4[0], ip4[1], ip4[2], ip4[3]), p)
    else:
        sa = None
    return [(fam, type, proto, name if isinstance(name, str) else name.decode(), sa)]


class socket(_s.Socket):
    """A socket as ports/esp32/modsocket.c makes it (socket_make_new)."""

    EMPTY_CLOSES = True  # _socket_read_data: r == 0 -> SOCKET_STATE_PEER_CLOSED

    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        super().__init__(_UNIX_FAMILY[af], _UNIX_TYPE[type], proto)
        self._bound = None

    def bind(self, addr):
        """socket_bind: resolve addr (2-item tuple or list), state := connected, lwip_bind."""
        _s.addr_items(addr)
        _resolve(addr[0], addr[1], self._sa)
        self._peer_closed = False
        if self._bound is not None:  # lwIP's udp_bind rebinds a bound pcb
            if self._bound == self._sa:
                return None
            raise NotImplementedError("stand-in: rebinding to another address is not modelled")
        self._u.bind(self._sa)
        self._bound = bytes(self._sa)
        return None

    def connect(self, addr):
        """socket_connect: resolve addr, state := connected, lwip_connect (UDP: at once)."""
        _s.addr_items(addr)
        _resolve(addr[0], addr[1], self._sa)
        self._peer_closed = False
        self._u.connect(self._sa)
        return None

    def setsockopt(self, level, opt, val):
        """socket_setsockopt: `level` is not looked at; the option alone decides."""
        if opt == SO_REUSEADDR or opt == SO_BROADCAST:
            self._u.setsockopt(_u.SOL_SOCKET, _u.SO_REUSEADDR if opt == SO_REUSEADDR else _u.SO_BROADCAST,
                               int(val))
        elif opt == SO_BINDTODEVICE or opt == TCP_NODELAY or opt == IP_ADD_MEMBERSHIP:
            raise NotImplementedError("stand-in: option %d is not modelled" % opt)
        else:
            print("Warning: lwip.setsockopt() option not implemented")
        return None

    def sendto(self, data, addr):
        """socket_sendto: netutils_parse_inet_addr(addr) -> AF_INET; the byte count."""
        _s.addr_items(addr)
        port = addr[1]
        if not isinstance(port, int):
            raise TypeError("can't convert to int")
        sa = self._sa
        _parse_ipv4_netutils(addr[0], sa, 4)
        _s.sockaddr_in(sa, port)
        try:
            return self._u.sendto(data, sa)
        except OSError as e:
            if e.errno == _s.EAGAIN:
                raise OSError(_s.ETIMEDOUT)  # the retry loop ends with MP_ETIMEDOUT
            raise

    def fileno(self):
        """socket_fileno."""
        return self._fd
