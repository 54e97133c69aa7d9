"""vnet user mode: the bridge plays the gateway, as QEMU's user networking does,
and needs no privileges (see vnet.py's module comment).

The gateway answers ARP requests for its IPv4 address and neighbour
solicitations for its IPv6 and link-local addresses (RFC 826, RFC 4861 7.2.4).
It checks the IPv4 header and UDP checksums of what the board sends (and counts
the bad ones: the board's checksums are under test here) and relays UDP
payloads to loopback, keeping ports: the board's (ip, port) gets a host socket
bound to loopback:port (an ephemeral port if that one is taken), each datagram
goes to loopback:<destination port>, and whatever arrives on that socket goes
back to the board from <the address it last sent to>:<sender's port>.
Everything else (TCP, ICMP, multicast listener reports...) is counted and
dropped. It never sends anything to a non-loopback address.
"""
import logging
import socket
import struct

log = logging.getLogger("vnet")

ETH_ARP = 0x0806  # IEEE EtherType numbers
ETH_IP4 = 0x0800
ETH_IP6 = 0x86DD
PROTO_UDP = 17  # IANA protocol numbers
PROTO_ICMP6 = 58
ICMP6_NS = 135  # RFC 4861 section 4.3 / 4.4
ICMP6_NA = 136
BCAST = b"\xff" * 6


def csum(data, acc=0):
    """RFC 1071 ones-complement sum of data plus acc, folded, not inverted."""
    if len(data) & 1:
        data = bytes(data) + b"\x00"
    s = acc + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def mac_bytes(text):
    """6 bytes from aa:bb:cc:dd:ee:ff."""
    b = bytes(int(x, 16) for x in text.split(":"))
    if len(b) != 6:
        raise ValueError("bad MAC %s" % text)
    return b


def link_local(mac):
    """fe80::/64 + modified EUI-64 of mac (RFC 4291 appendix A)."""
    return b"\xfe\x80" + b"\x00" * 6 + bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:6]


def split_cidr(text, family):
    """("addr", prefix) -> (packed address, prefix length)."""
    addr, _, plen = text.partition("/")
    packed = socket.inet_pton(family, addr)
    return packed, int(plen) if plen else (24 if family == socket.AF_INET else 64)


def udp4_frame(dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload, ident=0):
    """A whole Ethernet/IPv4/UDP frame with both checksums (TTL 64, DF)."""
    ulen = 8 + len(payload)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ident & 0xFFFF, 0x4000, 64, PROTO_UDP,
                               0, src_ip, dst_ip))
    struct.pack_into("!H", ip, 10, 0xFFFF ^ csum(ip))
    udp = bytearray(struct.pack("!HHHH", sport, dport, ulen, 0) + payload)
    c = 0xFFFF ^ csum(udp, csum(src_ip + dst_ip, PROTO_UDP + ulen))
    struct.pack_into("!H", udp, 6, c or 0xFFFF)
    return dst_mac + src_mac + struct.pack("!H", ETH_IP4) + bytes(ip) + bytes(udp)


def udp6_frame(dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload, hops=64):
    """A whole Ethernet/IPv6/UDP frame with its checksum."""
    ulen = 8 + len(payload)
    udp = bytearray(struct.pack("!HHHH", sport, dport, ulen, 0) + payload)
    c = 0xFFFF ^ csum(udp, csum(src_ip + dst_ip, PROTO_UDP + ulen))
    struct.pack_into("!H", udp, 6, c or 0xFFFF)
    ip = struct.pack("!IHBB16s16s", 0x60000000, ulen, PROTO_UDP, hops, src_ip, dst_ip)
    return dst_mac + src_mac + struct.pack("!H", ETH_IP6) + ip + bytes(udp)


def na_frame(dst_mac, src_mac, src_ip, dst_ip, target, flags):
    """A neighbour advertisement with a target link-layer address option."""
    body = bytearray(struct.pack("!BBHI16sBB6s", ICMP6_NA, 0, 0, flags << 24, target, 2, 1, src_mac))
    c = 0xFFFF ^ csum(body, csum(src_ip + dst_ip, PROTO_ICMP6 + len(body)))
    struct.pack_into("!H", body, 2, c)
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(body), PROTO_ICMP6, 255, src_ip, dst_ip)
    return dst_mac + src_mac + struct.pack("!H", ETH_IP6) + ip + bytes(body)


