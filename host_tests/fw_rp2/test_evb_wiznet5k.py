"""The stock W5500_EVB_PICO firmware (MicroPython v1.28.0, network.WIZNET5K
on lwIP) on rp2040js with the W5500 emulator, as users flash the board: the
firmware's own driver brings the chip up and carries traffic (its 64 ms soft
timer and its INTn interrupt on GP21 both polling the emulated chip), then
the project's dump runs beside it: the driver takes the chip over from
WIZNET5K for the dump (and, with its takeover disabled, the firmware's
poller is seen taking the dump's frames) and gives it back afterwards."""
import ast
import os
import re
import socket
import threading
import time

import pytest
import serial

import rp2bed
from netdump_tools import reader, rp2board
from test_packages import W5500_CHAIN  # host_tests/ (conftest.py's folder) is on sys.path
from netdump_tools.netdumpd_harness import free_udp_port, stop_process

pytestmark = pytest.mark.usefixtures("rp2_bed")


BOARD = "w5500_evb_pico"
HEAPFILL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mp", "heapfill.py")
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
def net(rp2_net):
    return rp2_net


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


def test_mip_install_py(evb, tmp_path):
    # the board's own package as .py sources: exactly its chain
    st, out = rp2board.install(evb.link, "py", work=str(tmp_path), board=BOARD)
    assert st == 0, out
    installed = sorted(ln.split()[-1] for ln in out.splitlines() if ln.startswith("Installing:"))
    assert installed == sorted("lib/" + t for t in W5500_CHAIN), out
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
    # the same round trips with GP21 left high: only the firmware's 64 ms soft timer polls.
    # A cable of its own: vnet sends to the NIC it last heard from, and the other board talks too.
    eth, vnet = rp2board.start_vnet()
    b = None
    try:
        b = rp2bed.start_board("W5500_EVB_PICO", net, tmp_path_factory, intn=False, eth_peer=eth)
        _, lat = _echo_latencies(b, echo)
    finally:
        if b is not None:
            b.stop()
        stop_process(vnet, 5)
    assert len(lat) >= PINGS - 2 and max(lat) >= FAST_NS, lat


def test_dumpon_auto_leaves_wiznet5k_up(evb, net):
    # dumpon -c auto takes the client address from the running WIZNET5K and must leave it up
    args = net.dumpon_args(BOARD)
    args[args.index("-c") + 1] = "auto"
    args[:0] = ["--deadline", str(DEADLINE_S)]  # without the takeover too, a dump ends in bounded time
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
DEADLINE_S = 8  # dumpon --deadline: a dump here takes under a second of simulated time
T_WEDGED_NS = (DEADLINE_S + 4) * 1e9  # simulated time after which a dump that did not end is stuck
T_DUMP = 600  # s of host time: the last resort
# the firmware's receive path reading the chip: ioLibrary's getSn_RX_RSR reads Sn_RX_RSR one
# byte at a time (socket 0 register block, read: control byte 0x08); the project's driver reads
# it with TX_RD and RX_WR in one 6-byte burst
RSR_BYTE_READ = (0x0026, 0x08, 1)


