"""The stock W5500_EVB_PICO firmware (MicroPython v1.28.0, network.WIZNET5K
on lwIP) on rp2040js with the W5500 emulator, as users flash the board: the
firmware's own driver brings the chip up and carries traffic (its 64 ms soft
timer and its INTn interrupt on GP21 both polling the emulated chip), then
the project's dump runs beside it: the driver takes the chip over from
WIZNET5K for the dump (and, with its takeover disabled, the firmware's
poller is seen taking the dump's frames) and gives it back afterwards."""
import ast
import socket
import threading
import time

import pytest

import rp2bed
from rp2bed import bed_available, net  # noqa: F401  (fixtures)
from netdump_tools import reader, rp2board
from netdump_tools.netdumpd_harness import free_udp_port

BOARD = "w5500_evb_pico"
PINGS = 5
FAST_NS = 2_000_000  # INTn wired: the firmware looks at the chip within microseconds of a frame
ECHO_DELAY_S = 0.03

UP = ("import network, machine\n"
      "n = network.WIZNET5K()\nn.active(True)\n"
      "n.ifconfig(('10.0.2.15', '255.255.255.0', '10.0.2.2', '10.0.2.2'))\n"
      "print('UP', n.isconnected(), n.status(), n.config('mac').hex(), machine.unique_id().hex())\n")

ECHO = ("import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', %d))\ns.settimeout(10)\n"
        "for i in range(%d):\n"
        "    s.sendto(b'ping %%d' %% i, ('10.0.2.2', %d))\n"
        "    print('GOT', s.recvfrom(64)[0])\n"
        "s.close()\n")


