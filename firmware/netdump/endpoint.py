# Endpoints: what debugnet talks to ("send these bytes to the server", "is there
# an ack?"). The protocol is described at the top of debugnet.py.
#
# SocketEndpoint(server, client_ip="", herald_port=20023, client_port=20024,
#                stack=None, reserve=-1)
#   UDP over the board's own network stack, through the `socket` module as each
#   port has it. `stack` (detected when None) says which one:
#     "unix"    the MicroPython unix port (micropython/micropython v1.28.0
#               ports/unix/modsocket.c, as the other paths below): addresses
#               are struct sockaddr bytearrays from getaddrinfo()
#     "lwip"    ports whose socket module is extmod/modlwip.c (rp2: Pico W,
#               W5500-EVB-Pico's lwIP over WIZNET5K): ("a.b.c.d", port) pairs,
#               parsed by lwip_parse_inet_addr (any 2-item tuple or list)
#     "esp32"   ports/esp32/modsocket.c: the same pairs for sendto()
#               (netutils_parse_inet_addr), but bind()/connect() resolve them
#               with lwip_getaddrinfo(), which wants the port as text
#     "cpython" CPython (tests)
#   IPv4 or IPv6 on "unix" and "cpython"; IPv4 only on "lwip" and "esp32"
#   (esp32's getaddrinfo() gives no address for AF_INET6 and its sendto()
#   builds a sockaddr_in). Everything is resolved and allocated here, at arm.
#
# The session port: netdumpd acks the herald from a new ephemeral port and
# debugnet sends everything else there (debugnet_handle_ack). Only recvfrom()
# says where a datagram came from, and it allocates on every port. So:
#   * two UDP sockets share the client port (SO_REUSEADDR on both):
#     A, the session socket, is connect()ed at all times (to the herald port
#     at arm, to the session port once known); B is never connected. A
#     connected UDP socket takes only datagrams from its peer and the
#     unconnected one gets the rest (Linux's UDP socket lookup scores a
#     connected match higher; lwIP's udp_input takes the first fully matching
#     pcb, else the first unconnected one), so the herald ack from a new port
#     always lands on B, and every session ack on A.
#   * the herald goes out from B with sendto(); data goes out on A with
#     write(buf, 0, n); acks are read from A with readinto(buf, 4) into a
#     preallocated buffer. None of these allocate.
#   * a datagram on B (seen with poll.ipoll(0), not by reading) is taken with
#     one recvfrom() inside a bounded window: at arm a heap block of exactly
#     what that recvfrom() allocates is reserved (_RESERVE_BLOCKS below,
#     measured by bench/bench_socket_alloc.py); in the window the reserve is
#     dropped and the heap collected (under the lock), the heap is unlocked,
#     recvfrom() runs, the reserve is taken again and the lock is restored to
#     its depth. After a fault that exhausted the heap (MemoryError), the
#     reserve is the free memory recvfrom() finds. The window, from unlock to
#     relock, is one @micropython.native method (_window) that calls only C
#     functions: native code has no check for pending scheduled callbacks
#     (bytecode checks at every jump), so no micropython.schedule() callback
#     (a soft Timer or Pin IRQ of the application) can run and allocate while
#     the heap is open, and no Python frame is made on the heap; the window
#     allocates exactly what recvfrom() does. (rp2's hard IRQ handlers run
#     with the heap locked, shared/runtime/mpirq.c mp_irq_dispatch; esp32's
#     Pin and Timer callbacks are always scheduled.) So the endpoint needs a
#     port with the native emitter: rp2 (thumb), esp32 (xtensawin), unix.
#   * if that datagram is 4 bytes from the server's address its source port is
#     the session port: adopt_port() connects A there (no allocation: the
#     address objects are patched in place), and drains A.
#   * reset() (a new connection) drains both sockets; A stays connected to
#     the last session port until the next one is adopted, so the next
#     herald ack still lands on B (or on A if the server reuses that port:
#     then A's peer port is the answer, no recvfrom() needed).
# poll objects (A+B, A, B) are registered at arm and never modified.
#
# Port details handled here (sources: MicroPython v1.28.0):
#   * esp32 connect()/bind() turn an int port into text with "%s" % port
#     (modsocket.c _getaddrinfo_inner: allocates); given a bytes port they
#     do not. So on "esp32" the connect address is [host, port text], where
#     the port text is a bytes object this endpoint rewrites in place.
#   * the server's address text is one bytes object (16 bytes, NUL-padded)
#     shared by every address pair on "lwip"/"esp32", rewritten in place by
#     set_server() through a uctypes view (ipaddr_aton and
#     netutils_parse_ipv4_addr stop at the NUL). It is never hashed or
#     compared with ==, so its stale cached hash does not matter.
#   * esp32's _socket_read_data marks a socket SOCKET_STATE_PEER_CLOSED after a
#     zero-length datagram and returns 0 from then on; connect() (A) or a
#     bind() to the same address (B: lwIP rebinds a bound pcb; an error would
#     come after the state is set) set the state back, so a zero-length
#     datagram is skipped instead of ending the dump.
#   * lwIP (modlwip.c) queues at most LWIP_INCOMING_PACKET_QUEUE_LEN (4)
#     datagrams per socket and wiznet5k_poll() hands lwIP every pending frame
#     at once, so more acks in flight are dropped: window_max = 4 there.
#
# Limits: readinto(ack, 4) cannot tell a 4-byte datagram from a longer one
# (it truncates); only server:session_port reaches A, and netdumpd sends
# nothing else from there. On CPython recv_into gives exact lengths.
import gc
import socket
import sys

