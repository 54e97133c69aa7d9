# IPv4 + UDP framing of debugnet datagrams for EtherEndpoint (ether.py): the
# IPv4 header of the template in udp.py and its checksum share. The header is
# FreeBSD's (docs/protocol.md#ipv4-and-udp-framing): IHL 5, ID 0, DF, TTL 255;
# the UDP checksum always computed, 0 sent as 0xFFFF.
#
#   Udp4(link, client_ip, server_ip, client_port, mtu)    arm time
#   .send, .set_dport, .set_next_hop                      udp.Udp
#   .retarget(port)           the server address (server_ip) changed; send to port
# Everything after the constructor allocates nothing.
#
# Where EtherEndpoint finds a received datagram's fields, for its checks: the
# frame offsets SRC, DST (ALEN bytes each) and UDP; ACK_MATCH, how many frame
# bytes its ack template covers.
from netdump import fast, inet
from netdump.compat import const
from netdump.udp import Udp

OVERHEAD = const(28)  # RFC 791 header (IHL 5) + RFC 768 header
ALEN = const(4)
SRC = const(26)  # inet.IP4_OFF + inet.IP4_SRC
DST = const(30)  # inet.IP4_OFF + inet.IP4_DST
UDP = const(34)  # inet.UDP4_OFF
ACK_MATCH = const(42)  # UDP + 8: the frame bytes an ack is compared on (its UDP header)
MTU_MIN = const(576)  # RFC 791 section 3.1: every host takes 576-byte datagrams

_IP = const(16)  # the IPv4 header in the buffer (link.OFF + inet.IP4_OFF)


class Udp4(Udp):
    """The IPv4/UDP frame template (see the module comment)."""

    def __init__(self, link, client_ip, server_ip, client_port, mtu):  # arm-time
        Udp.__init__(self, link, client_ip, server_ip, client_port, mtu, OVERHEAD, inet.ETHERTYPE_IPV4, 1)
        self._csum = fast.csum
        inet.ipv4_header(self.tx, _IP, 0, inet.PROTO_UDP, client_ip, server_ip)
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