@pytest.fixture(scope="module")
def evb(net, tmp_path_factory):
    b = rp2bed.start_board("W5500_EVB_PICO", net, tmp_path_factory)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def echo():
    """A UDP echo server on 127.0.0.1 (vnet relays the board's 10.0.2.2:port to it) -> its port.
    It answers after ECHO_DELAY_S, so the reply finds the board idle in recvfrom(), where only
    INTn or the 64 ms timer can make the firmware look at the chip."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(2048)
            except OSError:
                continue
            time.sleep(ECHO_DELAY_S)
            s.sendto(b"echo:" + data, peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield s.getsockname()[1]
    stop.set()
    t.join(5)
    s.close()


def _echo_latencies(board, port):
    """Bring WIZNET5K up, run PINGS UDP round trips -> the INTn-to-first-SPI latencies (ns) they caused."""
    out = rp2bed.board_exec(board.link, UP)
    assert "UP True 2" in out, out
    lat0 = len(board.stats()["spi"]["intLatencyNs"])
    out = rp2bed.board_exec(board.link, ECHO % (free_udp_port(), PINGS, port))
    assert out.count("GOT b'echo:ping") == PINGS, out
    lat = board.stats()["spi"]["intLatencyNs"][lat0:]
    rp2bed.log("INTn asserted -> first SPI access: %s us" % [round(x / 1000, 1) for x in lat])
    return out, lat


def test_mip_install_py(evb):
    st, out = rp2board.install(evb.link, "py")
    assert st == 0, out
    assert "Installing: lib/netdump/drivers/w5500.py" in out and "Installing: lib/w5500_evb_pico.py" in out, out
    out = rp2bed.board_exec(evb.link, "import netdump.panic, w5500_evb_pico; print('IMPORTED')")
    assert "IMPORTED" in out


def test_wiznet5k_up_with_traffic(evb, echo):
    out, lat = _echo_latencies(evb, echo)
    # the firmware's driver ran on the emulated chip: MACRAW on socket 0, frames both ways
    s0 = evb.chip.sockets[0]
    assert s0.sr == 0x42 and evb.chip.stats["frames_rx"] >= PINGS and evb.chip.stats["frames_tx"] >= PINGS
    # its INTn interrupt (GP21, falling edge) polled each reply at once, not its 64 ms timer
    assert len(lat) >= PINGS - 2 and max(lat) < FAST_NS, lat
    assert evb.spi.stats["miso_mismatches"] == 0


def test_wiznet5k_unique_id_and_mac(evb):
    # the MAC WIZNET5K chose comes from the flash's unique ID (command 0x4B), fixed per test
    # (network.route() holds the active interface; calling WIZNET5K() again would take it down)
    out = rp2bed.board_exec(evb.link, "import machine, network\n"
                                      "print('ID', machine.unique_id().hex(), network.route()[0].config('mac').hex())")
    uid, mac = out.split("ID")[1].split()
    assert uid == rp2board.DEFAULT_UID
    assert int(mac[:2], 16) & 0x02 and mac == evb.chip.common[9:15].hex()  # locally administered, in SHAR


def test_intn_unwired_leaves_the_64ms_timer(net, echo, tmp_path_factory):
    # the same round trips with GP21 left high: only the firmware's 64 ms soft timer polls
    b = rp2bed.start_board("W5500_EVB_PICO", net, tmp_path_factory, intn=False)
    try:
        _, lat = _echo_latencies(b, echo)
    finally:
        b.stop()
    assert len(lat) >= PINGS - 2 and max(lat) >= FAST_NS, lat


def test_dumpon_auto_leaves_wiznet5k_up(evb, net):
    # dumpon -c auto takes the client address from the running WIZNET5K and must leave it up
    args = net.dumpon_args(BOARD)
    args[args.index("-c") + 1] = "auto"
    st, out = rp2bed.tool("dumpon", "-p", evb.link, *args)
    assert st == 0 and "dumpon: saved netdump.json: w5500 client 10.0.2.15 server 10.0.2.2" in out, out
    out = rp2bed.board_exec(evb.link, "import network; print('ACTIVE', network.route()[0].active())")
    assert "ACTIVE True" in out, out


# the takeover test hook (drivers/w5500.py: takeover=False leaves the firmware's driver running)
NO_TAKEOVER = ("import netdump.drivers.w5500 as w\n_init = w.W5500.__init__\n"
               "def _no_takeover(self, *a, **k):\n    k['takeover'] = False\n    _init(self, *a, **k)\n"
               "w.W5500.__init__ = _no_takeover\n")
# arm afresh (the previous dumper's buffers freed first: the heap holds one armed dump)
DUMP = ("import gc, netdump.panic as p, netdump.debugnet as d\np.disarm()\ngc.collect()\np.arm_config()\n"
        "p.test_dump()\nprint('STATS', dict(zip(d.STAT_NAMES, p.fault.armed[0].net.stats)))\n")


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
def test_dump_beside_active_wiznet5k(evb, net, echo, takeover):
    # WIZNET5K is up (same REPL session): its 64 ms timer and its INTn IRQ poll socket 0.
    # The driver takes the chip over for the dump and gives it back afterwards; with the
    # takeover disabled (test hook) the firmware's poller takes frames meant for the dump.
    out = rp2bed.board_exec(evb.link, "import network; print('ACTIVE', network.route()[0].active())")
    assert "ACTIVE True" in out, out
    n = len(net.cores())
    rx0 = evb.chip.stats["frames_rx"]
    out = rp2bed.board_exec(evb.link, ("" if takeover else NO_TAKEOVER) + DUMP)
    assert "netdump: armed: w5500 10.0.2.15 -> 10.0.2.2" in out, out
    stats = ast.literal_eval(out.split("STATS", 1)[1].strip())
    stats["frames_rx"] = evb.chip.stats["frames_rx"] - rx0
    (t0, k0), (t1, k1) = evb.frames[-2:]
    rp2bed.log("dump beside WIZNET5K, takeover %s: %.1f ms simulated; %s" % (takeover, (t1 - t0) / 1e6, stats))
    if not takeover:
        # frames the chip received that the dump never saw: the firmware's driver took them
        assert stats["acks"] + 2 < stats["frames_rx"] or "netdump finished." not in out, (stats, out)
        return
    assert "netdump finished." in out, out
    core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
    assert core.board == BOARD and "W5500-EVB-Pico with RP2040" in core.firmware
    assert len(core.read_region("sram")) == 264 * 1024
    # every ack reached the dump, nothing was sent twice (as without WIZNET5K, test_pico_w5500)
    assert stats["retx"] == 0 and stats["acks"] >= stats["sent"], stats
    # and the chip went back to WIZNET5K: its traffic flows again
    out = rp2bed.board_exec(evb.link, "import network; print('ACTIVE', network.route()[0].active())\n" +
                            ECHO % (free_udp_port(), 2, echo))
    assert "ACTIVE True" in out and out.count("GOT b'echo:ping") == 2, out


def test_hardware_watchdog_resets_the_board(evb):
    # machine.WDT unfed: the RP2040 watchdog resets the chip (the bed's reset path for issue 13)
    resets = len(evb.resets)
    st, out = rp2bed.mpremote(evb.link, "resume", "exec", "--no-follow",
                              "import machine, time\nw = machine.WDT(timeout=200)\ntime.sleep_ms(2000)\n")
    assert st == 0, out
    assert evb.wait_reset(resets + 1, 120)
    assert evb.resets[-1][0] == "watchdog"
    out = rp2bed.board_exec(evb.link, "import machine; print('CAUSE', machine.reset_cause() == machine.WDT_RESET)")
    assert "CAUSE True" in out, out
