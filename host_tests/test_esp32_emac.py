"""The ESP32 EMAC: the register/DMA emulator (tools/esp32_emac_emu.py) against the
TRM and ESP-IDF's HAL, and the polled driver (firmware/netdump/drivers/esp32_emac.py)
against the emulator.

* Emulator, CPython: descriptors built by hand in a local memory window, the way
  the TRM describes them -- not the way our driver happens to use them.
* Driver, CPython: wired straight to the emulator (emac_link.DirectRegs, the DMA
  reading this process's memory), for register order and corner cases.
* Driver, MicroPython unix port, heap locked: over the register link
  (host_tests/mp_emac/emac_stub.py) to an emulator served from this process;
  the emulated DMA reads and writes the MicroPython process's memory.
* Whole dumps: driver -> emulator -> tools/vnet.py (user mode) -> netdumpd,
  byte-identical, both transports, with loss; the takeover from a running
  ESP-IDF driver (the emulator's model of it), with and without the takeover.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import pytest

import netutil
from conftest import HERE, ROOT, run_micropython

sys.path.insert(0, ROOT)
from tools import emac_link  # noqa: E402
from tools import esp32_emac_emu as emu  # noqa: E402

from netdump.drivers import esp32_emac  # noqa: E402
from netdump.drivers.esp32_emac import EMAC  # noqa: E402

MP_EMAC = os.path.join(HERE, "mp_emac")
BOARD_MAC = "02:00:00:00:00:15"
PEER_MAC = netutil.PEER_MAC
WIN = 0x3FFC0000  # where the hand-built rings sit on the emulated bus


# ---- the emulator against the manuals --------------------------------------------------


class Rig:
    """An Emac whose DMA sees a local 64 KiB buffer at WIN; frames sent go to .out."""

    def __init__(self, **kw):
        self.out = []
        self.mem = emu.BufferMemory(0x10000)
        self.phy = emu.Phy(kw.pop("phy", "lan8720"), addr=kw.pop("phy_addr", 0), link=kw.pop("link", True))
        self.emac = emu.Emac(phy=self.phy, transmit=self.out.append, **kw)
        self.emac.bus.map(WIN, 0x10000, self.mem, 0)
        e = self.emac
        e.write(emu.DMA_BUSMODE, emu.BM_ATDS)  # 32-byte descriptors, as ESP-IDF sets them
        e.write(emu.MAC_CONFIG, emu.MC_FES | emu.MC_DM)
        e.write(emu.MAC_ADDR0HI, 0x5544)
        e.write(emu.MAC_ADDR0LO, 0x33221102)

    def w32(self, a, v):
        struct.pack_into("<I", self.mem.buf, a - WIN, v)

    def r32(self, a):
        return struct.unpack_from("<I", self.mem.buf, a - WIN)[0]

    def put(self, a, data):
        self.mem.buf[a - WIN : a - WIN + len(data)] = data

    def get(self, a, n):
        return bytes(self.mem.buf[a - WIN : a - WIN + n])

    def desc(self, a, w0, w1, w2, w3):
        for i, v in enumerate((w0, w1, w2, w3)):
            self.w32(a + 4 * i, v)

    def start_tx(self, base):
        self.emac.write(emu.DMA_TXBASE, base)
        self.emac.modify(emu.MAC_CONFIG, 0, emu.MC_TE)
        self.emac.modify(emu.DMA_OPMODE, 0, emu.OM_ST)

    def start_rx(self, base):
        self.emac.write(emu.DMA_RXBASE, base)
        self.emac.modify(emu.DMA_OPMODE, 0, emu.OM_SR)
        self.emac.modify(emu.MAC_CONFIG, 0, emu.MC_RE)

    def status(self):
        return self.emac.read(emu.DMA_STATUS)


OWN = emu.OWN
OUR = bytes.fromhex("021122334455")


def frame(n, seed=0, dst=OUR):
    return dst + PEER_MAC + b"\x88\xb5" + bytes((j * 5 + seed) & 255 for j in range(n - 14))


def test_tx_chained_frame_over_two_descriptors_then_suspend():
    r = Rig()
    d0, d1, d2 = WIN, WIN + 32, WIN + 64
    f = frame(700)
    r.put(WIN + 0x1000, f[:300])
    r.put(WIN + 0x2000, f[300:])
    r.desc(d0, OWN | emu.T0_FS | emu.T0_TCH, 300, WIN + 0x1000, d1)
    r.desc(d1, OWN | emu.T0_LS | emu.T0_IC | emu.T0_TCH, 400, WIN + 0x2000, d2)
    r.desc(d2, emu.T0_TCH, 0, 0, d0)  # CPU-owned: the DMA stops there
    r.emac.write(emu.DMA_INTEN, emu.IE_NIE | 1)  # TIE
    r.start_tx(d0)
    assert r.out == [f]
    # OWN handed back on both; the first-segment descriptor keeps its control bits
    assert not r.r32(d0) & OWN and not r.r32(d1) & OWN and r.r32(d1) & emu.T0_LS
    s = r.status()
    assert s & emu.ST_TI and s & emu.ST_TU and s & emu.ST_NIS  # IC -> TI; host-owned next -> TU
    assert (s >> emu.ST_TS_SHIFT) & 7 == emu.PS_SUSPENDED
    assert r.emac.read(emu.DMA_CURTXDESC) == d2 and r.emac.irq_line()
    # the CPU fills d2 and demands a poll: transmission resumes from the retained position
    g = frame(60, 9)
    r.put(WIN + 0x3000, g)
    r.desc(d2, OWN | emu.T0_FS | emu.T0_LS | emu.T0_TCH, 60, WIN + 0x3000, d0)
    r.emac.write(emu.DMA_TXPOLL, 0)
    assert r.out == [f, g] and not r.r32(d2) & OWN


def test_tx_ring_mode_buffer2_end_of_ring_and_padding():
    r = Rig()
    r.emac.write(emu.DMA_BUSMODE, emu.BM_ATDS | (2 << emu.BM_DSL_SHIFT))  # skip 2 words between descriptors
    base = WIN
    second = base + 32 + 8  # ring mode: descriptor size + DSL words
    f = frame(200)
    r.put(WIN + 0x1000, f[:120])
    r.put(WIN + 0x1800, f[120:])
    r.desc(base, OWN | emu.T0_FS | emu.T0_LS, 120 | (80 << 16), WIN + 0x1000, WIN + 0x1800)
    short = frame(20)
    r.put(WIN + 0x2000, short)
    r.desc(second, OWN | emu.T0_FS | emu.T0_LS | emu.T0_TER, 20, WIN + 0x2000, 0)
    r.start_tx(base)
    assert r.out[0] == f  # buffer 1 then buffer 2 (TDES1 TBS2) in ring mode
    assert r.out[1] == short + bytes(40)  # padded to 60 (TDES0 DP clear)
    assert r.emac.tx_cur == base  # TER: back to the list base
    no_pad = frame(20, 3)
    r.put(WIN + 0x2000, no_pad)
    r.desc(base, OWN | emu.T0_FS | emu.T0_LS | emu.T0_DP | emu.T0_TER, 20, WIN + 0x2000, 0)
    r.emac.write(emu.DMA_TXPOLL, 0)
    assert r.out[2] == no_pad


def test_rx_frame_length_counts_fcs_and_spans_descriptors():
    r = Rig()
    ring = [WIN + 32 * i for i in range(4)]
    for i, a in enumerate(ring):
        r.desc(a, OWN, emu.R1_RCH | 512, WIN + 0x1000 + 512 * i, ring[(i + 1) % 4])
    r.emac.write(emu.DMA_INTEN, emu.IE_NIE | (1 << 6))  # RIE
    r.start_rx(ring[0])
    f = frame(1000, 1)
    assert r.emac.receive_frame(f)
    w0, w1 = r.r32(ring[0]), r.r32(ring[1])
    assert not w0 & OWN and w0 & emu.R0_FS and not w0 & emu.R0_LS
    assert not w1 & OWN and w1 & emu.R0_LS and not w1 & emu.R0_FS and not w1 & emu.R0_ES
    assert (w1 >> 16) & 0x3FFF == 1004  # FL includes the 4-byte FCS
    data = r.get(WIN + 0x1000, 1004)
    assert data[:1000] == f and data[1000:] == struct.pack("<I", zlib.crc32(f))
    assert w1 & emu.R0_FT  # EtherType >= 0x600
    assert r.status() & emu.ST_RI and r.emac.irq_line()
    assert r.emac.read(emu.DMA_CURRXDESC) == ring[2]


def test_rx_short_frames_padded_dic_and_suspend_then_flush():
    r = Rig()
    ring = [WIN + 32 * i for i in range(2)]
    for i, a in enumerate(ring):
        r.desc(a, OWN, emu.R1_DIC | emu.R1_RCH | 256, WIN + 0x1000 + 256 * i, ring[(i + 1) % 2])
    r.start_rx(ring[0])
    assert r.emac.receive_frame(frame(20, 2))
    assert (r.r32(ring[0]) >> 16) & 0x3FFF == 64  # padded to 60 on the wire + FCS
    assert not r.status() & emu.ST_RI  # DIC in RDES1: no receive interrupt
    assert r.emac.receive_frame(frame(100, 3))
    s = r.status()
    assert not s & emu.ST_RU
    # ring exhausted: the next frame finds a host descriptor -> RU, suspended, frame flushed
    assert r.emac.receive_frame(frame(100, 4))
    s = r.status()
    assert s & emu.ST_RU and (s >> emu.ST_RS_SHIFT) & 7 == emu.PS_SUSPENDED
    assert r.emac.read(emu.DMA_MISSED) & 0xFFFF == 1 and r.emac.read(emu.DMA_MISSED) == 0  # cleared on read
    r.emac.write(emu.DMA_STATUS, emu.ST_RU)
    assert r.emac.receive_frame(frame(100, 5))  # still suspended: flushed, RU not set again
    assert not r.status() & emu.ST_RU and r.emac.stats["rx_missed"] == 2
    # the CPU returns a descriptor and demands a poll: reception resumes with the next frame
    r.w32(ring[0], OWN)
    r.emac.write(emu.DMA_RXPOLL, 0)
    assert (r.status() >> emu.ST_RS_SHIFT) & 7 == emu.PS_WAIT
    assert r.emac.receive_frame(frame(100, 6))
    assert r.get(WIN + 0x1000, 100) == frame(100, 6)


def test_rx_descriptor_error_when_frame_outgrows_owned_descriptors():
    r = Rig()
    ring = [WIN, WIN + 32]
    r.desc(ring[0], OWN, emu.R1_RCH | 256, WIN + 0x1000, ring[1])
    r.desc(ring[1], 0, emu.R1_RCH | 256, WIN + 0x1100, ring[0])  # the CPU still has it
    r.start_rx(ring[0])
    r.emac.receive_frame(frame(600))
    w0 = r.r32(ring[0])
    assert w0 & emu.R0_DE and w0 & emu.R0_ES and w0 & emu.R0_LS and not w0 & OWN
    assert r.status() & emu.ST_RU and r.emac.stats["rx_descriptor_errors"] == 1


def test_status_bits_clear_when_written_and_summaries_are_sticky():
    r = Rig()
    r.emac.write(emu.DMA_INTEN, emu.IE_NIE | emu.IE_AIE | (1 << 7) | (1 << 6))  # RBUE, RIE
    r.desc(WIN, 0, emu.R1_RCH | 256, WIN + 0x1000, WIN)
    r.start_rx(WIN)
    r.emac.receive_frame(frame(64))  # no descriptor: RU (abnormal)
    s = r.status()
    assert s & emu.ST_RU and s & emu.ST_AIS and not s & emu.ST_NIS and r.emac.irq_line()
    r.emac.write(emu.DMA_STATUS, emu.ST_RU)
    assert r.status() & emu.ST_AIS  # sticky until written with 1 itself
    r.emac.write(emu.DMA_STATUS, emu.ST_AIS)
    assert not r.status() & (emu.ST_AIS | emu.ST_RU) and not r.emac.irq_line()
    r.emac.write(emu.DMA_STATUS, 0xFFFFFFFF)
    assert (r.status() >> emu.ST_RS_SHIFT) & 7 == emu.PS_SUSPENDED  # the state bits are not W1C
    r.emac.write(emu.DMA_INTEN, 0)
    r.emac.write(emu.DMA_STATUS, 0xFFFFFFFF)
    r.emac.receive_frame(frame(64))
    assert not r.emac.irq_line()  # nothing enabled: no line, no summary


def test_list_base_takes_effect_only_while_stopped():
    r = Rig()
    r.desc(WIN, emu.T0_TCH, 0, 0, WIN)
    r.start_tx(WIN)
    r.emac.write(emu.DMA_TXBASE, WIN + 0x400)  # running (suspended): the position is kept
    assert r.emac.tx_cur == WIN and r.emac.stats["base_write_while_running"] == 1
    r.emac.modify(emu.DMA_OPMODE, emu.OM_ST, 0)
    assert (r.status() >> emu.ST_TS_SHIFT) & 7 == emu.PS_STOPPED and r.status() & emu.ST_TPS
    r.emac.write(emu.DMA_TXBASE, WIN + 0x400)
    assert r.emac.tx_cur == WIN + 0x400


def test_starting_tx_dma_before_mac_transmitter_wedges_it():
    # emac_hal_start(): "such order may cause the MAC transmitter hangs"
    r = Rig()
    f = frame(60)
    r.put(WIN + 0x1000, f)
    r.desc(WIN, OWN | emu.T0_FS | emu.T0_LS | emu.T0_TCH, 60, WIN + 0x1000, WIN)
    r.emac.write(emu.DMA_TXBASE, WIN)
    r.emac.modify(emu.DMA_OPMODE, 0, emu.OM_ST)
    r.emac.modify(emu.MAC_CONFIG, 0, emu.MC_TE)
    r.emac.write(emu.DMA_TXPOLL, 0)
    assert r.out == [] and r.r32(WIN) & OWN and r.emac.stats["tx_wedged"] == 1


def test_fatal_bus_error_outside_memory():
    r = Rig()
    r.emac.write(emu.DMA_INTEN, emu.IE_AIE | (1 << 13))
    r.start_tx(0x3F800000)  # PSRAM: not reachable
    s = r.status()
    assert s & emu.ST_FBI and s & emu.ST_AIS and (s >> emu.ST_EB_SHIFT) & 7 == 7
    assert (s >> emu.ST_TS_SHIFT) & 7 == emu.PS_STOPPED and r.emac.stats["bus_errors"] == 1


def test_address_filter():
    r = Rig()
    ring = [WIN + 32 * i for i in range(8)]
    for i, a in enumerate(ring):
        r.desc(a, OWN, emu.R1_RCH | 1536, WIN + 0x1000 + 1536 * i, ring[(i + 1) % 8])
    r.start_rx(ring[0])
    assert r.emac.receive_frame(frame(60))  # ours
    assert not r.emac.receive_frame(frame(60, dst=b"\x02" * 6))  # someone else
    assert r.emac.receive_frame(frame(60, dst=emu.BROADCAST))
    assert not r.emac.receive_frame(frame(60, dst=b"\x01\x00\x5e\x00\x00\x01"))  # multicast, PAM clear
    r.emac.write(emu.MAC_FF, emu.FF_PAM)
    assert r.emac.receive_frame(frame(60, dst=b"\x01\x00\x5e\x00\x00\x01"))
    r.emac.write(emu.MAC_FF, emu.FF_DBF)
    assert not r.emac.receive_frame(frame(60, dst=emu.BROADCAST))
    r.emac.write(emu.MAC_FF, emu.FF_PR)
    assert r.emac.receive_frame(frame(60, dst=b"\x02" * 6))


def _mdio(e, phy, reg, val=None):
    e.write(emu.MAC_MIIDATA, val or 0)
    e.write(emu.MAC_MIIADDR, (phy << 11) | (reg << 6) | (2 if val is not None else 0) | 1)
    k = 0
    while e.read(emu.MAC_MIIADDR) & 1:
        k += 1
    return e.read(emu.MAC_MIIDATA), k


def test_mdio_phy_model():
    r = Rig(phy_addr=1)
    e = r.emac
    assert _mdio(e, 1, emu.PHYID1) == (0x0007, 1)  # busy seen once, then clear
    assert _mdio(e, 1, emu.PHYID2)[0] >> 4 & 0x3F == 0x0F  # LAN8720A model number
    assert _mdio(e, 0, emu.PHYID1)[0] == 0xFFFF  # nobody at address 0
    assert _mdio(e, 1, emu.BMSR)[0] & emu.BMSR_LINK
    r.phy.set_link(False)
    r.phy.set_link(True)
    assert not _mdio(e, 1, emu.BMSR)[0] & emu.BMSR_LINK  # latched low: the drop is reported once
    assert _mdio(e, 1, emu.BMSR)[0] & emu.BMSR_LINK
    assert (_mdio(e, 1, emu.LAN_PSCSR)[0] >> 2) & 7 == 6  # 100 Mb/s full duplex
    # busy set: a new command is refused (TRM: busy must read 0 before writing)
    e.write(emu.MAC_MIIADDR, (1 << 11) | (2 << 6) | 1)
    e.write(emu.MAC_MIIADDR, (1 << 11) | (3 << 6) | 1)
    assert e.stats["mii_write_while_busy"] == 1
    # an MDC above 2.5 MHz (CSR clock / 16 at 80 MHz): the PHY does not follow
    while e.read(emu.MAC_MIIADDR) & 1:
        pass
    e.write(emu.MAC_MIIADDR, (1 << 11) | (2 << 6) | (2 << 2) | 1)
    while e.read(emu.MAC_MIIADDR) & 1:
        pass
    assert e.read(emu.MAC_MIIDATA) == 0xFFFF and e.stats["mdc_too_fast"] == 1


def test_ip101_page_16_status_and_absent_phy():
    r = Rig(phy="ip101", phy_addr=1)
    e = r.emac
    assert _mdio(e, 1, emu.PHYID1)[0] == 0x0243
    _mdio(e, 1, emu.IP_PCR, 16)
    assert _mdio(e, 1, emu.IP_CSSR)[0] == (1 << 8) | 6
    none = Rig(phy="none")
    assert _mdio(none.emac, 0, emu.PHYID1)[0] == 0xFFFF and _mdio(none.emac, 0, emu.BMSR)[0] == 0xFFFF


def test_speed_mismatch_loses_frames():
    r = Rig()
    r.phy.speed = 10
    ring = [WIN]
    r.desc(WIN, OWN, emu.R1_RCH | 1536, WIN + 0x1000, WIN)
    r.start_rx(ring[0])
    assert not r.emac.receive_frame(frame(60)) and r.emac.stats["speed_mismatch"] >= 1


def test_cli_help():
    p = subprocess.run([sys.executable, "-m", "netdump_tools.esp32_emac_emu", "--help"], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.returncode == 0 and "--regs" in p.stdout and "--phy-addr" in p.stdout and "--no-idf" in p.stdout
    p = subprocess.run([sys.executable, "-m", "netdump_tools.esp32_emac_emu", "--regs", "/tmp/x", "--eth",
                        "10.1.2.3:5"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "loopback" in p.stderr


# ---- the driver on CPython, wired straight to the emulator ----------------------------------


class FakeLan:
    """network.LAN for in-process tests (MicroPython ports/esp32/network_lan.c lan_active):
    active(False) / active(True) run the IDF model's esp_eth_stop / esp_eth_start when the
    interface is on / off; active() says which. calls: the changes asked for."""

    def __init__(self, idf, mac, fail=False):
        self.idf = idf
        self.mac = bytes(mac)
        self.fail = fail
        self.on = True
        self.calls = []

    def active(self, v=None):
        if v is None:
            return self.on
        self.calls.append(v)
        if not v and self.on:
            if self.fail:
                raise OSError(5, "ethernet disable failed")
            self.on = self.idf.stop() != 0
        elif v and not self.on:
            self.on = self.idf.start() == 0
        return self.on

    def config(self, key=None, **kw):
        return self.mac


def direct(phy_addr=1, idf=True, lan=True, trace=False, phy_at=None, **kw):
    """Emulator (PHY at phy_at, default phy_addr) + IDF model + our driver asking phy_addr."""
    bkw = {k: kw.pop(k) for k in list(kw) if k in ("phy", "link", "speed", "full", "tx_stall", "rmii_ready")}
    emac, drv = emu.build(phy_addr=phy_addr if phy_at is None else phy_at, idf=idf, mac=BOARD_MAC, **bkw)
    out = []
    emac.transmit = out.append
    regs = emac_link.DirectRegs(emac, drv)
    if drv is None:
        drv = emu.IdfDriver.__new__(emu.IdfDriver)  # a stopped driver, for FakeLan
        drv.stop = lambda: 1
        drv.start = lambda: 1
    fl = FakeLan(drv, emu.parse_mac(BOARD_MAC), fail=kw.pop("lan_fail", False)) if lan else None
    if trace:
        emac.trace = []
    if bkw.get("phy") in ("lan8720", "ip101"):
        kw["phy"] = bkw["phy"]  # the driver is told the same PHY
    nic = EMAC(lan=fl, phy_addr=phy_addr, regs=regs, **kw)
    return emac, drv, nic, out, fl


def rx_frame(i, n=None):
    return netutil.rx_frame(i, emu.parse_mac(BOARD_MAC), n)


def test_start_takes_over_in_hal_order():
    emac, idf, nic, out, lan = direct(trace=True)
    emac.trace = []
    assert nic.start() == 0 and nic.why == ""
    assert lan.calls == [False] and not idf.started
    # each write as (addr, bits set, bits cleared); a plain write sets v and clears the rest
    writes = [(t[1], t[4], t[3]) if t[0] == "m" else (t[1], t[2], 0xFFFFFFFF & ~t[2])
              for t in emac.trace if t[0] in ("w", "m")]
    # ESP-IDF's own stop ran first (active(False)); then ours, from disabling interrupts on
    i_inten = max(i for i, w in enumerate(writes) if w[0] == emu.DMA_INTEN)
    assert writes[i_inten][1] == 0
    ours = writes[i_inten:]

    def first(addr, bit, on):
        return next(i for i, (a, s_, c) in enumerate(ours) if a == addr and (s_ if on else c) & bit)

    st_off = first(emu.DMA_OPMODE, emu.OM_ST, False)
    rt_off = first(emu.MAC_CONFIG, emu.MC_RE | emu.MC_TE, False)
    sr_off = first(emu.DMA_OPMODE, emu.OM_SR, False)
    bases = [i for i, w in enumerate(ours) if w[0] in (emu.DMA_RXBASE, emu.DMA_TXBASE)]
    te_on = first(emu.MAC_CONFIG, emu.MC_TE, True)
    st_on = first(emu.DMA_OPMODE, emu.OM_ST, True)
    sr_on = first(emu.DMA_OPMODE, emu.OM_SR, True)
    re_on = first(emu.MAC_CONFIG, emu.MC_RE, True)
    assert st_off < rt_off < sr_off < min(bases) and max(bases) < te_on < st_on < sr_on < re_on, ours
    assert emac.stats["base_write_while_running"] == 0 and emac.stats["tx_wedged"] == 0
    assert emac.regs[emu.DMA_INTEN] == 0
    assert emac.tx_cur == nic._bus + nic._txd[0] and emac.rx_cur == nic._bus + nic._rxd[0]
    assert nic.start() == 0  # idempotent: nothing more happens
    assert lan.calls == [False]


def test_frames_both_ways_and_ring_wrap():
    emac, idf, nic, out, lan = direct(nrx=4, ntx=2, rx_buf=512)
    assert nic.start() == 0
    rb = bytearray(1536)
    total = 0
    for i in range(150):  # ~150 KiB each way: both rings wrap dozens of times
        f = rx_frame(i)[:]
        tx = bytes(nic.mac) + PEER_MAC + b"\x88\xb5" + bytes((j + i) & 255 for j in range(14, 60 + (i * 331) % 1455))
        assert nic.send(tx, len(tx)) == 1 and out[-1] == tx
        assert emac.receive_frame(f)
        n = nic.poll(rb)
        assert n == len(f) and rb[:n] == f, i
        total += n
    assert nic.poll(rb) == 0 and total > 100000
    assert nic.rx_errors == 0 and nic.tx_errors == 0 and emac.stats["rx_missed"] == 0
    # a short caller buffer gets the head of the frame
    emac.receive_frame(rx_frame(3, 1400))
    small = bytearray(100)
    assert nic.poll(small) == 100 and small == rx_frame(3, 1400)[:100]


def test_dropped_frames_leave_the_ring_consistent():
    emac, idf, nic, out, lan = direct(nrx=4, rx_buf=256)
    assert nic.start() == 0
    rb = bytearray(1536)
    # 1000 bytes need 4 x 256: with one more frame queued the DMA cuts it (descriptor error)
    assert emac.receive_frame(rx_frame(1, 200))
    assert emac.receive_frame(rx_frame(2, 1000))
    assert nic.poll(rb) == 200
    assert nic.poll(rb) == 0 and nic.rx_errors == 1  # the cut frame is dropped, its descriptors returned
    for i in range(10):
        assert emac.receive_frame(rx_frame(i, 700))
        assert nic.poll(rb) == 700 and rb[:700] == rx_frame(i, 700)


def test_speed_and_duplex_follow_the_phy():
    emac, idf, nic, out, lan = direct(speed=10, full=False)
    assert nic.start() == 0
    mc = emac.regs[emu.MAC_CONFIG]
    assert not mc & emu.MC_FES and not mc & emu.MC_DM
    emac.receive_frame(rx_frame(1))
    assert nic.poll(bytearray(1536)) == len(rx_frame(1))  # no speed mismatch: frames pass
    emac2, _, nic2, _, _ = direct(phy="ip101", speed=100, full=True)
    emac2.modify(emu.MAC_CONFIG, emu.MC_FES | emu.MC_DM, 0)
    assert nic2.start() == 0 and emac2.regs[emu.MAC_CONFIG] & (emu.MC_FES | emu.MC_DM) == emu.MC_FES | emu.MC_DM
    assert nic2.phy_id1 == 0x0243


def test_failures_name_the_cause():
    _, _, nic, _, _ = direct(link=False, link_timeout_ms=50)
    assert nic.start() == esp32_emac.ENETDOWN and "no link" in nic.why and "PHY 1" in nic.why
    _, _, nic, _, _ = direct(phy="none")
    assert nic.start() == esp32_emac.ENODEV and "no PHY answers at MDIO address 1" in nic.why
    _, _, nic, _, _ = direct(phy_addr=0, phy_at=1, idf=False)  # the board's PHY is at 1, the driver asks 0
    assert nic.start() == esp32_emac.ENODEV and "address 0" in nic.why
    _, _, nic, _, _ = direct(rmii_ready=False, idf=False)
    assert nic.start() == esp32_emac.ENODEV and "network.LAN" in nic.why
    for n in (nic,):
        assert n.send(bytes(60), 60) == 0 and n.poll(bytearray(100)) == 0  # not started: nothing moves


def test_tx_dma_that_never_returns_a_descriptor():
    emac, idf, nic, out, lan = direct(tx_stall=True, tx_timeout_ms=30)
    assert nic.start() == 0
    assert nic.send(bytes(nic.mac) + bytes(54), 60) == 1
    assert nic.send(bytes(nic.mac) + bytes(54), 60) == 1
    assert nic.send(bytes(nic.mac) + bytes(54), 60) == 0  # ring full, nothing comes back
    assert "TX DMA kept a descriptor" in nic.why  # the bounded wait gave up
    assert nic.send(bytes(60), 60) == 0 and nic.poll(bytearray(100)) == 0
    # a later start() (the next connection) tries again: stopping a transmitter that
    # never finishes its frame fails with its own reason
    assert nic.start() == esp32_emac.ETIMEDOUT and "TX DMA did not stop" in nic.why


def test_lan_stop_failure_does_not_stop_the_takeover():
    emac, idf, nic, out, lan = direct(lan_fail=True)
    assert nic.start() == 0 and nic.lan_error == 1
    assert emac.regs[emu.DMA_INTEN] == 0
    emac.receive_frame(rx_frame(5))
    isr = idf.counts["isr_runs"]
    assert nic.poll(bytearray(1536)) == len(rx_frame(5))
    assert idf.counts["isr_runs"] == isr  # its ISR no longer runs: the DMA interrupts are off


def test_stop_gives_the_emac_back_to_esp_idf():
    # after a dump that carries on: the DMA stops touching our arena, network.LAN is on again
    # and ESP-IDF's driver receives on its own rings; the next start() takes over again
    emac, idf, nic, out, lan = direct(trace=True)
    assert nic.start() == 0 and not idf.started
    rb = bytearray(1536)
    emac.receive_frame(rx_frame(1))
    assert nic.poll(rb) == len(rx_frame(1))
    emac.trace = []
    assert nic.stop() == 0 and nic.why == ""
    assert lan.calls == [False, True] and idf.started and idf.counts["mac_starts"] == 2
    # stopped in emac_hal_stop()'s order before ESP-IDF wrote its list bases
    ops = [(t[1], t[3]) for t in emac.trace if t[0] == "m" and t[3]]  # (register, bits cleared)
    assert ops[:3] == [(emu.DMA_OPMODE, emu.OM_ST), (emu.MAC_CONFIG, emu.MC_RE | emu.MC_TE),
                       (emu.DMA_OPMODE, emu.OM_SR)], ops
    assert emac.stats["base_write_while_running"] == 0 and emac.rx_cur == idf.rx0
    writes = nic._rd.__self__._mem.writes
    lwip = idf.counts["frames_to_lwip"]
    for i in range(20):  # more than our ring holds: it would have been overwritten
        assert emac.receive_frame(rx_frame(i))
        idf.service()
    assert idf.counts["frames_to_lwip"] == lwip + 20 and idf.lwip_frames[-1] == rx_frame(19)
    assert nic._rd.__self__._mem.writes == writes  # not one DMA write into our arena
    assert nic.poll(rb) == 0
    # the next dump: the takeover again, ESP-IDF stopped again
    assert nic.start() == 0 and lan.calls == [False, True, False] and not idf.started
    emac.receive_frame(rx_frame(2))
    assert nic.poll(rb) == len(rx_frame(2)) and rb[:len(rx_frame(2))] == rx_frame(2)


def test_stop_keeps_the_arena_when_the_dma_does_not_stop(capsys):
    emac, idf, nic, out, lan = direct(tx_stall=True)
    assert nic.start() == 0
    assert nic.send(bytes(nic.mac) + bytes(54), 60) == 1  # the transmitter never finishes it
    assert nic.stop() == esp32_emac.ETIMEDOUT and "TX DMA did not stop" in nic.why
    assert capsys.readouterr().out.splitlines() == [nic.why]
    assert any(a is nic._a for a in esp32_emac._kept)  # never freed: the DMA may write there
    assert lan.calls == [False] and not idf.started  # ESP-IDF's restart could not move the DMA
    esp32_emac._kept.clear()


def test_start_takes_over_again_when_esp_idf_took_the_emac_back():
    # no stop() after the last dump; the application turned network.LAN on itself and a link
    # drop let ESP-IDF's link timer restart the EMAC on its own rings: start() must not trust
    # its flag (it would hand frames to a DMA that no longer reads our descriptors)
    emac, idf, nic, out, lan = direct()
    assert nic.start() == 0
    assert lan.active(True) and idf.started  # ESP-IDF's base writes while our DMA runs: ignored
    assert emac.stats["base_write_while_running"] == 2 and emac.rx_cur != idf.rx0
    t = time.monotonic()
    emac.set_link(False)
    idf.service(t + 10)  # its link timer: link down -> emac_hal_stop
    emac.set_link(True)
    idf.service(t + 20)  # link up -> emac_esp32_start on its own rings
    assert idf.counts["mac_starts"] == 3 and emac.rx_cur == idf.rx0
    assert nic.start() == 0 and not idf.started and lan.calls == [False, True, False]
    assert emac.regs[emu.DMA_INTEN] == 0 and emac.rx_cur == nic._bus + nic._rxd[0]
    tx = bytes(nic.mac) + PEER_MAC + b"\x88\xb5" + bytes(46)
    assert nic.send(tx, 60) == 1 and out[-1] == tx
    emac.receive_frame(rx_frame(4))
    assert nic.poll(bytearray(1536)) == len(rx_frame(4))


def test_dma_buffers_outside_internal_dram_are_refused():
    emac, _ = emu.build(idf=False)
    regs = emac_link.DirectRegs(emac, None, dram_bus=0x3F800000)  # a PSRAM heap
    with pytest.raises(OSError) as ei:
        EMAC(regs=regs)
    assert ei.value.args[0] == esp32_emac.EFAULT and "PSRAM" in ei.value.args[1]
    assert "0x3f800000" in ei.value.args[1]


def test_mac_from_registers_or_given():
    emac, _ = emu.build(idf=False, mac="02:00:00:c4:00:7f")
    nic = EMAC(regs=emac_link.DirectRegs(emac))
    assert bytes(nic.mac) == bytes.fromhex("020000c4007f")  # byte 3 has bit 30/31 of ADDR0LO set
    nic = EMAC(regs=emac_link.DirectRegs(emac), mac=bytes.fromhex("02aabbccddee"))
    assert emac.regs[emu.MAC_ADDR0LO] == 0xCCBBAA02 and emac.regs[emu.MAC_ADDR0HI] & 0xFFFF == 0xEEDD
    with pytest.raises(ValueError):
        EMAC(regs=emac_link.DirectRegs(emac), mac=b"\x01" * 6)


# ---- the driver on the MicroPython unix port, heap locked, over the register link -------------


class Bench:
    """An emulator served in this process (register link on a unix socket, DMA into the
    MicroPython process) plus the far end of its cable (a UDP socket)."""

    def __init__(self, phy_addr=1, idf=True, **kw):
        self.dir = tempfile.mkdtemp(prefix="emac")
        self.regs = os.path.join(self.dir, "regs")
        self.wire = netutil.Wire()
        self.emac, self.idf = emu.build(phy_addr=phy_addr, idf=idf, mac=BOARD_MAC, **kw)
        self.srv = emu.EmacServer(self.emac, self.regs, "127.0.0.1:0", self.wire.address, idf=self.idf).start()
        self.eth = self.srv.eth_address
        self.received = self.wire.received

    def inject_when_started(self, frames, timeout=60):
        """In a thread: once our driver runs the DMA, send frames into the cable, at most two
        ahead of the driver (it writes RX poll demand once per frame it takes)."""

        def run():
            t_end = time.time() + timeout
            while self.emac.stats["tx_polls"] == 0 and self.emac.regs[emu.DMA_INTEN] != 0 and time.time() < t_end:
                time.sleep(0.005)
            while not self.emac.regs[emu.MAC_CONFIG] & emu.MC_RE and time.time() < t_end:
                time.sleep(0.005)
            base = self.emac.stats["rx_polls"]
            for k, f in enumerate(frames):
                while self.emac.stats["rx_polls"] - base < k - 2 and time.time() < t_end:
                    time.sleep(0.0005)
                self.wire.sendto(f, self.eth)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def mp(self, mode, *args, timeout=120):
        t0 = time.time()
        proc = run_micropython(["mp_emac/emac_run.py", mode, self.regs] + [str(a) for a in args], timeout=timeout,
                               extra_paths=[MP_EMAC])
        res = netutil.parse_results(proc.stdout)
        res["elapsed"] = time.time() - t0
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "memoryerror" not in res, proc.stdout
        return res, proc

    def close(self):
        self.srv.stop()
        self.wire.close()


@pytest.fixture
def bench():
    yield from netutil.closing_factory(Bench)


def test_mp_frames_both_ways_locked(bench):
    ntx, nrx = 40, 60
    b = bench()
    mac = emu.parse_mac(BOARD_MAC)
    inj = b.inject_when_started([rx_frame(i) for i in range(nrx)])
    res, proc = b.mp("frames", "n_tx=%d" % ntx, "n_rx=%d" % nrx)
    inj.join(5)
    assert res["start"] == "0" and res["tx_fail"] == "0", proc.stdout
    assert res["rx_frames"] == str(nrx) and res["rx_bad"] == "0" and res["rx_errors"] == "0", proc.stdout
    assert int(res["rx_bytes"]) == sum(len(rx_frame(i)) for i in range(nrx)) > 40000
    deadline = time.time() + 5
    while len(b.received) < ntx and time.time() < deadline:
        time.sleep(0.01)
    assert b.received == [netutil.tx_frame(i, mac) for i in range(ntx)]
    st = b.srv.stats()
    assert st["frames_tx"] == ntx and st["rx_missed"] == 0 and st["bus_errors"] == 0
    assert st["idf"]["stop_calls"] == 1 and st["idf"]["isr_after_stop"] == 0 and st["inten"] == 0


@pytest.mark.parametrize("case", ["link_down", "no_phy", "wrong_phy_addr"])
def test_mp_start_failures_are_fast_and_clear(bench, case):
    kw = {"link_down": {"link": False}, "no_phy": {"phy": "none"}, "wrong_phy_addr": {}}[case]
    b = bench(**kw)
    args = ["link_ms=300"] + (["phy_addr=0"] if case == "wrong_phy_addr" else [])
    res, proc = b.mp("start", *args)
    want = {"link_down": ("100", "no link: PHY 1 reports link down"),
            "no_phy": ("19", "no PHY answers at MDIO address 1"),
            "wrong_phy_addr": ("19", "no PHY answers at MDIO address 0")}[case]
    assert res["start"] == want[0] and want[1] in res["message"], proc.stdout
    assert res["message"].startswith("esp32_emac: ") and "\n" not in res["message"]


def test_mp_tx_dma_never_returns_a_descriptor(bench):
    b = bench(tx_stall=True)
    res, proc = b.mp("txstall", "tx_ms=200")
    assert res["start"] == "0", proc.stdout
    assert res["sent"] == "2" and res["poll"] == "0" and res["up"] == "0", proc.stdout  # 2 TX descriptors
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("esp32_emac:")]
    assert lines == ["esp32_emac: TX DMA kept a descriptor for 200 ms (no TX clock from the PHY?)"], proc.stdout


def test_mp_buffers_in_psram_refused_at_arm(bench):
    b = bench()
    res, proc = b.mp("arm", "dram_bus=0x3F800000")
    assert res["arm"] == "1" and res["errno"] == "14", proc.stdout
    assert "not in internal DRAM" in res["message"] and "PSRAM" in res["message"]
    res, proc = b.mp("arm")
    assert res["arm"] == "0" and res["mac"] == BOARD_MAC.replace(":", "")


# ---- whole dumps: driver -> emulator -> vnet (user mode) -> netdumpd ----------------------------


class DumpBench:
    """netdumpd, tools/vnet.py in user mode and an emulated EMAC (with the ESP-IDF model
    running unless idf=False) whose cable is the bridge's NIC side."""

    def __init__(self, tmp_path, vnet_args=(), idf=True, **kw):
        import test_vnet as tv  # the vnet/netdumpd harness of host_tests/test_vnet.py

        self.tv = tv
        self.server = tv.Netdumpd(tmp_path, "127.0.0.1")
        self.br = tv.Bridge(tmp_path, "user", ["--ip4", "10.0.2.2/24"] + list(vnet_args))
        self.regs = str(tmp_path / "regs")
        self.emac, self.idf = emu.build(phy_addr=1, idf=idf, mac=BOARD_MAC, **kw)
        self.srv = emu.EmacServer(self.emac, self.regs, "127.0.0.1:0", "127.0.0.1:%d" % self.br.nic_port, hello=True,
                                  idf=self.idf).start()

    def run(self, mode="window", kib=1024, **opt):
        """The board (mp_ether/dump_ether.py with nic=emac) -> its output text."""
        args = ["nic=emac", "regs=" + self.regs, "mac=" + BOARD_MAC, "server=10.0.2.2", "client=10.0.2.15",
                "netmask=24", "hport=%d" % self.server.hport, "cport=%d" % self.server.cport, "mode=" + mode,
                "kib=%d" % kib, "arp_ms=%s" % opt.pop("arp_ms", 1000)] + ["%s=%s" % kv for kv in opt.items()]
        p = run_micropython(["mp_ether/dump_ether.py"] + args, extra_paths=[MP_EMAC], timeout=300)
        return p.stdout + p.stderr

    def stop(self):
        self.srv.stop()
        st = self.br.stop()
        self.server.stop()
        return st


