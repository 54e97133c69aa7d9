# EtherEndpoint: a debugnet endpoint that carries its own Ethernet, ARP, IPv4,
# IPv6 with neighbour discovery, and UDP over a polled frame NIC
# (docs/frame-nic.md), as FreeBSD's debugnet does (freebsd/freebsd-src
# sys/net/debugnet.c, sys/net/debugnet_inet.c): after a fault the board's own
# TCP/IP stack (lwIP, its heap) cannot be trusted.
#
#   EtherEndpoint(nic, client_ip, server_ip, netmask=None, gateway=None,
#                 herald_port=20023, client_port=20024, mtu=1500,
#                 arp_retries=3, arp_timeout_ms=1000, verbose=True)
#     IPv4 or IPv6, chosen by server_ip (":" = IPv6). Addresses are strings
#     (or 4-/16-byte bytes-likes), parsed here, at arm time.
#     client_ip: "a.b.c.d", "a.b.c.d/24", an IPv6 address ("/64" allowed), or
#       for IPv6 None / "" / "link-local": fe80:: + modified EUI-64 of the MAC.
#     netmask: IPv4 "255.255.255.0" or a prefix length; IPv6 a prefix length
#       (default 64). With a netmask, an off-link server is reached through the
#       gateway (required then). Without one, as FreeBSD: ARP the server, and
#       if it does not answer, the gateway.
# Everything is allocated in the constructor; reset/send/xmit/poll_seq/poll_ack/
# adopt_port/wait (debugnet's endpoint protocol, see debugnet.py) allocate
# nothing. debugnet builds each datagram in place in the framing's frame buffer
# (tx_buffer), and an ack from the server is recognised by one viper call
# against a template of the frame it must be (fast.ack_match) before the
# general receive path below looks at anything else.
#
# The layers below (docs/modules.md): link.py (the NIC, our MAC, the next hop,
# the counters), ip4.py / ip6.py over udp.py (IP/UDP framing: .send is the
# framing's send)
# and arp.py / ndp.py (next-hop resolution). The family's modules are imported
# when an endpoint of that family is made, so an IPv4-only board need not carry
# ip6.py, ndp.py and inet6.py.
#
#   set_server(ip4, port) -> 0 or SET_ERR_*   (netdump.panic.retarget, the
#     panic console's `netdump -s a.b.c.d[:port]`; DDB's netdump -s) points an
#     IPv4 endpoint at another server and herald port, patching in place the
#     server address, the IPv4 header template and its checksum share, the UDP
#     pseudo-header sum, the next-hop targets (per the configured netmask) and
#     the console line; the next reset() resolves the next hop again. Allocates
#     nothing. IPv6 endpoints refuse (SET_ERR_FAMILY).
#
# reset() (debugnet calls it at connect) first takes the NIC over with
# nic.start() when the NIC has one; a nonzero result prints nic.why and the
# connection fails as when no next hop answers; release() (netdump.fault.resume,
# after a dump that carries on) gives it back with nic.stop(). An IPv6 endpoint
# sets nic.multicast = 1 at arm (neighbour discovery). Then next-hop resolution: per
# target (server, then gateway) arp_retries requests (ARP, or an NS to the
# solicited-node group), each followed by up to arp_timeout_ms of polling --
# FreeBSD's debugnet_arp_gw: debugnet_arp_nretries = 3, 2000 x 500 us polls.
# On success it prints "netdumping to <server> (<mac>)"; on failure
# "netdump: failed to locate MAC address" and send() fails until the next reset.
# While it polls it answers ARP requests / neighbour solicitations for its own
# address. What it drops is what debugnet drops
# (docs/protocol.md#what-the-client-drops): frames for another MAC (broadcast
# only for ARP; for IPv6 our solicited-node group only), VLAN tags and other
# EtherTypes, IPv4 with options or fragments, bad lengths or checksums, a source
# other than the server, a destination other than our address, a UDP
# destination port other than client_port, and (once the session port is
# adopted) a source port other than it. A 4-byte UDP payload is an ack. The
# counters in .stats (ES_*, link.py) say what happened.
import sys

from netdump import fast, inet
from netdump.compat import IS_MICROPYTHON, const, small, ticks_add, ticks_diff, ticks_ms
from netdump.feed import feed
from netdump.link import (ES_ACKS, ES_ARP_REPLIES, ES_CLAIMS, ES_DROP_ADDR, ES_DROP_BAD,  # noqa: F401
                          ES_DROP_FRAG, ES_DROP_MAC, ES_DROP_OTHER, ES_DROP_PORT, ES_DROP_TYPE, ES_NA_SENT, ES_RX,
                          ES_SOLICITS, ES_START_ERR, ES_TX, ES_TX_ERR, OFF, RX_MAX, STAT_NAMES, Link)