def _dump_beside_wiznet5k(board, hook=""):
    """A test dump while WIZNET5K runs -> (clean, stats, console). Clean: it finished, and from
    its HERALD to its FINISHED the firmware's receive path never read the chip. Bounded: without
    the takeover the firmware's driver can wedge the board."""
    out = rp2bed.board_exec(board.link, "import network; print('ACTIVE', network.route()[0].active())")
    assert "ACTIVE True" in out, out
    seen = len(board.console())
    marks = len(board.frames)
    t0 = board.sim_ns()
    st, out = rp2bed.mpremote(board.link, "resume", "exec", "--no-follow", hook + DUMP)
    assert st == 0, out
    end = time.monotonic() + T_DUMP
    while "STATS" not in board.console()[seen:] and time.monotonic() < end:
        if board.sim_ns() - t0 > T_WEDGED_NS:
            break
        time.sleep(0.5)
    time.sleep(0.5)
    con = board.console()[seen:]
    what = " without the takeover" if hook else ""
    assert "netdump: armed: w5500 10.0.2.15 -> 10.0.2.2" in con, con
    if "STATS" not in con:
        st = board.stats()
        rp2bed.log("dump beside WIZNET5K%s: stuck after %.1f s simulated, PC 0x%08x; console: %r"
                   % (what, (st["ns"] - t0) / 1e9, st["pc"], con[-200:]))
        return False, None, con
    stats = ast.literal_eval(con.split("STATS", 1)[1].split("\n")[0].strip())
    new = board.frames[marks:]
    heralds = [f for f in new if f[1] == rp2board.SNAP_HERALD]
    assert heralds, new
    t1, _, rx1, h1 = heralds[-1]
    finished = new[-1][1] == rp2board.SNAP_FINISHED
    # from the HERALD to the FINISHED (or, when the dump failed, to now)
    t2, _, rx2, h2 = new[-1] if finished else (board.sim_ns(), 0, board.chip.stats["frames_rx"],
                                                dict(board.spi.headers))
    stats["rsr_reads"] = h2.get(RSR_BYTE_READ, 0) - h1.get(RSR_BYTE_READ, 0)
    # frames the chip received during the dump that never reached it (the FINISHED ack comes later)
    stats["taken"] = (rx2 - rx1) - (stats["acks"] - 1) - stats["dupacks"] - stats["ignored"]
    rp2bed.log("dump beside WIZNET5K%s: %s, %.1f ms simulated; %s"
               % (what, "finished" if finished else "failed", (t2 - t1) / 1e6, stats))
    return finished and "netdump finished." in con and stats["rsr_reads"] == 0, stats, con


def test_dump_beside_active_wiznet5k(evb, net, echo):
    # WIZNET5K is up (same REPL session): its 64 ms timer and its INTn IRQ poll socket 0. The
    # driver takes the chip over for the dump and gives it back afterwards.
    n = len(net.cores())
    clean, stats, con = _dump_beside_wiznet5k(evb)
    assert clean and stats["taken"] <= 1, (stats, con)
    core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
    assert core.board == BOARD and "W5500-EVB-Pico with RP2040" in core.firmware
    assert len(core.read_region("sram")) == 264 * 1024
    # and the chip went back to WIZNET5K: its traffic flows again
    out = rp2bed.board_exec(evb.link, "import network; print('ACTIVE', network.route()[0].active())\n" +
                            ECHO % (free_udp_port(), 2, echo))
    assert "ACTIVE True" in out and out.count("GOT b'echo:ping") == 2, out


# Where the dump may differ from SRAM at its HERALD, besides the C stack and the GC heap (the
# dump's own calls and buffers): the interpreter state, TinyUSB's CDC state (console output), and
# the firmware's timers beside the dump: the soft timer heap, the 64 ms network timer and lwIP's
# timeout list (sys_check_timeouts keeps running; the takeover keeps WIZNET5K off the chip, not
# off its clock; nd6_tmr_rs_reduction is one of IPv6's timers). Measured on this bed.
STATIC_OK = rp2bed.CONSOLE_STATICS + ("soft_timer_heap", "timer_callbacks_pending", "mp_network_soft_timer",
                                      "next_timeout", "current_timeout_due_time", "memp_memory_SYS_TIMEOUT_base",
                                      "nd6_tmr_rs_reduction")
BOUND_STACK = 4096
BOUND_HEAP = 4096
BOUND_STATIC = 512
T_BOOT = 300  # s of host time for boot.py to compile the .py install and arm


