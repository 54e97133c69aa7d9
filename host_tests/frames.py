"""Frame builders and field readers the tests and host tools use, kept off the
boards: whole Ethernet/IPv4/IPv6/UDP frames with their checksums (RFC 768,
RFC 791, RFC 8200 8.1) and the fields of frames netdump.inet/inet6 classified.
Runs on CPython and on the MicroPython unix port (dual-runtime tests)."""

from netdump import fast, inet, inet6

_csum = fast.csum


def _done(s):
    # the inverted folded sum; a computed zero is sent as all ones (RFC 768, RFC 8200 8.1)
    c = 0xFFFF ^ s
    return 0xFFFF if c == 0 else c


def _ulen(buf, udp_off):
    return (buf[udp_off + 4] << 8) | buf[udp_off + 5]


def udp4_checksum(buf, udp_off, src_ip, dst_ip):
    """UDP-over-IPv4 checksum (1..0xFFFF) of the datagram at buf[udp_off:], length from
    its header; the checksum field's current content is ignored."""
    ulen = _ulen(buf, udp_off)
    s = inet.pseudo4_sum(src_ip, dst_ip, inet.PROTO_UDP, ulen)
    s = _csum(buf, udp_off, 6, s)
    return _done(_csum(buf, udp_off + inet.UDP_HLEN, ulen - inet.UDP_HLEN, s))


def udp6_checksum(buf, udp_off, src_ip, dst_ip):
    """UDP-over-IPv6 checksum (1..0xFFFF, mandatory) of the datagram at buf[udp_off:],
    length from its header; the checksum field is ignored."""
    ulen = _ulen(buf, udp_off)
    s = inet6.pseudo6_sum(src_ip, dst_ip, inet.PROTO_UDP, ulen)
    s = _csum(buf, udp_off, 6, s)
    return _done(_csum(buf, udp_off + inet.UDP_HLEN, ulen - inet.UDP_HLEN, s))


def _store(buf, udp_off, c):
    buf[udp_off + 6] = c >> 8
    buf[udp_off + 7] = c & 0xFF
    return c


def udp4_set_checksum(buf, udp_off, src_ip, dst_ip):
    """Compute the UDP-over-IPv4 checksum and store it in the header; returns it."""
    return _store(buf, udp_off, udp4_checksum(buf, udp_off, src_ip, dst_ip))


def udp6_set_checksum(buf, udp_off, src_ip, dst_ip):
    """Compute the UDP-over-IPv6 checksum and store it in the header; returns it."""
    return _store(buf, udp_off, udp6_checksum(buf, udp_off, src_ip, dst_ip))


def udp4_frame(buf, off, dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload_len):
    """Write Ethernet+IPv4+UDP headers in front of a payload already at buf[off+42:],
    with both checksums; returns the frame length (42 + payload_len)."""
    ulen = inet.UDP_HLEN + payload_len
    inet.eth_header(buf, off, dst_mac, src_mac, inet.ETHERTYPE_IPV4)
    inet.ipv4_header(buf, off + inet.IP4_OFF, inet.IP4_HLEN + ulen, inet.PROTO_UDP, src_ip, dst_ip)
    inet.udp_header(buf, off + inet.UDP4_OFF, sport, dport, ulen, 0)
    udp4_set_checksum(buf, off + inet.UDP4_OFF, src_ip, dst_ip)
    return inet.UDP4_PAYLOAD + payload_len


def udp6_frame(buf, off, dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload_len):
    """Write Ethernet+IPv6+UDP headers (hop limit 255) in front of a payload already at
    buf[off+62:], with the UDP checksum; returns the frame length (62 + payload_len)."""
    ulen = inet.UDP_HLEN + payload_len
    inet.eth_header(buf, off, dst_mac, src_mac, inet.ETHERTYPE_IPV6)
    inet6.ipv6_header(buf, off + inet6.IP6_OFF, ulen, inet.PROTO_UDP, 255, src_ip, dst_ip)
    inet.udp_header(buf, off + inet6.UDP6_OFF, sport, dport, ulen, 0)
    udp6_set_checksum(buf, off + inet6.UDP6_OFF, src_ip, dst_ip)
    return inet6.UDP6_PAYLOAD + payload_len


def u16(buf, off):
    """The big-endian 16-bit value at buf[off:off+2]."""
    return (buf[off] << 8) | buf[off + 1]


def arp_op(buf, off):
    """ARP operation (ARP_REQUEST/ARP_REPLY) of the KIND_ARP frame at buf[off:]."""
    return u16(buf, off + inet.ARP_OFF + inet.ARP_OP)


def udp4_sport(buf, off):
    """UDP source port of the KIND_UDP4 frame at buf[off:]."""
    return u16(buf, off + inet.UDP4_OFF)


def udp4_dport(buf, off):
    """UDP destination port of the KIND_UDP4 frame at buf[off:]."""
    return u16(buf, off + inet.UDP4_OFF + 2)


def udp4_payload_len(buf, off):
    """UDP payload length of the KIND_UDP4 frame at buf[off:] (payload at off + 42)."""
    return u16(buf, off + inet.UDP4_OFF + 4) - inet.UDP_HLEN


def udp6_sport(buf, off):
    """UDP source port of the KIND_UDP6 frame at buf[off:]."""
    return u16(buf, off + inet6.UDP6_OFF)


def udp6_dport(buf, off):
    """UDP destination port of the KIND_UDP6 frame at buf[off:]."""
    return u16(buf, off + inet6.UDP6_OFF + 2)


def udp6_payload_len(buf, off):
    """UDP payload length of the KIND_UDP6 frame at buf[off:] (payload at off + 62)."""
    return u16(buf, off + inet6.UDP6_OFF + 4) - inet.UDP_HLEN
