"""vnet: the virtual network between a frame NIC on the host (the MicroPython
unix port's netdump.drivers.vnic, the W5500 emulator) and a real network stack.

NIC-side protocol (the whole of it):
  * The bridge listens on UDP --nic-host:--nic-port (default 127.0.0.1:20230).
  * One datagram = one Ethernet frame: destination MAC, source MAC, EtherType,
    payload; no preamble, no FCS; 14..1522 bytes (frames under 60 bytes are
    accepted; the bridge does not pad).
  * Empty datagrams carry no frame and are ignored. A NIC sends one when it
    starts ("hello"). The bridge sends frames to the address the last datagram
    came from (one NIC per bridge: a point-to-point cable; --nic-peer fixes
    it), and follows every frame with one empty datagram: MicroPython's
    readinto() concatenates queued datagrams until its buffer is full, and the
    empty one stops it at the frame boundary. A NIC written in CPython skips
    them (or run the bridge with --no-delimiter).

Network side, one of:
  user   no privileges needed. The bridge is the gateway (QEMU user networking
         style): it answers ARP for its --ip4 address and neighbour
         solicitations for its --ip6 and link-local addresses, and relays UDP:
         a datagram from the board to ANY address, port P goes to 127.0.0.1:P
         (IPv6: [::1]:P) from a host socket bound to the board's source port
         on loopback (so netdumpd's acks to <client>:20024 come back); what
         arrives on that socket goes to the board from the address it last
         sent to, with the sender's port. Nothing leaves the host.
  tap    a Linux tap interface (IFF_TAP | IFF_NO_PI; root or CAP_NET_ADMIN):
         the kernel answers ARP/NDP and delivers UDP to a netdumpd bound on the
         tap's address. --addr assigns addresses with iproute2 (IPv6 with
         nodad); --netns moves the tap into a network namespace first. The
         tap goes away when the bridge exits.

Faults, in both directions, decided per frame with a seeded generator per
direction (runs repeat): --loss, --dup, --reorder (the frame is held back until
the next frame in its direction has passed, or --hold-ms) and --delay-ms.

Exit codes: 0 after SIGTERM/SIGINT, 1 on a setup error (one line on stderr),
2 on bad arguments. "vnet: ready" is logged once the bridge is up; --stats FILE
gets a JSON summary of the counters on exit.
"""
import argparse
import heapq
import json
import logging
import random
import select
import signal
import socket
import sys
import time

from netdump_tools.netdumpd import udp_port

log = logging.getLogger("vnet")

DEFAULT_NIC_PORT = 20230  # netdump/drivers/vnic.py DEFAULT_PORT
TO_NET = 0  # frame direction: from the NIC towards the network side
TO_NIC = 1  # from the network side towards the NIC
DIR_NAMES = ("to_net", "to_nic")
_MAX_FRAME = 65536


def parse_prob(text):
    """A probability from "5%" or "0.05"; ValueError outside 0..1."""
    t = str(text).strip()
    v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    if not 0.0 <= v <= 1.0:
        raise ValueError("probability must be 0..1 or 0%%..100%%: %s" % text)
    return v


class Faults:
    """Per-frame fault decisions for one direction, repeatable from a seed."""

    def __init__(self, loss=0.0, dup=0.0, reorder=0.0, delay_ms=0.0, seed=1, direction=0):
        self.loss = loss
        self.dup = dup
        self.reorder = reorder
        self.delay = delay_ms / 1000.0
        self.rng = random.Random((seed << 1) ^ direction)
        self.counts = {"frames": 0, "lost": 0, "duplicated": 0, "reordered": 0}

    def decide(self):
        """-> (copies 0..2, hold: bool) for the next frame. The generator is
        always drawn three times per frame so one fault kind does not shift
        the others' sequence."""
        a = self.rng.random()
        b = self.rng.random()
        c = self.rng.random()
        self.counts["frames"] += 1
        if a < self.loss:
            self.counts["lost"] += 1
            return 0, False
        copies = 1
        if b < self.dup:
            copies = 2
            self.counts["duplicated"] += 1
        hold = c < self.reorder
        if hold:
            self.counts["reordered"] += 1
        return copies, hold


