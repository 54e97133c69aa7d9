# dual-runtime
# Ethernet/ARP/IPv4/UDP build and parse (firmware/netdump/inet.py): known
# bytes, checksums, every classify() outcome, and no allocation under
# micropython.heap_lock() for every packet-path function.
from dualtest import MICROPYTHON, locked, unhex
import frames
from netdump import fast, inet, inet6

MAC_A = unhex("020000000001")  # server (locally administered, IEEE 802 U/L bit)
MAC_B = unhex("02000000000a")  # board
IP_A = bytes([10, 0, 0, 1])
IP_B = bytes([10, 0, 0, 2])
BCAST = unhex("ffffffffffff")
ZERO6 = bytes(6)

# A UDP/IPv4 frame board -> server (20024 -> 20023) with an 12-byte payload,
# built and checked by an independent struct encoder (test_inet_props.py).
UDP_FRAME = (
    "020000000001 02000000000a 0800"
    " 4500 0028 0000 4000 ff11 67c2 0a00 0002 0a00 0001"
    " 4e38 4e37 0014 86fa"
    " 00000001 6e657464756d7021"
)
# A captured IPv4 header (TTL 64) with header checksum 0xB861.
CAPTURED_IP = "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7"


def _ref_sum(b, off, n):
    """Straightforward RFC 1071 folded sum (independent of fast.csum)."""
    t = 0
    for i in range(0, n, 2):
        t += b[off + i] << 8
        if i + 1 < n:
            t += b[off + i + 1]
    while t > 0xFFFF:
        t = (t & 0xFFFF) + (t >> 16)
    return t


def _udp_frame(payload, off=0, extra=0):
    buf = bytearray(off + 42 + len(payload) + extra)
    buf[off + 42 : off + 42 + len(payload)] = payload
    n = frames.udp4_frame(buf, off, MAC_A, MAC_B, IP_B, IP_A, 20024, 20023, len(payload))
    return buf, n


def _fix_ip_csum(buf, p):
    buf[p + 10] = 0
    buf[p + 11] = 0
    c = 0xFFFF ^ _ref_sum(buf, p, 20)
    buf[p + 10] = c >> 8
    buf[p + 11] = c & 0xFF


def test_eth_header_bytes():
    buf = bytearray(16)
    assert inet.eth_header(buf, 1, BCAST, MAC_B, inet.ETHERTYPE_ARP) == 15
    assert bytes(buf) == unhex("00 ffffffffffff 02000000000a 0806 00")


def test_arp_request_bytes():
    buf = bytearray(30)
    assert inet.arp_packet(buf, 2, inet.ARP_REQUEST, MAC_B, IP_B, ZERO6, IP_A) == 30
    # RFC 826: htype 1, ptype 0x0800, hlen 6, plen 4, op 1, sha spa tha tpa
    assert bytes(buf[2:]) == unhex("0001 0800 06 04 0001 02000000000a 0a000002 000000000000 0a000001")


def test_ipv4_header_debugnet_fields():
    buf = bytearray(21)
    assert inet.ipv4_header(buf, 1, 0x73, inet.PROTO_UDP, unhex("c0a80001"), unhex("c0a800c7")) == 21
    # the captured header with TTL 255 instead of 64: ID 0, DF, checksum 0xF960
    assert bytes(buf[1:]) == unhex("4500 0073 0000 4000 ff11 f960 c0a8 0001 c0a8 00c7")
    assert fast.csum(buf, 1, 20, 0) == 0xFFFF
    assert _ref_sum(buf, 1, 20) == 0xFFFF


