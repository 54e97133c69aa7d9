"""The panic console's `netdump -s a.b.c.d[:port]` on a board with its own
Ethernet/IP stack (netdump.ether.EtherEndpoint over netdump.drivers.vnic),
through tools/vnet.py in user mode (no privileges): the first dump goes to a
server that does not answer and fails, the console retargets the endpoint in
place (EtherEndpoint.set_server) and the retried dump reaches the project's
netdumpd byte-identical. The board runs the whole fault path, console
included, with the heap locked (host_tests/mp_ether/console_vnic.py)."""
import pytest

from conftest import run_micropython
from netdump_tools import reader
from netdump_tools.netdumpd_harness import free_udp_port
from netutil import check_regions
from test_vnet import BOARD_MAC, Bridge, Netdumpd, announce, ep_stats

GW_MAC = "52:55:0a:00:02:02"  # tools/vnet.py user mode's default --mac
KIB = 256


def run_board(nic_port, server, hport, cport, script, netmask=24, arp_ms=1000):
    """Run host_tests/mp_ether/console_vnic.py with `script` on its stdin -> its output."""
    args = ["mp_ether/console_vnic.py", "nic_port=%d" % nic_port, "mac=" + BOARD_MAC, "server=" + server,
            "client=10.0.2.15", "netmask=%s" % netmask, "hport=%d" % hport, "cport=%d" % cport,
            "kib=%d" % KIB, "arp_ms=%d" % arp_ms]
    r = run_micropython(args, timeout=120, input=script)
    return r.stdout + r.stderr


def at(out, text):
    """Where text first appears in the board's output (an assertion naming it if nowhere)."""
    i = out.find(text)
    assert i >= 0, "%r not in the board's output:\n%s" % (text, out)
    return i


def check_core(server, out):
    cores = sorted(p for p in server.dumpdir.iterdir() if p.name.startswith("vmcore.") and not p.name.endswith(".last"))
    assert len(cores) == 1, (list(server.dumpdir.iterdir()), out)
    core = reader.Vmcore.open(str(cores[0]))
    assert core.panic == "console test vnic"
    check_regions(core, KIB << 10)
    info = (server.dumpdir / cores[0].name.replace("vmcore", "info")).read_text()
    assert "Dump complete" in info, info


@pytest.fixture
def net(tmp_path):
    server = Netdumpd(tmp_path, "127.0.0.1")
    br = Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24"])
    try:
        yield server, br
    finally:
        br.stop()
        server.stop()


def test_console_retries_with_another_herald_port(net, request):
    # the server answers ARP but nothing listens on its first herald port
    server, br = net
    silent = free_udp_port()
    script = "netdump -s 10.0.2.2:%d\nshow\ncontinue\n" % server.hport
    out = run_board(br.nic_port, "10.0.2.2", silent, server.cport, script)
    first = at(out, "netdump failed:")
    retry = at(out, "netdump: server 10.0.2.2 port %d" % server.hport)
    done = at(out, "netdump finished.")
    assert first < retry < done, out
    assert "last dump: ok" in out, out
    assert "RESULT 0 0" in out, out + "\n--- netdumpd:\n" + server.text()
    assert "SERVER 10.0.2.2 %d" % server.hport in out, out
    assert out.count("netdumping to 10.0.2.2 (%s)" % GW_MAC) == 2, out  # each dump resolves the next hop
    check_core(server, out)
    st = br.stop()
    assert st["side"]["bad_checksum"] == 0, st
    announce(request, "vnic console: netdump -s to another herald port, retried dump byte-identical, heap locked")


def test_console_retries_with_another_server_address(net, request):
    # the first server does not exist (no ARP answer); an off-link address
    # without a gateway is refused; then the real one (ARP for it: up to 3 x 1 s)
    server, br = net
    script = "netdump -s 10.231.9.1:%d\nnetdump -s 10.0.2.2:%d\nshow\ncontinue\n" % (server.hport, server.hport)
    out = run_board(br.nic_port, "10.0.2.77", server.hport, server.cport, script)
    lost = at(out, "netdump: failed to locate MAC address")
    first = at(out, "netdump failed:")
    refused = at(out, "netdump: this endpoint cannot change its server (error 3)")
    retry = at(out, "netdump: server 10.0.2.2 port %d" % server.hport)
    found = at(out, "netdumping to 10.0.2.2 (%s)" % GW_MAC)
    done = at(out, "netdump finished.")
    assert lost < first < refused < retry < found < done, out
    assert "netdump: server 10.231.9.1" not in out, out
    assert "last dump: ok" in out and "RESULT 0 0" in out, out + "\n--- netdumpd:\n" + server.text()
    assert "SERVER 10.0.2.2 %d" % server.hport in out, out
    # 3 for 10.0.2.77 (all unanswered), then 1 for 10.0.2.2, or more if vnet was too slow to answer
    assert 4 <= ep_stats(out)["solicits"] <= 6, out
    check_core(server, out)
    st = br.stop()
    assert st["side"]["bad_checksum"] == 0 and st["side"]["arp_replies"] >= 1, st
    announce(request, "vnic console: netdump -s to another server address, retried dump byte-identical, heap locked")