from netdump.compat import IS_MICROPYTHON, const, heap_lock, heap_unlock
from netdump.wire import CLIENT_PORT, HERALD_PORT

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select

try:
    import micropython  # @micropython.native below is the compiler's (py/compile.c), not this module's
except ImportError:  # CPython: the decorator changes nothing

    class micropython:  # noqa: N801
        native = staticmethod(lambda f: f)

_IPV4_OVERHEAD = const(28)  # 20-byte IPv4 header (RFC 791) + 8-byte UDP header (RFC 768)
_IPV6_OVERHEAD = const(48)  # 40-byte IPv6 header (RFC 8200) + 8-byte UDP header
_RECV_N = const(5)  # recvfrom() size: one more than an ack, so a longer datagram shows
_READ_MAX = const(64)  # CPython reads: room to see that a datagram is not 4 bytes
_DRAIN_MAX = const(256)  # datagrams looked at per poll_ack / drain (bounded)
_HOST_CAP = const(16)  # "255.255.255.255" + NUL
_PORT_CAP = const(6)  # "65535" + NUL
_LWIP_QUEUE = const(4)  # LWIP_INCOMING_PACKET_QUEUE_LEN, extmod/modlwip.c

_CPYTHON = const(0)
_UNIX = const(1)
_LWIP = const(2)
_ESP32 = const(3)
STACKS = ("cpython", "unix", "lwip", "esp32")

# GC blocks one recvfrom(5) of a 4-byte datagram allocates, per stack. unix:
# measured (bench/bench_socket_alloc.py); lwip and esp32: counted from the
# sources for 32-bit ports (16-byte blocks), see docs/socket-endpoint.md.
_RESERVE_BLOCKS = (0, 5, 6, 6)


def detect_stack(addr):
    """The stack name for this runtime, given what getaddrinfo() returned as an address."""
    if not IS_MICROPYTHON:
        return "cpython"
    if sys.platform == "esp32":
        return "esp32"
    if isinstance(addr, (bytes, bytearray)):
        return "unix"
    return "lwip"


def _block_size():
    # MICROPY_BYTES_PER_GC_BLOCK is 4 machine words (py/mpconfig.h)
    return 32 if getattr(sys, "maxsize", 0) > 0x7FFFFFFF else 16


