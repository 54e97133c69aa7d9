# IPv6 with ICMPv6 neighbour discovery, and UDP over IPv6: build into and
# parse from a caller's frame buffer, with checksums, like inet.py does for
# Ethernet, ARP and IPv4 (and with its Ethernet helpers and ERR_* codes).
# Device side and allocation-free. A board that dumps over IPv4 only need not
# carry this module (docs/modules.md#import-rules).
#
# RFC 8200 (IPv6), RFC 4443 (ICMPv6), RFC 4861 (neighbour discovery), RFC 4291
# (addressing), RFC 2464 (IPv6 over Ethernet).
import struct

from netdump import fast
from netdump.compat import const
from netdump.inet import (ERR_CSUM, ERR_HDR, ERR_SHORT, ETH_HLEN, ETHERTYPE_IPV6, KIND_OTHER, PROTO_UDP, UDP_HLEN,
                          eth_header, udp_header)

_copy = fast.copy
_csum = fast.csum

# ---- sizes and offsets (from the start of an Ethernet frame) -----------------
IP6_HLEN = const(40)  # RFC 8200 section 3
IP6_ALEN = const(16)
IP6_OFF = const(14)
UDP6_OFF = const(54)
UDP6_PAYLOAD = const(62)
ICMP6_OFF = const(54)
NDP_LEN = const(32)  # NS/NA (RFC 4861 4.3/4.4: 24 bytes) + one 8-byte lladdr option
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
PROTO_ICMPV6 = const(58)  # IANA protocol number, RFC 4443

# ---- what classify() returns besides inet's KIND_OTHER and ERR_* (the numbers
# continue inet's KIND_* so that both can be told apart) --------------------------
KIND_UDP6 = const(4)  # IPv6 (no extension headers) + UDP, checksum good
KIND_NS = const(5)  # ICMPv6 neighbour solicitation, valid per RFC 4861 7.1.1
KIND_NA = const(6)  # ICMPv6 neighbour advertisement, valid per RFC 4861 7.1.2
KIND_IP6 = const(7)  # valid IPv6 header, anything else (extension headers, other ICMPv6)


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


def icmp6_set_checksum(buf, icmp_off, length, src_ip, dst_ip):
    """Compute and store the ICMPv6 checksum (RFC 4443 2.3) of the length-byte
    message at buf[icmp_off:]; returns it."""
    c = _csum6(buf, icmp_off, length, src_ip, dst_ip, PROTO_ICMPV6, 2)
    buf[icmp_off + 2] = c >> 8
    buf[icmp_off + 3] = c & 0xFF
    return c


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


def classify(buf, off, n):
    """Check the n-byte Ethernet frame carrying IPv6 at buf[off:] and say what it is: a
    KIND_* constant (>= 0; inet.KIND_OTHER for another EtherType) or an inet.ERR_* code (< 0).
    After KIND_NS / KIND_NA the whole message and its options are in bounds."""
    if off < 0 or n < ETH_HLEN or n > len(buf) - off:
        return ERR_SHORT
    if ((buf[off + 12] << 8) | buf[off + 13]) != ETHERTYPE_IPV6:
        return KIND_OTHER
    p = off + ETH_HLEN
    m = n - ETH_HLEN
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
