# IPv6 + UDP framing of debugnet datagrams for EtherEndpoint (ether.py), the
# IPv6 twin of ip4.py: the IPv6 header (hop limit 255) of the template in
# udp.py; the UDP checksum is mandatory over IPv6 (RFC 8200 section 8.1).
#
#   Udp6(link, client_ip, server_ip, client_port, mtu)    arm time
#   .send, .set_dport, .set_next_hop                      udp.Udp
# Everything after the constructor allocates nothing.
from netdump import inet, inet6
from netdump.compat import const
from netdump.udp import Udp

OVERHEAD = const(48)  # RFC 8200 header + RFC 768 header
ALEN = const(16)
SRC = const(22)  # inet6.IP6_OFF + inet6.IP6_SRC
DST = const(38)  # inet6.IP6_OFF + inet6.IP6_DST
UDP = const(54)  # inet6.UDP6_OFF
ACK_MATCH = const(62)  # UDP + 8: the frame bytes an ack is compared on (its UDP header)
MTU_MIN = const(1280)  # RFC 8200 section 5

_IP = const(16)  # the IPv6 header in the buffer (link.OFF + inet6.IP6_OFF)


class Udp6(Udp):
    """The IPv6/UDP frame template."""

    def __init__(self, link, client_ip, server_ip, client_port, mtu):  # arm-time
        Udp.__init__(self, link, client_ip, server_ip, client_port, mtu, OVERHEAD, inet.ETHERTYPE_IPV6, 0)
        inet6.ipv6_header(self.tx, _IP, 0, inet.PROTO_UDP, 255, client_ip, server_ip)
        self._pseudo = inet6.pseudo6_sum(client_ip, server_ip, inet.PROTO_UDP, 0)
        self.set_dport(0)
