"""tools/vnet.py (the virtual network) and end-to-end dumps over it in user mode
(no privileges): a MicroPython unix-port board with netdump.drivers.vnic and
netdump.ether.EtherEndpoint dumps, heap locked, through the bridge to the
project's netdumpd on loopback; every dump must arrive byte-identical.

The helpers here are shared with test_vnet_tap.py (TAP mode, network
namespaces; root)."""
import json
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import HERE, ROOT, micropython_exe, mp_env
import frames
from netdump_tools import reader, vnet
from netdump_tools import vnet_user as vu
from netdump_tools.netdumpd_harness import free_udp_port, stop_process, wait_for_text
from netutil import BIG_SEED, xorshift_bytes  # noqa: F401  (test_vnet_tap imports them from here)

BOARD_MAC = "02:00:00:00:00:15"


# ---- harness (also used by test_vnet_tap.py) ----------------------------------------


def _wait_for(path, text, proc, timeout=10.0):
    if not wait_for_text(path, text, proc, timeout):
        with open(path) as f:
            raise AssertionError("%r not seen (exit %s):\n%s" % (text, proc.poll(), f.read()))


stop = stop_process


def netns_prefix(ns):
    return ["ip", "netns", "exec", ns] if ns else []


class Bridge:
    """tools/vnet.py as a subprocess."""

    def __init__(self, tmp_path, mode, args=(), tag="vnet"):
        self.log = str(tmp_path / (tag + ".log"))
        self.stats_file = str(tmp_path / (tag + ".json"))
        self.nic_port = free_udp_port()
        cmd = [sys.executable, "-m", "netdump_tools.vnet", mode, "--nic-port", str(self.nic_port),
               "--stats", self.stats_file] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), cwd=ROOT)
        _wait_for(self.log, "vnet: ready", self.proc)

    def stop(self):
        stop(self.proc)
        with open(self.stats_file) as f:
            return json.load(f)

    def text(self):
        with open(self.log) as f:
            return f.read()


class Netdumpd:
    """The project's netdumpd, optionally inside a network namespace."""

    def __init__(self, tmp_path, addr, netns=None, tag="netdumpd"):
        self.dumpdir = tmp_path / (tag + "-crash")
        self.dumpdir.mkdir()
        self.log = str(tmp_path / (tag + ".log"))
        if netns:  # a fresh namespace has every port free
            self.hport, self.cport = 20023, 20024
        else:
            self.hport, self.cport = free_udp_port(addr), free_udp_port(addr)
        cmd = netns_prefix(netns) + [
            sys.executable, "-m", "netdump_tools.netdumpd", "-D", "-n", "-a", addr, "-d", str(self.dumpdir),
            "-P", str(tmp_path / (tag + ".pid")), "--herald-port", str(self.hport),
            "--client-port", str(self.cport)]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, cwd=ROOT)
        _wait_for(self.log, "Waiting for clients", self.proc)

    def stop(self):
        stop(self.proc)

    def text(self):
        with open(self.log) as f:
            return f.read()


