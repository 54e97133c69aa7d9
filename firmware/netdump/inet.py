# Ethernet II, ARP, IPv4, UDP and IPv6 with ICMPv6 neighbour discovery: build
# into and parse from a caller's frame buffer, with checksums. Device side and allocation-free: builders write at an
# offset and return the offset just past what they wrote; parsers return one
# small int (a field, a KIND_* constant, 0/1, or a negative ERR_* code).
# MAC, IPv4 and IPv6 addresses are 6-/4-/16-byte bytes-like objects, never ints.
#
# The IPv4 header follows FreeBSD debugnet (sys/net/debugnet_inet.c,
# debugnet_ip_output): IHL 5, TOS 0, ID 0, DF set, TTL 255, checksum computed;
# the UDP checksum is always computed and a computed 0 is sent as 0xFFFF.
#
# Frame layout used by the endpoints: start the Ethernet header at buf[2] so the
# IP header and the payload are 4-byte aligned (fast.py's word paths).
import struct

from netdump import fast
from netdump.compat import const

_copy = fast.copy
_csum = fast.csum

# ---- sizes ---------------------------------------------------------------
ETH_HLEN = const(14)  # IEEE 802.3 clause 3.2: dst(6) src(6) type(2)
ETH_ALEN = const(6)  # MAC address length
ARP_LEN = const(28)  # RFC 826 for Ethernet/IPv4: 8 + 2*(6+4)
IP4_HLEN = const(20)  # RFC 791 section 3.1, IHL 5, no options
IP4_ALEN = const(4)
UDP_HLEN = const(8)  # RFC 768
# Offsets from the start of an Ethernet frame carrying IPv4/UDP (IHL 5).
IP4_OFF = const(14)
UDP4_OFF = const(34)
UDP4_PAYLOAD = const(42)
ARP_OFF = const(14)
IP6_HLEN = const(40)  # RFC 8200 section 3
IP6_ALEN = const(16)
IP6_OFF = const(14)
UDP6_OFF = const(54)
UDP6_PAYLOAD = const(62)
ICMP6_OFF = const(54)
NDP_LEN = const(32)  # NS/NA (RFC 4861 4.3/4.4: 24 bytes) + one 8-byte lladdr option

# ---- field values ----------------------------------------------------------
# EtherTypes (IEEE 802 numbers registry; RFC 894, RFC 826, RFC 2464, IEEE 802.1Q)
ETHERTYPE_IPV4 = const(0x0800)
ETHERTYPE_ARP = const(0x0806)
ETHERTYPE_IPV6 = const(0x86DD)
ETHERTYPE_VLAN = const(0x8100)
# RFC 826: ar$hrd 1 = Ethernet (IANA ARP hardware types), ar$op 1/2.
_ARPHRD_ETHER = const(1)
ARP_REQUEST = const(1)
ARP_REPLY = const(2)
# IANA protocol numbers (RFC 790 / RFC 768)
PROTO_ICMP = const(1)
PROTO_UDP = const(17)
PROTO_ICMPV6 = const(58)  # RFC 4443
# RFC 791 section 3.1 flags: DF = 0x4000, MF = 0x2000, offset mask 0x1FFF.
_IP_DF = const(0x4000)
_IP_MF_OFF = const(0x3FFF)
_IP_TTL = const(255)  # debugnet_inet.c debugnet_ip_output: ip_ttl = 255
_IP4_VHL = const(0x45)  # version 4, IHL 5 words

# Offsets inside an ARP packet (RFC 826, Ethernet/IPv4 sizes).
ARP_OP = const(6)
ARP_SHA = const(8)
ARP_SPA = const(14)
ARP_THA = const(18)
ARP_TPA = const(24)
# Offsets inside an IPv6 header (RFC 8200 section 3) and an NS/NA (RFC 4861 4.3/4.4).
IP6_PLEN = const(4)
IP6_NXT = const(6)
IP6_HOPS = const(7)
IP6_SRC = const(8)
IP6_DST = const(24)
NDP_TARGET = const(8)
NDP_OPT = const(24)
# ICMPv6 types (RFC 4861 section 4): neighbour solicitation and advertisement.
ICMP6_NS = const(135)
ICMP6_NA = const(136)
# RFC 4861 section 4.6.1 option types: source / target link-layer address.
NDP_OPT_SLLA = const(1)
NDP_OPT_TLLA = const(2)
# RFC 4861 section 4.4 NA flags (high byte of the 32-bit flags word).
NA_ROUTER = const(0x80)
NA_SOLICITED = const(0x40)
NA_OVERRIDE = const(0x20)
_NDP_HOPS = const(255)  # RFC 4861 sections 7.1.1/7.1.2: hop limit must be 255

