"""The hardware watchdog on the fault path (firmware/netdump/feed.py).

The virtual board has one (boards/unix_virtual.py WDT, enforced by
tools/vboard.py, which ends the board's process when it is not fed in time)
with rp2's longest timeout, 8388 ms. A dump slower than that -- the server two
hops away (off-link, through the gateway), 5% of the frames lost each way,
300 ms each way, the first ARP request for the gateway unanswered, FreeBSD's
burst transport -- completes when the fault path feeds the watchdog; with the
same network and nothing feeding it, the watchdog resets the board in the
middle of the dump. Nothing here measures wall time: the reset either happens
(the dump took longer than the timeout) or it does not.
"""
import os
import sys
import time

import pytest

from conftest import ROOT
from netdump_tools import reader, vboard

sys.path.insert(0, os.path.join(ROOT, "boards"))

WDT_MS = 8388
RAM_KIB = 256


def ram_pattern():
    return bytes(((i * 13) ^ (i >> 7)) & 255 for i in range(RAM_KIB * 1024))


def wait_for(vb, text, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in vb.output or (vb._thread is not None and not vb._thread.is_alive()):
            break
        time.sleep(0.1)
    return text in vb.output


def _run_dump(vb, end_s):
    """Start the board and wait for its test dump (DUMP START, then DUMP END within end_s of host
    time) -> (whether it ended, the console so far)."""
    vb.start()
    assert wait_for(vb, b"DUMP START", 60), bytes(vb.output)
    done = wait_for(vb, b"DUMP END", end_s)
    return done, bytes(vb.output).decode(errors="replace")


@pytest.mark.parametrize("feed", [True, False])
def test_slow_dump_and_the_hardware_watchdog(tmp_path, feed):
    import test_vnet as tv  # the vnet/netdumpd harness of host_tests/test_vnet.py

    from netdump import dumpon

    server = tv.Netdumpd(tmp_path, "127.0.0.1")
    br = tv.Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24", "--loss", "5%", "--delay-ms", "300",
                                      "--arp-ignore", "1", "--seed", "7"])
    bdir = tmp_path / "board"
    bdir.mkdir()
    dumpon.save({"board": "unix_virtual", "iface": "vnic", "client": "10.0.2.15", "netmask": "/24",
                 "gateway": "10.0.2.2", "server": "10.9.9.9", "herald_port": server.hport,
                 "client_port": server.cport, "hostname": "wdtboard", "mode": "freebsd", "console": 0,
                 "wdt": WDT_MS}, str(bdir / "netdump.json"))
    (bdir / "boot.py").write_text("import netdump.panic; netdump.panic.arm_config()\n")
    (bdir / "main.py").write_text(
        "import netdump.feed as f, netdump.panic as p, unix_virtual as b\n"
        "i = 0\n"
        "while i < len(b.RAM):\n"
        "    b.RAM[i] = ((i * 13) ^ (i >> 7)) & 255\n"
        "    i += 1\n"
        "w = f.wdt[0]\n"
        "print('WDT', type(w).__name__)\n"
        "w.feed()\n"
        + ("" if feed else "f.wdt[0] = None  # nothing on the fault path feeds it\n") +
        "print('DUMP START')\n"
        "print('DUMP END', p.test_dump())\n")
    vb = vboard.VBoard(str(bdir), heapsize="4M", once=True, log_path=str(tmp_path / "console.log"),
                       env={"NETDUMP_VNET_PORT": str(br.nic_port)})
    try:
        done, out = _run_dump(vb, 240)
    finally:
        vb.stop()
        st = br.stop()
        server.stop()
    assert "netdump: armed: vnic 10.0.2.15 -> 10.9.9.9" in out and "WDT WDT" in out, out
    assert st["side"]["arp_ignored"] == 1 and st["to_nic"]["lost"] + st["to_net"]["lost"] > 0, st
    if feed:
        assert done and "DUMP END 0" in out and "watchdog reset" not in out, out
        assert "netdumping to 10.9.9.9" in out and "via 10.0.2.2" in out, out
        assert vb.wdt_resets == 0
        cores = [p for p in server.dumpdir.iterdir() if p.name.startswith("vmcore.") and ".last" not in p.name]
        assert len(cores) == 1, out + server.text()
        core = reader.Vmcore.open(str(cores[0]))
        assert core.read_region("ram") == ram_pattern()
    else:
        assert not done and "vboard: watchdog reset (not fed for %d ms)" % WDT_MS in out, out
        assert vb.wdt_resets == 1