def test_captured_header_checksum_and_classify():
    hdr = unhex(CAPTURED_IP)
    assert _ref_sum(hdr, 0, 20) == 0xFFFF
    # put it in a frame: 115-byte datagram, UDP with no checksum (0)
    buf = bytearray(14 + 115)
    inet.eth_header(buf, 0, MAC_A, MAC_B, inet.ETHERTYPE_IPV4)
    buf[14:34] = hdr
    inet.udp_header(buf, 34, 53, 1234, 95, 0)
    for i in range(42, 129):
        buf[i] = i
    assert inet.classify(buf, 0, len(buf)) == inet.KIND_UDP4
    assert frames.udp4_sport(buf, 0) == 53 and frames.udp4_dport(buf, 0) == 1234
    assert frames.udp4_payload_len(buf, 0) == 87
    buf[14 + 8] = 0x41  # TTL changed, checksum not
    assert inet.classify(buf, 0, len(buf)) == inet.ERR_CSUM


def test_udp4_frame_known_bytes():
    buf, n = _udp_frame(unhex("00000001") + b"netdump!", off=2, extra=3)
    assert n == 54
    assert bytes(buf[2 : 2 + n]) == unhex(UDP_FRAME)
    assert buf[0] == 0 and buf[1] == 0 and bytes(buf[2 + n :]) == bytes(3)
    assert inet.classify(buf, 2, n) == inet.KIND_UDP4


def test_udp4_checksum_verifies_and_ignores_field():
    buf, n = _udp_frame(b"hello, odd length")
    c = frames.u16(buf, 40)
    # the pseudo-header + datagram sum to 0xFFFF when the checksum is right
    s = _ref_sum(IP_B + IP_A + bytes([0, 17]) + bytes([buf[38], buf[39]]), 0, 12)
    t = s + _ref_sum(buf, 34, n - 34)
    while t > 0xFFFF:
        t = (t & 0xFFFF) + (t >> 16)
    assert t == 0xFFFF
    buf[40] = 0x12
    buf[41] = 0x34
    assert frames.udp4_checksum(buf, 34, IP_B, IP_A) == c
    assert inet.classify(buf, 0, n) == inet.ERR_CSUM
    assert frames.udp4_set_checksum(buf, 34, IP_B, IP_A) == c
    assert inet.classify(buf, 0, n) == inet.KIND_UDP4


def test_udp4_computed_zero_sent_as_ffff():
    buf, n = _udp_frame(b"\x00\x00\x00\x00")
    s = 0xFFFF ^ frames.udp4_checksum(buf, 34, IP_B, IP_A)  # folded sum with field 0
    # choose the payload word that makes the sum 0xFFFF, so the checksum is 0
    w = 0xFFFF - s
    buf[42] = w >> 8
    buf[43] = w & 0xFF
    assert frames.udp4_set_checksum(buf, 34, IP_B, IP_A) == 0xFFFF
    assert buf[40] == 0xFF and buf[41] == 0xFF
    assert inet.classify(buf, 0, n) == inet.KIND_UDP4


def test_pseudo4_sum():
    # RFC 768 pseudo-header: src, dst, zero, protocol, UDP length
    ref = _ref_sum(IP_B + IP_A + bytes([0, 17, 0x01, 0x00]), 0, 12)
    assert inet.pseudo4_sum(IP_B, IP_A, 17, 256) == ref


def test_classify_arp():
    buf = bytearray(60)  # padded to the Ethernet minimum
    inet.eth_header(buf, 0, BCAST, MAC_A, inet.ETHERTYPE_ARP)
    inet.arp_packet(buf, 14, inet.ARP_REQUEST, MAC_A, IP_A, ZERO6, IP_B)
    assert inet.classify(buf, 0, 60) == inet.KIND_ARP
    assert inet.classify(buf, 0, 42) == inet.KIND_ARP
    assert inet.classify(buf, 0, 41) == inet.ERR_SHORT
    assert frames.arp_op(buf, 0) == inet.ARP_REQUEST
    assert inet.eth_type(buf, 0) == inet.ETHERTYPE_ARP
    assert inet.is_broadcast_mac(buf, 0) == 1 and inet.is_broadcast_mac(buf, 6) == 0
    assert inet.eq(buf, 14 + inet.ARP_TPA, IP_B, 4) == 1
    assert inet.eq(buf, 14 + inet.ARP_SPA, IP_B, 4) == 0
    assert inet.eq(buf, 14 + inet.ARP_SHA, MAC_A, 6) == 1
    inet.arp_packet(buf, 14, inet.ARP_REPLY, MAC_A, IP_A, MAC_B, IP_B)
    assert inet.classify(buf, 0, 60) == inet.KIND_ARP and frames.arp_op(buf, 0) == 2
    for i, v in ((14, 1), (15, 6), (16, 0x86), (18, 8), (19, 16), (20, 1), (21, 3), (21, 0)):
        b = bytearray(buf)
        b[i] = v
        assert inet.classify(b, 0, 60) == inet.ERR_HDR, (i, v)


