# A stand-in for the socket module of MicroPython's lwIP ports (rp2: Pico W,
# W5500-EVB-Pico's lwIP over WIZNET5K), which is extmod/modlwip.c registered
# as `socket`, for the MicroPython unix port. Put host_tests/lwip_standin
# first on MICROPYPATH and `import socket` gets this file; it runs over the
# unix port's own sockets (host_tests/sockstandin.py, shared with the esp32
# stand-in). The real proof of this path is the stock W5500_EVB_PICO firmware
# on rp2040js; this one runs everywhere the unix port does.
#
# What it models, each checked against MicroPython v1.28.0's extmod/modlwip.c
# (functions named per item):
#   * the module's names and values (mp_module_lwip_globals_table; SOF_* and
#     TF_NODELAY from lwIP's ip.h and tcp.h)
#   * getaddrinfo(host, port, ...) -> [(AF_INET, SOCK_STREAM, 0, "", ("a.b.c.d",
#     port))]: one result whose family is AF_INET whatever the address, the
#     port through mp_obj_get_int (lwip_getaddrinfo)
#   * bind(), connect(), sendto() taking any 2-item tuple or list parsed by
#     lwip_parse_inet_addr: "" is the any-address, else ipaddr_aton on the text
#     (a C string: it ends at a NUL), ValueError("invalid arguments") if that
#     fails; the port through mp_obj_get_int (a str port: TypeError)
#   * recvfrom(n) -> (bytes, ("a.b.c.d", port)) (lwip_socket_recvfrom,
#     lwip_format_inet_addr); a zero-length datagram reads as b"" and changes
#     nothing; readinto/write with py/stream.c's semantics over
#     lwip_socket_read / lwip_socket_write; EAGAIN when nothing is queued on a
#     non-blocking socket (lwip_raw_udp_receive)
#   * setsockopt(level, opt, val) switching on opt: SOF_REUSEADDR and
#     SOF_BROADCAST are passed on, unknown options print the module's warning
#     (lwip_socket_setsockopt)
#   * setblocking()/settimeout() (lwip_socket_setblocking, _settimeout); no
#     fileno() (not in lwip_socket_locals_dict_table)
#   * poll/ipoll readiness (lwip_socket_ioctl MP_STREAM_POLL: a datagram
#     queued); here the unix select module polls the fd
# Not modelled: the queue of at most LWIP_INCOMING_PACKET_QUEUE_LEN (4)
# datagrams per socket (the endpoint caps its window there instead), TCP,
# DNS names, IPv6, the socket callback option (20), multicast, lwIP's
# octal/hex address forms.
import usocket as _u

import sockstandin as _s

AF_INET = 2  # MOD_NETWORK_AF_INET
AF_INET6 = 10
SOCK_STREAM = 1  # MOD_NETWORK_SOCK_*
SOCK_DGRAM = 2
SOCK_RAW = 3
SOL_SOCKET = 1
SO_REUSEADDR = 0x04  # SOF_REUSEADDR (lwIP ip.h)
SO_BROADCAST = 0x20  # SOF_BROADCAST
IPPROTO_IP = 0
IP_ADD_MEMBERSHIP = 0x400
IP_DROP_MEMBERSHIP = 0x401
IPPROTO_TCP = 6  # IP_PROTO_TCP
TCP_NODELAY = 0x40  # TF_NODELAY (lwIP tcp.h)
MSG_PEEK = 0x01
MSG_DONTWAIT = 0x02

_UNIX_TYPE = {SOCK_STREAM: _u.SOCK_STREAM, SOCK_DGRAM: _u.SOCK_DGRAM, SOCK_RAW: _u.SOCK_RAW}


def _parse(addr, sa):
    """lwip_parse_inet_addr into sockaddr_in sa -> the port."""
    _s.addr_items(addr)
    h = addr[0]
    _s.text_types(h)
    if len(h) == 0 or _s.char(h, 0) == 0:  # *addr_str == 0: the any-address
        for i in range(4):
            sa[4 + i] = 0
    elif not _s.aton4(h, sa, 4):
        raise ValueError("invalid arguments")
    port = addr[1]
    if not isinstance(port, int):
        raise TypeError("can't convert to int")
    _s.sockaddr_in(sa, port)
    return port


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """lwip_getaddrinfo: one (AF_INET, SOCK_STREAM, 0, "", ("a.b.c.d", port))."""
    _s.text_types(host)
    if not isinstance(port, int):
        raise TypeError("can't convert to int")
    ip4 = bytearray(4)
    if not _s.aton4(host, ip4, 0):
        raise NotImplementedError("stand-in: only numeric IPv4 addresses are modelled")
    return [(AF_INET, SOCK_STREAM, 0, "", ("%d.%d.%d.%d" % (ip4[0], ip4[1], ip4[2], ip4[3]), port))]


class socket(_s.Socket):
    """A socket as extmod/modlwip.c makes it (lwip_socket_make_new)."""

    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        if af != AF_INET:
            raise NotImplementedError("stand-in: IPv4 only")
        super().__init__(_u.AF_INET, _UNIX_TYPE[type], proto)

    def bind(self, addr):
        """lwip_socket_bind: udp_bind to the parsed address."""
        _parse(addr, self._sa)
        self._u.bind(self._sa)

    def connect(self, addr):
        """lwip_socket_connect: udp_connect (UDP: at once)."""
        _parse(addr, self._sa)
        self._u.connect(self._sa)

    def sendto(self, data, addr):
        """lwip_socket_sendto -> lwip_raw_udp_send: the byte count."""
        _parse(addr, self._sa)
        return self._u.sendto(data, self._sa)

    def setsockopt(self, level, opt, val):
        """lwip_socket_setsockopt: switches on opt."""
        if opt == SO_REUSEADDR or opt == SO_BROADCAST:
            self._u.setsockopt(_u.SOL_SOCKET, _u.SO_REUSEADDR if opt == SO_REUSEADDR else _u.SO_BROADCAST,
                               int(val))
        elif opt == 20 or opt == IP_ADD_MEMBERSHIP or opt == IP_DROP_MEMBERSHIP or opt == TCP_NODELAY:
            raise NotImplementedError("stand-in: option %d is not modelled" % opt)
        else:
            print("Warning: lwip.setsockopt() not implemented")
