"""End-to-end dumps over tools/vnet.py in TAP mode: Linux is the peer. It
answers the board's ARP and neighbour solicitations, asks for the board's
address itself, checks the board's checksums and delivers UDP to netdumpd.
Everything lives in network namespaces created here (unique names per run,
deleted afterwards) with private addresses only (10.231.x.y, fd00:231::/48):

  board (MicroPython, root ns) -- vnic/UDP loopback -- vnet bridge (root ns)
      == tap ==> netns "<id>n": netdumpd on the tap's address          (on-link)
      == tap ==> netns "<id>r": router, forwarding  -- veth -->
                 netns "<id>s": netdumpd on another subnet              (off-link)

Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), /dev/net/tun and iproute2; each
test says which is missing when it skips. CI runs as root, so they all run
there, and each prints a "[vnet] ..." line when it passes."""
import itertools
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from test_vnet import Bridge, Netdumpd, announce, check_dump, ep_stats, run_board

_counter = itertools.count()


def _why_not():
    if os.geteuid() != 0:
        return "TAP tests need root (CAP_NET_ADMIN for the tap, CAP_SYS_ADMIN for network namespaces)"
    if not os.path.exists("/dev/net/tun"):
        return "TAP tests need /dev/net/tun (modprobe tun, or --device /dev/net/tun for a container)"
    if shutil.which("ip") is None:
        return "TAP tests need iproute2's ip command (Debian package iproute2)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Namespaces:
    """Network namespaces named <prefix><suffix>, deleted on close()."""

    def __init__(self):
        self.prefix = "ndv%x%d" % (os.getpid() & 0xFFFF, next(_counter))
        self.names = []

    def add(self, suffix):
        name = self.prefix + suffix
        r = ip("netns", "add", name, check=False)
        if r.returncode:
            pytest.skip("cannot create a network namespace: " + r.stderr.strip())
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def sysctl(self, ns, key, value):
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "%s=%s" % (key, value)], check=True)

    def close(self):
        for n in self.names:
            ip("netns", "del", n, check=False)


@pytest.fixture
def netns():
    ns = Namespaces()
    yield ns
    ns.close()