def test_classify_other_and_ip4():
    buf = bytearray(64)
    inet.eth_header(buf, 0, MAC_B, MAC_A, 0x88CC)  # LLDP (IEEE 802.1AB)
    assert inet.classify(buf, 0, 64) == inet.KIND_OTHER
    assert inet6.classify(buf, 0, 64) == inet.KIND_OTHER  # not IPv6 either
    inet.eth_header(buf, 0, MAC_B, MAC_A, inet.ETHERTYPE_IPV6)
    assert inet.classify(buf, 0, 64) == inet.KIND_OTHER  # IPv6 is inet6's
    assert inet6.classify(buf, 0, 64) == inet.ERR_HDR  # version 0
    assert inet6.classify(buf, 0, 13) == inet.ERR_SHORT
    inet.eth_header(buf, 0, MAC_B, MAC_A, inet.ETHERTYPE_VLAN)  # debugnet drops VLAN tags
    assert inet.classify(buf, 0, 64) == inet.KIND_OTHER
    inet.eth_header(buf, 0, MAC_B, MAC_A, inet.ETHERTYPE_IPV4)
    inet.ipv4_header(buf, 14, 28, inet.PROTO_ICMP, IP_A, IP_B)
    assert inet.classify(buf, 0, 64) == inet.KIND_IP4
    assert inet.classify(buf, 0, 14) == inet.ERR_SHORT
    assert inet.classify(buf, 0, 13) == inet.ERR_SHORT


def test_classify_errors():
    buf, n = _udp_frame(b"abcdefgh")
    assert inet.classify(buf, 0, n) == inet.KIND_UDP4
    # every truncation of a UDP frame is reported short, never crashes
    for k in range(0, n):
        assert inet.classify(buf, 0, k) == inet.ERR_SHORT, k
    # n beyond the buffer, negative offset
    assert inet.classify(buf, 0, n + 1) == inet.ERR_SHORT
    assert inet.classify(buf, -1, 10) == inet.ERR_SHORT
    assert inet.classify(buf, 5, n) == inet.ERR_SHORT

    def mutated(i, v, fix_ip=True):
        b = bytearray(buf)
        b[i] = v
        if fix_ip:
            _fix_ip_csum(b, 14)
        return inet.classify(b, 0, n)

    assert mutated(14, 0x65) == inet.ERR_HDR  # version 6 in an IPv4 frame
    assert mutated(14, 0x46) == inet.ERR_HDR  # IP options (IHL 6)
    assert mutated(14, 0x44) == inet.ERR_HDR  # IHL 4
    assert mutated(14 + 8, 1, fix_ip=False) == inet.ERR_CSUM  # TTL changed only
    assert mutated(14 + 6, 0x60) == inet.ERR_FRAG  # DF + MF
    assert mutated(14 + 7, 0x01) == inet.ERR_FRAG  # fragment offset 8
    assert mutated(14 + 6, 0x00) == inet.KIND_UDP4  # DF clear is fine
    assert mutated(14 + 3, 19) == inet.ERR_HDR  # total length < 20
    assert mutated(14 + 3, 24) == inet.ERR_SHORT  # no room for the UDP header
    assert mutated(14 + 3, 0x30 + 1) == inet.ERR_SHORT  # longer than the frame
    assert mutated(34 + 5, 7) == inet.ERR_HDR  # UDP length < 8
    assert mutated(34 + 5, 17) == inet.ERR_HDR  # UDP length > IP payload
    assert mutated(45, 0x99) == inet.ERR_CSUM  # payload byte changed
    # UDP checksum 0 means "none": accepted whatever the payload
    b = bytearray(buf)
    b[40] = 0
    b[41] = 0
    b[45] = 0x99
    assert inet.classify(b, 0, n) == inet.KIND_UDP4
    # a datagram shorter than the frame (Ethernet padding) is fine
    b2, n2 = _udp_frame(b"x", extra=20)
    assert inet.classify(b2, 0, n2 + 20) == inet.KIND_UDP4
    assert frames.udp4_payload_len(b2, 0) == 1