EMAC_WDT_MS = 2000  # a short hardware watchdog (ESP32's machine.WDT takes any timeout)
EMAC_LINK_MS = 6000  # the EMAC driver's link wait: three times the watchdog's timeout


@pytest.mark.parametrize("feed", [True, False])
def test_emac_link_wait_feeds_a_short_watchdog(tmp_path, feed):
    # An ESP32 EMAC board (the driver on the virtual board, over the register link to the
    # emulator, ESP-IDF's driver model running) whose cable is unplugged at the fault: the
    # driver waits for the link three times longer than the hardware watchdog's timeout.
    # Fed from the wait: the dump fails with its one line and the board lives on. With the
    # wait's feed disabled (the driver as before it fed): the watchdog resets the board
    # inside the wait, before any line.
    from netdump_tools import esp32_emac_emu as emu

    import test_esp32_emac as te

    emac, idf = emu.build(phy_addr=1, link=False, mac=te.BOARD_MAC)
    regs = str(tmp_path / "regs")
    srv = emu.EmacServer(emac, regs, idf=idf).start()
    bdir = tmp_path / "board"
    bdir.mkdir()
    (bdir / "main.py").write_text(
        "import sys, time\n"
        "sys.path.append(%r)\n"
        "from emac_stub import FakeLan, LinkRegs\n"
        "import netdump.board, netdump.panic as p, unix_virtual\n"
        "b = netdump.board.load('unix_virtual')  # the board's data (boards are data: netdump.board)\n"
        "from netdump.drivers import esp32_emac\n"
        "from netdump.ether import EtherEndpoint\n"
        "regs = LinkRegs(%r)\n"
        "nic = esp32_emac.EMAC(lan=FakeLan(regs, bytes.fromhex(%r)), phy_addr=1, regs=regs, link_timeout_ms=%d)\n"
        "ep = EtherEndpoint(nic, '10.0.2.15', '10.0.2.2', netmask=24)\n"
        "w = unix_virtual.WDT(timeout=%d)\n"
        "p.arm('10.0.2.2', b.default_regions(), b.MACHINE, b.ELFCLASS, b.ARCH, endpoint=ep, board=b, wdt=w)\n"
        % (te.MP_EMAC, regs, te.BOARD_MAC.replace(":", ""), EMAC_LINK_MS, EMAC_WDT_MS)
        + ("" if feed else "esp32_emac.feed = lambda: None  # the link wait does not feed\n") +
        "print('DUMP START')\n"
        "print('DUMP END', p.test_dump())\n"
        "while True:\n"
        "    w.feed()\n"
        "    time.sleep_ms(100)\n")
    vb = vboard.VBoard(str(bdir), heapsize="4M", once=True, log_path=str(tmp_path / "console.log"))
    try:
        done, out = _run_dump(vb, 120)
    finally:
        vb.stop()
        st = srv.stats()
        srv.stop()
    assert st["phy_reads"] > 0 and st["idf"]["stop_calls"] == 1, st  # the takeover reached the link wait
    line = "esp32_emac: no link: PHY 1 reports link down for %d ms (cable?)" % EMAC_LINK_MS
    if feed:
        assert done and line in out and "DUMP END 4" in out, out
        assert "watchdog reset" not in out and vb.wdt_resets == 0, out
    else:
        assert not done and line not in out, out
        assert "vboard: watchdog reset (not fed for %d ms)" % EMAC_WDT_MS in out and vb.wdt_resets == 1, out