# Offsets inside an IPv4 header (RFC 791 section 3.1).
IP4_PROTO = const(9)
IP4_SRC = const(12)
IP4_DST = const(16)

# ---- what classify() returns -------------------------------------------------
KIND_OTHER = const(0)  # well formed as far as checked, but not handled here
KIND_ARP = const(1)  # Ethernet/IPv4 ARP request or reply, fields sane
KIND_UDP4 = const(2)  # IPv4 (IHL 5, unfragmented, checksums good) + UDP
KIND_IP4 = const(3)  # valid IPv4 header, protocol other than UDP
KIND_UDP6 = const(4)  # IPv6 (no extension headers) + UDP, checksum good
KIND_NS = const(5)  # ICMPv6 neighbour solicitation, valid per RFC 4861 7.1.1
KIND_NA = const(6)  # ICMPv6 neighbour advertisement, valid per RFC 4861 7.1.2
KIND_IP6 = const(7)  # valid IPv6 header, anything else (extension headers, other ICMPv6)

ERR_SHORT = const(-1)  # frame shorter than its headers say (or than n)
ERR_HDR = const(-2)  # a malformed or unsupported header field
ERR_CSUM = const(-3)  # IPv4 header or UDP checksum wrong
ERR_FRAG = const(-4)  # an IPv4 fragment (debugnet never reassembles)

KIND_NAMES = {0: "other", 1: "arp", 2: "udp4", 3: "ip4", 4: "udp6", 5: "ns", 6: "na", 7: "ip6"}
ERR_NAMES = {-1: "short frame", -2: "bad header", -3: "bad checksum", -4: "fragment"}


# ---- building ----------------------------------------------------------------


def eth_header(buf, off, dst_mac, src_mac, ethertype):
    """Write an Ethernet II header at buf[off:]; returns off + 14."""
    _copy(buf, off, dst_mac, 0, 6)
    _copy(buf, off + 6, src_mac, 0, 6)
    buf[off + 12] = ethertype >> 8
    buf[off + 13] = ethertype & 0xFF
    return off + ETH_HLEN


def arp_packet(buf, off, op, sha, spa, tha, tpa):
    """Write an Ethernet/IPv4 ARP packet (RFC 826) at buf[off:]; returns off + 28."""
    struct.pack_into(">HHBBH", buf, off, _ARPHRD_ETHER, ETHERTYPE_IPV4, ETH_ALEN, IP4_ALEN, op)
    _copy(buf, off + ARP_SHA, sha, 0, 6)
    _copy(buf, off + ARP_SPA, spa, 0, 4)
    _copy(buf, off + ARP_THA, tha, 0, 6)
    _copy(buf, off + ARP_TPA, tpa, 0, 4)
    return off + ARP_LEN


def ipv4_header(buf, off, total_len, proto, src_ip, dst_ip):
    """Write a 20-byte IPv4 header (ID 0, DF, TTL 255, checksum set); returns off + 20."""
    # version/IHL, TOS, total length, ID, flags/offset, TTL, protocol, checksum 0
    struct.pack_into(">BBHHHBBH", buf, off, _IP4_VHL, 0, total_len, 0, _IP_DF, _IP_TTL, proto, 0)
    _copy(buf, off + IP4_SRC, src_ip, 0, 4)
    _copy(buf, off + IP4_DST, dst_ip, 0, 4)
    c = 0xFFFF ^ _csum(buf, off, IP4_HLEN, 0)  # RFC 791 section 3.1, RFC 1071
    buf[off + 10] = c >> 8
    buf[off + 11] = c & 0xFF
    return off + IP4_HLEN


def udp_header(buf, off, sport, dport, length, checksum):
    """Write a UDP header (RFC 768) at buf[off:]; length counts the 8-byte header; returns off + 8."""
    struct.pack_into(">HHHH", buf, off, sport, dport, length, checksum)
    return off + UDP_HLEN