from netdump.wire import CLIENT_PORT, HERALD_PORT

try:
    from time import sleep_us as _sleep_us
except ImportError:  # CPython
    import time as _time

    def _sleep_us(us):
        _time.sleep(us / 1000000)


_DEF_ARP_RETRIES = const(3)  # debugnet_arp_nretries (debugnet_inet.c)
_DEF_ARP_TIMEOUT_MS = const(1000)  # debugnet_npolls 2000 x DELAY(500) per request
_POLL_MAX = const(64)  # frames handled per poll_seq() call (bounded work)
_POLL_US = const(500)  # wait() without nic.wait: one DELAY(500), as debugnet's poll loop
_ACK_LEN = const(4)  # struct debugnet_ack (docs/protocol.md#acks)
_MSG_PRE = const(14)  # len("netdumping to "): where the server text starts in the console line
_IP4_TEXT_MAX = const(15)  # "255.255.255.255"
_IP6_TEXT_MAX = const(39)  # eight groups of four hex digits and seven colons (RFC 4291 section 2.2)
_MAC_TAIL = const(21)  # " (xx:xx:xx:xx:xx:xx)\n"

# ---- set_server() results (0 = done) ------------------------------------------
SET_ERR_FAMILY = const(1)  # an IPv6 endpoint: it takes no IPv4 server
SET_ERR_PORT = const(2)  # port not 1..65535
SET_ERR_OFF_LINK = const(3)  # off-link for the configured netmask and no gateway

_HEX = b"0123456789abcdef"