def run_board(nic_port, server, client="", netmask="", gateway="", hport=20023, cport=20024, mode="window",
              kib=1024, mtu=1500, arp_ms=1000, netns=None, timeout=120):
    """Run host_tests/mp_ether/dump_ether.py on the MicroPython unix port -> output text."""
    args = ["nic_port=%d" % nic_port, "mac=" + BOARD_MAC, "server=" + server, "client=" + client,
            "netmask=" + str(netmask), "gateway=" + gateway, "hport=%d" % hport, "cport=%d" % cport,
            "mode=" + mode, "kib=%d" % kib, "mtu=%d" % mtu, "arp_ms=%d" % arp_ms]
    cmd = netns_prefix(netns) + [micropython_exe(), "-X", "heapsize=64M", "mp_ether/dump_ether.py"] + args
    r = subprocess.run(cmd, env=mp_env(), cwd=HERE, capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def check_dump(out, server, kib):
    """The board said RESULT 0 and the one vmcore holds every region byte for byte.

    Also under frame loss: a lost ack of FINISHED is answered again by
    netdumpd, whose completed dump lingers to re-ack retransmissions."""
    assert "RESULT 0" in out, out + "\n--- netdumpd:\n" + server.text()
    assert "netdump finished." in out, out
    cores = sorted(p for p in server.dumpdir.iterdir() if p.name.startswith("vmcore.") and not p.name.endswith(".last"))
    assert len(cores) == 1, list(server.dumpdir.iterdir())
    core = reader.Vmcore.open(str(cores[0]))
    assert [r.name for r in core.regions] == ["big", "sparse", "small"]
    assert core.read_region("big") == xorshift_bytes(kib << 10, BIG_SEED)
    sparse = bytearray(256 * 1024)
    for off in (5, 70000, 262143):
        sparse[off] = 0xA5
    assert core.read_region("sparse") == bytes(sparse)
    assert core.read_region("small") == b"netdump small region 0123456789" * 3
    assert core.panic == "test panic: vnet"
    assert "OSError: vnet test" in core.traceback
    info = (server.dumpdir / cores[0].name.replace("vmcore", "info")).read_text()
    assert "Header Parity Check: Pass" in info, info
    assert "Dump complete" in info, info
    return core


def ep_stats(out):
    line = [ln for ln in out.splitlines() if ln.startswith("EPSTATS")][0]
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def announce(request, msg):
    """One line in the pytest output proving this test really ran (CI logs)."""
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if tr is None:
        return
    if capman is not None:
        with capman.global_and_fixture_disabled():
            tr.write_line("")
            tr.write_line("[vnet] " + msg)
    else:
        tr.write_line("[vnet] " + msg)


# ---- faults ----------------------------------------------------------------------------


def test_parse_prob():
    assert vnet.parse_prob("5%") == 0.05
    assert vnet.parse_prob("0.02") == 0.02
    # the message names the bad value (a stray "%" in it once broke the formatting)
    with pytest.raises(ValueError, match="probability must be .*: 5$"):
        vnet.parse_prob("5")
    with pytest.raises(ValueError, match="probability must be .*: -1%$"):
        vnet.parse_prob("-1%")


def test_faults_repeat_from_seed_and_rates():
    a = vnet.Faults(loss=0.05, dup=0.02, reorder=0.03, seed=42, direction=0)
    b = vnet.Faults(loss=0.05, dup=0.02, reorder=0.03, seed=42, direction=0)
    c = vnet.Faults(loss=0.05, dup=0.02, reorder=0.03, seed=43, direction=0)
    da = [a.decide() for _ in range(20000)]
    assert da == [b.decide() for _ in range(20000)]
    assert da != [c.decide() for _ in range(20000)]
    lost = sum(1 for k, _ in da if k == 0)
    dups = sum(1 for k, _ in da if k == 2)
    held = sum(1 for k, h in da if h and k)
    assert 800 < lost < 1200  # 5 % of 20000
    assert 250 < dups < 550  # 2 % of the survivors
    assert 400 < held < 800  # 3 %
    # the two directions draw from different sequences
    d = vnet.Faults(loss=0.05, seed=42, direction=1)
    assert [d.decide() for _ in range(200)] != da[:200]


class _Side:
    def __init__(self):
        self.got = []
        self.emit = None

    def input(self, frame):
        self.got.append(frame)

    def fds(self):
        return ()

    def summary(self):
        return {}

    def close(self):
        pass


def _pump(br, until):
    end = time.monotonic() + 2
    while not until() and time.monotonic() < end:
        br.run_once(0.01)


def test_bridge_reorders_duplicates_and_delays():
    side = _Side()
    br = vnet.Bridge(side, nic_port=0, reorder=0.3, dup=0.1, seed=5, delay_ms=20)
    try:
        t0 = time.monotonic()
        frames = [bytes([i]) * 60 for i in range(200)]
        for f in frames:
            br.from_nic(f, time.monotonic())
        br.run_once(0)
        assert side.got == []  # nothing before the delay
        _pump(br, lambda: len(side.got) >= 200 + br.faults[0].counts["duplicated"])
        assert time.monotonic() - t0 >= 0.02
        c = br.faults[0].counts
        assert c["reordered"] > 20 and c["duplicated"] > 5 and c["lost"] == 0
        assert len(side.got) == 200 + c["duplicated"]
        assert sorted(set(side.got)) == sorted(frames)  # nothing lost, nothing invented
        firsts = []
        for f in side.got:
            if f not in firsts:
                firsts.append(f)
        assert firsts != frames  # some overtook others
    finally:
        br.sock.close()


def test_bridge_loss_drops_frames():
    side = _Side()
    br = vnet.Bridge(side, nic_port=0, loss=0.5, seed=9)
    try:
        for i in range(400):
            br.from_nic(struct.pack("!H", i) * 30, time.monotonic())
        _pump(br, lambda: len(side.got) >= 400 - br.faults[0].counts["lost"])
        lost = br.faults[0].counts["lost"]
        assert 150 < lost < 250 and len(side.got) == 400 - lost
        assert side.got == sorted(side.got)  # order kept without reordering
    finally:
        br.sock.close()


# ---- user-mode gateway, frame by frame -------------------------------------------------


def _board_frames():
    bmac = bytes.fromhex("020000000015")
    bip = socket.inet_pton(socket.AF_INET, "10.0.2.15")
    return bmac, bip


def test_user_gateway_answers_arp_and_ns():
    net = vu.UserNet(ip4="10.0.2.2/24", ip6="fd00:2::2/64", mac="52:55:0a:00:02:02")
    out = []
    net.emit = lambda f, now=None: out.append(f)
    bmac, bip = _board_frames()
    gw = socket.inet_pton(socket.AF_INET, "10.0.2.2")
    net.input(vu.arp_frame(vu.BCAST, bmac, 1, bmac, bip, b"\0" * 6, gw))
    assert len(out) == 1
    f = out[0]
    assert f[0:6] == bmac and f[12:14] == b"\x08\x06"
    assert struct.unpack_from("!H", f, 20)[0] == 2 and f[22:28] == net.mac and f[28:32] == gw
    assert f[32:38] == bmac and f[38:42] == bip
    # ARP for someone else: no answer
    net.input(vu.arp_frame(vu.BCAST, bmac, 1, bmac, bip, b"\0" * 6, socket.inet_pton(socket.AF_INET, "10.0.2.9")))
    assert len(out) == 1
    # NS for the gateway's link-local address (built by the device-side code)
    from netdump import inet, inet6

    ll = bytearray(16)
    inet6.link_local_from_mac(ll, 0, bmac)
    sn, snmac, buf = bytearray(16), bytearray(6), bytearray(100)
    inet6.solicited_node(sn, 0, net.ll6)
    inet6.mcast_mac6(snmac, 0, sn)
    n = inet6.ndp_frame(buf, 0, snmac, bmac, ll, sn, inet6.ICMP6_NS, 0, net.ll6, bmac)
    net.input(bytes(buf[:n]))
    assert len(out) == 2
    na = bytearray(out[1])
    assert inet6.classify(na, 0, len(na)) == inet6.KIND_NA
    assert na[0:6] == bmac and na[22:38] == net.ll6 and na[38:54] == ll
    assert na[62:78] == net.ll6 and na[na.find(b"\x02\x01", 78) + 2:][:6] == net.mac


def test_user_gateway_relays_udp_both_ways():
    net = vu.UserNet(ip4="10.0.2.2/24", mac="52:55:0a:00:02:02")
    out = []
    net.emit = lambda f, now=None: out.append(f)
    bmac, bip = _board_frames()
    host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host.bind(("127.0.0.1", 0))
    host.settimeout(2)
    hport = host.getsockname()[1]
    bport = free_udp_port()
    virt = socket.inet_pton(socket.AF_INET, "10.231.9.1")  # off-link: any address is relayed
    try:
        net.input(vu.udp4_frame(net.mac, bmac, bip, virt, bport, hport, b"herald!"))
        data, addr = host.recvfrom(100)
        assert data == b"herald!" and addr == ("127.0.0.1", bport)  # the board's port is kept
        # a corrupted checksum is counted, not relayed
        bad = bytearray(vu.udp4_frame(net.mac, bmac, bip, virt, bport, hport, b"xx"))
        bad[-1] ^= 1
        net.input(bytes(bad))
        assert net.counts["bad_checksum"] == 1
        host.sendto(b"ack1", addr)
        (sock,) = list(net.fds())
        end = time.monotonic() + 2
        while not out and time.monotonic() < end:
            net.readable(sock, time.monotonic())
        f = bytearray(out[0])
        from netdump import inet

        assert inet.classify(f, 0, len(f)) == inet.KIND_UDP4
        assert f[0:6] == bmac and f[26:30] == virt and f[30:34] == bip
        assert frames.udp4_sport(f, 0) == hport and frames.udp4_dport(f, 0) == bport
        assert f[42:] == b"ack1"
    finally:
        host.close()
        net.close()


# ---- end to end, user mode ---------------------------------------------------------------


@pytest.mark.parametrize("family", ["ipv4", "ipv6-link-local"])
def test_user_mode_dump(tmp_path, request, family):
    v6 = family != "ipv4"
    server = Netdumpd(tmp_path, "::1" if v6 else "127.0.0.1")
    br = Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24", "--ip6", "fd00:2::2/64"])
    try:
        if v6:  # client address from the MAC (EUI-64); the gateway's global address as server
            out = run_board(br.nic_port, "fd00:2::2", "", "", hport=server.hport, cport=server.cport)
            assert "CLIENT fe:80:00:00:00:00:00:00:00:00:00:ff:fe:00:00:15" in out, out
        else:
            out = run_board(br.nic_port, "10.0.2.2", "10.0.2.15", 24, hport=server.hport, cport=server.cport)
        check_dump(out, server, 1024)
        assert "netdumping to %s (52:55:0a:00:02:02)" % ("fd00:2::2" if v6 else "10.0.2.2") in out, out
        st = br.stop()
        assert st["side"]["bad_checksum"] == 0
        assert st["side"]["na_sent" if v6 else "arp_replies"] >= 1
    finally:
        br.stop()
        server.stop()
    announce(request, "user mode %s: 1 MiB dump byte-identical, heap locked" % family)


def test_user_mode_off_link_server_via_gateway(tmp_path, request):
    # the server 10.231.9.1 is on another subnet: the board must ARP the gateway
    # (never the server) and send to the gateway's MAC
    server = Netdumpd(tmp_path, "127.0.0.1")
    br = Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24"])
    try:
        out = run_board(br.nic_port, "10.231.9.1", "10.0.2.15", "255.255.255.0", gateway="10.0.2.2",
                        hport=server.hport, cport=server.cport, kib=512)
        check_dump(out, server, 512)
        assert "netdumping to 10.231.9.1 via 10.0.2.2 (52:55:0a:00:02:02)" in out, out
        assert ep_stats(out)["solicits"] == 1
    finally:
        br.stop()
        server.stop()
    announce(request, "user mode, off-link server through the gateway: dump byte-identical")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_user_mode_dump_with_loss_dup_reorder(tmp_path, request, family):
    v6 = family == "ipv6"
    server = Netdumpd(tmp_path, "::1" if v6 else "127.0.0.1")
    br = Bridge(tmp_path, "user", ["--loss", "5%", "--dup", "2%", "--reorder", "3%", "--seed", "11"])
    try:
        if v6:
            out = run_board(br.nic_port, "fd00:2::2", "fd00:2::15/64", "", hport=server.hport, cport=server.cport,
                            arp_ms=300)
        else:
            out = run_board(br.nic_port, "10.0.2.2", "10.0.2.15/24", "", hport=server.hport, cport=server.cport,
                            arp_ms=300)
        check_dump(out, server, 1024)
        st = br.stop()
        for d in ("to_net", "to_nic"):
            assert st[d]["lost"] > 0 and st[d]["duplicated"] > 0 and st[d]["reordered"] > 0, st
    finally:
        br.stop()
        server.stop()
    announce(request, "user mode %s, loss 5%% dup 2%% reorder 3%% (frames lost: %d to the network, %d to the board): dump byte-identical"
             % (family, st["to_net"]["lost"], st["to_nic"]["lost"]))


def test_user_mode_freebsd_mode(tmp_path, request):
    server = Netdumpd(tmp_path, "127.0.0.1")
    br = Bridge(tmp_path, "user")
    try:
        out = run_board(br.nic_port, "10.0.2.2", "10.0.2.15", 24, hport=server.hport, cport=server.cport,
                        mode="freebsd", kib=512)
        check_dump(out, server, 512)
    finally:
        br.stop()
        server.stop()
    announce(request, "user mode, FreeBSD compatibility mode: dump byte-identical")


def test_no_gateway_fails_cleanly(tmp_path):
    # nobody answers ARP: the dump ends with an error after the ARP retries, not a hang
    server = Netdumpd(tmp_path, "127.0.0.1")
    br = Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24"])
    try:
        out = run_board(br.nic_port, "10.0.2.77", "10.0.2.15", 24, hport=server.hport, cport=server.cport,
                        kib=64, arp_ms=100)
        assert "netdump: failed to locate MAC address" in out, out
        assert "RESULT 0" not in out and "RESULT" in out, out
        assert ep_stats(out)["solicits"] == 3  # three tries, then the error: bounded
    finally:
        br.stop()
        server.stop()


def test_cli_help_and_bad_args():
    r = subprocess.run([sys.executable, "-m", "netdump_tools.vnet", "--help"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0 and "user" in r.stdout and "--loss" in r.stdout
    r = subprocess.run([sys.executable, "-m", "netdump_tools.vnet", "user", "--loss", "5"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2
    r = subprocess.run([sys.executable, "-m", "netdump_tools.vnet", "user", "--loopback4", "10.1.1.1",
                        "--nic-port", "0"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "loopback" in r.stderr
