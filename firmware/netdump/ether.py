# EtherEndpoint: a debugnet endpoint that carries its own Ethernet, ARP, IPv4,
# IPv6 with neighbour discovery, and UDP over a polled frame NIC, as FreeBSD's
# debugnet does (sys/net/debugnet.c, debugnet_inet.c): after a fault the
# board's own TCP/IP stack (lwIP, its heap) cannot be trusted.
#
# A frame NIC has: .mac (6 bytes), send(buf, n) (send buf[0:n] as one frame;
# returns a false value other than None on failure), poll(buf) -> n or 0
# (non-blocking, one frame into buf), and optionally wait(ms) (block until a
# frame may be there). drivers/vnic.py (host), drivers/w5500.py are NICs.
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
# Everything is allocated in the constructor; reset/send/poll_ack/adopt_port/
# wait (debugnet's endpoint protocol, see debugnet.py) allocate nothing.
#
#   set_server(ip4, port) -> 0 or SET_ERR_*   (netdump.panic.retarget, the
#     panic console's `netdump -s a.b.c.d[:port]`; DDB's netdump -s) points an
#     IPv4 endpoint at another server and herald port, patching in place the
#     server address, the IPv4 header template and its checksum share, the UDP
#     pseudo-header sum, the next-hop targets (per the configured netmask) and
#     the console line; the next reset() resolves the next hop again. Allocates
#     nothing. IPv6 endpoints refuse (SET_ERR_FAMILY).
#
# Next-hop resolution happens in reset() (debugnet calls it at connect): per
# target (server, then gateway) arp_retries requests (ARP, or an NS to the
# solicited-node group), each followed by up to arp_timeout_ms of polling --
# FreeBSD's debugnet_arp_gw: debugnet_arp_nretries = 3, 2000 x 500 us polls.
# On success it prints "netdumping to <server> (<mac>)"; on failure
# "netdump: failed to locate MAC address" and send() fails until the next reset.
# While it polls it answers ARP requests / neighbour solicitations for its own
# address. What it drops is what debugnet drops (protocol reference section 5):
# frames for another MAC (broadcast only for ARP; for IPv6 our solicited-node
# group only), VLAN tags and other EtherTypes, IPv4 with options or fragments,
# bad lengths or checksums, a source other than the server, a destination other
# than our address, a UDP destination port other than client_port, and (once
# the session port is adopted) a source port other than it. A 4-byte UDP
# payload is an ack. The counters in .stats (ES_*) say what happened.
#
# Frames are built at buf[2] so the IP header and the payload are 4-byte
# aligned (fast.py word paths; inet.py header comment).
import sys

from netdump import addr, fast, inet
from netdump.addr import same_prefix
from netdump.compat import IS_MICROPYTHON, const, ticks_add, ticks_diff, ticks_ms
from netdump.wire import CLIENT_PORT, HERALD_PORT

try:
    from time import sleep_us as _sleep_us
except ImportError:  # CPython
    import time as _time

    def _sleep_us(us):
        _time.sleep(us / 1000000)


_OFF = const(2)  # frame offset inside every buffer (alignment, see above)
_RX_MAX = const(1536)  # largest frame read: 1518 + a VLAN tag, rounded up
_ETH_MIN = const(60)  # IEEE 802.3 minimum frame without the FCS; shorter frames are padded
_IP4_OVERHEAD = const(28)  # RFC 791 header (IHL 5) + RFC 768 header
_IP6_OVERHEAD = const(48)  # RFC 8200 header + RFC 768 header
_DEF_ARP_RETRIES = const(3)  # debugnet_arp_nretries (debugnet_inet.c)
_DEF_ARP_TIMEOUT_MS = const(1000)  # debugnet_npolls 2000 x DELAY(500) per request
_POLL_MAX = const(64)  # frames handled per poll_ack() call (bounded work)
_POLL_US = const(500)  # wait() without nic.wait: one DELAY(500), as debugnet's poll loop
_ACK_LEN = const(4)  # struct debugnet_ack (debugnet.h)
_MSG_PRE = const(14)  # len("netdumping to "): where the server text starts in the console line
_IP4_TEXT_MIN = const(7)  # "0.0.0.0"
_IP4_TEXT_MAX = const(15)  # "255.255.255.255"