class Bridge:
    """Frames between the NIC socket and a network side, through Faults."""

    def __init__(self, side, nic_host="127.0.0.1", nic_port=DEFAULT_NIC_PORT, loss=0.0, dup=0.0,
                 reorder=0.0, delay_ms=0.0, seed=1, hold_ms=None, nic_peer=None, delimiter=True):
        self.side = side
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                break
            except OSError:
                continue
        self.sock.bind((nic_host, nic_port))
        self.sock.setblocking(False)
        self.nic_addr = self.sock.getsockname()
        self.peer = nic_peer
        self._fixed_peer = nic_peer is not None
        self.delimiter = delimiter
        self.faults = (Faults(loss, dup, reorder, delay_ms, seed, TO_NET),
                       Faults(loss, dup, reorder, delay_ms, seed, TO_NIC))
        self.hold = (hold_ms if hold_ms is not None else max(5.0, 2.0 * delay_ms)) / 1000.0
        self._queue = []  # heap of (due, n, direction, frame)
        self._n = 0
        self._held = [None, None]  # (frame, release time) per direction
        self.delivered = [0, 0]
        self.running = True
        side.emit = self.from_net

    # ---- frame paths ------------------------------------------------------------
    def from_nic(self, frame, now):
        self._offer(TO_NET, frame, now)

    def from_net(self, frame, now=None):
        self._offer(TO_NIC, frame, time.monotonic() if now is None else now)

    def _offer(self, d, frame, now):
        copies, hold = self.faults[d].decide()
        if copies == 0:
            return
        if hold and self._held[d] is None:
            self._held[d] = (frame, now + self.hold)
            copies -= 1
        for _ in range(copies):
            self._schedule(d, frame, now)
        if not hold and self._held[d] is not None:
            # a frame passed the held one: now the held one may go (reordered)
            held, _ = self._held[d]
            self._held[d] = None
            self._schedule(d, held, now)

    def _schedule(self, d, frame, now):
        self._n += 1
        heapq.heappush(self._queue, (now + self.faults[d].delay, self._n, d, frame))

    def _deliver(self, d, frame):
        self.delivered[d] += 1
        if d == TO_NET:
            self.side.input(frame)
        elif self.peer is not None:
            try:
                self.sock.sendto(frame, self.peer)
                if self.delimiter:
                    self.sock.sendto(b"", self.peer)  # frame delimiter (module comment)
            except OSError as e:
                log.debug("to NIC: %s", e)

    # ---- loop -------------------------------------------------------------------
    def run_once(self, max_wait=0.2):
        """Wait for input or the next due frame, handle it."""
        now = time.monotonic()
        wait = max_wait
        if self._queue:
            wait = min(wait, max(0.0, self._queue[0][0] - now))
        for h in self._held:
            if h is not None:
                wait = min(wait, max(0.0, h[1] - now))
        fds = [self.sock] + list(self.side.fds())
        try:
            r, _, _ = select.select(fds, [], [], wait)
        except InterruptedError:
            r = []
        now = time.monotonic()
        for f in r:
            if f is self.sock:
                self._read_nic(now)
            else:
                self.side.readable(f, now)
        for d in (TO_NET, TO_NIC):
            h = self._held[d]
            if h is not None and h[1] <= now:
                self._held[d] = None
                self._schedule(d, h[0], now)
        while self._queue and self._queue[0][0] <= now:
            _, _, d, frame = heapq.heappop(self._queue)
            self._deliver(d, frame)

    def _read_nic(self, now):
        for _ in range(256):
            try:
                data, addr = self.sock.recvfrom(_MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("NIC socket: %s", e)
                return
            if addr != self.peer and not self._fixed_peer:
                log.info("NIC at %s:%d", addr[0], addr[1])
                self.peer = addr
            if data:
                self.from_nic(data, now)

    def run(self):
        while self.running:
            self.run_once()

    def stop(self, *_):
        self.running = False

    def summary(self):
        out = {"delivered": dict(zip(DIR_NAMES, self.delivered))}
        for d in (TO_NET, TO_NIC):
            out[DIR_NAMES[d]] = dict(self.faults[d].counts)
        out["side"] = self.side.summary()
        return out


def _host_port(text):
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", udp_port(port))


def _build_parser():
    p = argparse.ArgumentParser(
        prog="python -m netdump_tools.vnet",
        description="Bridge Ethernet frames between a host frame NIC (netdump.drivers.vnic, the W5500 "
                    "emulator; UDP on loopback, one datagram = one frame) and a network: 'user' (no "
                    "privileges; answers ARP/NDP as the gateway and relays UDP to 127.0.0.1 / ::1) or "
                    "'tap' (a Linux tap interface; root or CAP_NET_ADMIN). Faults (loss, duplication, "
                    "reordering, delay) apply to frames in both directions, repeatably from --seed.",
        epilog="examples:\n"
               "  python -m netdump_tools.vnet user --ip4 10.0.2.2/24 --loss 5% --seed 7\n"
               "  python -m netdump_tools.vnet tap --name ndtap0 --addr 10.231.0.1/24 --addr fd00:231::1/64\n"
               "then on the board: EtherEndpoint(VNic(mac), '10.0.2.15', '10.0.2.2', netmask=24)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("user", "tap"), help="network side: user-mode gateway or a tap interface")
    p.add_argument("--nic-host", default="127.0.0.1", help="address the NIC side listens on (default 127.0.0.1)")
    p.add_argument("--nic-port", type=udp_port, default=DEFAULT_NIC_PORT,
                   help="UDP port the NIC side listens on (default %d; 0 = any, see the log)" % DEFAULT_NIC_PORT)
    p.add_argument("--nic-peer", metavar="HOST:PORT", type=_host_port,
                   help="send frames to this NIC address instead of the last sender's")
    p.add_argument("--no-delimiter", action="store_true",
                   help="do not follow each frame with an empty datagram (for NICs that are not MicroPython)")
    p.add_argument("--loss", type=parse_prob, default=0.0, help="frame loss probability, e.g. 5%% or 0.05")
    p.add_argument("--dup", type=parse_prob, default=0.0, help="probability a frame is delivered twice")
    p.add_argument("--reorder", type=parse_prob, default=0.0,
                   help="probability a frame is held back until the next one has passed")
    p.add_argument("--delay-ms", type=float, default=0.0, help="delay added to every frame, each way")
    p.add_argument("--hold-ms", type=float, default=None,
                   help="longest a reordered frame waits for a successor (default max(5, 2 x delay))")
    p.add_argument("--seed", type=int, default=1, help="seed of the fault generators (default 1)")
    p.add_argument("--stats", metavar="FILE", help="write a JSON summary of the counters here on exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log every relayed flow")
    g = p.add_argument_group("user mode")
    g.add_argument("--ip4", default="10.0.2.2/24", help="the gateway's IPv4 address/prefix (default 10.0.2.2/24)")
    g.add_argument("--ip6", default="fd00:2::2/64",
                   help="the gateway's IPv6 address/prefix (default fd00:2::2/64; its link-local "
                        "address from --mac is answered too)")
    g.add_argument("--mac", default="52:55:0a:00:02:02", help="the gateway's MAC (default 52:55:0a:00:02:02)")
    g.add_argument("--loopback4", default="127.0.0.1", help="where IPv4 UDP is relayed (default 127.0.0.1)")
    g.add_argument("--loopback6", default="::1", help="where IPv6 UDP is relayed (default ::1)")
    g.add_argument("--arp-ignore", type=int, default=0, metavar="N",
                   help="leave the first N ARP requests for the gateway unanswered (the client retries)")
    g = p.add_argument_group("tap mode")
    g.add_argument("--name", default="ndtap0", help="tap interface name (default ndtap0)")
    g.add_argument("--addr", action="append", default=[],
                   help="address/prefix to put on the tap (repeatable; IPv6 gets nodad)")
    g.add_argument("--tap-mtu", type=int, default=None, help="MTU of the tap interface")
    g.add_argument("--netns", default=None,
                   help="move the tap into this network namespace (ip netns add NAME first) and configure it there")
    return p


def main(argv=None):
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="vnet: %(message)s")
    try:
        if args.mode == "user":
            from netdump_tools.vnet_user import UserNet

            for a in (args.loopback4, args.loopback6):
                if a not in ("127.0.0.1", "::1") and not a.startswith("127."):
                    raise ValueError("relay addresses must be loopback: %s" % a)
            side = UserNet(ip4=args.ip4, ip6=args.ip6, mac=args.mac, loopback4=args.loopback4,
                           loopback6=args.loopback6, arp_ignore=args.arp_ignore)
        else:
            from netdump_tools.vnet_tap import TapNet

            side = TapNet(args.name, addrs=args.addr, mtu=args.tap_mtu, netns=args.netns)
        bridge = Bridge(side, nic_host=args.nic_host, nic_port=args.nic_port, loss=args.loss, dup=args.dup,
                        reorder=args.reorder, delay_ms=args.delay_ms, seed=args.seed, hold_ms=args.hold_ms,
                        nic_peer=args.nic_peer,
                        delimiter=not args.no_delimiter)
    except (OSError, ValueError) as e:
        log.error("setup failed: %s", e)
        return 1
    signal.signal(signal.SIGTERM, bridge.stop)
    signal.signal(signal.SIGINT, bridge.stop)
    log.info("NIC side on %s:%d, %s side %s, loss %g dup %g reorder %g delay %g ms seed %d",
             bridge.nic_addr[0], bridge.nic_addr[1], args.mode, side.describe(), args.loss, args.dup,
             args.reorder, args.delay_ms, args.seed)
    log.info("ready")
    try:
        bridge.run()
    finally:
        s = bridge.summary()
        log.info("summary %s", json.dumps(s, sort_keys=True))
        if args.stats:
            with open(args.stats, "w") as f:
                json.dump(s, f, indent=1, sort_keys=True)
        side.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
