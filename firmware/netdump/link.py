# The Ethernet link under netdump's own stack: one frame NIC (docs/frame-nic.md),
# our MAC, the receive buffer, the next hop once resolved, and the counters.
# EtherEndpoint (ether.py) makes one Link and hands it to the layers below
# it, which share it: IP/UDP framing (udp.py, ip4.py, ip6.py) transmits through it and
# reads whether the next hop is known; neighbour resolution (arp.py, ndp.py)
# answers and learns through it.
#
# Buffers put frames at offset OFF, so that the IP header and the payload are
# 4-byte aligned for the word paths of fast.py (docs/allocation.md#viper); the
# NIC is handed views that start there.
#
# Link(nic, verbose) allocates everything; xmit() allocates nothing.
from netdump.compat import const

OFF = const(2)  # frame offset inside every buffer
# largest frame read: what the stack takes in is an ack or a herald ack (60 bytes on the
# wire), an ARP packet (60) or an NDP solicitation/advertisement with its link-layer option
# (86, RFC 4861 sections 4.3-4.4) -- 256 holds them with room to spare. A longer frame is
# cut to it or dropped by the NIC (docs/frame-nic.md) and then fails the length checks.
RX_MAX = const(256)
ETH_MIN = const(60)  # IEEE 802.3 minimum frame without the FCS; shorter frames are padded

# ---- counters: indexes into Link.stats (EtherEndpoint.stats) ---------------------
ES_TX = const(0)  # UDP frames handed to the NIC
ES_TX_ERR = const(1)  # refused: no next hop, too big, or the NIC failed
ES_RX = const(2)  # frames read from the NIC
ES_ACKS = const(3)  # acks returned to debugnet
ES_ARP_REPLIES = const(4)  # ARP requests for our address answered
ES_NA_SENT = const(5)  # neighbour solicitations for our address answered
ES_SOLICITS = const(6)  # ARP requests / NS sent to resolve the next hop
ES_DROP_MAC = const(7)  # destination MAC not ours (or broadcast that is not ARP)
ES_DROP_TYPE = const(8)  # VLAN tag or another EtherType
ES_DROP_BAD = const(9)  # malformed: IP options, bad length, checksum, version
ES_DROP_FRAG = const(10)  # IPv4 fragment
ES_DROP_ADDR = const(11)  # source not the server, destination not us
ES_DROP_PORT = const(12)  # wrong UDP port or not an ack
ES_DROP_OTHER = const(13)  # other protocols, ARP we do not care about, IP before the next hop is known
ES_CLAIMS = const(14)  # another host claimed our address
ES_START_ERR = const(15)  # nic.start() failed at a connection
NSTATS = const(16)
STAT_NAMES = ("tx", "tx_err", "rx", "acks", "arp_replies", "na_sent", "solicits", "drop_mac",
              "drop_type", "drop_bad", "drop_frag", "drop_addr", "drop_port", "drop_other", "claims",
              "start_err")


class Link:
    """A frame NIC with the state the layers of netdump's stack share."""

    def __init__(self, nic, verbose=True):  # arm-time
        mac = bytes(nic.mac)
        if len(mac) != 6:
            raise ValueError("nic.mac must be 6 bytes")
        self.nic = nic
        self.mac = mac
        self.verbose = verbose
        self.stats = [0] * NSTATS
        self.rx = bytearray(OFF + RX_MAX)  # the frame being handled, at OFF
        self.rxv = memoryview(self.rx)[OFF:]
        self.dmac = bytearray(6)  # the next hop's MAC, once resolved
        self.resolved = 0  # 1 while dmac is good to send to
        self.want = None  # the address being resolved, else None
        self._send = nic.send

    def xmit(self, view, n):
        """Hand view[0:n] to the NIC as one frame -> 1 if it took it."""
        try:
            r = self._send(view, n)
        except OSError:
            return 0
        if r is None or r:
            return 1
        return 0


def pad(buf, n):
    """Zero the frame at buf[OFF:] from byte n up to the Ethernet minimum -> its length."""
    while n < ETH_MIN:
        buf[OFF + n] = 0
        n += 1
    return n