class EtherEndpoint:
    """debugnet endpoint with its own Ethernet/ARP/IPv4/IPv6/NDP/UDP over a frame NIC."""

    def __init__(self, nic, client_ip, server_ip, netmask=None, gateway=None, herald_port=HERALD_PORT,
                 client_port=CLIENT_PORT, mtu=1500, arp_retries=_DEF_ARP_RETRIES,
                 arp_timeout_ms=_DEF_ARP_TIMEOUT_MS, verbose=True):  # arm-time
        from netdump import addr  # arm-time only: arm_config() forgets it afterwards

        if not isinstance(server_ip, str):
            v6 = len(server_ip) == 16
        else:
            v6 = ":" in server_ip
        # the family's framing and resolution, imported only for an endpoint of that family
        if v6:
            from netdump import inet6, ip6 as fam, ndp as nbr
        else:
            from netdump import arp as nbr, ip4 as fam
        self.v6 = v6
        self.overhead = fam.OVERHEAD
        if not fam.MTU_MIN <= mtu <= 9000:
            raise ValueError("mtu out of range")
        if not 1 <= arp_retries <= 100 or not 1 <= arp_timeout_ms <= 60000:
            raise ValueError("arp_retries must be 1..100, arp_timeout_ms 1..60000")
        herald_port = small(herald_port)  # a long-int object if it came from a frozen tuple
        client_port = small(client_port)
        self.mtu = mtu
        self.nic = nic
        # a NIC that holds few received frames (docs/frame-nic.md): fewer datagrams in flight
        # than it can queue acks for (panic.arm caps the transport's window)
        rxf = getattr(nic, "rx_frames", 0)
        self.window_max = rxf - 1 if rxf > 1 else (1 if rxf else 0)
        link = Link(nic, verbose)
        self.link = link
        self.mac = link.mac
        self.stats = link.stats
        self._rx = link.rx
        self._rxv = link.rxv
        self._nic_poll = nic.poll
        self._nic_wait = getattr(nic, "wait", None)
        self._nic_start = getattr(nic, "start", None)
        self._nic_stop = getattr(nic, "stop", None)
        if v6 and hasattr(nic, "multicast"):
            nic.multicast = 1  # neighbour discovery: solicited-node groups (docs/frame-nic.md)
        self._retries = arp_retries
        self._timeout = arp_timeout_ms
        self.herald_port = herald_port
        self.client_port = client_port
        self.ack_port = 0

        # -- addresses
        plen = None
        if isinstance(client_ip, str) and "/" in client_ip:
            client_ip, p = client_ip.split("/")
            plen = int(p)
        if netmask is not None and netmask != "":
            plen = addr.prefix_len(netmask, 6 if v6 else 4)
        if v6:
            if client_ip is None or client_ip == "" or client_ip == "link-local":
                ll = bytearray(16)
                inet6.link_local_from_mac(ll, 0, self.mac)
                cip = bytes(ll)
            else:
                cip = addr.to_bytes(client_ip, True)
        else:
            if not client_ip:
                raise ValueError("an IPv4 client address is needed")
            cip = addr.to_bytes(client_ip, False)
        sip = addr.to_bytes(server_ip, v6)
        gip = addr.to_bytes(gateway, v6) if gateway else None
        if plen is not None and not 0 <= plen <= fam.ALEN * 8:
            raise ValueError("bad prefix length")
        if v6 and plen is None and gip is not None:
            plen = 64  # RFC 4291 section 2.5.4: /64 for unicast on Ethernet
        on_link = 1
        if plen is not None:
            on_link = addr.same_prefix(cip, sip, plen)
            if addr.is_link_local6(sip):
                on_link = 1  # fe80::/10 is always on the link
        if not on_link and gip is None:
            raise ValueError("server is off-link for this netmask and no gateway is given")
        if addr.is_link_local6(cip) and not on_link:
            raise ValueError("a link-local client address cannot reach an off-link server")
        self.client_ip = cip
        # a bytearray made here, so set_server() can patch it in place
        sip = bytearray(sip)
        self.server_ip = sip
        self.gateway_ip = gip
        self._plen = -1 if plen is None else plen
        # the IPv4 netmask as bytes, for set_server()'s on-link test at fault time
        self._mask4 = bytearray(4)
        if not v6 and plen is not None:
            for i in range(4):
                k = plen - 8 * i
                self._mask4[i] = 0xFF if k >= 8 else ((0xFF << (8 - k)) & 0xFF if k > 0 else 0)
        # next hops to try, in order: two slots, _ntargets used (see _route)
        self._targets = [None, None]
        self._ntargets = 0
        self.on_link = 0
        self._route(on_link)
        self._hop = 0  # 1 if the next hop that answered is the gateway
        self._port = 0  # adopted session port (0: none yet)

        # -- the layers below, and what the receive checks need to know of the family
        if v6:
            self.ip = fam.Udp6(link, cip, sip, client_port, mtu)
            self.nbr = nbr.Ndp(link, cip)
            self._classify = inet6.classify
            self._pseudo6 = inet6.pseudo6_sum
            self._kind_udp = inet6.KIND_UDP6
            self._et = inet.ETHERTYPE_IPV6
            self._et_nbr = inet.ETHERTYPE_IPV6  # NDP rides on IPv6
        else:
            self.ip = fam.Udp4(link, cip, sip, client_port, mtu)
            self.nbr = nbr.Arp(link, cip)
            self._classify = inet.classify
            self._pseudo6 = None
            self._kind_udp = inet.KIND_UDP4
            self._et = inet.ETHERTYPE_IPV4
            self._et_nbr = inet.ETHERTYPE_ARP
        self._solicit = self.nbr.solicit  # bound once: making a bound method allocates
        self._src = fam.SRC
        self._dst = fam.DST
        self._u = fam.UDP
        self._alen = fam.ALEN
        self.ip.set_dport(herald_port)
        # debugnet's per-datagram calls go straight to the framing (one call per datagram),
        # which it builds in place in the framing's frame buffer (tx_buffer)
        self.send = self.ip.send
        self.xmit = self.ip.xmit
        self.tx_buffer = self.ip.tx_buffer

        # -- the ack fast path: what an ack from the server looks like, checked in one
        # viper call (fast.ack_match) before the general receive path (_input)
        self._match = fast.ack_match
        self._am = fam.ACK_MATCH  # frame bytes compared under the mask
        self._au = fam.UDP
        # fast.ack_match's template: its parameters, the reference bytes and the mask
        # (frame byte j at 6 + j and 70 + j: word-aligned where the frame is)
        t = bytearray(fast.ACK_TEMPLATE)
        t[0] = self._am
        t[1] = 0xFF if v6 else inet.IP4_OFF  # IPv4: its header checksum is checked too
        t[2] = self._au
        self._tmpl = t
        tv = memoryview(t)
        self._aref = tv[6:70]
        self._amask = tv[70:134]
        self._ack4 = bytearray(4)  # an ack the general receive path took
        self._ack_template()

        # -- the console line "netdumping to <server>[ via <gateway>] (<MAC>)\n": built at
        # resolve time into one buffer and written a byte at a time through a 1-byte one (one
        # memoryview per possible length would be 18 objects kept). IPv4's server text comes
        # from server_ip, which set_server() rewrites; the other texts are fixed at arm.
        self._srv_text = addr.text(sip).encode() if v6 else None
        self._gw_text = (" via " + addr.text(gip)).encode() if gip else b""
        self._line = bytearray(_MSG_PRE + (_IP6_TEXT_MAX if v6 else _IP4_TEXT_MAX) + len(self._gw_text)
                               + _MAC_TAIL)
        self._b1 = bytearray(1)
        self._stdout_write = None
        if IS_MICROPYTHON:
            self._stdout_write = sys.stdout.write
        # warm up: the first poll of some NICs allocates (poll objects)
        if self._nic_wait is not None:
            self._nic_wait(0)

    # ---- endpoint protocol ------------------------------------------------------
    # send(buf, n) -> 1/0: the framing's (udp.Udp.send), bound in the constructor

    def reset(self):
        """New connection: destination = the herald port; take the NIC over; resolve the next hop -> 1 if known."""
        self.ack_port = 0
        self._port = 0
        self._ack_port_match()
        self.ip.set_dport(self.herald_port)
        self.link.resolved = 0
        if self._nic_start is not None and self._nic_start():
            self.stats[ES_START_ERR] += 1
            print(self.nic.why)
            return 0
        return self._resolve()

    def poll_seq(self):
        """Handle queued frames (answering ARP/NS for us) up to the first ack from the
        server -> its seqno (ack_port = its source port), -2 if that is 2**30 or
        more, -1 if none came."""
        poll = self._nic_poll
        rxv = self._rxv
        link = self.link
        k = 0
        while k < _POLL_MAX:
            k += 1
            n = poll(rxv)
            if not n:
                return -1
            if link.resolved:
                a = self._match(rxv, n, self._tmpl)
                if a != -1:
                    st = self.stats
                    st[ES_RX] += 1
                    st[ES_ACKS] += 1
                    if not self._port:  # else it is that port (the template checked it)
                        u = self._au
                        self.ack_port = (rxv[u] << 8) | rxv[u + 1]
                    return a
            ack = self._ack4
            if self._input(n, ack):
                if ack[0] >= 0x40:
                    return -2
                return (ack[0] << 24) | (ack[1] << 16) | (ack[2] << 8) | ack[3]
        return -1

    def poll_ack(self, ack):
        """As poll_seq: 1 when an ack from the server was copied into ack[0:4], else 0."""
        if self.poll_seq() == -1:
            return 0
        p = self._au + inet.UDP_HLEN  # the ack's 4 bytes, still in the frame whichever path took it
        rxv = self._rxv
        ack[0] = rxv[p]
        ack[1] = rxv[p + 1]
        ack[2] = rxv[p + 2]
        ack[3] = rxv[p + 3]
        return 1

    def release(self):
        """After a dump that carries on: give the NIC back to the firmware (nic.stop())."""
        if self._nic_stop is not None:
            self._nic_stop()

    def adopt_port(self, port):
        """Send to server:port from now on and accept acks only from it -> 0."""
        if not 0 < port < 65536:
            return 1
        self._port = port
        self.ack_port = port
        self.ip.set_dport(port)
        self._ack_port_match()
        return 0

    def wait(self, ms):
        """Block up to ms for a frame (the NIC's wait, else one 500 us delay)."""
        if self._nic_wait is not None:
            self._nic_wait(ms)
        elif ms > 0:
            _sleep_us(_POLL_US)

    def set_server(self, ip4, port):
        """Send to IPv4 server ip4 (4 bytes), herald port `port`, from the next
        reset() on -> 0, or SET_ERR_* with nothing changed. Allocates nothing."""
        if self.v6:
            return SET_ERR_FAMILY
        if not 0 < port < 65536:
            return SET_ERR_PORT
        on_link = 1
        if self._plen >= 0:  # on-link: the same bits under the netmask (netdump.addr is gone by now)
            cip = self.client_ip
            m = self._mask4
            i = 0
            while i < 4:
                if (cip[i] ^ ip4[i]) & m[i]:
                    on_link = 0
                i += 1
        if not on_link and self.gateway_ip is None:
            return SET_ERR_OFF_LINK
        sip = self.server_ip
        i = 0
        while i < 4:
            sip[i] = ip4[i]
            i += 1
        self.herald_port = port
        self.ack_port = 0
        self._port = 0
        self.ip.retarget(port)  # header and checksum shares from server_ip, to the herald port
        self._route(on_link)
        self.link.resolved = 0  # the next reset() resolves the next hop again
        self._ack_template()
        return 0

    # ---- next hop ---------------------------------------------------------------
    def _resolve(self):
        """ARP / NS for each target in turn until one answers -> 1, else 0."""
        link = self.link
        link.resolved = 0
        poll = self._nic_poll
        rxv = self._rxv
        solicit = self._solicit
        t = 0
        while t < self._ntargets and not link.resolved:
            want = self._targets[t]
            link.want = want
            tries = 0
            while tries < self._retries and not link.resolved:
                tries += 1
                solicit(want)
                end = ticks_add(ticks_ms(), self._timeout)
                while not link.resolved and ticks_diff(end, ticks_ms()) > 0:
                    n = poll(rxv)
                    if n:
                        self._input(n, None)
                    else:
                        feed()
                        self.wait(1)
            if link.resolved:
                self._hop = 1 if want is self.gateway_ip else 0
            t += 1
        link.want = None
        if not link.resolved:
            if link.verbose:
                print("netdump: failed to locate MAC address")
            return 0
        self.ip.set_next_hop(link.dmac)
        if link.verbose:
            self._announce()
        return 1

    def _announce(self):
        n = self.fill_line(self._hop)
        b = self._line
        w = self._stdout_write
        if w is None:  # CPython
            print(bytes(b[0:n]).decode(), end="")
            return
        b1 = self._b1
        i = 0
        while i < n:
            b1[0] = b[i]
            w(b1)
            i += 1

    def fill_line(self, hop):
        """The console line for the server (hop 0) or via the gateway (1), with the next hop's MAC,
        into self._line -> its length (allocates nothing)."""
        b = self._line
        i = _put(b, 0, b"netdumping to ")
        if self._srv_text is None:  # IPv4
            sip = self.server_ip
            j = 0
            while j < 4:
                if j:
                    b[i] = 46  # '.'
                    i += 1
                i = _put_dec(b, i, sip[j])
                j += 1
        else:
            i = _put(b, i, self._srv_text)
        if hop:
            i = _put(b, i, self._gw_text)
        b[i] = 32  # ' '
        b[i + 1] = 40  # '('
        i += 2
        m = self.link.dmac
        j = 0
        while j < 6:
            if j:
                b[i] = 58  # ':'
                i += 1
            b[i] = _HEX[m[j] >> 4]
            b[i + 1] = _HEX[m[j] & 15]
            i += 2
            j += 1
        b[i] = 41  # ')'
        b[i + 1] = 10
        return i + 2

    # ---- receive ----------------------------------------------------------------
    def _input(self, n, ack):
        """One received frame in _rx[OFF:OFF+n]: hand it to the resolver, drop
        it, or take it as an ack (-> 1, copied to ack)."""
        rx = self._rx
        st = self.stats
        st[ES_RX] += 1
        if n < inet.ETH_HLEN:
            st[ES_DROP_BAD] += 1
            return 0
        if n > RX_MAX:
            n = RX_MAX
        mine = inet.eq(rx, OFF, self.mac, 6)
        if not mine and not self.nbr.group(rx, OFF):
            st[ES_DROP_MAC] += 1
            return 0
        et = inet.eth_type(rx, OFF)
        if et != self._et and et != self._et_nbr:
            st[ES_DROP_TYPE] += 1  # VLAN tags (0x8100) included
            return 0
        kind = self._classify(rx, OFF, n)
        if kind < 0:
            st[ES_DROP_FRAG if kind == inet.ERR_FRAG else ES_DROP_BAD] += 1
            return 0
        if kind != self._kind_udp:
            self.nbr.input(kind)  # ARP, NS, NA; anything else is dropped there
            return 0
        if not mine or not self.link.resolved:
            st[ES_DROP_OTHER] += 1
            return 0
        if not inet.eq(rx, OFF + self._src, self.server_ip, self._alen) or \
                not inet.eq(rx, OFF + self._dst, self.client_ip, self._alen):
            st[ES_DROP_ADDR] += 1
            return 0
        u = OFF + self._u
        sport = (rx[u] << 8) | rx[u + 1]
        if (rx[u + 2] << 8) | rx[u + 3] != self.client_port or \
                (rx[u + 4] << 8) | rx[u + 5] != inet.UDP_HLEN + _ACK_LEN or \
                (self._port and sport != self._port) or ack is None:
            st[ES_DROP_PORT] += 1
            return 0
        p = u + inet.UDP_HLEN
        ack[0] = rx[p]
        ack[1] = rx[p + 1]
        ack[2] = rx[p + 2]
        ack[3] = rx[p + 3]
        self.ack_port = sport
        st[ES_ACKS] += 1
        return 1

    # ---- helpers ----------------------------------------------------------------
    def _ack_template(self):
        """The ack fast path's reference and mask: the ack an Ethernet frame from the
        server must be, byte for byte where it matters (a strict subset of what
        _input accepts as an ack); allocates nothing."""
        ref = self._aref
        mask = self._amask
        m = self._am
        i = 0
        while i < m:
            ref[i] = 0
            mask[i] = 0xFF
            i += 1
        fast.copy(ref, 0, self.mac, 0, 6)
        i = 6
        while i < 12:  # the source MAC is not checked (as _input)
            mask[i] = 0
            i += 1
        ref[12] = self._et >> 8
        ref[13] = self._et & 0xFF
        p = inet.ETH_HLEN
        if self.v6:
            ref[p] = 0x60  # version 6; traffic class and flow label not checked
            mask[p] = 0xF0
            mask[p + 1] = 0
            mask[p + 2] = 0
            mask[p + 3] = 0
            ref[p + 5] = inet.UDP_HLEN + _ACK_LEN  # payload length: the UDP datagram alone
            ref[p + 6] = inet.PROTO_UDP  # next header: UDP, no extension header
            mask[p + 7] = 0  # hop limit
            s = self._pseudo6(self.client_ip, self.server_ip, inet.PROTO_UDP, inet.UDP_HLEN + _ACK_LEN)
        else:
            ref[p] = 0x45  # version 4, no options
            mask[p + 1] = 0  # TOS
            ref[p + 3] = inet.IP4_HLEN + inet.UDP_HLEN + _ACK_LEN  # total length
            mask[p + 4] = 0  # ID
            mask[p + 5] = 0
            mask[p + 6] = 0x3F  # MF and the fragment offset must be 0; DF not checked
            mask[p + 8] = 0  # TTL
            ref[p + 9] = inet.PROTO_UDP
            mask[p + 10] = 0  # header checksum: checked by ack_match
            mask[p + 11] = 0
            s = inet.pseudo4_sum(self.client_ip, self.server_ip, inet.PROTO_UDP, inet.UDP_HLEN + _ACK_LEN)
        fast.copy(ref, self._src, self.server_ip, 0, self._alen)
        fast.copy(ref, self._dst, self.client_ip, 0, self._alen)
        u = self._au
        ref[u + 2] = self.client_port >> 8
        ref[u + 3] = self.client_port & 0xFF
        ref[u + 5] = inet.UDP_HLEN + _ACK_LEN
        mask[u + 6] = 0  # the UDP checksum: checked by ack_match
        mask[u + 7] = 0
        t = self._tmpl
        t[4] = s >> 8  # the pseudo-header sum
        t[5] = s & 0xFF
        self._ack_port_match()

    def _ack_port_match(self):
        """The ack fast path takes any source port until a session port is adopted, then only it."""
        u = self._au
        p = self._port
        self._aref[u] = p >> 8
        self._aref[u + 1] = p & 0xFF
        k = 0xFF if p else 0
        self._amask[u] = k
        self._amask[u + 1] = k

    def _route(self, on_link):
        """Next hops to try, in order (FreeBSD debugnet_arp_gw: the server
        first, then the gateway; an off-link server: the gateway only)."""
        t = self._targets
        gip = self.gateway_ip
        if on_link:
            t[0] = self.server_ip
            t[1] = gip
            self._ntargets = 1 if gip is None else 2
        else:
            t[0] = gip
            t[1] = None
            self._ntargets = 1
        self.on_link = on_link


def _put(buf, i, src):
    # src's bytes at buf[i:] -> the index after them (a byte loop: a slice store allocates
    # before MicroPython v1.26, docs/allocation.md#buffers-and-memoryviews)
    n = len(src)
    k = 0
    while k < n:
        buf[i + k] = src[k]
        k += 1
    return i + n


def _put_dec(buf, i, v):
    # decimal digits of 0 <= v <= 255 at buf[i:] -> the index after them
    if v >= 100:
        buf[i] = 48 + v // 100
        i += 1
    if v >= 10:
        buf[i] = 48 + v // 10 % 10
        i += 1
    buf[i] = 48 + v % 10
    return i + 1
