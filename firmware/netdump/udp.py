# The UDP part of EtherEndpoint's datagram framing, shared by ip4.py (IPv4) and
# ip6.py (IPv6): one frame buffer with a template made at arm time (Ethernet,
# the family's IP header, UDP with its checksum share), patched per datagram
# with the lengths and the checksums. The family classes write their IP header
# into the template; the per-datagram patch of that header is a two-way branch
# here (IPv4: total length and header checksum; IPv6: payload length), so a
# datagram costs one call either way and neither family needs the other's
# module.
#
#   .send(buf, n) -> 1/0      buf[0:n] as one datagram to the server; what
#                             EtherEndpoint.send is (one call per datagram)
#   .set_dport(port)          destination port (herald port, then the session's)
#   .set_next_hop(mac)        Ethernet destination once resolved
# Everything after the constructor allocates nothing.
from netdump import fast, inet
from netdump.compat import const
from netdump.inet import fold
from netdump.link import ES_TX, ES_TX_ERR, ETH_MIN, OFF

_IP = const(16)  # OFF + the Ethernet header: the IP header in the buffer


class Udp:
    """A UDP datagram template over IPv4 (v4=1) or IPv6; ip4.Udp4 / ip6.Udp6 write the IP header."""

    def __init__(self, link, client_ip, server_ip, client_port, mtu, overhead, ethertype, v4):  # arm-time
        self.link = link
        self.client_ip = client_ip
        self.server_ip = server_ip
        self.client_port = client_port
        self.maxpay = mtu - overhead
        self.tx = bytearray(OFF + inet.ETH_HLEN + mtu)
        self.txv = memoryview(self.tx)[OFF:]
        self._u = _IP + overhead - inet.UDP_HLEN  # the UDP header in the buffer
        self._pay = _IP + overhead  # the payload
        self._ethertype = ethertype
        self._v4 = v4
        self._copy_csum = fast.copy_csum
        self._ip_sum = 0  # IPv4: header sum without total length and checksum
        self._pseudo = 0  # pseudo-header sum without the UDP length (the family sets it)
        self._usum = 0  # pseudo-header + ports
        self.dport = 0
        inet.udp_header(self.tx, self._u, client_port, 0, 0, 0)

    def set_dport(self, port):
        """Destination port of the UDP template and its checksum share."""
        self.dport = port
        u = self._u
        self.tx[u + 2] = port >> 8
        self.tx[u + 3] = port & 0xFF
        self._usum = fold(self._pseudo + self.client_port + port)

    def set_next_hop(self, mac):
        """Ethernet header of every datagram: to mac, from our MAC."""
        inet.eth_header(self.tx, OFF, mac, self.link.mac, self._ethertype)

    def send(self, buf, n):
        """Send buf[0:n] as one UDP datagram to the server -> 1, or 0 if it could not."""
        link = self.link
        st = link.stats
        if not link.resolved or n > self.maxpay or n < 0:
            st[ES_TX_ERR] += 1
            return 0
        tx = self.tx
        s = self._copy_csum(tx, self._pay, buf, 0, n, 0)
        ulen = n + inet.UDP_HLEN
        if self._v4:
            tot = ulen + inet.IP4_HLEN
            tx[_IP + 2] = tot >> 8  # total length (RFC 791 section 3.1)
            tx[_IP + 3] = tot & 0xFF
            c = 0xFFFF ^ fold(self._ip_sum + tot)
            tx[_IP + 10] = c >> 8
            tx[_IP + 11] = c & 0xFF
        else:
            tx[_IP + 4] = ulen >> 8  # payload length (RFC 8200 section 3)
            tx[_IP + 5] = ulen & 0xFF
        u = self._u
        tx[u + 4] = ulen >> 8
        tx[u + 5] = ulen & 0xFF
        # RFC 768 / RFC 8200 section 8.1: pseudo-header (addresses, length,
        # protocol) + header + data
        c = 0xFFFF ^ fold(fold(s + self._usum + ulen + ulen))
        if c == 0:
            c = 0xFFFF  # RFC 768: a computed zero is sent as all ones
        tx[u + 6] = c >> 8
        tx[u + 7] = c & 0xFF
        flen = self._pay - OFF + n
        while flen < ETH_MIN:
            tx[OFF + flen] = 0
            flen += 1
        if link.xmit(self.txv, flen):
            st[ES_TX] += 1
            return 1
        st[ES_TX_ERR] += 1
        return 0
