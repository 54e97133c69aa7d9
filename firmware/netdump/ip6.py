# IPv6 + UDP framing of debugnet datagrams for EtherEndpoint (ether.py), the
# IPv6 twin of ip4.py: a frame template made at arm time (Ethernet, IPv6 with
# hop limit 255, UDP), patched per datagram with the lengths and the UDP
# checksum, which IPv6 makes mandatory (RFC 8200 section 8.1).
#
#   Udp6(link, client_ip, server_ip, client_port, mtu)    arm time
#   .send(buf, n) -> 1/0, .set_dport(port), .set_next_hop(mac)   as in ip4.py
# Everything after the constructor allocates nothing.
from netdump import fast, inet, inet6
from netdump.compat import const
from netdump.inet import fold
from netdump.link import ES_TX, ES_TX_ERR, ETH_MIN, OFF

OVERHEAD = const(48)  # RFC 8200 header + RFC 768 header
ALEN = const(16)
SRC = const(22)  # inet6.IP6_OFF + inet6.IP6_SRC
DST = const(38)  # inet6.IP6_OFF + inet6.IP6_DST
UDP = const(54)  # inet6.UDP6_OFF
MTU_MIN = const(1280)  # RFC 8200 section 5

_IP = const(16)  # OFF + inet6.IP6_OFF: the IPv6 header in the buffer
_U = const(56)  # OFF + inet6.UDP6_OFF: the UDP header
_PAY = const(64)  # OFF + inet6.UDP6_PAYLOAD: the payload


class Udp6:
    """The IPv6/UDP frame template and its per-datagram patch."""

    def __init__(self, link, client_ip, server_ip, client_port, mtu):  # arm-time
        self.link = link
        self.client_ip = client_ip
        self.server_ip = server_ip
        self.client_port = client_port
        self.maxpay = mtu - OVERHEAD
        self.tx = bytearray(OFF + inet.ETH_HLEN + mtu)
        self.txv = memoryview(self.tx)[OFF:]
        self._copy_csum = fast.copy_csum
        inet6.ipv6_header(self.tx, _IP, 0, inet.PROTO_UDP, 255, client_ip, server_ip)
        inet.udp_header(self.tx, _U, client_port, 0, 0, 0)
        self._pseudo = inet6.pseudo6_sum(client_ip, server_ip, inet.PROTO_UDP, 0)
        self._usum = 0
        self.dport = 0
        self.set_dport(0)

    def set_dport(self, port):
        """Destination port of the UDP template and its checksum share."""
        self.dport = port
        self.tx[_U + 2] = port >> 8
        self.tx[_U + 3] = port & 0xFF
        self._usum = fold(self._pseudo + self.client_port + port)

    def set_next_hop(self, mac):
        """Ethernet header of every datagram: to mac, from our MAC, IPv6."""
        inet.eth_header(self.tx, OFF, mac, self.link.mac, inet.ETHERTYPE_IPV6)

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
        tx[_IP + 4] = ulen >> 8  # payload length (RFC 8200 section 3)
        tx[_IP + 5] = ulen & 0xFF
        tx[_U + 4] = ulen >> 8
        tx[_U + 5] = ulen & 0xFF
        # RFC 8200 section 8.1: pseudo-header (addresses, length, next header) + header + data
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