def test_getters():
    buf, n = _udp_frame(b"\x00\x00\x00\x07", off=2)
    assert inet.eth_type(buf, 2) == inet.ETHERTYPE_IPV4
    assert frames.udp4_sport(buf, 2) == 20024
    assert frames.udp4_dport(buf, 2) == 20023
    assert frames.udp4_payload_len(buf, 2) == 4
    assert frames.u16(buf, 2 + inet.UDP4_PAYLOAD + 2) == 7
    assert inet.eq(buf, 2 + inet.IP4_OFF + inet.IP4_SRC, IP_B, 4) == 1
    assert inet.eq(buf, 2 + inet.IP4_OFF + inet.IP4_DST, IP_A, 4) == 1
    assert inet.eq(buf, 2, MAC_A, 6) == 1 and inet.eq(buf, 8, MAC_B, 6) == 1
    assert inet.eq(buf, 2, MAC_B, 6) == 0
    assert inet.eq(buf, 2, MAC_B, 0) == 1
    assert inet.KIND_NAMES[inet.KIND_UDP4] == "udp4"
    assert inet.ERR_NAMES[inet.ERR_CSUM] == "bad checksum"


def test_addresses_may_be_any_buffer():
    # MAC/IP as bytes, bytearray or memoryview give the same frame
    b1, n1 = _udp_frame(b"zz")
    b2 = bytearray(44)
    b2[42:44] = b"zz"
    frames.udp4_frame(b2, 0, bytearray(MAC_A), memoryview(MAC_B), bytearray(IP_B), memoryview(IP_A), 20024, 20023, 2)
    assert b1 == b2


def _build_udp(buf):
    # udp4_frame has more arguments than dualtest.locked passes on
    return frames.udp4_frame(buf, 2, MAC_A, MAC_B, IP_B, IP_A, 20024, 20023, 1024)


def _build_arp(buf):
    return inet.arp_packet(buf, 16, inet.ARP_REQUEST, MAC_B, IP_B, ZERO6, IP_A)


def test_no_allocation_under_heap_lock():
    buf = bytearray(1600)
    mv = memoryview(buf)
    payload = bytearray(1024)
    for i in range(1024):
        payload[i] = i & 0xFF
    fast.copy(buf, 2 + 42, payload, 0, 1024)
    assert locked(inet.eth_header, buf, 2, MAC_A, MAC_B, inet.ETHERTYPE_IPV4) == 16
    assert locked(inet.ipv4_header, buf, 16, 1052, inet.PROTO_UDP, IP_B, IP_A) == 36
    assert locked(inet.udp_header, buf, 36, 20024, 20023, 1032, 0) == 44
    c = locked(frames.udp4_checksum, buf, 36, IP_B, IP_A)
    assert 0 < c <= 0xFFFF
    assert locked(frames.udp4_set_checksum, buf, 36, IP_B, IP_A) == c
    assert locked(inet.pseudo4_sum, IP_B, IP_A, 17, 1032) > 0
    n = locked(_build_udp, mv)
    assert n == 1066
    assert locked(inet.classify, buf, 2, n) == inet.KIND_UDP4
    assert locked(frames.udp4_sport, buf, 2) == 20024
    assert locked(frames.udp4_dport, buf, 2) == 20023
    assert locked(frames.udp4_payload_len, buf, 2) == 1024
    assert locked(inet.eth_type, buf, 2) == inet.ETHERTYPE_IPV4
    assert locked(frames.u16, buf, 2 + 12) == 0x0800
    assert locked(inet.eq, buf, 2, MAC_A, 6) == 1
    assert locked(inet.is_broadcast_mac, buf, 2) == 0
    # error paths do not allocate either
    assert locked(inet.classify, buf, 2, 20) == inet.ERR_SHORT
    buf[2 + 14 + 8] = 1
    assert locked(inet.classify, buf, 2, n) == inet.ERR_CSUM
    # ARP
    a = bytearray(64)
    assert locked(inet.eth_header, a, 2, BCAST, MAC_B, inet.ETHERTYPE_ARP) == 16
    assert locked(_build_arp, a) == 44
    assert locked(inet.classify, a, 2, 60) == inet.KIND_ARP
    assert locked(frames.arp_op, a, 2) == inet.ARP_REQUEST
    if MICROPYTHON:
        # the frame the board sends is 4-byte aligned from the IP header on
        assert (fast.addr_of(buf) + 2 + 14) % 4 == 0