def arp_frame(dst_mac, src_mac, op, sha, spa, tha, tpa):
    """An Ethernet/IPv4 ARP frame (RFC 826), padded to 60 bytes."""
    f = dst_mac + src_mac + struct.pack("!HHHBBH6s4s6s4s", ETH_ARP, 1, ETH_IP4, 6, 4, op, sha, spa, tha, tpa)
    return f + b"\x00" * (60 - len(f))


class _Flow:
    def __init__(self, sock, family):
        self.sock = sock
        self.family = family
        self.board_mac = b""
        self.board_ip = b""
        self.board_port = 0
        self.virt_ip = b""  # the address the board last sent to


class UserNet:
    """The user-mode network side of the bridge."""

    def __init__(self, ip4="10.0.2.2/24", ip6="fd00:2::2/64", mac="52:55:0a:00:02:02",
                 loopback4="127.0.0.1", loopback6="::1", arp_ignore=0):
        self.mac = mac_bytes(mac)
        self.arp_ignore = arp_ignore  # ARP requests for the gateway left unanswered first (retries)
        self.ip4, self.plen4 = split_cidr(ip4, socket.AF_INET)
        self.ip6, self.plen6 = split_cidr(ip6, socket.AF_INET6)
        self.ll6 = link_local(self.mac)
        self.lo4 = loopback4
        self.lo6 = loopback6
        self.flows = {}  # (family, board ip, board port) -> _Flow
        self.by_sock = {}
        self.emit = None  # set by the bridge: emit(frame) towards the board
        self.ident = 0
        self.counts = {"arp_replies": 0, "arp_ignored": 0, "na_sent": 0, "udp_out": 0, "udp_in": 0,
                       "bad_checksum": 0, "dropped": 0}

    def describe(self):
        return "gateway %s/%d %s/%d mac %s" % (socket.inet_ntop(socket.AF_INET, self.ip4), self.plen4,
                                                socket.inet_ntop(socket.AF_INET6, self.ip6), self.plen6,
                                                ":".join("%02x" % b for b in self.mac))

    def summary(self):
        return dict(self.counts)

    def fds(self):
        return self.by_sock.keys()

    def close(self):
        for s in self.by_sock:
            s.close()

    # ---- frames from the board ----------------------------------------------
    def input(self, frame):
        """Handle one frame from the board."""
        if len(frame) < 14:
            return self._drop("runt")
        dst = frame[0:6]
        if dst != self.mac and dst != BCAST and dst[0:2] != b"\x33\x33":
            return self._drop("not for us")
        et = struct.unpack_from("!H", frame, 12)[0]
        if et == ETH_ARP:
            return self._arp(frame)
        if et == ETH_IP4:
            return self._ip4(frame)
        if et == ETH_IP6:
            return self._ip6(frame)
        return self._drop("ethertype %04x" % et)

    def _drop(self, why):
        self.counts["dropped"] += 1
        log.debug("dropped: %s", why)

    def _arp(self, f):
        if len(f) < 42:
            return self._drop("short ARP")
        hrd, pro, hln, pln, op = struct.unpack_from("!HHBBH", f, 14)
        sha, spa, tpa = f[22:28], f[28:32], f[38:42]
        if (hrd, pro, hln, pln, op) != (1, ETH_IP4, 6, 4, 1) or tpa != self.ip4:
            return self._drop("ARP not for the gateway")
        if self.counts["arp_ignored"] < self.arp_ignore:
            self.counts["arp_ignored"] += 1
            return None
        self.counts["arp_replies"] += 1
        self.emit(arp_frame(sha, self.mac, 2, self.mac, self.ip4, sha, spa))

    def _ip4(self, f):
        if len(f) < 34 or f[14] != 0x45:
            return self._drop("IPv4 with options or not version 4")
        tot = struct.unpack_from("!H", f, 16)[0]
        if tot < 28 or 14 + tot > len(f):
            return self._drop("bad IPv4 length")
        if csum(f[14:34]) != 0xFFFF:
            self.counts["bad_checksum"] += 1
            log.warning("bad IPv4 header checksum from the board")
            return None
        if f[23] != PROTO_UDP or struct.unpack_from("!H", f, 20)[0] & 0x3FFF:
            return self._drop("not UDP, or a fragment")
        src, dst = f[26:30], f[30:34]
        udp = f[34:14 + tot]
        sport, dport, ulen, c = struct.unpack_from("!HHHH", udp, 0)
        if ulen < 8 or ulen > len(udp):
            return self._drop("bad UDP length")
        udp = udp[:ulen]
        if c and csum(udp, csum(src + dst, PROTO_UDP + ulen)) != 0xFFFF:
            self.counts["bad_checksum"] += 1
            log.warning("bad UDP checksum from the board")
            return None
        self._relay(socket.AF_INET, f[6:12], src, sport, dst, dport, udp[8:])

    def _ip6(self, f):
        if len(f) < 54 or f[14] >> 4 != 6:
            return self._drop("short IPv6")
        plen, nxt = struct.unpack_from("!HB", f, 18)
        if 54 + plen > len(f):
            return self._drop("bad IPv6 length")
        src, dst = f[22:38], f[38:54]
        body = f[54:54 + plen]
        pseudo = csum(src + dst, nxt + plen)
        if nxt == PROTO_ICMP6:
            if csum(body, pseudo) != 0xFFFF:
                self.counts["bad_checksum"] += 1
                log.warning("bad ICMPv6 checksum from the board")
                return None
            if plen >= 24 and body[0] == ICMP6_NS and f[21] == 255 and body[8:24] in (self.ip6, self.ll6):
                self.counts["na_sent"] += 1
                if src == b"\x00" * 16:  # DAD probe: answer all nodes
                    self.emit(na_frame(b"\x33\x33\x00\x00\x00\x01", self.mac, body[8:24],
                                       b"\xff\x02" + b"\x00" * 13 + b"\x01", body[8:24], 0x20))
                else:
                    self.emit(na_frame(f[6:12], self.mac, body[8:24], src, body[8:24], 0xE0))  # R, S, O
                return None
            return self._drop("ICMPv6 type %d" % (body[0] if body else -1))
        if nxt != PROTO_UDP or plen < 8:
            return self._drop("IPv6 next header %d" % nxt)
        sport, dport, ulen, c = struct.unpack_from("!HHHH", body, 0)
        if ulen < 8 or ulen > plen:
            return self._drop("bad UDP length")
        if c == 0 or csum(body[:ulen], csum(src + dst, PROTO_UDP + ulen)) != 0xFFFF:
            self.counts["bad_checksum"] += 1
            log.warning("bad UDP/IPv6 checksum from the board")
            return None
        self._relay(socket.AF_INET6, f[6:12], src, sport, dst, dport, body[8:ulen])

    # ---- the relay ------------------------------------------------------------
    def _relay(self, family, board_mac, board_ip, sport, dst_ip, dport, payload):
        key = (family, bytes(board_ip), sport)
        fl = self.flows.get(key)
        if fl is None:
            fl = self._open_flow(family, sport)
            fl.board_ip = bytes(board_ip)
            fl.board_port = sport
            self.flows[key] = fl
            self.by_sock[fl.sock] = fl
        fl.board_mac = bytes(board_mac)
        fl.virt_ip = bytes(dst_ip)
        lo = self.lo4 if family == socket.AF_INET else self.lo6
        try:
            fl.sock.sendto(payload, (lo, dport))
            self.counts["udp_out"] += 1
        except OSError as e:
            log.debug("relay to %s:%d: %s", lo, dport, e)

    def _open_flow(self, family, port):
        lo = self.lo4 if family == socket.AF_INET else self.lo6
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            s.bind((lo, port))
        except OSError:
            s.close()
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.bind((lo, 0))
            log.warning("port %d taken on %s: replies to it will not reach the board; relaying from %d",
                        port, lo, s.getsockname()[1])
        s.setblocking(False)
        log.debug("flow from board port %d via %s:%d", port, lo, s.getsockname()[1])
        return _Flow(s, family)

    def readable(self, sock, now):
        """A host socket of a flow has datagrams: send them to the board."""
        fl = self.by_sock.get(sock)
        if fl is None:
            return
        for _ in range(256):
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("flow socket: %s", e)
                return
            self.counts["udp_in"] += 1
            if fl.family == socket.AF_INET:
                self.ident = (self.ident + 1) & 0xFFFF
                f = udp4_frame(fl.board_mac, self.mac, fl.virt_ip, fl.board_ip, addr[1], fl.board_port, data,
                               self.ident)
            else:
                f = udp6_frame(fl.board_mac, self.mac, fl.virt_ip, fl.board_ip, addr[1], fl.board_port, data)
            self.emit(f, now)