def pseudo4_sum(src_ip, dst_ip, proto, length):
    """Folded ones-complement sum of the IPv4 pseudo-header (RFC 768), not inverted."""
    return _csum(src_ip, 0, 4, _csum(dst_ip, 0, 4, proto + length))


def udp4_checksum(buf, udp_off, src_ip, dst_ip):
    """UDP-over-IPv4 checksum (1..0xFFFF) of the datagram at buf[udp_off:], length from
    its header; the checksum field's current content is ignored."""
    ulen = (buf[udp_off + 4] << 8) | buf[udp_off + 5]
    s = pseudo4_sum(src_ip, dst_ip, PROTO_UDP, ulen)
    s = _csum(buf, udp_off, 6, s)
    s = _csum(buf, udp_off + UDP_HLEN, ulen - UDP_HLEN, s)
    c = 0xFFFF ^ s
    if c == 0:
        return 0xFFFF  # RFC 768: a computed zero is transmitted as all ones
    return c


def udp4_set_checksum(buf, udp_off, src_ip, dst_ip):
    """Compute the UDP-over-IPv4 checksum and store it in the header; returns it."""
    c = udp4_checksum(buf, udp_off, src_ip, dst_ip)
    buf[udp_off + 6] = c >> 8
    buf[udp_off + 7] = c & 0xFF
    return c


def udp4_frame(buf, off, dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload_len):
    """Write Ethernet+IPv4+UDP headers in front of a payload already at buf[off+42:],
    with both checksums; returns the frame length (42 + payload_len)."""
    ulen = UDP_HLEN + payload_len
    eth_header(buf, off, dst_mac, src_mac, ETHERTYPE_IPV4)
    ipv4_header(buf, off + IP4_OFF, IP4_HLEN + ulen, PROTO_UDP, src_ip, dst_ip)
    udp_header(buf, off + UDP4_OFF, sport, dport, ulen, 0)
    udp4_set_checksum(buf, off + UDP4_OFF, src_ip, dst_ip)
    return UDP4_PAYLOAD + payload_len


# ---- IPv6 and neighbour discovery --------------------------------------------


def ipv6_header(buf, off, payload_len, next_header, hop_limit, src_ip, dst_ip):
    """Write a 40-byte IPv6 header (RFC 8200 section 3; traffic class and flow
    label 0) at buf[off:]; returns off + 40."""
    # version 6, traffic class 0, flow label 0, payload length, next header, hops
    struct.pack_into(">BBHHBB", buf, off, 0x60, 0, 0, payload_len, next_header, hop_limit)
    _copy(buf, off + IP6_SRC, src_ip, 0, 16)
    _copy(buf, off + IP6_DST, dst_ip, 0, 16)
    return off + IP6_HLEN


def pseudo6_sum(src_ip, dst_ip, next_header, length):
    """Folded sum of the IPv6 pseudo-header (RFC 8200 section 8.1), not inverted."""
    return _csum(src_ip, 0, 16, _csum(dst_ip, 0, 16, next_header + length))


def _csum6(buf, off, length, src_ip, dst_ip, nxt, field):
    # upper-layer checksum with the 2-byte checksum field at off+field taken as 0
    s = pseudo6_sum(src_ip, dst_ip, nxt, length)
    s = _csum(buf, off, field, s)
    s = _csum(buf, off + field + 2, length - field - 2, s)
    c = 0xFFFF ^ s
    if c == 0:
        return 0xFFFF  # RFC 8200 8.1 / RFC 768: zero is sent as all ones
    return c


def udp6_checksum(buf, udp_off, src_ip, dst_ip):
    """UDP-over-IPv6 checksum (1..0xFFFF, mandatory: RFC 8200 8.1) of the datagram at
    buf[udp_off:], length from its header; the checksum field is ignored."""
    ulen = (buf[udp_off + 4] << 8) | buf[udp_off + 5]
    return _csum6(buf, udp_off, ulen, src_ip, dst_ip, PROTO_UDP, 6)


def udp6_set_checksum(buf, udp_off, src_ip, dst_ip):
    """Compute the UDP-over-IPv6 checksum and store it in the header; returns it."""
    c = udp6_checksum(buf, udp_off, src_ip, dst_ip)
    buf[udp_off + 6] = c >> 8
    buf[udp_off + 7] = c & 0xFF
    return c