def _put_dec(v, i, n):
    # decimal digits of n (0..65535) into v[i:], no leading zeros -> next index
    d = 10000
    started = 0
    while d:
        q = n // d
        n -= q * d
        if q or started or d == 1:
            v[i] = 48 + q  # "0"
            i += 1
            started = 1
        d //= 10
    return i


class SocketEndpoint:
    """debugnet endpoint over a port's UDP sockets (see the module comment)."""

    def __init__(self, server, client_ip="", herald_port=HERALD_PORT, client_port=CLIENT_PORT,
                 stack=None, reserve=-1):  # arm-time
        # ints from a frozen tuple or default argument are long-int objects on a
        # board; "+ 0" goes through the long-int code, which returns a small int
        # when the value fits (py/objint_mpz.c), so nothing later allocates on them
        herald_port = herald_port + 0
        client_port = client_port + 0
        first = socket.getaddrinfo(server, herald_port)[0]
        v6 = first[0] == socket.AF_INET6 or ":" in server  # lwIP reports AF_INET for every result
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        if stack is None:
            stack = detect_stack(first[-1])
        if stack not in STACKS:
            raise ValueError("stack must be one of " + ", ".join(STACKS))
        st = STACKS.index(stack)
        if v6 and (st == _LWIP or st == _ESP32):
            raise ValueError("SocketEndpoint: IPv6 is not supported by the %s socket module" % stack)
        self.stack = stack
        self.server = server  # as given at arm (set_server() does not change it)
        self.herald_port = herald_port
        self.client_port = client_port
        self.overhead = _IPV6_OVERHEAD if v6 else _IPV4_OVERHEAD
        self.window_max = _LWIP_QUEUE if st == _LWIP else 0
        self.ack_port = 0
        self.windows = 0  # times the heap was unlocked for the herald ack's recvfrom()
        self._st = st
        self._v6 = v6
        self._port = 0  # adopted session port; 0 in the herald state
        self._peer = herald_port  # the port A is connected to
        self._scratch = bytearray(_READ_MAX)
        self._ackread = _READ_MAX if st == _CPYTHON else 4
        self._hostv = None
        self._portv = None
        self._tx = None  # where debugnet builds datagrams (tx_buffer)
        self._ack4 = bytearray(4)  # the last ack's bytes
        bind_host = client_ip or ("::" if v6 else "0.0.0.0")
        if st == _UNIX:  # struct sockaddr_in / sockaddr_in6 (ports/unix/modsocket.c)
            self._hsa = bytearray(first[-1])  # herald: sendto() from B
            self._csa = bytearray(first[-1])  # A's peer: port patched in place
            self._bsa = socket.getaddrinfo(bind_host, client_port)[0][-1]
        elif st == _CPYTHON:
            ai = socket.getaddrinfo(server, herald_port, fam, socket.SOCK_DGRAM)[0]
            self._hsa = ai[4]
            self._csa = ai[4]
            self._bsa = socket.getaddrinfo(bind_host, client_port, fam, socket.SOCK_DGRAM)[0][4]
        else:
            if first[-1] is None:  # esp32: an AF_INET6 result
                raise ValueError("SocketEndpoint: %s did not resolve to an IPv4 address" % server)
            import uctypes

            text = first[-1][0]
            if len(text) >= _HOST_CAP:
                raise ValueError("SocketEndpoint: %r is not an IPv4 address" % text)
            host = bytes(_HOST_CAP)  # rewritten in place through _hostv (see the module comment)
            hv = uctypes.bytearray_at(uctypes.addressof(host), _HOST_CAP)
            for i in range(len(text)):
                hv[i] = ord(text[i])
            self._hostv = hv
            self._hsa = [host, herald_port]  # sendto(): int port on both
            if st == _ESP32:
                portb = bytes(_PORT_CAP)
                self._portv = uctypes.bytearray_at(uctypes.addressof(portb), _PORT_CAP)
                self._csa = [host, portb]  # connect(): port text, no "%s" % port
                self._bsa = [bind_host, str(client_port)]
            else:
                self._csa = [host, herald_port]
                self._bsa = [bind_host, client_port]
            for c in "0123456789.":  # intern the 1-character strings _learn() compares
                ord(c)
        self._a = self._udp(fam)
        self._b = None
        try:
            self._b = self._udp(fam)
            self._connect_a(herald_port)
        except OSError:
            self.close()
            raise
        a = self._a
        b = self._b
        if st == _CPYTHON:
            self._ard = a.recv_into
            self._brd = b.recv_into
            self._write = None
        else:
            self._ard = a.readinto
            self._brd = b.readinto
            self._write = a.write
        self._bsend = b.sendto
        self._recvfrom = b.recvfrom
        self._poll = self._new_poll((a, b))  # wait() in the herald state
        self._apoll = self._new_poll((a,))  # wait() in the session
        self._bpoll = self._new_poll((b,))  # is there a datagram from a new port?
        self._ipoll = getattr(self._poll, "ipoll", None)
        self._aipoll = getattr(self._apoll, "ipoll", None)
        self._bipoll = getattr(self._bpoll, "ipoll", None)
        for p in (self._ipoll, self._aipoll, self._bipoll):
            if p is not None:
                for _ in p(0):  # the first ipoll() allocates its reused result tuple
                    break
        if reserve < 0:
            reserve = _RESERVE_BLOCKS[st] * _block_size()
        self.reserve = reserve  # bytes held for the one recvfrom() per herald
        self._resn = reserve - _block_size() if reserve > _block_size() else 0
        self._res = None
        if reserve:
            self._res = bytearray(self._resn)  # with its header: `reserve` bytes of heap

    def _udp(self, fam):  # arm-time
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(self._bsa)
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        return s

    @staticmethod
    def _new_poll(socks):  # arm-time
        p = select.poll()
        for s in socks:
            p.register(s, select.POLLIN)
        return p

    # ---- endpoint protocol ----------------------------------------------------
    def reset(self):
        """Start a new connection: forget the session port, drain old datagrams."""
        self._port = 0
        self.ack_port = 0
        self._drain(self._ard)
        self._drain(self._brd)

    def send(self, buf, n):
        """Send buf[0:n] as one datagram -> 1, or 0 if the socket refused it."""
        try:
            if self._port:
                if self._write is not None:
                    r = self._write(buf, 0, n)
                else:
                    r = self._a.send(memoryview(buf)[:n])
            elif n == len(buf):
                r = self._bsend(buf, self._hsa)
            else:  # allocates; debugnet never does this
                r = self._bsend(memoryview(buf)[:n], self._hsa)
        except OSError:  # EAGAIN, ENOBUFS, ECONNREFUSED...: a lost packet
            return 0
        if r:
            return 1
        return 0

    def tx_buffer(self, n):  # arm-time
        """The buffer debugnet builds datagrams of up to n bytes in (offset 0), made once."""
        if self._tx is None or len(self._tx) < n:
            self._tx = bytearray(n)
        return self._tx, 0

    def xmit(self, n, s):
        """Send the n-byte datagram in the tx_buffer to the session port -> 1, or 0
        (s, its sum, is not needed: the stack computes the UDP checksum)."""
        if not self._port:
            return 0
        try:
            if self._write is not None:
                r = self._write(self._tx, 0, n)
            else:
                r = self._a.send(memoryview(self._tx)[:n])
        except OSError:  # EAGAIN, ENOBUFS, ECONNREFUSED...: a lost packet
            return 0
        if r:
            return 1
        return 0

    def poll_seq(self):
        """The seqno of the next 4-byte ack from the server, -2 if it is 2**30 or
        more, -1 if none came (its 4 bytes stay in _ack4 for poll_ack)."""
        rd = self._ard
        buf = self._scratch
        k = 0
        while k < _DRAIN_MAX:
            k += 1
            try:
                r = rd(buf, self._ackread)
            except OSError:  # nothing queued (CPython), or a pending ICMP error
                break
            if r is None:  # nothing queued (MicroPython)
                break
            if r == 4:  # from A's peer: the session port, or (herald state) whatever A is connected to
                self.ack_port = self._peer
                ack = self._ack4
                ack[0] = buf[0]
                ack[1] = buf[1]
                ack[2] = buf[2]
                ack[3] = buf[3]
                if buf[0] >= 0x40:
                    return -2
                return (buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]
            if r == 0 and self._st == _ESP32:
                self._revive_a()
        if self._port:
            return -1
        for _ in self._bready():
            ack = self._ack4
            if not self._learn(ack):
                return -1
            if ack[0] >= 0x40:
                return -2
            return (ack[0] << 24) | (ack[1] << 16) | (ack[2] << 8) | ack[3]
        return -1

    def poll_ack(self, ack):
        """Copy the next 4-byte ack from the server into ack[0:4] -> 1, else 0."""
        if self.poll_seq() == -1:
            return 0
        a = self._ack4
        ack[0] = a[0]
        ack[1] = a[1]
        ack[2] = a[2]
        ack[3] = a[3]
        return 1

    def adopt_port(self, port):
        """Send to server:port from now on -> 0, or 1 if connect() failed."""
        try:
            self._connect_a(port)
        except OSError:
            return 1
        self._port = port
        self._drain(self._ard)  # anything A queued from its previous peer
        return 0

    def wait(self, ms):
        """Block up to ms milliseconds until a socket is readable."""
        p = self._aipoll if self._port else self._ipoll
        if p is not None:
            for _ in p(ms):
                break
        else:
            (self._apoll if self._port else self._poll).poll(ms)

    def set_server(self, ip4, port):
        """Point the endpoint at IPv4 server ip4 (4 bytes), herald port `port`, in place -> 0 or 1."""
        if self._v6:
            return 1
        st = self._st
        if st == _UNIX:
            h = self._hsa
            c = self._csa
            h[2] = port >> 8  # sin_port, network order
            h[3] = port & 0xFF
            i = 0
            while i < 4:
                h[4 + i] = ip4[i]  # sin_addr
                c[4 + i] = ip4[i]
                i += 1
        elif st == _CPYTHON:
            text = "%d.%d.%d.%d" % (ip4[0], ip4[1], ip4[2], ip4[3])
            self._hsa = (text, port)
            self._csa = self._hsa
        else:
            v = self._hostv
            i = 0
            k = 0
            while k < 4:
                if k:
                    v[i] = 46  # "."
                    i += 1
                i = _put_dec(v, i, ip4[k])
                k += 1
            while i < _HOST_CAP:
                v[i] = 0
                i += 1
            self._hsa[1] = port
        self.herald_port = port
        self._port = 0
        try:
            self._connect_a(port)  # A leaves the old server
        except OSError:
            return 1
        return 0

    def close(self):
        """Close the sockets."""
        self._a.close()
        if self._b is not None:
            self._b.close()

    # ---- helpers --------------------------------------------------------------
    def _bready(self):
        # an iterable that yields once if B has a datagram (ipoll: no allocation)
        if self._bipoll is not None:
            return self._bipoll(0)
        return self._bpoll.poll(0)

    def _connect_a(self, port):
        """connect() A to server:port with the address patched in place."""
        st = self._st
        if st == _UNIX:
            c = self._csa
            c[2] = port >> 8
            c[3] = port & 0xFF
            self._a.connect(c)
        elif st == _LWIP:
            self._csa[1] = port
            self._a.connect(self._csa)
        elif st == _ESP32:
            v = self._portv
            i = _put_dec(v, 0, port)
            while i < _PORT_CAP:
                v[i] = 0
                i += 1
            self._a.connect(self._csa)
        else:
            c = self._hsa
            self._csa = (c[0], port) + tuple(c[2:])
            self._a.connect(self._csa)
        self._peer = port

    def _revive_a(self):
        # esp32: a zero-length datagram left A in SOCKET_STATE_PEER_CLOSED; connect() resets it
        try:
            self._a.connect(self._csa)
        except OSError:
            pass

    def _drain(self, rd):
        buf = self._scratch
        k = 0
        while k < _DRAIN_MAX:
            try:
                r = rd(buf, self._ackread)
            except OSError:
                return
            if r is None:
                return
            if r == 0 and self._st == _ESP32:  # see _revive_a; B needs a (failing) bind()
                if rd is self._ard:
                    self._revive_a()
                else:
                    self._revive_b()
                return
            k += 1

    def _revive_b(self):
        try:
            self._b.bind(self._bsa)  # the same address again: resets the state (see _revive_a)
        except OSError:
            pass

    def _learn(self, ack):
        """The one recvfrom() of the herald state, in the bounded window (see the
        module comment) -> 1 with ack and ack_port set if it was the server's ack."""
        self._res = None
        gc.collect()  # under the lock: frees the reserve (and what a previous window left)
        port = self._window(ack)
        if port < 0:  # a zero-length datagram
            if self._st == _ESP32:
                self._revive_b()
            return 0
        if port:
            self.ack_port = port
            return 1
        return 0

    @micropython.native
    def _window(self, ack):
        """Unlock the heap, take B's datagram with recvfrom(), compare its source with
        the server's, take the reserve again and restore the lock -> the session port
        (ack[0:4] set), 0 (not the server's ack, or recvfrom() failed), or -1 (a
        zero-length datagram)."""
        # Native code: the native emitter emits no check for pending scheduled
        # callbacks (py/emitnative.c; the bytecode VM checks at every jump opcode,
        # py/vm.c pending_exception_check), so no micropython.schedule() callback
        # (soft Timer, soft Pin IRQ) runs while the heap is open. Only C functions
        # are called from here; a Python function called here would be bytecode
        # again (and could put its frame on the heap).
        st = self._st
        self.windows += 1
        depth = 0
        while True:
            d = heap_unlock()
            if d > 0x3FFF:  # it was not locked: gc_lock_depth wrapped below 0 (py/gc.c)
                heap_lock()
                break
            depth += 1
            if d <= 0:
                break
        port = 0
        try:
            try:
                data, addr = self._recvfrom(_RECV_N)
            except Exception:  # MemoryError (the reserve was taken), OSError: the herald is retried
                data = None
                addr = None
            if data is not None and len(data) == 4:
                ok = 1
                if st == _UNIX:  # struct sockaddr: family, then address bytes
                    h = self._hsa
                    i = 0
                    n = 24 if self._v6 else 8
                    if len(addr) < n:
                        ok = 0
                        i = n
                    elif addr[0] != h[0] or addr[1] != h[1]:
                        ok = 0
                        i = n
                    elif self._v6:
                        i = 8
                    else:
                        i = 4
                    while i < n:
                        if addr[i] != h[i]:
                            ok = 0
                            break
                        i += 1
                    if ok:
                        port = (addr[2] << 8) | addr[3]
                elif st == _CPYTHON:
                    ip = addr[0].split("%")[0]
                    fam = socket.AF_INET6 if self._v6 else socket.AF_INET
                    if socket.inet_pton(fam, ip) == socket.inet_pton(fam, self._hsa[0].split("%")[0]):
                        port = addr[1]
                else:  # ("a.b.c.d", port): compare the text with the server's
                    ip = addr[0]
                    hv = self._hostv
                    n = len(ip)
                    if n >= _HOST_CAP or hv[n] != 0:
                        ok = 0
                    i = 0
                    while ok and i < n:
                        if ord(ip[i]) != hv[i]:
                            ok = 0
                        i += 1
                    if ok:
                        port = addr[1]
                if port:
                    ack[0] = data[0]
                    ack[1] = data[1]
                    ack[2] = data[2]
                    ack[3] = data[3]
            elif data is not None and len(data) == 0:
                port = -1
            data = None
            addr = None
            ip = None
            if self.reserve:
                try:
                    self._res = bytearray(self._resn)
                except MemoryError:  # the objects above are still uncollected
                    self._res = None
        finally:
            while depth:
                heap_lock()
                depth -= 1
        return port
