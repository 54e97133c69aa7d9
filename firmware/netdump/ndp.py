# Neighbour discovery for EtherEndpoint (ether.py) over IPv6, the IPv6 twin of
# arp.py: resolve the next hop with a neighbour solicitation to its
# solicited-node group, and answer solicitations for our address (RFC 4861
# sections 7.2.2-7.2.4; RFC 4291 section 2.7.1; RFC 2464 section 7).
#
#   Ndp(link, client_ip)        arm time: the control frame buffer, our group
#   .solicit(target)            one NS for target (16 bytes)
#   .input(kind)                NS for us: answer with an NA; NA for link.want:
#                               learn its MAC; anything else dropped
#   .group(rx, off) -> 1/0      a frame to our solicited-node group's MAC
# Everything after the constructor allocates nothing.
from netdump import fast, inet, inet6
from netdump.link import ES_CLAIMS, ES_DROP_OTHER, ES_NA_SENT, ES_SOLICITS, OFF

_ALLNODES_IP = b"\xff\x02" + b"\x00" * 13 + b"\x01"  # ff02::1 (RFC 4291 section 2.7.1)
_ALLNODES_MAC = b"\x33\x33\x00\x00\x00\x01"  # RFC 2464 section 7


class Ndp:
    """Neighbour solicitations and advertisements over a Link."""

    def __init__(self, link, client_ip):  # arm-time
        self.link = link
        self.client_ip = client_ip
        self.ctl = bytearray(OFF + 96)  # NS / NA frames (86 bytes)
        self.ctlv = memoryview(self.ctl)[OFF:]
        self._copy = fast.copy
        sn = bytearray(16)
        inet6.solicited_node(sn, 0, client_ip)
        self._my_snmac = bytearray(6)  # our solicited-node group's MAC
        inet6.mcast_mac6(self._my_snmac, 0, sn)
        self._sn_ip = bytearray(16)  # scratch: a target's solicited-node group ...
        self._sn_mac = bytearray(6)  # ... and its MAC
        self._peer_ip = bytearray(16)  # scratch: the address to answer
        self._peer_mac = bytearray(6)

    def group(self, rx, off):
        """1 for a frame to our solicited-node group (the NS that resolve us)."""
        return inet.eq(rx, off, self._my_snmac, 6)

    def solicit(self, target):
        """Send one NS for target to its solicited-node group."""
        link = self.link
        inet6.solicited_node(self._sn_ip, 0, target)
        inet6.mcast_mac6(self._sn_mac, 0, self._sn_ip)
        n = inet6.ndp_frame(self.ctl, OFF, self._sn_mac, link.mac, self.client_ip, self._sn_ip,
                            inet6.ICMP6_NS, 0, target, link.mac)
        link.stats[ES_SOLICITS] += 1
        link.xmit(self.ctlv, n)

    def input(self, kind):
        """An NS or NA in link.rx; anything else is dropped."""
        if kind == inet6.KIND_NS:
            self._ns_in()
        elif kind == inet6.KIND_NA:
            self._na_in()
        else:
            self.link.stats[ES_DROP_OTHER] += 1

    def _ns_in(self):
        """Neighbour solicitation: answer one for our address (RFC 4861 section 7.2.4)."""
        link = self.link
        rx = link.rx
        st = link.stats
        q = OFF + inet6.ICMP6_OFF
        ip = OFF + inet6.IP6_OFF
        if not inet.eq(rx, q + inet6.NDP_TARGET, self.client_ip, 16):
            st[ES_DROP_OTHER] += 1
            return
        if inet.eq(rx, ip + inet6.IP6_SRC, self.client_ip, 16):
            st[ES_CLAIMS] += 1  # someone else uses our address
            return
        # unspecified source (duplicate address detection): answer all nodes
        dad = 1
        i = 0
        while i < 16:
            if rx[ip + inet6.IP6_SRC + i]:
                dad = 0
                break
            i += 1
        if dad:
            dip = _ALLNODES_IP
            dmac = _ALLNODES_MAC
            flags = inet6.NA_OVERRIDE
        else:
            dip = self._peer_ip
            self._copy(dip, 0, rx, ip + inet6.IP6_SRC, 16)
            dmac = self._peer_mac
            k = inet6.ndp_lladdr(rx, OFF)
            self._copy(dmac, 0, rx, k if k >= 0 else OFF + 6, 6)
            flags = inet6.NA_SOLICITED | inet6.NA_OVERRIDE
        n = inet6.ndp_frame(self.ctl, OFF, dmac, link.mac, self.client_ip, dip, inet6.ICMP6_NA, flags,
                            self.client_ip, link.mac)
        if link.xmit(self.ctlv, n):
            st[ES_NA_SENT] += 1

    def _na_in(self):
        """Neighbour advertisement: the next hop's MAC while resolving."""
        link = self.link
        rx = link.rx
        want = link.want
        if want is None or not inet.eq(rx, OFF + inet6.ICMP6_OFF + inet6.NDP_TARGET, want, 16):
            link.stats[ES_DROP_OTHER] += 1
            return
        k = inet6.ndp_lladdr(rx, OFF)
        self._copy(link.dmac, 0, rx, k if k >= 0 else OFF + 6, 6)
        link.resolved = 1