def icmp6_set_checksum(buf, icmp_off, length, src_ip, dst_ip):
    """Compute and store the ICMPv6 checksum (RFC 4443 2.3) of the length-byte
    message at buf[icmp_off:]; returns it."""
    c = _csum6(buf, icmp_off, length, src_ip, dst_ip, PROTO_ICMPV6, 2)
    buf[icmp_off + 2] = c >> 8
    buf[icmp_off + 3] = c & 0xFF
    return c


def udp6_frame(buf, off, dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload_len):
    """Write Ethernet+IPv6+UDP headers (hop limit 255) in front of a payload already at
    buf[off+62:], with the UDP checksum; returns the frame length (62 + payload_len)."""
    ulen = UDP_HLEN + payload_len
    eth_header(buf, off, dst_mac, src_mac, ETHERTYPE_IPV6)
    ipv6_header(buf, off + IP6_OFF, ulen, PROTO_UDP, 255, src_ip, dst_ip)
    udp_header(buf, off + UDP6_OFF, sport, dport, ulen, 0)
    udp6_set_checksum(buf, off + UDP6_OFF, src_ip, dst_ip)
    return UDP6_PAYLOAD + payload_len


def ndp_frame(buf, off, dst_mac, src_mac, src_ip, dst_ip, icmp_type, flags, target, lladdr):
    """Write a whole NS (icmp_type 135, flags 0) or NA (136, flags NA_*) frame with
    target address and one link-layer address option (SLLA for NS, TLLA for NA;
    RFC 4861 4.3/4.4/4.6.1), hop limit 255 and checksum; returns its length (86)."""
    eth_header(buf, off, dst_mac, src_mac, ETHERTYPE_IPV6)
    ipv6_header(buf, off + IP6_OFF, NDP_LEN, PROTO_ICMPV6, _NDP_HOPS, src_ip, dst_ip)
    q = off + ICMP6_OFF
    opt = NDP_OPT_SLLA if icmp_type == ICMP6_NS else NDP_OPT_TLLA
    # type, code, checksum 0, flags + 3 reserved bytes; option type, length 1 (8 bytes)
    struct.pack_into(">BBHBBBB", buf, q, icmp_type, 0, 0, flags, 0, 0, 0)
    _copy(buf, q + NDP_TARGET, target, 0, 16)
    buf[q + NDP_OPT] = opt
    buf[q + NDP_OPT + 1] = 1
    _copy(buf, q + NDP_OPT + 2, lladdr, 0, 6)
    icmp6_set_checksum(buf, q, NDP_LEN, src_ip, dst_ip)
    return ICMP6_OFF + NDP_LEN


def link_local_from_mac(dst, doff, mac):
    """Write fe80::/64 with the modified EUI-64 interface ID of mac (RFC 4291 2.5.1
    and appendix A; RFC 2464 section 5) into dst[doff:doff+16]."""
    dst[doff] = 0xFE
    dst[doff + 1] = 0x80
    i = 2
    while i < 8:
        dst[doff + i] = 0
        i += 1
    dst[doff + 8] = mac[0] ^ 0x02  # invert the universal/local bit
    dst[doff + 9] = mac[1]
    dst[doff + 10] = mac[2]
    dst[doff + 11] = 0xFF
    dst[doff + 12] = 0xFE
    dst[doff + 13] = mac[3]
    dst[doff + 14] = mac[4]
    dst[doff + 15] = mac[5]


def solicited_node(dst, doff, ip6):
    """Write the solicited-node multicast address ff02::1:ffXX:XXXX of ip6 (RFC 4291
    2.7.1) into dst[doff:doff+16]."""
    i = 0
    while i < 16:
        dst[doff + i] = 0
        i += 1
    dst[doff] = 0xFF
    dst[doff + 1] = 0x02
    dst[doff + 11] = 0x01
    dst[doff + 12] = 0xFF
    dst[doff + 13] = ip6[13]
    dst[doff + 14] = ip6[14]
    dst[doff + 15] = ip6[15]


def mcast_mac6(dst, doff, ip6):
    """Write the Ethernet multicast MAC 33:33:xx:xx:xx:xx of IPv6 group ip6 (RFC 2464
    section 7) into dst[doff:doff+6]."""
    dst[doff] = 0x33
    dst[doff + 1] = 0x33
    dst[doff + 2] = ip6[12]
    dst[doff + 3] = ip6[13]
    dst[doff + 4] = ip6[14]
    dst[doff + 5] = ip6[15]