def _tap_bridge(tmp_path, ns, nsname, addrs, extra=()):
    args = ["--name", ns.prefix + "t", "--netns", nsname]
    for a in addrs:
        args += ["--addr", a]
    return Bridge(tmp_path, "tap", args + list(extra))


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_tap_dump_linux_peer(tmp_path, request, netns, family):
    v6 = family == "ipv6"
    n = netns.add("n")
    br = _tap_bridge(tmp_path, netns, n, ["10.231.0.1/24", "fd00:231::1/64"])
    server = Netdumpd(tmp_path, "fd00:231::1" if v6 else "10.231.0.1", netns=n)
    # Linux learns the board's MAC from the board's own ARP request / NS (a STALE
    # entry, RFC 4861 section 7.2.3), so it need never ask the board itself. To
    # make it ask, deterministically: netdumpd is stopped before the board starts;
    # the board resolves the server (the kernel answers) and sends its herald,
    # which waits unanswered in netdumpd's socket while the board retries (about
    # 9 s); once Linux holds the board's entry it is deleted and netdumpd goes on.
    # The herald's ack then needs the board's MAC: Linux solicits, and the board
    # must answer, or it never gets an ack.
    board = "fd00:231::2" if v6 else "10.231.0.2"
    tap = netns.prefix + "t"
    os.kill(server.proc.pid, signal.SIGSTOP)
    result = []
    if v6:
        args = (br.nic_port, "fd00:231::1", "fd00:231::2/64", "")
    else:
        args = (br.nic_port, "10.231.0.1", "10.231.0.2", "255.255.255.0")
    th = threading.Thread(target=lambda: result.append(run_board(*args, hport=server.hport, cport=server.cport,
                                                                  kib=2048)))
    th.start()
    try:
        try:
            learnt = False
            deadline = time.monotonic() + 60
            while not learnt and th.is_alive() and time.monotonic() < deadline:
                learnt = "lladdr" in ip("-n", n, "neigh", "show", board, "dev", tap).stdout
                time.sleep(0.01)
            assert learnt, "Linux never learnt the board's address"
            ip("-n", n, "neigh", "del", board, "dev", tap)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
            th.join()
        out = result[0]
        check_dump(out, server, 2048)
        st = ep_stats(out)
        assert st["drop_bad"] == 0 and st["tx_err"] == 0, out
        assert st["na_sent" if v6 else "arp_replies"] >= 1, out  # the board answered Linux
        assert ("vmcore.%s." % ("fd00:231::2" if v6 else "10.231.0.2")) in " ".join(
            p.name for p in server.dumpdir.iterdir()), list(server.dumpdir.iterdir())
    finally:
        server.stop()
        br.stop()
    announce(request, "TAP %s, Linux as peer: 2 MiB dump byte-identical (board answered %d ARP / %d NS)"
             % (family, st["arp_replies"], st["na_sent"]))


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_tap_off_link_server_through_router_namespace(tmp_path, request, netns, family):
    v6 = family == "ipv6"
    r = netns.add("r")
    s = netns.add("s")
    vr, vs = netns.prefix + "a", netns.prefix + "b"
    ip("link", "add", vr, "type", "veth", "peer", "name", vs)
    ip("link", "set", vr, "netns", r)
    ip("link", "set", vs, "netns", s)
    ip("-n", r, "addr", "add", "10.231.2.1/24", "dev", vr)
    ip("-n", r, "-6", "addr", "add", "fd00:231:2::1/64", "dev", vr, "nodad")
    ip("-n", s, "addr", "add", "10.231.2.2/24", "dev", vs)
    ip("-n", s, "-6", "addr", "add", "fd00:231:2::2/64", "dev", vs, "nodad")
    ip("-n", r, "link", "set", vr, "up")
    ip("-n", s, "link", "set", vs, "up")
    ip("-n", s, "route", "add", "default", "via", "10.231.2.1")
    ip("-n", s, "-6", "route", "add", "default", "via", "fd00:231:2::1")
    netns.sysctl(r, "net.ipv4.ip_forward", 1)
    netns.sysctl(r, "net.ipv6.conf.all.forwarding", 1)
    br = _tap_bridge(tmp_path, netns, r, ["10.231.1.1/24", "fd00:231:1::1/64"])
    server = Netdumpd(tmp_path, "fd00:231:2::2" if v6 else "10.231.2.2", netns=s)
    try:
        if v6:
            out = run_board(br.nic_port, "fd00:231:2::2", "fd00:231:1::2", 64, gateway="fd00:231:1::1",
                            hport=server.hport, cport=server.cport, kib=1024)
            assert "netdumping to fd00:231:2::2 via fd00:231:1::1 (" in out, out
        else:
            out = run_board(br.nic_port, "10.231.2.2", "10.231.1.2", 24, gateway="10.231.1.1",
                            hport=server.hport, cport=server.cport, kib=1024)
            assert "netdumping to 10.231.2.2 via 10.231.1.1 (" in out, out
        check_dump(out, server, 1024)
        assert ep_stats(out)["solicits"] == 1  # the gateway only, never the off-link server
    finally:
        server.stop()
        br.stop()
    announce(request, "TAP %s, server on another subnet behind a router namespace: dump byte-identical" % family)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_tap_dump_with_loss_dup_reorder(tmp_path, request, netns, family):
    v6 = family == "ipv6"
    n = netns.add("n")
    br = _tap_bridge(tmp_path, netns, n, ["10.231.0.1/24", "fd00:231::1/64"],
                     ["--loss", "5%", "--dup", "2%", "--reorder", "3%", "--seed", "23"])
    server = Netdumpd(tmp_path, "fd00:231::1" if v6 else "10.231.0.1", netns=n)
    try:
        if v6:
            out = run_board(br.nic_port, "fd00:231::1", "fd00:231::2/64", "", hport=server.hport,
                            cport=server.cport, kib=1024, arp_ms=300)
        else:
            out = run_board(br.nic_port, "10.231.0.1", "10.231.0.2/24", "", hport=server.hport,
                            cport=server.cport, kib=1024, arp_ms=300)
        check_dump(out, server, 1024)
    finally:
        server.stop()
        st = br.stop()
    for d in ("to_net", "to_nic"):
        assert st[d]["lost"] > 0 and st[d]["duplicated"] > 0 and st[d]["reordered"] > 0, st
    announce(request, "TAP %s, loss 5%% dup 2%% reorder 3%% (frames lost: %d to the network, %d to the board): dump byte-identical"
             % (family, st["to_net"]["lost"], st["to_nic"]["lost"]))