# ---- IPv6 / neighbour discovery ---------------------------------------------

LL_A = unhex("fe80 0000 0000 0000 0000 00ff fe00 0001")  # link-local of MAC_A
LL_B = unhex("fe80 0000 0000 0000 0000 00ff fe00 000a")  # link-local of MAC_B


def _fold(t):
    while t > 0xFFFF:
        t = (t & 0xFFFF) + (t >> 16)
    return t


def _pseudo6(src, dst, nxt, length):
    return _ref_sum(src + dst + bytes([0, 0, length >> 8, length & 0xFF, 0, 0, 0, nxt]), 0, 40)


def test_eui64_link_local_rfc4291_example():
    # RFC 4291 appendix A: 34-56-78-9A-BC-DE -> interface ID 3656:78FF:FE9A:BCDE
    out = bytearray(17)
    inet6.link_local_from_mac(out, 1, unhex("3456789abcde"))
    assert bytes(out[1:]) == unhex("fe80 0000 0000 0000 3656 78ff fe9a bcde")
    inet6.link_local_from_mac(out, 0, MAC_A)
    assert bytes(out[0:16]) == LL_A


def test_solicited_node_and_multicast_mac():
    # RFC 4291 2.7.1: 4037::01:800:200E:8C6C -> FF02::1:FF0E:8C6C
    ip = unhex("4037 0000 0000 0000 0001 0800 200e 8c6c")
    sn = bytearray(16)
    inet6.solicited_node(sn, 0, ip)
    assert bytes(sn) == unhex("ff02 0000 0000 0000 0000 0001 ff0e 8c6c")
    mac = bytearray(6)
    inet6.mcast_mac6(mac, 0, sn)  # RFC 2464 section 7
    assert bytes(mac) == unhex("3333ff0e8c6c")


def test_ipv6_header_bytes():
    buf = bytearray(41)
    assert inet6.ipv6_header(buf, 1, 0x1234, 17, 64, LL_B, LL_A) == 41
    assert bytes(buf[1:9]) == unhex("60000000 1234 11 40")
    assert bytes(buf[9:25]) == LL_B and bytes(buf[25:41]) == LL_A


def _udp6(payload, off=0):
    buf = bytearray(off + 62 + len(payload))
    buf[off + 62 :] = payload
    n = frames.udp6_frame(buf, off, MAC_A, MAC_B, LL_B, LL_A, 20024, 20023, len(payload))
    return buf, n


