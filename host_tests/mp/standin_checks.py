# Checks of the socket-module stand-ins against MicroPython v1.28.0:
# host_tests/esp32_standin/socket.py against ports/esp32/modsocket.c,
# host_tests/lwip_standin/socket.py against extmod/modlwip.c. Run on the unix
# port with one stand-in first on MICROPYPATH by host_tests/test_socket_standins.py:
#   micropython mp/standin_checks.py PORT,PORT,...   (free UDP ports, 30 or more)
# Runs the checks named check_both_* and those of the stand-in loaded
# (check_esp32_* or check_lwip_*); prints "PASS name" or "FAIL name: why"
# per check; each check names the C function it follows.
import select
import socket
import sys
import time

import micropython
import usocket


PORTS = [int(x) for x in sys.argv[1].split(",")]  # free UDP ports from the test


def free_port():
    return PORTS.pop()


def expect(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def connect_locked(sock, addr):
    """sock.connect(addr) with the heap locked -> "ok" or "MemoryError"."""
    micropython.heap_lock()
    try:
        try:
            sock.connect(addr)
            r = "ok"
        except MemoryError:
            r = "MemoryError"
    finally:
        micropython.heap_unlock()
    return r


def queue_empty_then_data(a, pb):
    """A zero-length datagram, then b"data", from a to 127.0.0.1:pb; both queued on arrival."""
    a.sendto(b"", ("127.0.0.1", pb))
    a.sendto(b"data", ("127.0.0.1", pb))
    time.sleep_ms(20)


def udp_pair():
    """(a, b, pa, pb): two non-blocking stand-in UDP sockets on 127.0.0.1."""
    pa = free_port()
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", pa))
    pb = free_port()
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind(("127.0.0.1", pb))
    a.setblocking(False)
    b.setblocking(False)
    return a, b, pa, pb


def check_esp32_module_names():
    # mp_module_socket_globals_table: these names, lwIP's values; no inet_pton, no sockaddr
    assert (socket.AF_INET, socket.AF_INET6, socket.SOCK_STREAM, socket.SOCK_DGRAM) == (2, 10, 1, 2)
    assert (socket.SOL_SOCKET, socket.SO_REUSEADDR, socket.IPPROTO_UDP) == (0xFFF, 4, 17)
    assert not hasattr(socket, "inet_pton") and not hasattr(socket, "sockaddr")


def check_esp32_getaddrinfo_forms():
    # esp_socket_getaddrinfo: type 0 becomes SOCK_STREAM; AF_INET -> (str, int); canonname = host
    assert socket.getaddrinfo("10.0.1.236", 20023) == [(2, 1, 0, "10.0.1.236", ("10.0.1.236", 20023))]
    assert socket.getaddrinfo("10.0.1.236", 7, 0, socket.SOCK_DGRAM)[0][1] == socket.SOCK_DGRAM
    # "a host of "" is equivalent to the default/all-local IP address" (_getaddrinfo_inner)
    assert socket.getaddrinfo("", 5)[0][-1] == ("0.0.0.0", 5)
    # the port may be given as text (lwip_getaddrinfo atoi)
    assert socket.getaddrinfo("1.2.3.4", "80")[0][-1] == ("1.2.3.4", 80)


def check_esp32_getaddrinfo_ipv6_has_no_address():
    # esp_socket_getaddrinfo fills addrinfo_objs[4] only for AF_INET
    r = socket.getaddrinfo("::1", 1)
    assert r[0][0] == socket.AF_INET6 and r[0][4] is None, r


def check_esp32_getaddrinfo_errors():
    # _getaddrinfo_inner: "raises negative error number"; lwIP EAI_SERVICE = 201
    e = expect(OSError, socket.getaddrinfo, "1.2.3.4", "http")
    assert e.errno == -201, e.errno


def check_esp32_sendto_address_forms():
    # socket_sendto -> netutils_parse_inet_addr: any 2-item tuple or list, str or bytes text
    a, b, pa, pb = udp_pair()
    try:
        assert a.sendto(b"x", ("127.0.0.1", pb)) == 1
        assert a.sendto(b"yz", [b"127.0.0.1\0\0\0\0\0\0\0", pb]) == 2  # text ends at the NUL
        assert a.sendto(b"w", ("127.0.0.1junk", pb)) == 1  # scan stops at the first non [0-9.]
        buf = bytearray(8)
        assert b.readinto(buf, 1) == 1 and b.readinto(buf, 2) == 2 and b.readinto(buf, 1) == 1
        expect(TypeError, a.sendto, b"x", ("127.0.0.1", str(pb)))  # mp_obj_get_int(port)
        e = expect(ValueError, a.sendto, b"x", ("127.0.0", pb))
        assert e.args[0] == "invalid arguments"
        expect(ValueError, a.sendto, b"x", ("1.2.3.4.5", pb))
        expect(ValueError, a.sendto, b"x", ("127.0.0.1", pb, 0))  # mp_obj_get_array_fixed_n(.., 2, ..)
        expect(TypeError, a.sendto, b"x", usocket.getaddrinfo("127.0.0.1", pb)[0][-1])  # no sockaddr bytes
    finally:
        a.close()
        b.close()


def check_esp32_connect_int_port_allocates():
    # socket_connect -> _getaddrinfo_inner: an int port goes through "%s" % port
    # (a heap allocation: MemoryError under heap_lock); a bytes port does not
    a, b, pa, pb = udp_pair()
    try:
        addr_int = [b"127.0.0.1\0", pb]
        addr_txt = [b"127.0.0.1\0", b"%d\0" % pb]
        r = (connect_locked(a, addr_int), connect_locked(a, addr_txt))
        assert r == ("MemoryError", "ok"), r
    finally:
        a.close()
        b.close()


def check_both_connected_socket_filters_sources():
    # connect() on UDP: only the peer's datagrams arrive (lwIP udp_input)
    a, b, pa, pb = udp_pair()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        a.connect(("127.0.0.1", pb))
        c.sendto(b"from c", ("127.0.0.1", pa))
        b.sendto(b"peer", ("127.0.0.1", pa))
        time.sleep_ms(20)
        buf = bytearray(8)
        assert a.readinto(buf, 4) == 4 and bytes(buf[:4]) == b"peer"
        assert a.readinto(buf, 4) is None
    finally:
        a.close()
        b.close()
        c.close()


def check_both_recvfrom_form():
    # esp32 socket_recvfrom (netutils_format_inet_addr), lwip_socket_recvfrom
    # (lwip_format_inet_addr): (bytes, ("a.b.c.d", port))
    a, b, pa, pb = udp_pair()
    try:
        a.sendto(b"ping", ("127.0.0.1", pb))
        time.sleep_ms(20)
        data, addr = b.recvfrom(5)
        assert data == b"ping" and addr == ("127.0.0.1", pa), (data, addr)
        e = expect(OSError, b.recvfrom, 5)  # non-blocking, nothing queued
        assert e.errno == 11, e.errno  # MP_EWOULDBLOCK (esp32), MP_EAGAIN (lwip): both 11
    finally:
        a.close()
        b.close()


def check_both_readinto_write_stream_semantics():
    # mp_stream_readinto_obj / mp_stream_write_obj over the socket's stream read and write
    a, b, pa, pb = udp_pair()
    try:
        buf = bytearray(8)
        assert b.readinto(buf, 4) is None  # non-blocking, nothing queued
        a.connect(("127.0.0.1", pb))
        assert a.write(b"abcdef", 1, 3) == 3  # write(buf, off, n)
        time.sleep_ms(20)
        assert b.readinto(buf, 4) == 3 and bytes(buf[:3]) == b"bcd"
    finally:
        a.close()
        b.close()


def check_esp32_zero_length_datagram_peer_closed():
    # _socket_read_data: r == 0 -> SOCKET_STATE_PEER_CLOSED; later reads return 0 unread;
    # socket_connect / socket_bind set SOCKET_STATE_CONNECTED again
    a, b, pa, pb = udp_pair()
    try:
        queue_empty_then_data(a, pb)
        buf = bytearray(8)
        assert b.readinto(buf, 4) == 0  # the empty datagram
        assert b.readinto(buf, 4) == 0  # "data" is queued but not read
        assert b.recvfrom(5)[0] == b""
        b.bind(("127.0.0.1", pb))  # the same address: lwIP rebinds; the state is reset
        assert b.readinto(buf, 4) == 4 and bytes(buf[:4]) == b"data"
    finally:
        a.close()
        b.close()


def check_both_setsockopt_ignores_level():
    # socket_setsockopt / lwip_socket_setsockopt switch on the option only; unknown
    # options print a warning
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(0x55, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, 0x7777, 1)  # prints "Warning: lwip.setsockopt() ..."
    finally:
        s.close()


def check_both_two_sockets_share_a_port_with_reuseaddr():
    # SO_REUSEADDR (lwIP SO_REUSE, extmod/lwip-include/lwipopts_common.h; esp-idf LWIP_SO_REUSE);
    # esp32 takes the port as text too (lwip_getaddrinfo)
    p = free_port()
    s1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s1.bind(("127.0.0.1", p))
        s2.bind(("127.0.0.1", str(p) if STANDIN == "esp32" else p))
    finally:
        s1.close()
        s2.close()


def check_both_poll_readiness():
    # socket_stream_ioctl / lwip_socket_ioctl(MP_STREAM_POLL): readable when a datagram is queued
    a, b, pa, pb = udp_pair()
    try:
        p = select.poll()
        p.register(b, select.POLLIN)
        assert [o for o, ev in p.ipoll(0)] == []
        a.sendto(b"x", ("127.0.0.1", pb))
        got = [o for o, ev in p.ipoll(200)]
        assert got == [b], got
    finally:
        a.close()
        b.close()


def check_lwip_module_names():
    # mp_module_lwip_globals_table: SOL_SOCKET 1, SO_REUSEADDR = SOF_REUSEADDR; no inet_pton;
    # lwip_socket_locals_dict_table has no fileno
    assert (socket.AF_INET, socket.SOCK_DGRAM, socket.SOL_SOCKET, socket.SO_REUSEADDR) == (2, 2, 1, 4)
    assert not hasattr(socket, "inet_pton") and not hasattr(socket.socket, "fileno")


def check_lwip_getaddrinfo_forms():
    # lwip_getaddrinfo: one result, family AF_INET, SOCK_STREAM, canonname "", the port an int
    assert socket.getaddrinfo("10.0.1.236", 20023) == [(2, 1, 0, "", ("10.0.1.236", 20023))]
    expect(TypeError, socket.getaddrinfo, "10.0.1.236", "20023")  # mp_obj_get_int(port_in)


def check_lwip_address_forms():
    # lwip_parse_inet_addr: 2-item tuple or list, ipaddr_aton on a C string, an int port
    a, b, pa, pb = udp_pair()
    try:
        assert a.sendto(b"x", ("127.0.0.1", pb)) == 1
        assert a.sendto(b"yz", [b"127.0.0.1\0\0\0\0\0\0\0", pb]) == 2  # the text ends at the NUL
        buf = bytearray(8)
        assert b.readinto(buf, 1) == 1 and b.readinto(buf, 2) == 2
        expect(TypeError, a.sendto, b"x", ("127.0.0.1", str(pb)))
        e = expect(ValueError, a.sendto, b"x", ("127.0.0", pb))
        assert e.args[0] == "invalid arguments"
        expect(ValueError, a.sendto, b"x", ("127.0.0.1junk", pb))  # ipaddr_aton wants it all
        expect(TypeError, a.connect, ("127.0.0.1", str(pb)))
        # connect() with an int port allocates nothing (no "%s" % port as on esp32)
        r = connect_locked(a, [b"127.0.0.1\0", pb])
        assert r == "ok", r
    finally:
        a.close()
        b.close()


def check_lwip_zero_length_datagram():
    # lwip_raw_udp_receive copies 0 bytes and frees it; lwip_socket_recv_common returns
    # mp_const_empty_bytes: nothing else changes
    a, b, pa, pb = udp_pair()
    try:
        queue_empty_then_data(a, pb)
        buf = bytearray(8)
        assert b.readinto(buf, 4) == 0
        assert b.readinto(buf, 4) == 4 and bytes(buf[:4]) == b"data"
    finally:
        a.close()
        b.close()


STANDIN = "esp32" if socket.SOL_SOCKET == 0xFFF else "lwip"


def main():
    names = [n for n in sorted(globals()) if n.startswith("check_both_") or n.startswith("check_" + STANDIN + "_")]
    for n in names:
        try:
            globals()[n]()
            print("PASS", n[6:])
        except Exception as e:  # report and go on
            print("FAIL", n[6:] + ":", repr(e))
    sys.stdout.write("DONE\n")


main()