def test_boot_armed_dump_beside_wiznet5k_equals_the_snapshot(evb, net, echo, tmp_path):
    # As a user sets the board up: boot.py brings WIZNET5K up and arms (arm_config() at boot, with
    # the firmware's driver running and the chip carrying the application's traffic); a test dump
    # over mpremote while it is up; the dump equals SRAM as it was at the HERALD outside the areas
    # the dump itself writes; then the application's network works again.
    boot = tmp_path / "boot.py"
    boot.write_text(UP + "import netdump.panic; netdump.panic.arm_config()\n")
    st, out = rp2bed.mpremote(evb.link, "fs", "cp", str(boot), ":boot.py")
    assert st == 0, out
    try:
        seen = len(evb.console())
        # a soft reset at the REPL (Ctrl-C, Ctrl-B, Ctrl-D): boot.py runs, as at power-up. Not
        # through mpremote: compiling the .py install at boot outlasts its wait for the raw REPL.
        with serial.Serial(evb.link) as tty:
            tty.write(b"\x03\x03\x02\x04")
        end = time.monotonic() + T_BOOT
        while "netdump: armed" not in evb.console()[seen:] and time.monotonic() < end:
            time.sleep(0.5)
        con = evb.console()[seen:]
        assert "UP True 2" in con and "netdump: armed: w5500 10.0.2.15 -> 10.0.2.2" in con, con
        out = rp2bed.board_exec(evb.link, ECHO % (free_udp_port(), 2, echo))
        assert out.count("GOT b'echo:ping") == 2, out
        n = len(net.cores())
        snaps = len(evb.spi.snapshots)
        st, out = rp2bed.tool("netdump-testdump", "-p", evb.link, "-v")
        assert st == 0 and "netdump finished." in out, out
        core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
        assert core.board == BOARD and core.panic == "netdump test dump"
        dumped = core.read_region("sram")
        new = evb.spi.snapshots[snaps:]
        assert [x[0] for x in new] == [rp2board.SNAP_HERALD, rp2board.SNAP_FINISHED], new
        areas = rp2bed.sram_areas(evb.elf, STATIC_OK)
        per, stray = rp2bed.classify(rp2bed.diff_ranges(dumped, new[0][2]), areas)
        rp2bed.log("boot-armed dump beside WIZNET5K vs SRAM at HERALD: %d of %d bytes differ: %s"
                   % (sum(per.values()), len(dumped), per))
        assert not stray, "dump differs outside the areas it writes: %s" % sorted(set(
            rp2bed.symbol_at(evb.elf, a) for a, _ in stray))
        assert per.get("C stack", 0) <= BOUND_STACK and per.get("GC heap", 0) <= BOUND_HEAP, per
        assert sum(v for k, v in per.items() if k not in ("C stack", "GC heap")) <= BOUND_STATIC, per
        # the chip went back to WIZNET5K: the application's traffic flows again
        out = rp2bed.board_exec(evb.link, "import network; print('ACTIVE', network.route()[0].active())\n" +
                                ECHO % (free_udp_port(), 2, echo))
        assert "ACTIVE True" in out and out.count("GOT b'echo:ping") == 2, out
    finally:
        st, out = rp2bed.mpremote(evb.link, "resume", "fs", "rm", ":boot.py")
        assert st == 0, out


# the socket endpoint (iface lan: lwIP over WIZNET5K), configured by dumpon and kept in a file of
# its own, so the module's other tests keep their w5500 configuration
LAN_CONF = "netdump_lan.json"
# What may differ between the dump's SRAM and SRAM at its HERALD (measured on this bed: stack ~2600,
# heap ~1900, interpreter and USB state ~130, network stack ~1000 bytes): the dump's own calls and
# buffers, and the network stack that carries it. Its statics: WIZNET5K's driver with WIZnet's
# ioLibrary, and lwIP's heap, pbuf and pcb pools, timers and counters (lib/lwip/src: its name
# prefixes and its file-scope names).
NET_RE = re.compile(r"^(memp_|tcp|udp_|raw_|ip_|ip4_|ip6_|etharp|arp_|netif|dhcp|dns_|igmp|mld6|nd6_|mdns_|pbuf_|"
                    r"lwip_|wiznet5k_|mp_network_|pendsv_|sock_)|^(ram_heap|ram_end|lfree|next_timeout|"
                    r"current_timeout_due_time|ackno|seqno|inseg|recv_data|recv_flags|recv_acked|iss\.0|xid\.0|"
                    r"neighbor_cache|destination_cache|default_router_list|prefix_list|reachable_time|"
                    r"retrans_timer|reassdatagrams|multicast_address|WIZCHIP)$")
