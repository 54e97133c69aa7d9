# The UDP part of EtherEndpoint's datagram framing, shared by ip4.py (IPv4) and
# ip6.py (IPv6): one frame buffer with a template made at arm time (Ethernet,
# the family's IP header, UDP with its checksum share), patched per datagram
# with the lengths and the checksums. The family classes write their IP header
# into the template; the per-datagram patch (IPv4: total length and header
# checksum; IPv6: payload length; then the UDP length and checksum and the
# padding) is one viper call (fast.udp_finish), so a datagram costs the same
# either way and neither family needs the other's module.
#
# Zero copy: debugnet builds each datagram in place, at the UDP payload offset
# of the frame buffer (tx_buffer), with the RFC 1071 sum of what it wrote, and
# xmit() completes the frame around it and hands it to the NIC.
#
#   .tx_buffer(n) -> (tx, off)  arm time: the frame buffer and where a datagram
#                             of up to n bytes goes in it
#   .xmit(n, s) -> 1/0        the n-byte datagram at tx[off:] (sum s) to the server
#   .send(buf, n) -> 1/0      buf[0:n] copied there, then xmit (the herald)
#   .set_dport(port)          destination port (herald port, then the session's)
#   .set_next_hop(mac)        Ethernet destination once resolved
# Everything after the constructor allocates nothing.
from netdump import fast, inet
from netdump.compat import const
from netdump.inet import fold
from netdump.link import ES_TX, ES_TX_ERR, OFF

_IP = const(16)  # OFF + the Ethernet header: the IP header in the buffer
_IP_F = const(14)  # the same in the frame (tx from OFF on)


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
        self._copy_csum = fast.copy_csum
        self._finish = fast.udp_finish
        self._nic_send = link.nic.send
        self._ip_sum = 0  # IPv4: header sum without total length and checksum (ip4.py sets it)
        self._pseudo = 0  # pseudo-header sum without the UDP length (the family sets it)
        # fast.udp_finish's parameters: the IP and UDP headers in the frame, IPv4 or not,
        # and the two checksum shares (written by set_dport)
        fp = bytearray(8)
        fp[0] = _IP_F
        fp[1] = self._u - OFF
        fp[2] = v4
        self._fp = fp
        self.dport = 0
        inet.udp_header(self.tx, self._u, client_port, 0, 0, 0)
        # what xmit() reads per datagram, fixed from here on: one attribute load
        self._xp = (link, link.stats, self.maxpay, self.txv, self._finish, fp, self._nic_send)

    def set_dport(self, port):
        """Destination port of the UDP template and its checksum share."""
        self.dport = port
        u = self._u
        self.tx[u + 2] = port >> 8
        self.tx[u + 3] = port & 0xFF
        u = fold(self._pseudo + self.client_port + port)  # pseudo-header + ports
        fp = self._fp
        fp[4] = self._ip_sum >> 8
        fp[5] = self._ip_sum & 0xFF
        fp[6] = u >> 8
        fp[7] = u & 0xFF

    def set_next_hop(self, mac):
        """Ethernet header of every datagram: to mac, from our MAC."""
        inet.eth_header(self.tx, OFF, mac, self.link.mac, self._ethertype)

    def tx_buffer(self, n):  # arm-time
        """The frame buffer and the offset in it where a datagram of up to n bytes is built."""
        if n > self.maxpay:
            raise ValueError("datagram larger than the MTU allows")
        return self.tx, self._pay

    def send(self, buf, n):
        """Send buf[0:n] as one UDP datagram to the server -> 1, or 0 if it could not."""
        if n > self.maxpay or n < 0:
            self.link.stats[ES_TX_ERR] += 1
            return 0
        return self.xmit(n, self._copy_csum(self.tx, self._pay, buf, 0, n, 0))

    def xmit(self, n, s):
        """Send the n-byte datagram at tx[tx_buffer offset:] (RFC 1071 sum s) to the server -> 1/0."""
        link, st, maxpay, txv, finish, fp, nic_send = self._xp
        if not link.resolved or n > maxpay or n < 0:
            st[ES_TX_ERR] += 1
            return 0
        flen = finish(txv, n, s, fp)
        try:
            r = nic_send(txv, flen)
        except OSError:
            r = 0
        if r is None or r:
            st[ES_TX] += 1
            return 1
        st[ES_TX_ERR] += 1
        return 0