# ---- set_server() results (0 = done) ------------------------------------------
SET_ERR_FAMILY = const(1)  # an IPv6 endpoint: it takes no IPv4 server
SET_ERR_PORT = const(2)  # port not 1..65535
SET_ERR_OFF_LINK = const(3)  # off-link for the configured netmask and no gateway

# ---- counters: indexes into EtherEndpoint.stats -----------------------------
ES_TX = const(0)  # UDP frames handed to the NIC
ES_TX_ERR = const(1)  # refused: no next hop, too big, or the NIC failed
ES_RX = const(2)  # frames read from the NIC
ES_ACKS = const(3)  # acks returned to debugnet
ES_ARP_REPLIES = const(4)  # ARP requests for our address answered
ES_NA_SENT = const(5)  # neighbour solicitations for our address answered
ES_SOLICITS = const(6)  # ARP requests / NS sent to resolve the next hop
ES_DROP_MAC = const(7)  # destination MAC not ours (or broadcast that is not ARP)
ES_DROP_TYPE = const(8)  # VLAN tag or another EtherType
ES_DROP_BAD = const(9)  # malformed: IP options, bad length, checksum, version
ES_DROP_FRAG = const(10)  # IPv4 fragment
ES_DROP_ADDR = const(11)  # source not the server, destination not us
ES_DROP_PORT = const(12)  # wrong UDP port or not an ack
ES_DROP_OTHER = const(13)  # other protocols, ARP we do not care about, IP before the next hop is known
ES_CLAIMS = const(14)  # another host claimed our address
_NSTATS = const(15)
STAT_NAMES = ("tx", "tx_err", "rx", "acks", "arp_replies", "na_sent", "solicits", "drop_mac",
              "drop_type", "drop_bad", "drop_frag", "drop_addr", "drop_port", "drop_other", "claims")

_BCAST = b"\xff\xff\xff\xff\xff\xff"
_ZERO6 = b"\x00\x00\x00\x00\x00\x00"
_ALLNODES_IP = b"\xff\x02" + b"\x00" * 13 + b"\x01"  # ff02::1 (RFC 4291 2.7.1)
_ALLNODES_MAC = b"\x33\x33\x00\x00\x00\x01"  # RFC 2464 section 7
_HEX = b"0123456789abcdef"


def _fold(s):
    # RFC 1071 section 4.1: end-around carry
    s = (s & 0xFFFF) + (s >> 16)
    return (s & 0xFFFF) + (s >> 16)


