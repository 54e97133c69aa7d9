# ARP for EtherEndpoint (ether.py) over IPv4: resolve the next hop's MAC and
# answer requests for our address while the dump runs, as FreeBSD's debugnet
# does (docs/protocol.md#next-hop-resolution; RFC 826).
#
#   Arp(link, client_ip)        arm time: the control frame buffer
#   .solicit(target)            one broadcast request for target (4 bytes)
#   .input(kind)                the frame in link.rx classified as kind:
#                               learn link.want's MAC, answer a request for
#                               us, note a claim on our address; else dropped
#   .group(rx, off) -> 1/0      a frame not sent to our MAC that we take anyway
#                               (broadcast ARP)
# Everything after the constructor allocates nothing.
from netdump import fast, inet
from netdump.link import ES_ARP_REPLIES, ES_CLAIMS, ES_DROP_OTHER, ES_SOLICITS, OFF, pad

_BCAST = b"\xff\xff\xff\xff\xff\xff"
_ZERO6 = b"\x00\x00\x00\x00\x00\x00"


class Arp:
    """ARP requests, replies and answers over a Link."""

    def __init__(self, link, client_ip):  # arm-time
        self.link = link
        self.client_ip = client_ip
        self.ctl = bytearray(OFF + 64)  # ARP frames (60 bytes padded)
        self.ctlv = memoryview(self.ctl)[OFF:]
        self._copy = fast.copy
        self._claimed = 0

    def group(self, rx, off):
        """1 for a broadcast ARP frame (the only frames for another MAC we take)."""
        return 1 if inet.is_broadcast_mac(rx, off) and inet.eth_type(rx, off) == inet.ETHERTYPE_ARP else 0

    def solicit(self, target):
        """Send one ARP request for target."""
        ctl = self.ctl
        mac = self.link.mac
        inet.eth_header(ctl, OFF, _BCAST, mac, inet.ETHERTYPE_ARP)
        inet.arp_packet(ctl, OFF + inet.ARP_OFF, inet.ARP_REQUEST, mac, self.client_ip, _ZERO6, target)
        self.link.stats[ES_SOLICITS] += 1
        self.link.xmit(self.ctlv, pad(ctl, inet.ETH_HLEN + inet.ARP_LEN))

    def input(self, kind):
        """ARP (debugnet_handle_arp): answer requests for us, learn the next hop."""
        link = self.link
        st = link.stats
        if kind != inet.KIND_ARP:
            st[ES_DROP_OTHER] += 1
            return
        rx = link.rx
        mac = link.mac
        a = OFF + inet.ARP_OFF
        if inet.eq(rx, a + inet.ARP_SHA, mac, 6) or inet.is_broadcast_mac(rx, a + inet.ARP_SHA):
            st[ES_DROP_OTHER] += 1  # our own or a bogus sender: ignored
            return
        if inet.eq(rx, a + inet.ARP_SPA, self.client_ip, 4):
            st[ES_CLAIMS] += 1
            if link.verbose and not self._claimed:
                print("netdump: another host claims our IP address")
            self._claimed = 1
            return
        op = (rx[a + inet.ARP_OP] << 8) | rx[a + inet.ARP_OP + 1]
        want = link.want
        if op == inet.ARP_REPLY and want is not None and inet.eq(rx, a + inet.ARP_SPA, want, 4):
            self._copy(link.dmac, 0, rx, a + inet.ARP_SHA, 6)  # the first reply wins
            link.resolved = 1
            return
        if op != inet.ARP_REQUEST or not inet.eq(rx, a + inet.ARP_TPA, self.client_ip, 4):
            st[ES_DROP_OTHER] += 1
            return
        ctl = self.ctl
        cp = self._copy
        c = OFF + inet.ARP_OFF
        cp(ctl, OFF, rx, a + inet.ARP_SHA, 6)  # Ethernet destination: the asker
        cp(ctl, OFF + 6, mac, 0, 6)
        ctl[OFF + 12] = inet.ETHERTYPE_ARP >> 8
        ctl[OFF + 13] = inet.ETHERTYPE_ARP & 0xFF
        # RFC 826 reply: hrd, pro, hln, pln as asked; op 2; we are the sender
        cp(ctl, c, rx, a, 6)
        ctl[c + 6] = 0
        ctl[c + 7] = inet.ARP_REPLY
        cp(ctl, c + inet.ARP_SHA, mac, 0, 6)
        cp(ctl, c + inet.ARP_SPA, self.client_ip, 0, 4)
        cp(ctl, c + inet.ARP_THA, rx, a + inet.ARP_SHA, 6)
        cp(ctl, c + inet.ARP_TPA, rx, a + inet.ARP_SPA, 4)
        if link.xmit(self.ctlv, pad(ctl, inet.ETH_HLEN + inet.ARP_LEN)):
            st[ES_ARP_REPLIES] += 1