def _classify6(buf, p, m):
    # the IPv6 packet at buf[p:], m bytes of frame after the Ethernet header
    if m < IP6_HLEN:
        return ERR_SHORT
    if buf[p] >> 4 != 6:
        return ERR_HDR
    plen = (buf[p + IP6_PLEN] << 8) | buf[p + IP6_PLEN + 1]
    if plen > m - IP6_HLEN:
        return ERR_SHORT
    nxt = buf[p + IP6_NXT]
    q = p + IP6_HLEN
    if nxt == PROTO_UDP:
        if plen < UDP_HLEN:
            return ERR_SHORT
        ulen = (buf[q + 4] << 8) | buf[q + 5]
        if ulen < UDP_HLEN or ulen > plen:
            return ERR_HDR
        # RFC 8200 8.1: a zero UDP checksum over IPv6 is invalid
        s = _csum(buf, p + IP6_SRC, 32, PROTO_UDP + ulen)
        if (buf[q + 6] | buf[q + 7]) == 0 or _csum(buf, q, ulen, s) != 0xFFFF:
            return ERR_CSUM
        return KIND_UDP6
    if nxt != PROTO_ICMPV6:
        return KIND_IP6
    if plen < 4:
        return ERR_SHORT
    s = _csum(buf, p + IP6_SRC, 32, PROTO_ICMPV6 + plen)
    if _csum(buf, q, plen, s) != 0xFFFF:
        return ERR_CSUM
    t = buf[q]
    if t != ICMP6_NS and t != ICMP6_NA:
        return KIND_IP6
    # RFC 4861 7.1.1 / 7.1.2 validity: hop limit 255, code 0, length >= 24,
    # every option length nonzero and inside the message
    if buf[p + IP6_HOPS] != _NDP_HOPS or buf[q + 1] != 0:
        return ERR_HDR
    if plen < NDP_OPT:
        return ERR_SHORT
    if buf[q + NDP_TARGET] == 0xFF:
        return ERR_HDR  # the target address must not be multicast
    o = NDP_OPT
    while o < plen:
        if o + 2 > plen:
            return ERR_HDR
        k = buf[q + o + 1]
        if k == 0 or o + 8 * k > plen:
            return ERR_HDR
        o += 8 * k
    if t == ICMP6_NS:
        return KIND_NS
    return KIND_NA


def ndp_lladdr(buf, off):
    """Index in buf of the MAC in the first link-layer address option of the KIND_NS
    (source) or KIND_NA (target) frame at buf[off:], or -1 if it has none."""
    q = off + ICMP6_OFF
    plen = (buf[off + IP6_OFF + IP6_PLEN] << 8) | buf[off + IP6_OFF + IP6_PLEN + 1]
    want = NDP_OPT_SLLA if buf[q] == ICMP6_NS else NDP_OPT_TLLA
    o = NDP_OPT
    while o + 8 <= plen:
        k = buf[q + o + 1]
        if k == 0:
            return -1
        if buf[q + o] == want:
            return q + o + 2
        o += 8 * k
    return -1


def udp6_sport(buf, off):
    """UDP source port of the KIND_UDP6 frame at buf[off:]."""
    return (buf[off + UDP6_OFF] << 8) | buf[off + UDP6_OFF + 1]


def udp6_dport(buf, off):
    """UDP destination port of the KIND_UDP6 frame at buf[off:]."""
    return (buf[off + UDP6_OFF + 2] << 8) | buf[off + UDP6_OFF + 3]


def udp6_payload_len(buf, off):
    """UDP payload length of the KIND_UDP6 frame at buf[off:] (payload at off + 62)."""
    return ((buf[off + UDP6_OFF + 4] << 8) | buf[off + UDP6_OFF + 5]) - UDP_HLEN


# ---- parsing -----------------------------------------------------------------


def u16(buf, off):
    """The big-endian 16-bit value at buf[off:off+2]."""
    return (buf[off] << 8) | buf[off + 1]


def eq(buf, off, ref, n):
    """1 if buf[off:off+n] equals ref[0:n], else 0."""
    i = 0
    while i < n:
        if buf[off + i] != ref[i]:
            return 0
        i += 1
    return 1