# the firmware's own statics the dump may write (test_boot_armed_...'s, but for the network
# stack's, counted below) and pico-sdk's alarm pool (the firmware's timers)
FW_OK = tuple(k for k in STATIC_OK if not NET_RE.search(k)) + ("default_alarm_pool_entries", "default_alarm_pool",
                                                                "alarm_callbacks")
BOUNDS = {"C stack": 4096, "GC heap": 4096, "firmware": 256, "network stack": 3072}
LAN_DUMP = ("import gc, netdump.panic as p, netdump.debugnet as d\np.disarm()\ngc.collect()\n"
            "p.arm_config(%r)\nep = p.fault.armed[0].net._ep\n"
            "print('EP', ep.stack, ep.reserve, p.test_dump(), ep.windows, ep.ack_port > 0)\n"
            "print('STATS', dict(zip(d.STAT_NAMES, p.fault.armed[0].net.stats)))\n" % LAN_CONF)


def _lan_config(board, net):
    """dumpon ... lan, saved as LAN_CONF on the board (netdump.json as it was)."""
    rp2bed.board_exec(board.link, "import os\ntry:\n    os.rename('netdump.json', 'netdump.keep')\n"
                                  "except OSError:\n    pass\n")
    args = net.dumpon_args(BOARD)
    args[-1] = "lan"
    st, out = rp2bed.tool("dumpon", "-p", board.link, *args)
    assert st == 0 and "dumpon: saved netdump.json: lan client 10.0.2.15 server 10.0.2.2" in out, out
    rp2bed.board_exec(board.link, "import os\nos.rename('netdump.json', %r)\ntry:\n"
                                  "    os.rename('netdump.keep', 'netdump.json')\nexcept OSError:\n    pass\n"
                                  % LAN_CONF)


def test_dump_over_lwip_sockets(evb, net, tmp_path):
    # the firmware's own network stack carries the dump: lwIP's UDP sockets over WIZNET5K (the
    # socket endpoint, stack "lwip"), heap locked from the herald on. The vmcore's SRAM is the
    # emulator's SRAM at the HERALD but for what the dump and the running network stack write.
    # The board's chain with its socket interfaces (netdump-socket) first:
    st, out = rp2board.install(evb.link, "py", work=str(tmp_path), board=BOARD, socket=True)
    assert st == 0 and "Installing: lib/netdump/endpoint.py" in out, out
    # (mpremote mip soft-resets the board: WIZNET5K is down, network.route() empty)
    out = rp2bed.board_exec(evb.link, "import network\nr = network.route()\nprint('ACTIVE', bool(r) and r[0].active())")
    if "ACTIVE True" not in out:
        assert "UP True 2" in rp2bed.board_exec(evb.link, UP)
    _lan_config(evb, net)
    n = len(net.cores())
    snaps = len(evb.spi.snapshots)
    out = rp2bed.board_exec(evb.link, LAN_DUMP)
    rp2bed.log("lwIP dump: %s" % out.strip().replace("\n", "; "))
    assert "netdump: armed: lan 10.0.2.15 -> 10.0.2.2" in out and "netdump finished." in out, out
    # stack lwip, its reserve, err 0, one heap window (the herald ack's recvfrom()), the session port adopted
    assert "EP lwip 96 0 1 True" in out, out
    core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
    assert core.board == BOARD and core.panic == "netdump test dump"
    dumped = core.read_region("sram")
    new = evb.spi.snapshots[snaps:]
    assert [s[0] for s in new] == [rp2board.SNAP_HERALD, rp2board.SNAP_FINISHED], new
    net_ok = tuple(k for k in rp2bed.elf_symbols(evb.elf) if NET_RE.search(k))
    per, stray = rp2bed.classify(rp2bed.diff_ranges(dumped, new[0][2]), rp2bed.sram_areas(evb.elf, FW_OK + net_ok))
    assert not stray, "dump differs outside the areas it writes: %s" % sorted(set(
        rp2bed.symbol_at(evb.elf, a) for a, _ in stray))
    kinds = {"C stack": per.get("C stack", 0), "GC heap": per.get("GC heap", 0),
             "firmware": sum(per.get(k, 0) for k in FW_OK), "network stack": sum(per.get(k, 0) for k in net_ok)}
    rp2bed.log("lwIP dump vs SRAM at HERALD: %d of %d bytes differ: %s" % (sum(kinds.values()), len(dumped), kinds))
    assert all(kinds[k] <= BOUNDS[k] for k in BOUNDS), kinds