def test_udp6_frame_and_classify():
    buf, n = _udp6(b"\x00\x00\x00\x05odd", off=2)
    assert n == 62 + 7
    assert inet.eth_type(buf, 2) == inet.ETHERTYPE_IPV6
    assert inet6.classify(buf, 2, n) == inet6.KIND_UDP6
    assert frames.udp6_sport(buf, 2) == 20024 and frames.udp6_dport(buf, 2) == 20023
    assert frames.udp6_payload_len(buf, 2) == 7
    # RFC 8200 8.1: pseudo-header + datagram sum to 0xFFFF
    assert _fold(_pseudo6(LL_B, LL_A, 17, 15) + _ref_sum(buf, 2 + 54, 15)) == 0xFFFF
    c = frames.u16(buf, 2 + 54 + 6)
    assert frames.udp6_checksum(buf, 2 + 54, LL_B, LL_A) == c
    b = bytearray(buf)
    b[2 + 62 + 4] ^= 1
    assert inet6.classify(b, 2, n) == inet.ERR_CSUM
    b = bytearray(buf)
    b[2 + 60] = 0
    b[2 + 61] = 0  # a zero UDP checksum is invalid over IPv6
    assert inet6.classify(b, 2, n) == inet.ERR_CSUM
    for k in range(n):
        assert inet6.classify(buf, 2, k) == inet.ERR_SHORT, k
    b = bytearray(buf)
    b[2 + 14] = 0x45  # version 4 in an IPv6 frame
    assert inet6.classify(b, 2, n) == inet.ERR_HDR
    b = bytearray(buf)
    b[2 + 14 + 6] = 0  # hop-by-hop options header: not handled
    assert inet6.classify(b, 2, n) == inet6.KIND_IP6
    b = bytearray(buf)
    b[2 + 54 + 5] = 16  # UDP length > payload length
    assert inet6.classify(b, 2, n) == inet.ERR_HDR


def test_udp6_zero_sum_sent_as_ffff():
    buf, n = _udp6(b"\x00\x00")
    s = 0xFFFF ^ frames.udp6_checksum(buf, 54, LL_B, LL_A)
    w = 0xFFFF - s
    buf[62] = w >> 8
    buf[63] = w & 0xFF
    assert frames.udp6_set_checksum(buf, 54, LL_B, LL_A) == 0xFFFF
    assert inet6.classify(buf, 0, n) == inet6.KIND_UDP6


def _ns_frame():
    # board asks "who has LL_A" from LL_B, to LL_A's solicited-node group
    sn = bytearray(16)
    inet6.solicited_node(sn, 0, LL_A)
    dmac = bytearray(6)
    inet6.mcast_mac6(dmac, 0, sn)
    buf = bytearray(90)
    n = inet6.ndp_frame(buf, 2, dmac, MAC_B, LL_B, sn, inet6.ICMP6_NS, 0, LL_A, MAC_B)
    return buf, n, sn


def test_ndp_ns_bytes_and_classify():
    buf, n, sn = _ns_frame()
    assert n == 86
    assert bytes(buf[2:16]) == unhex("3333ff000001 02000000000a 86dd")
    assert bytes(buf[16:24]) == unhex("60000000 0020 3a ff")
    q = 2 + 54
    # RFC 4861 4.3: type 135, code 0, checksum, reserved, target, SLLA option
    assert buf[q] == 135 and buf[q + 1] == 0 and bytes(buf[q + 4 : q + 8]) == bytes(4)
    assert bytes(buf[q + 8 : q + 24]) == LL_A
    assert bytes(buf[q + 24 : q + 32]) == unhex("0101 02000000000a")
    assert _fold(_pseudo6(LL_B, sn, 58, 32) + _ref_sum(buf, q, 32)) == 0xFFFF
    assert inet6.classify(buf, 2, n) == inet6.KIND_NS
    assert inet6.ndp_lladdr(buf, 2) == q + 26
    assert inet.eq(buf, inet6.ndp_lladdr(buf, 2), MAC_B, 6) == 1
    assert inet.eq(buf, 2 + inet6.ICMP6_OFF + inet6.NDP_TARGET, LL_A, 16) == 1


