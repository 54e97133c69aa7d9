# IPv4 + UDP framing of debugnet datagrams for EtherEndpoint (ether.py): a
# frame template made at arm time (Ethernet, IPv4 and UDP headers with their
# checksum shares), patched per datagram with the lengths and the checksums.
# The header is FreeBSD's (docs/protocol.md#ipv4-and-udp-framing): IHL 5, ID
# 0, DF, TTL 255; the UDP checksum always computed, 0 sent as 0xFFFF.
#
#   Udp4(link, client_ip, server_ip, client_port, mtu)    arm time
#   .send(buf, n) -> 1/0      buf[0:n] as one datagram to the server; what
#                             EtherEndpoint.send is (one call per datagram)
#   .set_dport(port)          destination port (herald port, then the session's)
#   .set_next_hop(mac)        Ethernet destination once resolved
#   .retarget(port)           the server address (server_ip) changed; send to port
# Everything after the constructor allocates nothing.
#
# Where EtherEndpoint finds a received datagram's fields, for its checks: the
# frame offsets SRC, DST (ALEN bytes each) and UDP.
from netdump import fast, inet
from netdump.compat import const
from netdump.inet import fold
from netdump.link import ES_TX, ES_TX_ERR, ETH_MIN, OFF

OVERHEAD = const(28)  # RFC 791 header (IHL 5) + RFC 768 header
ALEN = const(4)
SRC = const(26)  # inet.IP4_OFF + inet.IP4_SRC
DST = const(30)  # inet.IP4_OFF + inet.IP4_DST
UDP = const(34)  # inet.UDP4_OFF
MTU_MIN = const(576)  # RFC 791 section 3.1: every host takes 576-byte datagrams

_IP = const(16)  # OFF + inet.IP4_OFF: the IPv4 header in the buffer
_U = const(36)  # OFF + inet.UDP4_OFF: the UDP header
_PAY = const(44)  # OFF + inet.UDP4_PAYLOAD: the payload


class Udp4:
    """The IPv4/UDP frame template and its per-datagram patch (see the module comment)."""

    def __init__(self, link, client_ip, server_ip, client_port, mtu):  # arm-time
        self.link = link
        self.client_ip = client_ip
        self.server_ip = server_ip  # a bytearray: EtherEndpoint.set_server patches it
        self.client_port = client_port
        self.maxpay = mtu - OVERHEAD
        self.tx = bytearray(OFF + inet.ETH_HLEN + mtu)
        self.txv = memoryview(self.tx)[OFF:]
        self._copy_csum = fast.copy_csum
        self._csum = fast.csum
        self._ip_sum = 0  # header sum without total length and checksum
        self._pseudo = 0  # pseudo-header sum without the UDP length
        self._usum = 0  # pseudo-header + ports
        self.dport = 0
        inet.ipv4_header(self.tx, _IP, 0, inet.PROTO_UDP, client_ip, server_ip)
        inet.udp_header(self.tx, _U, client_port, 0, 0, 0)
        self.retarget(0)

    def retarget(self, port):
        """Take the server address from server_ip again (header, checksum shares); send to port."""
        tx = self.tx
        i = 0
        while i < 4:
            tx[_IP + inet.IP4_DST + i] = self.server_ip[i]
            i += 1
        tx[_IP + 2] = 0  # total length and checksum are left out of the share
        tx[_IP + 3] = 0
        tx[_IP + 10] = 0
        tx[_IP + 11] = 0
        self._ip_sum = self._csum(tx, _IP, inet.IP4_HLEN, 0)
        self._pseudo = inet.pseudo4_sum(self.client_ip, self.server_ip, inet.PROTO_UDP, 0)
        self.set_dport(port)

    def set_dport(self, port):
        """Destination port of the UDP template and its checksum share."""
        self.dport = port
        self.tx[_U + 2] = port >> 8
        self.tx[_U + 3] = port & 0xFF
        self._usum = fold(self._pseudo + self.client_port + port)

    def set_next_hop(self, mac):
        """Ethernet header of every datagram: to mac, from our MAC, IPv4."""
        inet.eth_header(self.tx, OFF, mac, self.link.mac, inet.ETHERTYPE_IPV4)

    def send(self, buf, n):
        """Send buf[0:n] as one UDP datagram to the server -> 1, or 0 if it could not."""
        link = self.link
        st = link.stats
        if not link.resolved or n > self.maxpay or n < 0:
            st[ES_TX_ERR] += 1
            return 0
        tx = self.tx
        s = self._copy_csum(tx, _PAY, buf, 0, n, 0)
        ulen = n + inet.UDP_HLEN
        tot = ulen + inet.IP4_HLEN
        tx[_IP + 2] = tot >> 8  # total length (RFC 791 section 3.1)
        tx[_IP + 3] = tot & 0xFF
        c = 0xFFFF ^ fold(self._ip_sum + tot)
        tx[_IP + 10] = c >> 8
        tx[_IP + 11] = c & 0xFF
        tx[_U + 4] = ulen >> 8
        tx[_U + 5] = ulen & 0xFF
        # RFC 768: pseudo-header (addresses, protocol, length) + header + data
        c = 0xFFFF ^ fold(fold(s + self._usum + ulen + ulen))
        if c == 0:
            c = 0xFFFF  # RFC 768: a computed zero is sent as all ones
        tx[_U + 6] = c >> 8
        tx[_U + 7] = c & 0xFF
        flen = _PAY - OFF + n
        while flen < ETH_MIN:
            tx[OFF + flen] = 0
            flen += 1
        if link.xmit(self.txv, flen):
            st[ES_TX] += 1
            return 1
        st[ES_TX_ERR] += 1
        return 0