class EtherEndpoint:
    """debugnet endpoint with its own Ethernet/ARP/IPv4/IPv6/NDP/UDP over a frame NIC."""

    def __init__(self, nic, client_ip, server_ip, netmask=None, gateway=None, herald_port=HERALD_PORT,
                 client_port=CLIENT_PORT, mtu=1500, arp_retries=_DEF_ARP_RETRIES,
                 arp_timeout_ms=_DEF_ARP_TIMEOUT_MS, verbose=True):  # arm-time
        if not isinstance(server_ip, str):
            v6 = len(server_ip) == 16
        else:
            v6 = ":" in server_ip
        self.v6 = v6
        self.overhead = _IP6_OVERHEAD if v6 else _IP4_OVERHEAD
        hmax = inet.UDP6_PAYLOAD if v6 else inet.UDP4_PAYLOAD
        if not (1280 if v6 else 576) <= mtu <= 9000:  # RFC 8200 section 5 / RFC 791 minimums
            raise ValueError("mtu out of range")
        if not 1 <= arp_retries <= 100 or not 1 <= arp_timeout_ms <= 60000:
            raise ValueError("arp_retries must be 1..100, arp_timeout_ms 1..60000")
        self.mtu = mtu
        self.nic = nic
        mac = bytes(nic.mac)
        if len(mac) != 6:
            raise ValueError("nic.mac must be 6 bytes")
        self.mac = mac
        self._nic_send = nic.send
        self._nic_poll = nic.poll
        self._nic_wait = getattr(nic, "wait", None)
        self._copy = fast.copy
        self._copy_csum = fast.copy_csum
        self._csum = fast.csum
        self._verbose = verbose
        self._retries = arp_retries
        self._timeout = arp_timeout_ms
        self.herald_port = herald_port
        self.client_port = client_port
        self.ack_port = 0
        self.stats = [0] * _NSTATS

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
                inet.link_local_from_mac(ll, 0, mac)
                cip = bytes(ll)
            else:
                cip = addr.to_bytes(client_ip, True)
        else:
            if not client_ip:
                raise ValueError("an IPv4 client address is needed")
            cip = addr.to_bytes(client_ip, False)
        sip = addr.to_bytes(server_ip, v6)
        gip = addr.to_bytes(gateway, v6) if gateway else None
        alen = 16 if v6 else 4
        if plen is not None and not 0 <= plen <= alen * 8:
            raise ValueError("bad prefix length")
        if v6 and plen is None and gip is not None:
            plen = 64  # RFC 4291 2.5.4: /64 for unicast on Ethernet
        on_link = 1
        if plen is not None:
            on_link = same_prefix(cip, sip, plen)
            if v6 and sip[0] == 0xFE and sip[1] & 0xC0 == 0x80:
                on_link = 1  # fe80::/10 is always on the link
        if not on_link and gip is None:
            raise ValueError("server is off-link for this netmask and no gateway is given")
        if v6 and cip[0] == 0xFE and cip[1] & 0xC0 == 0x80 and not on_link:
            raise ValueError("a link-local client address cannot reach an off-link server")
        self.client_ip = cip
        # a bytearray made here, so set_server() can patch it in place
        sip = bytearray(sip)
        self.server_ip = sip
        self.gateway_ip = gip
        self._plen = -1 if plen is None else plen
        # next hops to try, in order: two slots, _ntargets used (see _route)
        self._targets = [None, None]
        self._ntargets = 0
        self.on_link = 0
        self._route(on_link)
        self._want = None  # the address being resolved (one of targets), else None
        self._dmac = bytearray(6)  # next-hop MAC once resolved
        self._resolved = 0
        self._hop = 0  # 1 if the next hop that answered is the gateway
        self._port = 0  # adopted session port (0: none yet)
        self._dport = herald_port
        self._claimed = 0

        # -- buffers: frames at offset _OFF, views for the NIC from _OFF on
        self._tx = bytearray(_OFF + inet.ETH_HLEN + mtu)
        self._txv = memoryview(self._tx)[_OFF:]
        self._rx = bytearray(_OFF + _RX_MAX)
        self._rxv = memoryview(self._rx)[_OFF:]
        self._ctl = bytearray(_OFF + 96)  # ARP / NS / NA frames (86 bytes at most)
        self._ctlv = memoryview(self._ctl)[_OFF:]
        self._maxpay = mtu - self.overhead
        self._pay = _OFF + hmax  # payload offset in _tx
        self._peer_ip = bytearray(16)  # scratch: the address to answer
        self._peer_mac = bytearray(6)

        tx = self._tx
        if v6:
            self._u = _OFF + inet.UDP6_OFF
            inet.ipv6_header(tx, _OFF + inet.IP6_OFF, 0, inet.PROTO_UDP, 255, cip, sip)
            self._ip_sum = 0
            self._pseudo = inet.pseudo6_sum(cip, sip, inet.PROTO_UDP, 0)
            sn = bytearray(16)
            inet.solicited_node(sn, 0, cip)
            self._my_snmac = bytearray(6)
            inet.mcast_mac6(self._my_snmac, 0, sn)
            self._sn_ip = []  # solicited-node group and its MAC per target
            self._sn_mac = []
            for k in range(self._ntargets):
                t = self._targets[k]
                g = bytearray(16)
                inet.solicited_node(g, 0, t)
                m = bytearray(6)
                inet.mcast_mac6(m, 0, g)
                self._sn_ip.append(g)
                self._sn_mac.append(m)
        else:
            self._u = _OFF + inet.UDP4_OFF
            inet.ipv4_header(tx, _OFF + inet.IP4_OFF, 0, inet.PROTO_UDP, cip, sip)
            tx[_OFF + inet.IP4_OFF + 10] = 0
            tx[_OFF + inet.IP4_OFF + 11] = 0
            self._ip_sum = self._csum(tx, _OFF + inet.IP4_OFF, inet.IP4_HLEN, 0)  # without total length
            self._pseudo = inet.pseudo4_sum(cip, sip, inet.PROTO_UDP, 0)
            self._my_snmac = None
            self._sn_ip = None
            self._sn_mac = None
        self._usum = 0
        inet.udp_header(tx, self._u, client_port, herald_port, 0, 0)
        self._set_dport(herald_port)

        # -- console lines, built now; the MAC is filled in at resolve time.
        # IPv4: fixed buffers with room for the longest address text, and one
        # view per possible line length, so set_server() can rewrite them.
        tail_d = b" (xx:xx:xx:xx:xx:xx)\n"
        tail_g = (" via " + (addr.text(gip) if gip else "") + " (xx:xx:xx:xx:xx:xx)\n").encode()
        if v6:
            sv = addr.text(sip)
            self._msg_direct = bytearray(("netdumping to " + sv).encode() + tail_d)
            self._msg_gw = bytearray(("netdumping to " + sv).encode() + tail_g)
            self._lines = None
        else:
            self._msg_direct = None
            self._msg_gw = None
            lines = []
            for tail in (tail_d, tail_g):
                b = bytearray(_MSG_PRE + _IP4_TEXT_MAX + len(tail))
                b[0:_MSG_PRE] = b"netdumping to "
                mv = memoryview(b)
                views = [mv[0:_MSG_PRE + k + len(tail)] for k in range(_IP4_TEXT_MIN, _IP4_TEXT_MAX + 1)]
                lines.append((b, tail, views))
            self._lines = lines
            self._set_lines()
        self._stdout_write = None
        if IS_MICROPYTHON:
            self._stdout_write = sys.stdout.write
        # warm up: the first poll of some NICs allocates (poll objects)
        if self._nic_wait is not None:
            self._nic_wait(0)

    # ---- endpoint protocol ------------------------------------------------------
    def reset(self):
        """New connection: destination = the herald port; resolve the next hop."""
        self.ack_port = 0
        self._port = 0
        self._set_dport(self.herald_port)
        self._resolve()

    def send(self, buf, n):
        """Send buf[0:n] as one UDP datagram to the server -> 1, or 0 if it could not."""
        st = self.stats
        if not self._resolved or n > self._maxpay or n < 0:
            st[ES_TX_ERR] += 1
            return 0
        tx = self._tx
        s = self._copy_csum(tx, self._pay, buf, 0, n, 0)
        ulen = n + inet.UDP_HLEN
        if self.v6:
            p = _OFF + inet.IP6_OFF
            tx[p + 4] = ulen >> 8  # payload length (RFC 8200 section 3)
            tx[p + 5] = ulen & 0xFF
        else:
            p = _OFF + inet.IP4_OFF
            tot = ulen + inet.IP4_HLEN
            tx[p + 2] = tot >> 8  # total length (RFC 791 section 3.1)
            tx[p + 3] = tot & 0xFF
            c = 0xFFFF ^ _fold(self._ip_sum + tot)
            tx[p + 10] = c >> 8
            tx[p + 11] = c & 0xFF
        u = self._u
        tx[u + 4] = ulen >> 8
        tx[u + 5] = ulen & 0xFF
        # RFC 768: pseudo-header (addresses, protocol, length) + header + data
        c = 0xFFFF ^ _fold(_fold(s + self._usum + ulen + ulen))
        if c == 0:
            c = 0xFFFF  # RFC 768: a computed zero is sent as all ones
        tx[u + 6] = c >> 8
        tx[u + 7] = c & 0xFF
        flen = self._pay - _OFF + n
        while flen < _ETH_MIN:
            tx[_OFF + flen] = 0
            flen += 1
        if self._xmit(self._txv, flen):
            st[ES_TX] += 1
            return 1
        st[ES_TX_ERR] += 1
        return 0

    def poll_ack(self, ack):
        """Handle queued frames (answering ARP/NS for us); 1 when an ack from the
        server was copied into ack[0:4] (ack_port = its source port), else 0."""
        poll = self._nic_poll
        rxv = self._rxv
        k = 0
        while k < _POLL_MAX:
            k += 1
            n = poll(rxv)
            if not n:
                return 0
            if self._input(n, ack):
                return 1
        return 0

    def adopt_port(self, port):
        """Send to server:port from now on and accept acks only from it -> 0."""
        if not 0 < port < 65536:
            return 1
        self._port = port
        self._set_dport(port)
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
        if self._plen >= 0:
            on_link = same_prefix(self.client_ip, ip4, self._plen)
        if not on_link and self.gateway_ip is None:
            return SET_ERR_OFF_LINK
        sip = self.server_ip
        tx = self._tx
        p = _OFF + inet.IP4_OFF
        i = 0
        while i < 4:
            sip[i] = ip4[i]
            tx[p + inet.IP4_DST + i] = ip4[i]
            i += 1
        # the header's checksum share, without total length and checksum (as at construction)
        tx[p + 2] = 0
        tx[p + 3] = 0
        tx[p + 10] = 0
        tx[p + 11] = 0
        self._ip_sum = self._csum(tx, p, inet.IP4_HLEN, 0)
        self._pseudo = inet.pseudo4_sum(self.client_ip, sip, inet.PROTO_UDP, 0)
        self._route(on_link)
        self.herald_port = port
        self.ack_port = 0
        self._port = 0
        self._set_dport(port)
        self._resolved = 0  # the next reset() resolves the next hop again
        self._set_lines()
        return 0

    # ---- next hop ---------------------------------------------------------------
    def _resolve(self):
        """ARP / NS for each target in turn until one answers -> 1, else 0."""
        self._resolved = 0
        poll = self._nic_poll
        rxv = self._rxv
        t = 0
        while t < self._ntargets and not self._resolved:
            self._want = self._targets[t]
            tries = 0
            while tries < self._retries and not self._resolved:
                tries += 1
                self._solicit(t)
                end = ticks_add(ticks_ms(), self._timeout)
                while not self._resolved and ticks_diff(end, ticks_ms()) > 0:
                    n = poll(rxv)
                    if n:
                        self._input(n, None)
                    else:
                        self.wait(1)
            if self._resolved:
                self._hop = 1 if self._want is self.gateway_ip else 0
            t += 1
        self._want = None
        if not self._resolved:
            if self._verbose:
                print("netdump: failed to locate MAC address")
            return 0
        et = inet.ETHERTYPE_IPV6 if self.v6 else inet.ETHERTYPE_IPV4
        inet.eth_header(self._tx, _OFF, self._dmac, self.mac, et)
        if self._verbose:
            self._announce()
        return 1

    def _solicit(self, t):
        """Send one ARP request (or NS) for targets[t]."""
        ctl = self._ctl
        target = self._targets[t]
        if self.v6:
            n = inet.ndp_frame(ctl, _OFF, self._sn_mac[t], self.mac, self.client_ip, self._sn_ip[t],
                               inet.ICMP6_NS, 0, target, self.mac)
        else:
            inet.eth_header(ctl, _OFF, _BCAST, self.mac, inet.ETHERTYPE_ARP)
            inet.arp_packet(ctl, _OFF + inet.ARP_OFF, inet.ARP_REQUEST, self.mac, self.client_ip, _ZERO6, target)
            n = self._pad(inet.ETH_HLEN + inet.ARP_LEN)
        self.stats[ES_SOLICITS] += 1
        self._xmit(self._ctlv, n)

    def _announce(self):
        msg = self._msg_gw if self._hop else self._msg_direct
        i = len(msg) - 19  # "(xx:...)\n": the MAC text starts 18 bytes before the end
        m = self._dmac
        j = 0
        while j < 6:
            msg[i] = _HEX[m[j] >> 4]
            msg[i + 1] = _HEX[m[j] & 15]
            i += 3
            j += 1
        if self._stdout_write is not None:
            self._stdout_write(msg)
        else:
            print(bytes(msg).decode(), end="")

    # ---- receive ----------------------------------------------------------------
    def _input(self, n, ack):
        """One received frame in _rx[_OFF:_OFF+n]: answer, learn, drop or
        take it as an ack (-> 1, copied to ack)."""
        rx = self._rx
        st = self.stats
        st[ES_RX] += 1
        if n < inet.ETH_HLEN:
            st[ES_DROP_BAD] += 1
            return 0
        if n > _RX_MAX:
            n = _RX_MAX
        o = _OFF
        v6 = self.v6
        mine = inet.eq(rx, o, self.mac, 6)
        if not mine:
            if v6:
                ok = inet.eq(rx, o, self._my_snmac, 6)
            else:
                ok = inet.is_broadcast_mac(rx, o) and inet.eth_type(rx, o) == inet.ETHERTYPE_ARP
            if not ok:
                st[ES_DROP_MAC] += 1
                return 0
        et = inet.eth_type(rx, o)
        if et != (inet.ETHERTYPE_IPV6 if v6 else inet.ETHERTYPE_IPV4) and (v6 or et != inet.ETHERTYPE_ARP):
            st[ES_DROP_TYPE] += 1  # VLAN tags (0x8100) included
            return 0
        kind = inet.classify(rx, o, n)
        if kind < 0:
            st[ES_DROP_FRAG if kind == inet.ERR_FRAG else ES_DROP_BAD] += 1
            return 0
        if kind == inet.KIND_ARP:
            self._arp_in()
            return 0
        if kind == inet.KIND_NS:
            self._ns_in()
            return 0
        if kind == inet.KIND_NA:
            self._na_in()
            return 0
        if not mine or not self._resolved or (kind != inet.KIND_UDP4 and kind != inet.KIND_UDP6):
            st[ES_DROP_OTHER] += 1
            return 0
        if v6:
            if not inet.eq(rx, o + inet.IP6_OFF + inet.IP6_SRC, self.server_ip, 16) or \
                    not inet.eq(rx, o + inet.IP6_OFF + inet.IP6_DST, self.client_ip, 16):
                st[ES_DROP_ADDR] += 1
                return 0
            u = o + inet.UDP6_OFF
        else:
            if not inet.eq(rx, o + inet.IP4_OFF + inet.IP4_SRC, self.server_ip, 4) or \
                    not inet.eq(rx, o + inet.IP4_OFF + inet.IP4_DST, self.client_ip, 4):
                st[ES_DROP_ADDR] += 1
                return 0
            u = o + inet.UDP4_OFF
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

    def _arp_in(self):
        """ARP (debugnet_handle_arp): answer requests for us, learn the next hop."""
        rx = self._rx
        st = self.stats
        a = _OFF + inet.ARP_OFF
        if inet.eq(rx, a + inet.ARP_SHA, self.mac, 6) or inet.is_broadcast_mac(rx, a + inet.ARP_SHA):
            st[ES_DROP_OTHER] += 1  # our own or a bogus sender: ignored
            return
        if inet.eq(rx, a + inet.ARP_SPA, self.client_ip, 4):
            st[ES_CLAIMS] += 1
            if self._verbose and not self._claimed:
                print("netdump: another host claims our IP address")
            self._claimed = 1
            return
        op = (rx[a + inet.ARP_OP] << 8) | rx[a + inet.ARP_OP + 1]
        want = self._want
        if op == inet.ARP_REPLY and want is not None and inet.eq(rx, a + inet.ARP_SPA, want, 4):
            self._copy(self._dmac, 0, rx, a + inet.ARP_SHA, 6)  # the first reply wins
            self._resolved = 1
            return
        if op != inet.ARP_REQUEST or not inet.eq(rx, a + inet.ARP_TPA, self.client_ip, 4):
            st[ES_DROP_OTHER] += 1
            return
        ctl = self._ctl
        cp = self._copy
        c = _OFF + inet.ARP_OFF
        cp(ctl, _OFF, rx, a + inet.ARP_SHA, 6)  # Ethernet destination: the asker
        cp(ctl, _OFF + 6, self.mac, 0, 6)
        ctl[_OFF + 12] = inet.ETHERTYPE_ARP >> 8
        ctl[_OFF + 13] = inet.ETHERTYPE_ARP & 0xFF
        # RFC 826 reply: hrd, pro, hln, pln as asked; op 2; we are the sender
        cp(ctl, c, rx, a, 6)
        ctl[c + 6] = 0
        ctl[c + 7] = inet.ARP_REPLY
        cp(ctl, c + inet.ARP_SHA, self.mac, 0, 6)
        cp(ctl, c + inet.ARP_SPA, self.client_ip, 0, 4)
        cp(ctl, c + inet.ARP_THA, rx, a + inet.ARP_SHA, 6)
        cp(ctl, c + inet.ARP_TPA, rx, a + inet.ARP_SPA, 4)
        if self._xmit(self._ctlv, self._pad(inet.ETH_HLEN + inet.ARP_LEN)):
            st[ES_ARP_REPLIES] += 1

    def _ns_in(self):
        """Neighbour solicitation: answer one for our address (RFC 4861 7.2.4)."""
        rx = self._rx
        st = self.stats
        q = _OFF + inet.ICMP6_OFF
        ip = _OFF + inet.IP6_OFF
        if not inet.eq(rx, q + inet.NDP_TARGET, self.client_ip, 16):
            st[ES_DROP_OTHER] += 1
            return
        if inet.eq(rx, ip + inet.IP6_SRC, self.client_ip, 16):
            st[ES_CLAIMS] += 1  # someone else uses our address
            return
        # unspecified source (duplicate address detection): answer all nodes
        dad = 1
        i = 0
        while i < 16:
            if rx[ip + inet.IP6_SRC + i]:
                dad = 0
                break
            i += 1
        if dad:
            dip = _ALLNODES_IP
            dmac = _ALLNODES_MAC
            flags = inet.NA_OVERRIDE
        else:
            dip = self._peer_ip
            self._copy(dip, 0, rx, ip + inet.IP6_SRC, 16)
            dmac = self._peer_mac
            k = inet.ndp_lladdr(rx, _OFF)
            self._copy(dmac, 0, rx, k if k >= 0 else _OFF + 6, 6)
            flags = inet.NA_SOLICITED | inet.NA_OVERRIDE
        n = inet.ndp_frame(self._ctl, _OFF, dmac, self.mac, self.client_ip, dip, inet.ICMP6_NA, flags,
                           self.client_ip, self.mac)
        if self._xmit(self._ctlv, n):
            st[ES_NA_SENT] += 1

    def _na_in(self):
        """Neighbour advertisement: the next hop's MAC while resolving."""
        rx = self._rx
        want = self._want
        if want is None or not inet.eq(rx, _OFF + inet.ICMP6_OFF + inet.NDP_TARGET, want, 16):
            self.stats[ES_DROP_OTHER] += 1
            return
        k = inet.ndp_lladdr(rx, _OFF)
        self._copy(self._dmac, 0, rx, k if k >= 0 else _OFF + 6, 6)
        self._resolved = 1

    # ---- helpers ----------------------------------------------------------------
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

    def _set_lines(self):
        """IPv4: write the server's text into both console lines (allocates nothing)."""
        lines = self._lines
        sip = self.server_ip
        k = 0
        while k < 2:
            ln = lines[k]
            b = ln[0]
            i = _MSG_PRE
            j = 0
            while j < 4:
                if j:
                    b[i] = 46  # '.'
                    i += 1
                i = _put_dec(b, i, sip[j])
                j += 1
            tail = ln[1]
            b[i:i + len(tail)] = tail  # same length: copied in place
            view = ln[2][i - _MSG_PRE - _IP4_TEXT_MIN]
            if k:
                self._msg_gw = view
            else:
                self._msg_direct = view
            k += 1

    def _set_dport(self, port):
        """Destination port of the UDP template and its checksum share."""
        self._dport = port
        u = self._u
        self._tx[u + 2] = port >> 8
        self._tx[u + 3] = port & 0xFF
        self._usum = _fold(self._pseudo + self.client_port + port)

    def _pad(self, n):
        """Zero-pad the control frame to the Ethernet minimum -> its length."""
        ctl = self._ctl
        while n < _ETH_MIN:
            ctl[_OFF + n] = 0
            n += 1
        return n

    def _xmit(self, view, n):
        """Hand a frame to the NIC -> 1 if it took it."""
        try:
            r = self._nic_send(view, n)
        except OSError:
            return 0
        if r is None or r:
            return 1
        return 0


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