def test_ndp_na_and_invalid():
    buf = bytearray(86)
    flags = inet6.NA_SOLICITED | inet6.NA_OVERRIDE
    n = inet6.ndp_frame(buf, 0, MAC_B, MAC_A, LL_A, LL_B, inet6.ICMP6_NA, flags, LL_A, MAC_A)
    assert buf[54] == 136 and buf[58] == 0x60
    assert buf[54 + 24] == 2  # target link-layer address option (RFC 4861 4.6.1)
    assert inet6.classify(buf, 0, n) == inet6.KIND_NA
    assert inet6.ndp_lladdr(buf, 0) == 54 + 26

    def broken(i, v):
        b = bytearray(buf)
        b[i] = v
        b[56] = 0
        b[57] = 0
        inet6.icmp6_set_checksum(b, 54, 32, LL_A, LL_B)
        return inet6.classify(b, 0, n)

    assert broken(14 + 7, 64) == inet.ERR_HDR  # hop limit not 255 (forwarded)
    assert broken(55, 1) == inet.ERR_HDR  # code not 0
    assert broken(54 + 25, 0) == inet.ERR_HDR  # option length 0
    assert broken(54 + 25, 2) == inet.ERR_HDR  # option runs past the end
    assert broken(54 + 8, 0xFF) == inet.ERR_HDR  # multicast target
    assert broken(54, 128) == inet6.KIND_IP6  # echo request: not ours
    b = bytearray(buf)
    b[60] ^= 0x10
    assert inet6.classify(b, 0, n) == inet.ERR_CSUM
    # a bare NA without options is valid but has no link-layer address
    b = bytearray(buf)
    b[18] = 0
    b[19] = 24
    b[56] = 0
    b[57] = 0
    inet6.icmp6_set_checksum(b, 54, 24, LL_A, LL_B)
    assert inet6.classify(b, 0, 78) == inet6.KIND_NA
    assert inet6.ndp_lladdr(b, 0) == -1
    b[19] = 20  # shorter than an NA
    b[56] = 0
    b[57] = 0
    inet6.icmp6_set_checksum(b, 54, 20, LL_A, LL_B)
    assert inet6.classify(b, 0, 74) == inet.ERR_SHORT


def _build_ns(buf, sn, dmac):
    return inet6.ndp_frame(buf, 2, dmac, MAC_B, LL_B, sn, inet6.ICMP6_NS, 0, LL_A, MAC_B)


def _build_udp6(buf):
    return frames.udp6_frame(buf, 2, MAC_A, MAC_B, LL_B, LL_A, 20024, 20023, 1024)


def test_ipv6_no_allocation_under_heap_lock():
    buf = bytearray(1200)
    n = locked(_build_udp6, buf)
    assert n == 1086
    assert locked(inet6.classify, buf, 2, n) == inet6.KIND_UDP6
    assert locked(frames.udp6_checksum, buf, 2 + 54, LL_B, LL_A) > 0
    assert locked(frames.udp6_set_checksum, buf, 2 + 54, LL_B, LL_A) > 0
    assert locked(frames.udp6_sport, buf, 2) == 20024
    assert locked(frames.udp6_dport, buf, 2) == 20023
    assert locked(frames.udp6_payload_len, buf, 2) == 1024
    assert locked(inet6.pseudo6_sum, LL_B, LL_A, 17, 8) > 0
    sn = bytearray(16)
    dmac = bytearray(6)
    ll = bytearray(16)
    locked(inet6.solicited_node, sn, 0, LL_A)
    locked(inet6.mcast_mac6, dmac, 0, sn)
    locked(inet6.link_local_from_mac, ll, 0, MAC_A)
    assert ll == LL_A
    f = bytearray(90)
    assert locked(_build_ns, f, sn, dmac) == 86
    assert locked(inet6.classify, f, 2, 86) == inet6.KIND_NS
    assert locked(inet6.ndp_lladdr, f, 2) == 2 + 54 + 26
    assert locked(inet6.icmp6_set_checksum, f, 2 + 54, 32, LL_B, sn) > 0
    assert locked(_build_ip6, f, sn) == 2 + 54


def _build_ip6(buf, dst):
    return inet6.ipv6_header(buf, 2 + 14, 32, 58, 255, LL_B, dst)