@pytest.fixture
def dump_bench(tmp_path):
    made = []

    def make(**kw):
        d = DumpBench(tmp_path, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        try:
            d.stop()
        except Exception:  # already stopped by the test
            pass


def nic_stats(out):
    return {ln.split()[1]: int(ln.split()[2]) for ln in out.splitlines() if ln.startswith("NIC ")}


@pytest.mark.parametrize("mode,kib", [("window", 1024), ("freebsd", 512)])
def test_mp_complete_dump_locked(dump_bench, request, mode, kib):
    d = dump_bench()
    out = d.run(mode=mode, kib=kib)
    d.tv.check_dump(out, d.server, kib)
    assert "netdumping to 10.0.2.2 (52:55:0a:00:02:02)" in out, out
    st = d.srv.stats()
    assert st["bus_errors"] == 0 and st["base_write_while_running"] == 0 and st["tx_wedged"] == 0
    assert st["frames_tx"] > (kib << 10) // 1448 and nic_stats(out)["tx_errors"] == 0
    d.tv.announce(request, "ESP32 EMAC (emulated), %s mode: %d KiB dump byte-identical, heap locked" % (mode, kib))


def test_mp_complete_dump_with_loss(dump_bench, request):
    d = dump_bench(vnet_args=["--loss", "5%", "--dup", "2%", "--reorder", "3%", "--seed", "23"])
    out = d.run(kib=1024, arp_ms=300)
    d.tv.check_dump(out, d.server, 1024)
    st = d.stop()
    for k in ("to_net", "to_nic"):
        assert st[k]["lost"] > 0 and st[k]["duplicated"] > 0 and st[k]["reordered"] > 0, st
    d.tv.announce(request, "ESP32 EMAC (emulated), loss 5%% dup 2%% reorder 3%% (lost %d / %d): dump byte-identical"
                  % (st["to_net"]["lost"], st["to_nic"]["lost"]))


class BusyIdf:
    """ESP-IDF's driver alive before and during the fault: a broadcast ARP request for
    another host arrives every 20 ms (its ISR and emac_rx task hand them to lwIP while
    they run), lwIP sends every 20 ms, its link timer runs every 50 ms."""

    ARP = emu.BROADCAST + PEER_MAC + b"\x08\x06" + bytes.fromhex("0001080006040001") + PEER_MAC + \
        bytes([10, 0, 2, 99]) + bytes(6) + bytes([10, 0, 2, 98]) + bytes(18)

    def __init__(self, d):
        self.d = d
        d.idf.lwip_tx_period = 0.02
        d.idf.link_period = 0.05
        d.idf.next_link_check = 0
        for _ in range(3):
            d.emac.receive_frame(self.ARP)
            d.idf.service()
        assert d.idf.counts["frames_to_lwip"] == 3
        self._stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            time.sleep(0.02)
            self.d.emac.receive_frame(self.ARP)
            self.d.srv.wake()  # let the server loop run the IDF model now

    def stop(self):
        self._stop = True
        self.t.join(2)
        return dict(self.d.idf.counts)


def test_mp_takeover_from_running_esp_idf_driver(dump_bench, request):
    d = dump_bench()
    busy = BusyIdf(d)
    out = d.run(kib=256)
    c = busy.stop()
    d.tv.check_dump(out, d.server, 256)
    assert c["stop_calls"] == 1 and not d.idf.started and c["isr_after_stop"] == 0
    lwip = c["frames_to_lwip"]
    assert lwip >= 3 and d.idf.counts["frames_to_lwip"] == lwip  # nothing after the takeover
    assert nic_stats(out)["lan_error"] == 0
    d.tv.announce(request, "ESP32 EMAC takeover from a running ESP-IDF driver model (%d frames to its lwIP "
                  "before): dump byte-identical" % lwip)


def test_mp_without_takeover_the_idf_driver_keeps_the_dma(dump_bench):
    # the protection disabled: our rings are written while ESP-IDF's DMA runs, nothing is
    # stopped: the DMA stays on ESP-IDF's rings, its driver keeps taking the frames
    d = dump_bench()
    busy = BusyIdf(d)
    before = d.idf.counts["frames_to_lwip"]
    out = d.run(kib=64, takeover=0, arp_ms=300)
    c = busy.stop()
    assert "RESULT 0" not in out and "RESULT" in out, out
    assert "esp32_emac: TX DMA kept a descriptor" in out, out
    assert d.srv.stats()["base_write_while_running"] >= 2  # the list bases never took effect
    assert c["frames_to_lwip"] > before + 5 and d.idf.started, c  # ESP-IDF kept receiving


@pytest.mark.parametrize("stop", [True, False], ids=["stop", "without_stop"])
def test_mp_after_a_dump_esp_idf_gets_the_emac_back(dump_bench, stop):
    # a test dump, then the application goes on (fault.resume -> EtherEndpoint.release ->
    # nic.stop) and 20 frames arrive for its MAC. With stop(): network.LAN is on again and
    # ESP-IDF's driver receives all of them on its own rings; the DMA never writes our arena
    # (heap memory the GC may give away once the driver is dropped). Without it (main before
    # stop() existed; the application re-activating network.LAN itself): ESP-IDF's list base
    # writes hit a running DMA, it receives nothing, and the DMA keeps writing our arena.
    d = dump_bench()
    out = d.run(kib=64, release=1 if stop else 0)
    d.tv.check_dump(out, d.server, 64)
    line = [ln for ln in out.splitlines() if ln.startswith("RELEASE ")]
    assert line, out
    rel = {k: int(v) for k, v in (kv.split("=") for kv in line[0].split()[1:])}
    assert rel["lan_active"] == 1 and rel["idf_started"] == 1, rel
    if stop:
        assert rel == dict(lan_active=1, idf_started=1, idf_rx=20, arena_changed=0, dma_writes=0, base_running=0)
    else:
        assert rel["idf_rx"] == 0 and rel["arena_changed"] == 1 and rel["dma_writes"] > 0, rel
        assert rel["base_running"] == 2, rel


@pytest.mark.parametrize("with_lan", [True, False])
def test_mp_link_blip_during_dump(dump_bench, request, with_lan):
    # a 300 ms link drop mid-dump: with network.LAN stopped the dump rides it out; without
    # active(False) ESP-IDF's link timer sees the drop, stops the EMAC and restarts it on its
    # own rings (emac_esp32_start), and the dump fails
    d = dump_bench()
    busy = BusyIdf(d)

    def blip():
        t_end = time.time() + 120
        while d.emac.stats["frames_tx"] < 200 and time.time() < t_end:
            time.sleep(0.005)
        d.emac.set_link(False)
        time.sleep(0.3)
        d.emac.set_link(True)

    t = threading.Thread(target=blip, daemon=True)
    t.start()
    out = d.run(kib=1024, lan=1 if with_lan else 0)
    t.join(5)
    busy.stop()
    if with_lan:
        d.tv.check_dump(out, d.server, 1024)
        assert d.idf.counts["mac_starts"] == 1  # only its start at boot
    else:
        assert "RESULT 0" not in out and "TX DMA kept a descriptor" in out, out
        assert d.idf.counts["mac_starts"] == 2 and d.idf.counts["mac_stops"] >= 1
    d.tv.announce(request, "ESP32 EMAC link blip mid-dump, network.LAN %s: %s"
                  % ("stopped" if with_lan else "left running", "dump byte-identical" if with_lan
                     else "ESP-IDF takes the DMA back, the dump fails"))


def test_mp_link_down_at_dump_fails_fast(dump_bench):
    d = dump_bench(link=False)
    out = d.run(kib=64, link_ms=300)
    lines = [ln for ln in out.splitlines() if "esp32_emac" in ln]
    assert lines == ["esp32_emac: no link: PHY 1 reports link down for 300 ms (cable?)"], out
    assert "netdump failed: netdump: packets could not be sent (error 4)" in out and "RESULT 4" in out, out


def _may_trace_siblings():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read())
    except OSError:
        scope = 0
    return os.geteuid() == 0 or scope == 0