def is_broadcast_mac(buf, off):
    """1 if the 6 bytes at buf[off:] are ff:ff:ff:ff:ff:ff, else 0."""
    i = 0
    while i < 6:
        if buf[off + i] != 0xFF:
            return 0
        i += 1
    return 1


def classify(buf, off, n):
    """Check the n-byte Ethernet frame at buf[off:] and say what it is: a KIND_*
    constant (>= 0) or an ERR_* code (< 0). After KIND_ARP the 28-byte ARP
    packet, after KIND_UDP4 the IPv4 datagram and its UDP length are in bounds."""
    if off < 0 or n < ETH_HLEN or n > len(buf) - off:
        return ERR_SHORT
    et = (buf[off + 12] << 8) | buf[off + 13]
    p = off + ETH_HLEN
    if et == ETHERTYPE_ARP:
        if n < ETH_HLEN + ARP_LEN:
            return ERR_SHORT
        # RFC 826: hardware Ethernet, protocol IPv4, address lengths 6 and 4
        if (buf[p] << 8) | buf[p + 1] != _ARPHRD_ETHER:
            return ERR_HDR
        if (buf[p + 2] << 8) | buf[p + 3] != ETHERTYPE_IPV4:
            return ERR_HDR
        if buf[p + 4] != ETH_ALEN or buf[p + 5] != IP4_ALEN or buf[p + 6] != 0:
            return ERR_HDR
        op = buf[p + 7]
        if op != ARP_REQUEST and op != ARP_REPLY:
            return ERR_HDR
        return KIND_ARP
    if et == ETHERTYPE_IPV6:
        return _classify6(buf, p, n - ETH_HLEN)
    if et != ETHERTYPE_IPV4:
        return KIND_OTHER
    if n < ETH_HLEN + IP4_HLEN:
        return ERR_SHORT
    # RFC 791: version 4; IHL 5 only (debugnet drops packets with IP options)
    if buf[p] != _IP4_VHL:
        return ERR_HDR
    tot = (buf[p + 2] << 8) | buf[p + 3]
    if tot < IP4_HLEN:
        return ERR_HDR
    if tot > n - ETH_HLEN:
        return ERR_SHORT
    if _csum(buf, p, IP4_HLEN, 0) != 0xFFFF:
        return ERR_CSUM
    if ((buf[p + 6] << 8) | buf[p + 7]) & _IP_MF_OFF:
        return ERR_FRAG
    if buf[p + IP4_PROTO] != PROTO_UDP:
        return KIND_IP4
    if tot < IP4_HLEN + UDP_HLEN:
        return ERR_SHORT
    u = p + IP4_HLEN
    ulen = (buf[u + 4] << 8) | buf[u + 5]
    if ulen < UDP_HLEN or ulen > tot - IP4_HLEN:
        return ERR_HDR
    if buf[u + 6] | buf[u + 7]:
        # RFC 768: 0 means "no checksum"; otherwise pseudo-header + datagram sum to 0xFFFF
        s = _csum(buf, p + IP4_DST, 4, _csum(buf, p + IP4_SRC, 4, PROTO_UDP + ulen))
        if _csum(buf, u, ulen, s) != 0xFFFF:
            return ERR_CSUM
    return KIND_UDP4


def eth_type(buf, off):
    """EtherType of the Ethernet frame at buf[off:]."""
    return (buf[off + 12] << 8) | buf[off + 13]


def arp_op(buf, off):
    """ARP operation (ARP_REQUEST/ARP_REPLY) of the KIND_ARP frame at buf[off:]."""
    return (buf[off + ARP_OFF + ARP_OP] << 8) | buf[off + ARP_OFF + ARP_OP + 1]


def udp4_sport(buf, off):
    """UDP source port of the KIND_UDP4 frame at buf[off:]."""
    return (buf[off + UDP4_OFF] << 8) | buf[off + UDP4_OFF + 1]


def udp4_dport(buf, off):
    """UDP destination port of the KIND_UDP4 frame at buf[off:]."""
    return (buf[off + UDP4_OFF + 2] << 8) | buf[off + UDP4_OFF + 3]


def udp4_payload_len(buf, off):
    """UDP payload length of the KIND_UDP4 frame at buf[off:] (payload at off + 42)."""
    return ((buf[off + UDP4_OFF + 4] << 8) | buf[off + UDP4_OFF + 5]) - UDP_HLEN