# an application that fills the heap until MemoryError, under guard() (host_tests/mp/heapfill.py);
# it prints what is left free before its last allocation. NO_RESERVE: the endpoint takes no reserve.
HUNGRY = ("import gc, netdump.panic as p, heapfill\np.disarm()\ngc.collect()\n%sp.arm_config(%r)\n"
          "def hungry():\n    heapfill.fill()\n    print('FREE', gc.mem_free())\n    return bytearray(64)\n"
          "p.guard(hungry)\n")
NO_RESERVE = "import netdump.endpoint as e\ne._RESERVE_BLOCKS = (0, 0, 0, 0)\n"


@pytest.mark.parametrize("reserve", [True, False], ids=["reserve", "no-reserve"])
def test_heap_exhaustion_fault_dumps_over_lwip(evb, net, reserve):
    # the fault is the MemoryError of a full heap: the socket endpoint's herald recvfrom() runs on
    # the reserve it took at arm (lwIP's one allocating call), the dump completes, the board
    # resets. Without the reserve the herald's ack cannot be read and the dump fails.
    st, out = rp2bed.mpremote(evb.link, "fs", "cp", HEAPFILL, ":heapfill.py")
    assert st == 0, out
    n = len(net.cores())
    resets = len(evb.resets)
    seen = len(evb.console())
    st, out = rp2bed.mpremote(evb.link, "resume", "exec", "--no-follow",
                              HUNGRY % ("" if reserve else NO_RESERVE, LAN_CONF))
    assert st == 0, out
    if reserve:
        core = reader.Vmcore.open(net.wait_cores(n + 1)[-1])
        assert core.panic.startswith("MemoryError"), core.panic
        assert "in hungry" in core.traceback, core.traceback
    assert evb.wait_reset(resets + 1, 300), "the board did not reset after the fault"
    con = evb.console()[seen:]
    rp2bed.log("heap-exhaustion fault: %r" % con[-300:])
    for line in ("FREE 0", "panic: unhandled exception", "netdump: resetting"):
        assert line in con, con[-2000:]
    if reserve:
        assert "netdump finished." in con, con[-2000:]
    else:
        assert "netdump failed:" in con and "netdump finished." not in con and len(net.cores()) == n, con[-2000:]
    # WIZNET5K is down after the reset: up again for the tests after this one
    assert "UP True 2" in rp2bed.board_exec(evb.link, UP)


def test_hardware_watchdog_resets_the_board(evb):
    # machine.WDT unfed: the RP2040 watchdog resets the chip (the bed's reset path)
    resets = len(evb.resets)
    st, out = rp2bed.mpremote(evb.link, "resume", "exec", "--no-follow",
                              "import machine, time\nw = machine.WDT(timeout=200)\ntime.sleep_ms(2000)\n")
    assert st == 0, out
    assert evb.wait_reset(resets + 1, 120)
    assert evb.resets[-1][0] == "watchdog"
    out = rp2bed.board_exec(evb.link, "import machine; print('CAUSE', machine.reset_cause() == machine.WDT_RESET)")
    assert "CAUSE True" in out, out


def test_dump_without_the_takeover_loses_frames(evb, echo):
    # The same dump with the takeover disabled (the driver's test hook): the firmware's 64 ms
    # poll keeps reading socket 0, takes frames meant for the dump, or wedges the board. Last in
    # the module, after a reset (the previous test's): WIZNET5K up again and carrying traffic
    # (its 64 ms timer runs periodically only once lwIP was polled with the link up).
    _echo_latencies(evb, echo)
    clean, stats, con = _dump_beside_wiznet5k(evb, NO_TAKEOVER)
    assert not clean, (stats, con)