@pytest.mark.skipif(not _may_trace_siblings(), reason="needs root (Yama ptrace_scope forbids process_vm_writev "
                                                       "into a process that is not our child)")
def test_standalone_emulator_process(tmp_path):
    # esp32-emac-emu as its own process: the DMA reaches a MicroPython process that is
    # not its child (process_vm_writev needs ptrace rights: root or Yama ptrace_scope 0)
    import json
    import signal

    wire = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wire.bind(("127.0.0.1", 0))
    wire.settimeout(10)
    regs = str(tmp_path / "regs")
    p = subprocess.Popen([sys.executable, "-m", "netdump_tools.esp32_emac_emu", "--regs", regs, "--eth", "127.0.0.1:0",
                          "--eth-peer", "127.0.0.1:%d" % wire.getsockname()[1], "--phy-addr", "1",
                          "--mac", BOARD_MAC], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()
        assert "listening" in line, line
        proc = run_micropython(["mp_emac/emac_run.py", "frames", regs, "n_tx=3", "n_rx=0"], extra_paths=[MP_EMAC],
                               timeout=120)
        assert "RESULT start=0" in proc.stdout and "tx_fail=0" in proc.stdout, proc.stdout + proc.stderr
        got = [wire.recv(2048) for _ in range(3)]
        assert got == [netutil.tx_frame(i, emu.parse_mac(BOARD_MAC)) for i in range(3)]
    finally:
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=10)[1]
        wire.close()
    assert p.returncode == 0
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["frames_tx"] == 3 and stats["idf"]["stop_calls"] == 1 and stats["bus_errors"] == 0
