# Ethernet II, ARP, IPv4 and UDP: build into and parse from a caller's frame
# buffer, with checksums (IPv6 and neighbour discovery: inet6.py). Device side
# and allocation-free: builders write at an offset and return the offset just
# past what they wrote; parsers return one small int (a field, a KIND_*
# constant, 0/1, or a negative ERR_* code). MAC and IP addresses are
# 6-/4-/16-byte bytes-like objects, never ints.
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

# Offsets inside an IPv4 header (RFC 791 section 3.1).
IP4_PROTO = const(9)
IP4_SRC = const(12)
IP4_DST = const(16)

# ---- what classify() returns -------------------------------------------------
KIND_OTHER = const(0)  # well formed as far as checked, but not handled here
KIND_ARP = const(1)  # Ethernet/IPv4 ARP request or reply, fields sane
KIND_UDP4 = const(2)  # IPv4 (IHL 5, unfragmented, checksums good) + UDP
KIND_IP4 = const(3)  # valid IPv4 header, protocol other than UDP

ERR_SHORT = const(-1)  # frame shorter than its headers say (or than n)
ERR_HDR = const(-2)  # a malformed or unsupported header field
ERR_CSUM = const(-3)  # IPv4 header or UDP checksum wrong
ERR_FRAG = const(-4)  # an IPv4 fragment (debugnet never reassembles)

# names of inet's and inet6's KIND_* (host side: tests, tools)
KIND_NAMES = {0: "other", 1: "arp", 2: "udp4", 3: "ip4", 4: "udp6", 5: "ns", 6: "na", 7: "ip6"}
ERR_NAMES = {-1: "short frame", -2: "bad header", -3: "bad checksum", -4: "fragment"}


# ---- building ----------------------------------------------------------------


def fold(s):
    """A ones-complement sum folded to 16 bits (RFC 1071 section 4.1, end-around carry), for s < 2**29."""
    s = (s & 0xFFFF) + (s >> 16)
    return (s & 0xFFFF) + (s >> 16)


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


# ---- parsing -----------------------------------------------------------------


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
