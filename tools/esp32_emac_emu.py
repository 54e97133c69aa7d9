"""Register- and DMA-level emulator of the ESP32 Ethernet MAC (EMAC) with an MDIO PHY.

It follows the ESP32 Technical Reference Manual v5.2, chapter 10 "Ethernet Media
Access Controller" ("TRM" below: 10.7 DMA, 10.8 linked-list descriptors, 10.9/10.10
registers) and ESP-IDF's HAL (components/soc/esp32/include/soc/emac_*_struct.h,
hal/emac_ll.h, hal/emac_hal.c, esp_eth/src/mac/esp_eth_mac_esp*.c), not any
particular driver. docs/esp32-emac.md summarises the facts with their sources.

* Three register blocks at their ESP32 addresses (esp32.peripherals.ld):
  DMA 0x3FF69000, EXT (clocks, PHY interface) 0x3FF69800, MAC 0x3FF6A000.
* The DMA engine reads and writes descriptors and buffers in "memory": bus
  windows that map ESP32 bus addresses to real memory -- the memory of the
  MicroPython process that runs the driver (process_vm_readv/writev, like the
  real DMA reading SRAM behind the CPU's back), this process's own memory, or
  a local buffer. An address outside every window is a fatal bus error (FBI).
* Transmit: OWN handoff, FS/LS frames over several descriptors, ring mode
  (buffer 2, TER wrap, descriptor skip) and chained mode (TCH), pad and CRC
  generation, IC -> TI, TU + suspended when the DMA finds a host-owned
  descriptor, TX poll demand resumes, jabber.
* Receive: address filter (own address, broadcast, pass-all-multicast,
  promiscuous, receive-all), a 2 KiB receive FIFO, frames written over as
  many descriptors as their buffers need, FL including the 4-byte FCS, FS/LS,
  frame type, descriptor error, RI unless DIC, RU + suspended, flushing
  (missed-frame counter) while no descriptor is available, RX poll demand.
* Process states in the status register, W1C status bits with the sticky
  normal/abnormal summaries, the interrupt-enable register and an interrupt
  line; start/stop commands, FIFO flush, software reset.
* MII management: busy bit, the CSR clock range, a PHY model (LAN8720A or
  IP101G, or none: MDIO reads all ones) at one MDIO address: BMCR, BMSR with
  the latched-low link bit, PHY identifier, ANAR/ANLPAR, LAN8720 PSCSR, IP101
  page 16 CSSR; the cable (link up/down), speed and duplex.
* A model of ESP-IDF's running driver (IdfDriver): its own rings, its ISR and
  emac_rx task, its link timer; network.LAN.active(False) stops it the way
  esp_eth_stop() does.

Knobs beyond the manuals are documented where they are defined (Emac args).
The transport (a register link over a local stream socket, Ethernet over UDP
to tools/vnet.py) is in emac_link.py and EmacServer below; see --help.
"""
import argparse
import ctypes
import ctypes.util
import logging
import os
import struct
import sys
import threading
import time
import zlib

from . import emu_server

log = logging.getLogger("esp32_emac_emu")

# ---- addresses (ESP-IDF components/soc/esp32/ld/esp32.peripherals.ld; TRM 10.9) ----
DMA_BASE = 0x3FF69000
EXT_BASE = 0x3FF69800
MAC_BASE = 0x3FF6A000
DRAM_LO = 0x3FFAE000  # SOC_DMA_LOW: internal SRAM the DMA reaches (soc/esp32/include/soc/soc.h)
DRAM_HI = 0x40000000  # SOC_DMA_HIGH

# DMA registers (emac_dma_struct.h)
DMA_BUSMODE = DMA_BASE + 0x00
DMA_TXPOLL = DMA_BASE + 0x04
DMA_RXPOLL = DMA_BASE + 0x08
DMA_RXBASE = DMA_BASE + 0x0C
DMA_TXBASE = DMA_BASE + 0x10
DMA_STATUS = DMA_BASE + 0x14
DMA_OPMODE = DMA_BASE + 0x18
DMA_INTEN = DMA_BASE + 0x1C
DMA_MISSED = DMA_BASE + 0x20
DMA_RIWT = DMA_BASE + 0x24
DMA_CURTXDESC = DMA_BASE + 0x48
DMA_CURRXDESC = DMA_BASE + 0x4C
DMA_CURTXBUF = DMA_BASE + 0x50
DMA_CURRXBUF = DMA_BASE + 0x54

# MAC registers (emac_mac_struct.h)
MAC_CONFIG = MAC_BASE + 0x00
MAC_FF = MAC_BASE + 0x04
MAC_MIIADDR = MAC_BASE + 0x10
MAC_MIIDATA = MAC_BASE + 0x14
MAC_FC = MAC_BASE + 0x18
MAC_DEBUG = MAC_BASE + 0x24
MAC_ADDR0HI = MAC_BASE + 0x40
MAC_ADDR0LO = MAC_BASE + 0x44

# EXT registers (emac_ext_struct.h)
EXT_CLKOUT = EXT_BASE + 0x00
EXT_OSCCLK = EXT_BASE + 0x04
EXT_CLK_CTRL = EXT_BASE + 0x08
EXT_PHYINF = EXT_BASE + 0x0C
EXT_PD_SEL = EXT_BASE + 0x10
EXT_DATE = EXT_BASE + 0xFC

# bus mode bits
BM_SWR = 1 << 0
BM_DSL_SHIFT = 2  # descriptor skip length, words, bits 6:2
BM_ATDS = 1 << 7  # 32-byte ("alternate") descriptors

# status bits (DMASTATUS, emac_dma_struct.h); bits 0..14 have an enable bit at the same position
ST_TI = 1 << 0
ST_TPS = 1 << 1
ST_TU = 1 << 2
ST_TJT = 1 << 3
ST_OVF = 1 << 4
ST_UNF = 1 << 5
ST_RI = 1 << 6
ST_RU = 1 << 7
ST_RPS = 1 << 8
ST_RWT = 1 << 9
ST_ETI = 1 << 10
ST_FBI = 1 << 13
ST_ERI = 1 << 14
ST_AIS = 1 << 15
ST_NIS = 1 << 16
ST_RS_SHIFT = 17
ST_TS_SHIFT = 20
ST_EB_SHIFT = 23
NORMAL = ST_TI | ST_TU | ST_RI | ST_ERI
ABNORMAL = ST_TPS | ST_TJT | ST_OVF | ST_UNF | ST_RU | ST_RPS | ST_RWT | ST_ETI | ST_FBI
W1C = NORMAL | ABNORMAL | ST_AIS | ST_NIS
IE_AIE = 1 << 15
IE_NIE = 1 << 16

# process states (DMASTATUS RECV_PROC_STATE / TRANS_PROC_STATE as emac_dma_struct.h
# documents them; only 0 = Stopped is the same in every source, see docs/esp32-emac.md)
PS_STOPPED = 0
PS_FETCH = 1
PS_WAIT = 3
PS_SUSPENDED = 4
PS_CLOSE = 5
PS_XFER = 7

# operation mode bits
OM_SR = 1 << 1
OM_ST = 1 << 13
OM_FTF = 1 << 20
OM_TSF = 1 << 21
OM_DFF = 1 << 24  # disable flushing of received frames when no descriptor is available
OM_RSF = 1 << 25
OM_DT = 1 << 26

# MAC config bits
MC_RE = 1 << 2
MC_TE = 1 << 3
MC_ACS = 1 << 7
MC_IPC = 1 << 10
MC_DM = 1 << 11
MC_FES = 1 << 14
MC_PS = 1 << 15
MC_JD = 1 << 22  # jabber disable
MC_WD = 1 << 23  # watchdog disable

# frame filter bits
FF_PR = 1 << 0
FF_PAM = 1 << 4
FF_DBF = 1 << 5
FF_RA = 1 << 31

# MII address register
MII_BUSY = 1 << 0
MII_WRITE = 1 << 1
MII_CR_SHIFT = 2
MII_REG_SHIFT = 6
MII_PHY_SHIFT = 11

# descriptors (hal/emac_hal.h eth_dma_tx/rx_descriptor_t; TRM 10.8)
OWN = 1 << 31
T0_IC = 1 << 30
T0_LS = 1 << 29
T0_FS = 1 << 28
T0_DC = 1 << 27
T0_DP = 1 << 26
T0_TER = 1 << 21
T0_TCH = 1 << 20
T0_ES = 1 << 15
T0_JT = 1 << 14
T0_LC = 1 << 11  # loss of carrier
T0_NC = 1 << 10  # no carrier
T0_UF = 1 << 1
R0_AFM = 1 << 30
R0_FL_SHIFT = 16
R0_ES = 1 << 15
R0_DE = 1 << 14
R0_FS = 1 << 9
R0_LS = 1 << 8
R0_FT = 1 << 5
R0_ESA = 1 << 0
R1_DIC = 1 << 31
R1_RER = 1 << 15
R1_RCH = 1 << 14

MIN_FRAME = 60  # without FCS (IEEE 802.3 4.4.2)
MAX_WIRE_FRAME = 2000  # longest frame the wire side accepts (MAC watchdog cuts at 2048)
FIFO_BYTES = 2048  # 2 KB RX FIFO (TRM 10.1 features)
JABBER = 2048  # TRM DMASTATUS TRANS_JABBER_TO
BROADCAST = b"\xff" * 6

# APB clock / divider per CSR clock range (emac_mac_struct.h MIICSRCLK, emac_hal_set_csr_clock_range)
CSR_DIV = {0: 42, 1: 62, 2: 16, 3: 26, 4: 102, 5: 124}
APB_HZ = 80000000
MDC_MAX_HZ = 2500000  # IEEE 802.3 22.2.2.11


class BusError(Exception):
    """A DMA access outside every memory window."""


# ---- memory behind the DMA ----------------------------------------------------------


class BufferMemory:
    """A window backed by a local buffer (the IDF model's rings and buffers)."""

    writes = 0  # DMA writes into this memory (Bus.write counts them)

    def __init__(self, size):
        self.buf = bytearray(size)

    def read(self, addr, n):
        return bytes(self.buf[addr : addr + n])

    def write(self, addr, data):
        self.buf[addr : addr + len(data)] = data


class LocalMemory:
    """This process's own memory at real addresses (the driver runs in-process, CPython)."""

    writes = 0

    def read(self, addr, n):
        return ctypes.string_at(addr, n)

    def write(self, addr, data):
        ctypes.memmove(addr, bytes(data), len(data))


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class ProcessMemory:
    """Another process's memory (the MicroPython unix port running the driver), read
    and written with process_vm_readv/writev(2); needs ptrace access to that process
    (the same user with Yama ptrace_scope 0, an ancestor of it, or CAP_SYS_PTRACE)."""

    writes = 0

    def __init__(self, pid):
        self.pid = pid
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        for fn in (self.libc.process_vm_readv, self.libc.process_vm_writev):
            fn.restype = ctypes.c_ssize_t
            fn.argtypes = [ctypes.c_int, ctypes.POINTER(_IOVec), ctypes.c_ulong, ctypes.POINTER(_IOVec),
                           ctypes.c_ulong, ctypes.c_ulong]

    def read(self, addr, n):
        buf = ctypes.create_string_buffer(n)
        loc = _IOVec(ctypes.cast(buf, ctypes.c_void_p), n)
        rem = _IOVec(addr, n)
        got = self.libc.process_vm_readv(self.pid, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
        if got != n:
            raise BusError("read of %d bytes at 0x%x in pid %d failed: %s"
                           % (n, addr, self.pid, os.strerror(ctypes.get_errno())))
        return buf.raw

    def write(self, addr, data):
        data = bytes(data)
        n = len(data)
        buf = ctypes.create_string_buffer(data, n)
        loc = _IOVec(ctypes.cast(buf, ctypes.c_void_p), n)
        rem = _IOVec(addr, n)
        got = self.libc.process_vm_writev(self.pid, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
        if got != n:
            raise BusError("write of %d bytes at 0x%x in pid %d failed: %s"
                           % (n, addr, self.pid, os.strerror(ctypes.get_errno())))


class Bus:
    """ESP32 bus addresses the DMA sees -> (memory, real address) through windows."""

    def __init__(self):
        self.windows = []  # (bus_lo, size, memory, real_base)

    def map(self, bus, size, memory, real=0):
        """Make [bus, bus+size) show memory at real...; replaces overlapping windows."""
        self.windows = [w for w in self.windows if w[0] + w[1] <= bus or bus + size <= w[0]]
        self.windows.append((bus, size, memory, real))

    def _find(self, bus, n):
        for lo, size, mem, real in self.windows:
            if lo <= bus and bus + n <= lo + size:
                return mem, real + (bus - lo)
        raise BusError("DMA access to 0x%08x+%d outside mapped memory" % (bus, n))

    def read(self, bus, n):
        mem, a = self._find(bus, n)
        return mem.read(a, n)

    def write(self, bus, data):
        mem, a = self._find(bus, len(data))
        mem.write(a, data)
        mem.writes += 1

    def read32(self, bus):
        return struct.unpack("<I", self.read(bus, 4))[0]

    def write32(self, bus, v):
        self.write(bus, struct.pack("<I", v & 0xFFFFFFFF))


# ---- the PHY --------------------------------------------------------------------------

PHY_IDS = {"lan8720": (0x0007, 0xC0F1),  # LAN8720A: OUI 0x1F0, model 0x0F (esp_eth_phy_lan87xx.c)
           "ip101": (0x0243, 0x0C54)}  # IP101G: OUI 0x90C3, model 5 (esp_eth_phy_ip101.c)
BMCR, BMSR, PHYID1, PHYID2, ANAR, ANLPAR = 0, 1, 2, 3, 4, 5
BMCR_RESET = 1 << 15
BMCR_LOOP = 1 << 14
BMCR_SPEED100 = 1 << 13
BMCR_ANEN = 1 << 12
BMCR_PDOWN = 1 << 11
BMCR_RESTART_AN = 1 << 9
BMCR_FULL = 1 << 8
BMSR_CAPS = 0x7809  # 100FD 100HD 10FD 10HD, AN ability, extended capabilities (IEEE 802.3 22.2.4.2)
BMSR_ANDONE = 1 << 5
BMSR_LINK = 1 << 2
LAN_SMR = 0x12
LAN_PSCSR = 0x1F
IP_PCR = 0x14  # page control (esp_eth_phy_ip101.c)
IP_CSSR = 0x1E  # page 16: link bit 8, operation mode bits 2:0


class Phy:
    """A clause-22 PHY at one MDIO address (or none: every read returns 0xFFFF,
    what a floating, pulled-up MDIO line gives)."""

    def __init__(self, model="lan8720", addr=0, link=True, speed=100, full=True):
        if model not in PHY_IDS and model != "none":
            raise ValueError("PHY model must be one of %s or none" % ", ".join(sorted(PHY_IDS)))
        self.model = model
        self.addr = addr
        self.speed = speed
        self.full = full
        self.reads = 0
        self.writes = 0
        self.reset()
        self._link = bool(link)
        self.latched_down = False

    def reset(self):
        """Power-on / BMCR reset values."""
        self.bmcr = BMCR_ANEN | BMCR_SPEED100 | BMCR_FULL
        self.anar = 0x01E1  # 100FD 100HD 10FD 10HD, selector 802.3
        self.page = 16
        self.other = {}

    @property
    def answers(self):
        return self.model != "none"

    @property
    def link(self):
        return self._link and not self.bmcr & BMCR_PDOWN

    def set_link(self, up):
        """The cable: a link failure latches BMSR.link low until BMSR is read (IEEE 802.3 22.2.4.2.13)."""
        if self._link and not up:
            self.latched_down = True
        self._link = bool(up)

    def mode_code(self):
        """Speed/duplex as LAN8720 PSCSR / IP101 CSSR encode it: 1 10HD, 2 100HD, 5 10FD, 6 100FD."""
        return (2 if self.speed == 100 else 1) | (4 if self.full else 0)

    def read(self, addr, reg):
        if not self.answers or addr != self.addr:
            return 0xFFFF
        self.reads += 1
        up = self.link
        if reg == BMCR:
            return self.bmcr
        if reg == BMSR:
            v = BMSR_CAPS
            if up:
                v |= BMSR_ANDONE
                if not self.latched_down:
                    v |= BMSR_LINK
            self.latched_down = False
            return v
        if reg in (PHYID1, PHYID2):
            return PHY_IDS[self.model][reg - PHYID1]
        if reg == ANAR:
            return self.anar
        if reg == ANLPAR:
            return 0x45E1 if up else 0
        if self.model == "lan8720":
            if reg == LAN_SMR:
                return 0xE0 | self.addr  # mode 111 (all capable, AN), PHYAD
            if reg == LAN_PSCSR:
                return ((1 << 12) | (self.mode_code() << 2)) if up else 0x0040
        if self.model == "ip101":
            if reg == IP_PCR:
                return self.page
            if reg == IP_CSSR and self.page == 16:
                return ((1 << 8) | self.mode_code()) if up else 0
        return self.other.get(reg, 0)

    def write(self, addr, reg, val):
        if not self.answers or addr != self.addr:
            return
        self.writes += 1
        if reg == BMCR:
            if val & BMCR_RESET:
                self.reset()  # self-clearing; the link comes back at once here
                return
            self.bmcr = val & ~(BMCR_RESET | BMCR_RESTART_AN)
        elif reg == ANAR:
            self.anar = val
        elif self.model == "ip101" and reg == IP_PCR:
            self.page = val & 0x1F
        else:
            self.other[reg] = val


# ---- the EMAC -------------------------------------------------------------------------


def fcs(frame):
    """IEEE 802.3 frame check sequence as it appears on the wire (CRC-32, little-endian)."""
    return struct.pack("<I", zlib.crc32(frame) & 0xFFFFFFFF)


class Emac:
    """The MAC, its DMA and the MII management interface.

    Register access: read(addr) / write(addr, value) (32 bits). The wire:
    receive_frame(frame) (no FCS); each transmitted frame goes to
    transmit(frame) (no FCS). Knobs: tx_stall (the TX DMA takes descriptors and
    never returns them: no TX clock from the PHY), strict_start_order (starting
    the TX DMA before the MAC transmitter wedges the transmitter, as
    emac_hal_start()'s comment warns), mdio_busy_reads (register reads before
    MII busy clears), apb_hz (the CSR clock the MDC divider divides)."""

    def __init__(self, bus=None, phy=None, transmit=None, tx_stall=False, strict_start_order=True,
                 mdio_busy_reads=1, apb_hz=APB_HZ, rmii_ready=True):
        self.bus = bus or Bus()
        self.phy = phy or Phy()
        self.transmit = transmit or (lambda frame: None)
        self.tx_stall = tx_stall
        self.strict_start_order = strict_start_order
        self.mdio_busy_reads = mdio_busy_reads
        self.apb_hz = apb_hz
        self.lock = threading.RLock()
        self.irq_hook = None  # called with the interrupt line level after status changes
        self.trace = None  # when a list: ("r"|"w", addr, value) / ("m", addr, new, clear, set) per access
        self.stats = {}
        self.reset_stats()
        self.regs = {}
        self.ext = {}
        self._reset_ext(rmii_ready)
        self.soft_reset()
        self.stats["resets"] = 0

    # ---- state ---------------------------------------------------------------------
    def reset_stats(self):
        self.stats = dict(
            frames_tx=0, bytes_tx=0, frames_rx=0, bytes_rx=0, tx_lost_link=0, tx_jabber=0, tx_underflow=0,
            tx_no_fs=0, rx_filtered=0, rx_dropped_stopped=0, rx_fifo_overflow=0, rx_missed=0, rx_oversize=0,
            rx_descriptor_errors=0, rx_lost_link=0, speed_mismatch=0, bus_errors=0, base_write_while_running=0,
            mii_write_while_busy=0, mdc_too_fast=0, mdio_reads=0, mdio_writes=0, tx_polls=0, rx_polls=0,
            tx_wedged=0, resets=0)

    def _reset_ext(self, rmii_ready):
        # what emac_ll_clock_enable_rmii_input() leaves after network.LAN(...) (emac_ll.h);
        # rmii_ready=False: the clocks were never set up (network.LAN never constructed)
        self.ext = {EXT_CLKOUT: 0, EXT_OSCCLK: 0, EXT_CLK_CTRL: 0, EXT_PHYINF: 0, EXT_PD_SEL: 0,
                    EXT_DATE: 0x16042000}
        if rmii_ready:
            self.ext[EXT_PHYINF] = 4 << 13  # phy_intf_sel = 4: RMII
            self.ext[EXT_CLK_CTRL] = 1  # ext_en: reference clock from outside
            self.ext[EXT_OSCCLK] = 1 << 24  # clk_sel

    def soft_reset(self):
        """DMABUSMODE.SWR / power-on: every DMA and MAC register to its reset value."""
        self.regs = {
            DMA_BUSMODE: 0x00020100, DMA_TXPOLL: 0, DMA_RXPOLL: 0, DMA_RXBASE: 0, DMA_TXBASE: 0, DMA_STATUS: 0,
            DMA_OPMODE: 0, DMA_INTEN: 0, DMA_RIWT: 0,
            MAC_CONFIG: MC_PS, MAC_FF: 0, MAC_MIIADDR: 0, MAC_MIIDATA: 0, MAC_FC: 0,
            MAC_ADDR0HI: 0x8000FFFF, MAC_ADDR0LO: 0xFFFFFFFF,
        }
        self.tx_state = PS_STOPPED
        self.rx_state = PS_STOPPED
        self.tx_cur = 0
        self.rx_cur = 0
        self.tx_buf = 0
        self.rx_buf = 0
        self.tx_wedged = False
        self.missed = 0  # DMAMISSEDFR fields: frames missed for want of a descriptor, and
        self.missed_roll = 0  # its rollover; frames lost to a full RX FIFO, and its rollover
        self.ovf = 0
        self.ovf_roll = 0
        self.fifo = []  # received frames (with FCS) waiting for the RX DMA
        self.mii_busy_left = 0
        self.stats["resets"] = self.stats.get("resets", 0) + 1

    def _status(self):
        return self.regs[DMA_STATUS]

    def _set_states(self):
        s = self.regs[DMA_STATUS] & ~((7 << ST_RS_SHIFT) | (7 << ST_TS_SHIFT))
        self.regs[DMA_STATUS] = s | (self.rx_state << ST_RS_SHIFT) | (self.tx_state << ST_TS_SHIFT)

    def _raise(self, bits):
        """Set status bits; an enabled one sets its summary bit (TRM DMASTATUS NIS/AIS)."""
        en = self.regs[DMA_INTEN]
        s = self.regs[DMA_STATUS] | bits
        if bits & NORMAL & en:
            s |= ST_NIS
        if bits & ABNORMAL & en:
            s |= ST_AIS
        self.regs[DMA_STATUS] = s
        self._irq()

    def irq_line(self):
        """The EMAC interrupt output: an enabled summary bit is set."""
        s = self.regs[DMA_STATUS]
        en = self.regs[DMA_INTEN]
        return bool((s & ST_NIS and en & IE_NIE) or (s & ST_AIS and en & IE_AIE))

    def _irq(self):
        if self.irq_hook is not None:
            self.irq_hook(self.irq_line())

    @property
    def desc_size(self):
        return 32 if self.regs[DMA_BUSMODE] & BM_ATDS else 16

    def _skip(self):
        return ((self.regs[DMA_BUSMODE] >> BM_DSL_SHIFT) & 0x1F) * 4

    def _mac_speed_ok(self):
        mc = self.regs[MAC_CONFIG]
        want = 100 if mc & MC_FES else 10
        if self.phy.link and want != self.phy.speed:
            self.stats["speed_mismatch"] += 1
            return False
        return True

    # ---- register access ------------------------------------------------------------
    def read(self, addr):
        """32-bit register read."""
        with self.lock:
            v = self._read(addr)
            if self.trace is not None:
                self.trace.append(("r", addr, v))
            return v

    def _read(self, addr):
        if EXT_BASE <= addr < EXT_BASE + 0x100:
            return self.ext.get(addr, 0)
        if addr == DMA_STATUS:
            self._set_states()
            return self.regs[DMA_STATUS]
        if addr == DMA_MISSED:  # cleared on read (TRM DMAMISSEDFR)
            v = self.missed | (self.missed_roll << 16) | (self.ovf << 17) | (self.ovf_roll << 28)
            self.missed = self.missed_roll = self.ovf = self.ovf_roll = 0
            return v
        if addr == DMA_CURTXDESC:
            return self.tx_cur
        if addr == DMA_CURRXDESC:
            return self.rx_cur
        if addr == DMA_CURTXBUF:
            return self.tx_buf
        if addr == DMA_CURRXBUF:
            return self.rx_buf
        if addr == MAC_MIIADDR:
            v = self.regs[MAC_MIIADDR]
            if self.mii_busy_left > 0:
                self.mii_busy_left -= 1
                if self.mii_busy_left == 0:
                    self.regs[MAC_MIIADDR] = v & ~MII_BUSY
            return v
        if addr == MAC_DEBUG:
            return 0  # transmit/receive controllers idle: frames move instantly here
        if addr == DMA_BUSMODE:
            v = self.regs[DMA_BUSMODE]
            self.regs[DMA_BUSMODE] = v & ~BM_SWR  # the reset completes instantly here
            return v
        if addr == DMA_OPMODE:
            v = self.regs[DMA_OPMODE]
            self.regs[DMA_OPMODE] = v & ~OM_FTF  # the TX FIFO flush completes instantly
            return v
        return self.regs.get(addr, 0)

    def write(self, addr, v):
        """32-bit register write."""
        v &= 0xFFFFFFFF
        with self.lock:
            if self.trace is not None:
                self.trace.append(("w", addr, v))
            self._write(addr, v)

    def modify(self, addr, clear, set_):
        """Read-modify-write (one bus transaction pair, as a driver's |= / &= does)."""
        with self.lock:
            old = self._read(addr)
            new = (old & ~clear & 0xFFFFFFFF) | set_
            if self.trace is not None:
                self.trace.append(("m", addr, new, clear, set_))
            self._write(addr, new)

    def _write(self, addr, v):
        r = self.regs
        if EXT_BASE <= addr < EXT_BASE + 0x100:
            if addr != EXT_DATE:
                self.ext[addr] = v
            return
        if addr == DMA_BUSMODE:
            if v & BM_SWR:
                self.soft_reset()
                return
            r[addr] = v
        elif addr == DMA_TXPOLL:
            self.stats["tx_polls"] += 1
            if self.tx_state == PS_SUSPENDED:
                self.tx_state = PS_FETCH
            self._tx_run()
        elif addr == DMA_RXPOLL:
            self.stats["rx_polls"] += 1
            if self.rx_state == PS_SUSPENDED:
                self.rx_state = PS_FETCH
            self._rx_run()
        elif addr in (DMA_RXBASE, DMA_TXBASE):
            rx = addr == DMA_RXBASE
            v &= ~3  # bits 1:0 are read-only zero (emac_dma_struct.h)
            r[addr] = v
            # the list base becomes the current position only while that process is stopped
            if (self.rx_state if rx else self.tx_state) != PS_STOPPED:
                self.stats["base_write_while_running"] += 1
            elif rx:
                self.rx_cur = v
            else:
                self.tx_cur = v
        elif addr == DMA_STATUS:
            r[addr] &= ~(v & W1C)
            self._irq()
        elif addr == DMA_OPMODE:
            self._opmode(v)
        elif addr == DMA_INTEN:
            r[addr] = v & 0x1E7FF
            self._irq()
        elif addr == MAC_CONFIG:
            old = r[addr]
            r[addr] = v | MC_PS
            if (v & MC_TE) and not (old & MC_TE):
                self._tx_run()
            if (v & MC_RE) and not (old & MC_RE):
                self._rx_run()
        elif addr == MAC_MIIADDR:
            self._mii(v)
        elif addr == MAC_MIIDATA:
            if r[MAC_MIIADDR] & MII_BUSY:
                self.stats["mii_write_while_busy"] += 1
            r[addr] = v & 0xFFFF
        elif addr == MAC_ADDR0HI:
            r[addr] = 0x80000000 | (v & 0xFFFF)  # AE0 always 1
        elif addr in r:
            r[addr] = v

    def _opmode(self, v):
        old = self.regs[DMA_OPMODE]
        self.regs[DMA_OPMODE] = v & ~OM_FTF  # the flush is done at once
        if v & OM_FTF:
            pass  # nothing is buffered in the TX FIFO here
        # transmit: start (TRM DMAOPERATION_MODE ST) / stop after the current frame
        if (v & OM_ST) and not (old & OM_ST):
            if self.strict_start_order and not self.regs[MAC_CONFIG] & MC_TE:
                self.tx_wedged = True
                self.stats["tx_wedged"] += 1
            self.tx_state = PS_FETCH
            self._tx_run()
        elif not (v & OM_ST) and (old & OM_ST):
            # stopped after the current frame; a stalled transmitter never finishes it
            if not (self.tx_stall and self.tx_state == PS_XFER):
                self.tx_state = PS_STOPPED
                self._raise(ST_TPS)
        if (v & OM_SR) and not (old & OM_SR):
            self.rx_state = PS_FETCH
            self._rx_run()
        elif not (v & OM_SR) and (old & OM_SR):
            self.rx_state = PS_STOPPED
            self._raise(ST_RPS)

    def _mii(self, v):
        r = self.regs
        if r[MAC_MIIADDR] & MII_BUSY:
            self.stats["mii_write_while_busy"] += 1
            return
        r[MAC_MIIADDR] = v & 0xFFFF
        if not v & MII_BUSY:
            return
        cr = (v >> MII_CR_SHIFT) & 0xF
        div = CSR_DIV.get(cr, 42)
        too_fast = self.apb_hz // div > MDC_MAX_HZ
        phy_addr = (v >> MII_PHY_SHIFT) & 0x1F
        reg = (v >> MII_REG_SHIFT) & 0x1F
        if too_fast:
            self.stats["mdc_too_fast"] += 1
        if v & MII_WRITE:
            self.stats["mdio_writes"] += 1
            if not too_fast:
                self.phy.write(phy_addr, reg, r[MAC_MIIDATA])
        else:
            self.stats["mdio_reads"] += 1
            r[MAC_MIIDATA] = 0xFFFF if too_fast else self.phy.read(phy_addr, reg)
        if self.mdio_busy_reads > 0:
            self.mii_busy_left = self.mdio_busy_reads
        else:
            r[MAC_MIIADDR] &= ~MII_BUSY

    # ---- descriptor memory -----------------------------------------------------------
    def _rd32(self, a):
        return self.bus.read32(a)

    def _rd_stable(self, a):
        # read a descriptor word twice: the CPU may be storing it right now
        v = self.bus.read32(a)
        while True:
            w = self.bus.read32(a)
            if w == v:
                return v
            v = w

    def _close(self, a, v):
        # status first, ownership last: the OWN bit lives in the top byte, so the word
        # is written with OWN still set, then again with it clear (no torn handoff)
        self.bus.write32(a, v | OWN)
        self.bus.write32(a, v & ~OWN)

    def _bus_error(self, tx, e):
        self.stats["bus_errors"] += 1
        log.warning("fatal bus error (%s DMA): %s", "TX" if tx else "RX", e)
        # TRM DMASTATUS FATAL_BUS_ERR_INT: the engine disables all its bus accesses
        eb = 7 if tx else 6  # descriptor read access (emac_dma_struct.h ERROR_BITS)
        s = self.regs[DMA_STATUS] & ~(7 << ST_EB_SHIFT)
        self.regs[DMA_STATUS] = s | (eb << ST_EB_SHIFT)
        if tx:
            self.tx_state = PS_STOPPED
            self.regs[DMA_OPMODE] &= ~OM_ST
        else:
            self.rx_state = PS_STOPPED
            self.regs[DMA_OPMODE] &= ~OM_SR
        self._raise(ST_FBI)

    def _next_tx(self, a, d0, d3):
        if d0 & T0_TER:
            return self.regs[DMA_TXBASE]
        if d0 & T0_TCH:
            return d3
        return a + self.desc_size + self._skip()

    def _next_rx(self, a, d1, d3):
        if d1 & R1_RER:
            return self.regs[DMA_RXBASE]
        if d1 & R1_RCH:
            return d3
        return a + self.desc_size + self._skip()

    # ---- transmit ---------------------------------------------------------------------
    def _tx_run(self):
        r = self.regs
        try:
            while self.tx_state not in (PS_STOPPED, PS_SUSPENDED):
                if not (r[MAC_CONFIG] & MC_TE) or self.tx_wedged:
                    self.tx_state = PS_WAIT
                    return
                a = self.tx_cur
                d0 = self._rd_stable(a)
                if not d0 & OWN:
                    # TRM DMASTATUS TRANS_BUF_UNAVAIL: transmission is suspended
                    self.tx_state = PS_SUSPENDED
                    self._raise(ST_TU)
                    return
                if self.tx_stall:
                    self.tx_state = PS_XFER  # the frame never leaves: no TX clock
                    return
                self.tx_state = PS_XFER
                self._tx_frame(a, d0)
            if self.tx_state == PS_STOPPED:
                return
        except BusError as e:
            self._bus_error(True, e)

    def _tx_frame(self, a, d0):
        descs = []
        data = bytearray()
        first = d0
        if not first & T0_FS:
            self.stats["tx_no_fs"] += 1
        underflow = False
        while True:
            d1 = self._rd32(a + 4)
            d2 = self._rd32(a + 8)
            d3 = self._rd32(a + 12)
            n1 = d1 & 0x1FFF
            n2 = (d1 >> 16) & 0x1FFF
            self.tx_buf = d2
            if n1:
                data += self.bus.read(d2, n1)
            if n2 and not d0 & T0_TCH:  # ring mode: buffer 2 follows
                data += self.bus.read(d3, n2)
            descs.append((a, d0))
            nxt = self._next_tx(a, d0, d3)
            if d0 & T0_LS or len(descs) > 64:
                break
            d0n = self._rd_stable(nxt)
            if not d0n & OWN:
                underflow = True  # the rest of the frame is not there yet (TRM TRANS_UNDFLOW)
                break
            a = nxt
            d0 = d0n
        self.tx_cur = nxt
        status = 0
        frame = bytes(data)
        if underflow:
            self.stats["tx_underflow"] += 1
            status |= T0_UF | T0_ES
        elif not (self.regs[MAC_CONFIG] & MC_JD) and len(frame) > JABBER:
            self.stats["tx_jabber"] += 1
            status |= T0_JT | T0_ES
        else:
            if len(frame) < MIN_FRAME and not first & T0_DP:
                frame += bytes(MIN_FRAME - len(frame))  # pad generation (TDES0 DP clear)
            # the FCS (TDES0 DC clear) is computed by the MAC; the wire side gets the frame without it
            if not self.phy.link:
                self.stats["tx_lost_link"] += 1
                if not self.regs[MAC_CONFIG] & MC_DM:
                    status |= T0_NC | T0_LC | T0_ES  # carrier errors are half-duplex only
            elif self._mac_speed_ok():
                self.stats["frames_tx"] += 1
                self.stats["bytes_tx"] += len(frame)
                self.transmit(frame)
        last_a, last_d0 = descs[-1]
        for da, dd0 in descs:
            v = dd0 & ~OWN
            if da == last_a:
                v |= status
            self._close(da, v)
        if underflow:
            self.tx_state = PS_SUSPENDED
            self._raise(ST_UNF)
            return
        if status & T0_JT:
            self.tx_state = PS_STOPPED
            self.regs[DMA_OPMODE] &= ~OM_ST
            self._raise(ST_TJT | ST_TPS)
            return
        if last_d0 & T0_IC:
            self._raise(ST_TI)
        self.tx_state = PS_FETCH

    # ---- receive ----------------------------------------------------------------------
    def receive_frame(self, frame):
        """A frame (no FCS) arrives from the cable -> True if it entered the RX FIFO."""
        with self.lock:
            frame = bytes(frame)
            r = self.regs
            if not self.phy.link:
                self.stats["rx_lost_link"] += 1
                return False
            if not r[MAC_CONFIG] & MC_RE:
                self.stats["rx_dropped_stopped"] += 1
                return False
            if len(frame) < 14 or len(frame) > MAX_WIRE_FRAME:
                self.stats["rx_oversize"] += 1
                return False
            if not self._mac_speed_ok():
                return False
            if len(frame) < MIN_FRAME:
                frame += bytes(MIN_FRAME - len(frame))  # what the sending MAC put on the cable
            if not self._accept(frame):
                self.stats["rx_filtered"] += 1
                return False
            wire = frame + fcs(frame)
            if r[MAC_CONFIG] & MC_ACS and struct.unpack("!H", frame[12:14])[0] < 1536:
                wire = frame  # automatic pad/CRC stripping for length-field frames (MAC config ACS)
            if sum(len(f) for f in self.fifo) + len(wire) > FIFO_BYTES:
                self.stats["rx_fifo_overflow"] += 1
                if self.ovf == 0x7FF:
                    self.ovf = 0
                    self.ovf_roll = 1
                else:
                    self.ovf += 1
                self._raise(ST_OVF)
                return False
            self.fifo.append(wire)
            self._rx_run()
            return True

    def _accept(self, frame):
        """MAC address filter (TRM 10.x frame filter register; IDF defaults in emac_hal_init_mac_default)."""
        ff = self.regs[MAC_FF]
        if ff & (FF_PR | FF_RA):
            return True
        dst = frame[0:6]
        if dst == BROADCAST:
            return not ff & FF_DBF
        if dst[0] & 1:
            return bool(ff & FF_PAM)
        hi = self.regs[MAC_ADDR0HI] & 0xFFFF
        lo = self.regs[MAC_ADDR0LO]
        own = struct.pack("<IH", lo, hi)
        return dst == own

    def _rx_run(self):
        r = self.regs
        try:
            while self.fifo and self.rx_state != PS_STOPPED:
                a = self.rx_cur
                d0 = self._rd_stable(a)
                if not d0 & OWN:
                    if self.rx_state != PS_SUSPENDED:
                        self.rx_state = PS_SUSPENDED
                        self._raise(ST_RU)  # only on entering the suspended state
                    if not r[DMA_OPMODE] & OM_DFF:
                        self.fifo.pop(0)  # flushed: no descriptor (missed-frame counter)
                        self.stats["rx_missed"] += 1
                        if self.missed == 0xFFFF:
                            self.missed = 0
                            self.missed_roll = 1
                        else:
                            self.missed += 1
                        continue
                    return
                self.rx_state = PS_XFER
                self._rx_frame(a, self.fifo.pop(0))
            if self.rx_state != PS_STOPPED and self.rx_state != PS_SUSPENDED:
                self.rx_state = PS_WAIT
        except BusError as e:
            self._bus_error(False, e)

    def _rx_frame(self, a, wire):
        total = len(wire)  # FL counts the FCS when the MAC keeps it (MAC config ACS clear)
        ft = R0_FT if struct.unpack("!H", wire[12:14])[0] >= 0x600 else 0
        pos = 0
        first = True
        while True:
            d1 = self._rd32(a + 4)
            d2 = self._rd32(a + 8)
            d3 = self._rd32(a + 12)
            n1 = d1 & 0x1FFF
            n2 = 0 if d1 & R1_RCH else (d1 >> 16) & 0x1FFF
            self.rx_buf = d2
            k1 = min(n1, total - pos)
            if k1 > 0:
                self.bus.write(d2, wire[pos : pos + k1])
                pos += k1
            if n2 and pos < total:
                k2 = min(n2, total - pos)
                self.bus.write(d3, wire[pos : pos + k2])
                pos += k2
            nxt = self._next_rx(a, d1, d3)
            fs = R0_FS if first else 0
            first = False
            if pos >= total:
                v = fs | R0_LS | ft | (total << R0_FL_SHIFT)
                self._close(a, v)
                self.rx_cur = nxt
                self.stats["frames_rx"] += 1
                self.stats["bytes_rx"] += total
                if not d1 & R1_DIC:
                    self._raise(ST_RI)
                return
            # more to come: the next descriptor must be ours, else the frame is cut here
            d0n = self._rd_stable(nxt)
            if not d0n & OWN:
                self.stats["rx_descriptor_errors"] += 1
                v = fs | R0_LS | R0_DE | R0_ES | ft | (pos << R0_FL_SHIFT)
                self._close(a, v)
                self.rx_cur = nxt
                self.rx_state = PS_SUSPENDED
                self._raise(ST_RU)
                return
            self._close(a, fs)
            a = nxt

    # ---- the cable ---------------------------------------------------------------------
    def set_link(self, up):
        with self.lock:
            self.phy.set_link(up)


# ---- a model of the running ESP-IDF driver ----------------------------------------------


class IdfDriver:
    """What network.LAN(...).active(True) leaves running on a board, modelled on
    ESP-IDF v5.x components/esp_eth: emac_esp32_init() (emac_hal_init_mac_default,
    emac_hal_init_dma_default), esp_eth_start() and its link timer
    (eth_check_link_timer_cb -> phy get_link -> set_link -> emac_esp32_start /
    emac_esp32_stop), emac_esp_dma_reset() (its own chained rings: nrx RX and
    ntx TX descriptors with buf-byte buffers in internal RAM), the ISR
    emac_isr_default_handler (clears status, notifies emac_rx on RI) and the
    emac_rx task, which walks its own RX ring and hands every frame to lwIP.

    stop() is esp_eth_stop(): the link timer stops; with the link up, set_link(DOWN)
    disables the interrupt and runs emac_hal_stop() (DMA TX off, MAC RX/TX off,
    DMA RX off, TX FIFO flush, every DMA interrupt disabled). Returns 0, or an
    error when the driver was not started (ESP_ERR_INVALID_STATE).

    start() is esp_eth_start() (network.LAN.active(True)): the link is read at
    once and then by the link timer; at link up emac_esp32_start() rebuilds its
    rings and writes the list bases (which move the DMA only while it is
    stopped) and emac_hal_start() enables the interrupt and the DMA. Returns 0,
    or an error when it was started already. (The real one also restarts
    auto-negotiation, so the link comes back a few seconds later; the model's
    PHY keeps its link.)"""

    def __init__(self, emac, mac_addr, phy_addr=0, base=0x3FFF0000, nrx=10, ntx=10, buf=512,
                 link_period_ms=2000, lwip_tx_period_ms=0):
        self.emac = emac
        self.mac_addr = bytes(mac_addr)
        self.phy_addr = phy_addr
        self.nrx = nrx
        self.ntx = ntx
        self.bufsz = buf
        self.link_period = link_period_ms / 1000.0
        self.lwip_tx_period = lwip_tx_period_ms / 1000.0
        self.base = base
        size = (nrx + ntx) * 32 + (nrx + ntx) * buf
        self.mem = BufferMemory(size)
        emac.bus.map(base, size, self.mem, 0)
        self.rx0 = base
        self.tx0 = base + nrx * 32
        self.rxbuf0 = base + (nrx + ntx) * 32
        self.txbuf0 = self.rxbuf0 + nrx * buf
        self.rx_desc = self.rx0
        self.tx_desc = self.tx0
        self.started = False
        self.intr_enabled = False
        self.link = False
        self.notified = 0
        self.next_link_check = 0.0
        self.next_lwip_tx = 0.0
        self.counts = dict(isr_runs=0, isr_after_stop=0, rx_task_runs=0, frames_to_lwip=0, lwip_tx=0, link_checks=0,
                           mac_starts=0, mac_stops=0, stop_calls=0, start_calls=0)
        self.lwip_frames = []  # the last few frames lwIP got (for tests)
        self.stopped_at = None
        emac.irq_hook = self._irq

    # register helpers: the HAL's accessors
    def _r(self, a):
        return self.emac.read(a)

    def _w(self, a, v):
        self.emac.write(a, v)

    def _m(self, a, clear, set_):
        self.emac.modify(a, clear, set_)

    def _mdio_read(self, reg):
        # emac_esp32_read_phy_reg: busy must be clear, command, poll busy (1 ms)
        for _ in range(10):
            if not self._r(MAC_MIIADDR) & MII_BUSY:
                break
        else:
            return None
        self._m(MAC_MIIADDR, 0xFFC3, (self.phy_addr << MII_PHY_SHIFT) | (reg << MII_REG_SHIFT) | MII_BUSY)
        for _ in range(10):
            if not self._r(MAC_MIIADDR) & MII_BUSY:
                return self._r(MAC_MIIDATA) & 0xFFFF
        return None

    def install(self):
        """esp_eth_driver_install(): mac->init (software reset, CSR clock, MAC/DMA defaults, address)."""
        e = self.emac
        self._w(DMA_BUSMODE, BM_SWR)
        while self._r(DMA_BUSMODE) & BM_SWR:
            pass
        self._m(MAC_MIIADDR, 0xF << MII_CR_SHIFT, 0 << MII_CR_SHIFT)  # 80 MHz APB: CSR clock / 42
        # emac_hal_init_mac_default: 100M full duplex, IPC, PS, broadcast + all multicast
        self._w(MAC_CONFIG, MC_PS | MC_FES | MC_DM | MC_IPC)
        self._w(MAC_FF, FF_PAM)
        # emac_hal_init_dma_default: drop TCP/IP checksum errors, RSF, flush on no descriptor,
        # TX threshold 64, second frame; bus mode: mixed burst, AAL, PBL, ATDS, DSL 0
        self._w(DMA_OPMODE, OM_RSF | (1 << 2))
        self._w(DMA_OPMODE, self._r(DMA_OPMODE) | OM_FTF)
        self._w(DMA_BUSMODE, (1 << 26) | (1 << 25) | (32 << 8) | BM_ATDS)
        m = self.mac_addr
        self._w(MAC_ADDR0HI, (m[5] << 8) | m[4])
        self._w(MAC_ADDR0LO, struct.unpack("<I", m[0:4])[0])
        return e

    def start(self, now=None):
        """esp_eth_start(): check the link now, then every link_period_ms -> 0, or 1
        (ESP_ERR_INVALID_STATE: started already)."""
        self.counts["start_calls"] += 1
        if self.started:
            return 1
        self.started = True
        self.stopped_at = None
        self._check_link()
        self.next_link_check = (now or time.monotonic()) + self.link_period
        self.next_lwip_tx = (now or time.monotonic()) + self.lwip_tx_period
        return 0

    def _mac_start(self):
        # emac_esp32_start(): emac_esp_dma_reset() then emac_hal_start()
        self.counts["mac_starts"] += 1
        mem = self.mem.buf
        for i in range(self.nrx):
            o = i * 32
            nxt = self.rx0 + ((i + 1) % self.nrx) * 32
            struct.pack_into("<IIII", mem, o, OWN, R1_RCH | self.bufsz, self.rxbuf0 + i * self.bufsz, nxt)
        for i in range(self.ntx):
            o = (self.nrx + i) * 32
            nxt = self.tx0 + ((i + 1) % self.ntx) * 32
            struct.pack_into("<IIII", mem, o, T0_TCH, self.bufsz, self.txbuf0 + i * self.bufsz, nxt)
        self.rx_desc = self.rx0
        self.tx_desc = self.tx0
        self._w(DMA_RXBASE, self.rx0)
        self._w(DMA_TXBASE, self.tx0)
        # emac_hal_start: enable RI + NIS interrupts, clear pending, MAC TX, DMA TX, DMA RX, MAC RX
        self._m(DMA_INTEN, 0, (1 << 6) | IE_NIE)
        self._w(DMA_STATUS, 0xFFFFFFFF)
        self._m(MAC_CONFIG, 0, MC_TE)
        self._m(DMA_OPMODE, 0, OM_ST)
        self._m(DMA_OPMODE, 0, OM_SR)
        self._m(MAC_CONFIG, 0, MC_RE)

    def _mac_stop(self):
        # emac_hal_stop()
        self.counts["mac_stops"] += 1
        self._m(DMA_OPMODE, OM_ST, 0)
        self._m(MAC_CONFIG, MC_RE | MC_TE, 0)
        self._m(DMA_OPMODE, OM_SR, 0)
        self._m(DMA_OPMODE, 0, OM_FTF)
        self._w(DMA_INTEN, 0)

    def _set_link(self, up):
        if up:
            # lan87xx/ip101 update_link_duplex_speed: speed and duplex from the PHY, then link
            code = self.emac.phy.mode_code()
            self._m(MAC_CONFIG, MC_FES | MC_DM, (MC_FES if code & 2 else 0) | (MC_DM if code & 4 else 0))
            self.intr_enabled = True  # esp_intr_enable
            self._mac_start()
        else:
            self.intr_enabled = False  # esp_intr_disable
            self._mac_stop()
        self.link = up

    def _check_link(self):
        self.counts["link_checks"] += 1
        v = self._mdio_read(BMSR)
        up = v is not None and v != 0xFFFF and bool(v & BMSR_LINK)
        if up != self.link:
            self._set_link(up)

    def stop(self):
        """esp_eth_stop() -> 0, or 1 (ESP_ERR_INVALID_STATE: not started)."""
        self.counts["stop_calls"] += 1
        if not self.started:
            return 1
        self.started = False
        if self.link:
            self._set_link(False)
        self.stopped_at = time.monotonic()
        return 0

    def _irq(self, level):
        # emac_isr_default_handler, running when the CPU interrupt is enabled and the line is up
        if not level or not self.intr_enabled:
            return
        self.counts["isr_runs"] += 1
        if not self.started:
            self.counts["isr_after_stop"] += 1
        st = self.emac.read(DMA_STATUS)
        self.emac.write(DMA_STATUS, st)
        if st & ST_RI:
            self.notified += 1

    def _rx_task(self):
        # emac_rx: walk the CPU-owned descriptors of its own ring, deliver, give back
        self.notified = 0
        self.counts["rx_task_runs"] += 1
        mem = self.mem.buf
        frame = bytearray()
        for _ in range(self.nrx):
            o = self.rx_desc - self.base
            d0, d1, d2, d3 = struct.unpack_from("<IIII", mem, o)
            if d0 & OWN:
                break
            b = d2 - self.base
            if d0 & R0_LS:
                n = ((d0 >> R0_FL_SHIFT) & 0x3FFF) - len(frame)  # FL counts the whole frame
            else:
                n = d1 & 0x1FFF
            frame += mem[b : b + max(0, n)]
            struct.pack_into("<I", mem, o, OWN)
            self.rx_desc = d3
            if d0 & R0_LS:
                if not d0 & R0_ES:
                    self.counts["frames_to_lwip"] += 1
                    self.lwip_frames = (self.lwip_frames + [bytes(frame[:-4])])[-8:]
                frame = bytearray()
        self.emac.write(DMA_RXPOLL, 0)

    def _lwip_tx(self):
        # lwIP sends something (a gratuitous ARP) through emac_esp_dma_transmit_frame
        o = self.tx_desc - self.base
        d0, d1, d2, d3 = struct.unpack_from("<IIII", self.mem.buf, o)
        if d0 & OWN:
            return
        m = self.mac_addr
        f = BROADCAST + m + b"\x08\x06" + bytes(46)
        self.mem.buf[d2 - self.base : d2 - self.base + len(f)] = f
        struct.pack_into("<II", self.mem.buf, o, OWN | T0_FS | T0_LS | T0_TCH | T0_IC, len(f))
        self.tx_desc = d3
        self.counts["lwip_tx"] += 1
        self.emac.write(DMA_TXPOLL, 0)

    def service(self, now=None):
        """Run what is due: the emac_rx task after a notification, the link timer, lwIP."""
        now = now or time.monotonic()
        with self.emac.lock:
            if self.notified:
                self._rx_task()
            if self.started and now >= self.next_link_check:
                self.next_link_check = now + self.link_period
                self._check_link()
            if self.started and self.lwip_tx_period and self.link and now >= self.next_lwip_tx:
                self.next_lwip_tx = now + self.lwip_tx_period
                self._lwip_tx()

    def next_due(self, now):
        """Seconds until service() has something to do (for a select timeout)."""
        if self.notified:
            return 0.0
        if not self.started:
            return 1.0
        t = self.next_link_check - now
        if self.lwip_tx_period:
            t = min(t, self.next_lwip_tx - now)
        return max(0.0, t)


# ---- the server: register link + Ethernet datagram socket ---------------------------------


class EmacServer(emu_server.ChipServer):
    """Serves one Emac (and optionally a running IdfDriver) on a register-link unix
    socket and an Ethernet datagram socket (UDP on loopback: the NIC side of
    tools/vnet.py). Register-link sessions: emac_link.RegSession."""

    thread_name = "esp32-emac-emu"

    def __init__(self, emac, regs_path, eth_bind=None, eth_peer=None, hello=False, idf=None):
        from . import emac_link

        if "/" not in regs_path:
            raise ValueError("the register link is a unix socket path (the DMA needs the peer's pid): %r"
                             % regs_path)
        self.emac = emac
        self.idf = idf
        self._link = emac_link
        super().__init__(regs_path, eth_bind, eth_peer, hello)
        self.regs_path = self.link_path
        emac.transmit = self.transmit
        self.eth_tx_lost = 0
        self.memories = {}  # pid -> ProcessMemory

    # ---- ChipServer hooks ------------------------------------------------------------------
    def new_session(self, sock):
        return self._link.RegSession(self, sock)

    def frame_in(self, data):
        self.emac.receive_frame(data)
        self.after_access()

    def lost_frame(self):
        self.eth_tx_lost += 1

    def timeout(self):
        if self.idf is None:
            return 0.5
        return min(0.5, self.idf.next_due(time.monotonic()))

    def tick(self):
        if self.idf is not None:
            self.idf.service()

    # ---- hooks for emac_link.RegSession ----------------------------------------------------
    def map_client(self, pid, bus, size, real):
        if pid is None:
            raise OSError("register link peer has no pid (not a unix socket?)")
        mem = self.memories.get(pid)
        if mem is None:
            mem = self.memories[pid] = ProcessMemory(pid)
        with self.emac.lock:
            self.emac.bus.map(bus, size, mem, real)
        log.debug("pid %d: bus 0x%08x+%d -> 0x%x", pid, bus, size, real)

    def idf_stop(self):
        if self.idf is None:
            return 1
        with self.emac.lock:
            return self.idf.stop()

    def idf_start(self):
        if self.idf is None:
            return 1
        with self.emac.lock:
            return self.idf.start()

    def after_access(self):
        if self.idf is not None:
            self.idf.service()

    def stats(self):
        with self.emac.lock:
            out = dict(self.emac.stats)
            out["eth_tx_lost"] = self.eth_tx_lost
            out["tx_state"] = self.emac.tx_state
            out["rx_state"] = self.emac.rx_state
            out["inten"] = self.emac.regs[DMA_INTEN]
            out["phy_reads"] = self.emac.phy.reads
            out["client_dma_writes"] = sum(m.writes for m in self.memories.values())
            if self.idf is not None:
                out["idf"] = dict(self.idf.counts, started=self.idf.started, link=self.idf.link)
            return out

    def control(self, req):
        with self.emac.lock:
            if "link" in req:
                self.emac.set_link(bool(req["link"]))
            if "tx_stall" in req:
                self.emac.tx_stall = bool(req["tx_stall"])
            if req.get("reset_stats"):
                self.emac.reset_stats()
            if "receive" in req:  # frames from the cable, as if they came on the Ethernet socket
                frame = bytes.fromhex(req["receive"])
                for _ in range(int(req.get("count", 1))):
                    self.frame_in(frame)
        return self.stats()


def parse_mac(text):
    """'aa:bb:cc:dd:ee:ff' -> 6 bytes."""
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError("bad MAC address %r" % text)
    return bytes(int(p, 16) for p in parts)


def build(phy="lan8720", phy_addr=0, link=True, speed=100, full=True, mac="02:00:00:32:00:01", idf=True,
          idf_link_ms=2000, idf_lwip_tx_ms=0, tx_stall=False, rmii_ready=True):
    """An Emac with its PHY, and the IdfDriver running on it (idf=True) -> (emac, idf or None).
    Without the IDF model the EMAC is left as network.LAN(...) construction leaves it
    (clocks and RMII set up, registers at their defaults, MAC address programmed)."""
    p = Phy(phy, addr=phy_addr, link=link, speed=speed, full=full)
    emac = Emac(phy=p, tx_stall=tx_stall, rmii_ready=rmii_ready)
    m = parse_mac(mac) if isinstance(mac, str) else bytes(mac)
    drv = IdfDriver(emac, m, phy_addr=phy_addr, link_period_ms=idf_link_ms, lwip_tx_period_ms=idf_lwip_tx_ms)
    drv.install()
    if idf:
        drv.start()
        return emac, drv
    emac.irq_hook = None
    return emac, None


def build_parser():
    p = argparse.ArgumentParser(
        prog="esp32-emac-emu",
        description=(
            "Register- and DMA-level emulator of the ESP32 EMAC with an MDIO PHY. The register side is a "
            "unix stream socket speaking the register-link protocol (netdump_tools.emac_link); the emulated "
            "DMA reads and writes descriptors and buffers in the memory of the client process "
            "(process_vm_readv/writev: run as the same user with ptrace allowed, or as root). The Ethernet "
            "side is UDP, one datagram per frame without FCS (the NIC side of netdump-vnet). Runs until "
            "killed; prints statistics as JSON on stderr on SIGTERM/SIGINT."),
        epilog="example:\n  netdump-vnet user --nic-port 20231 &\n"
               "  esp32-emac-emu --regs /tmp/emac.sock --eth 127.0.0.1:0 --eth-peer 127.0.0.1:20231 --eth-hello",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regs", required=True, help="register-link listen path (a unix socket)")
    p.add_argument("--eth", help="Ethernet side bind address: 127.0.0.1:PORT (UDP), or a unix datagram PATH")
    p.add_argument("--eth-peer", help="where transmitted frames go (127.0.0.1:PORT or PATH); default: the last sender")
    p.add_argument("--eth-hello", action="store_true",
                   help="send one empty datagram to --eth-peer at start (registers with netdump-vnet)")
    p.add_argument("--phy", choices=sorted(PHY_IDS) + ["none"], default="lan8720",
                   help="PHY model on the MDIO bus; none = nothing answers (default lan8720)")
    p.add_argument("--phy-addr", type=int, default=0, choices=range(32), metavar="0..31",
                   help="the PHY's MDIO address (WT32-ETH01: 1, Olimex ESP32-POE: 0; default 0)")
    p.add_argument("--link", choices=("up", "down"), default="up", help="cable state at start")
    p.add_argument("--speed", type=int, choices=(10, 100), default=100, help="negotiated speed (Mb/s)")
    p.add_argument("--half-duplex", action="store_true", help="negotiate half duplex")
    p.add_argument("--mac", default="02:00:00:32:00:01", help="the EMAC's address (from eFuse on a board)")
    p.add_argument("--no-idf", action="store_true",
                   help="no running ESP-IDF driver: the EMAC as network.LAN(...) leaves it before active(True)")
    p.add_argument("--idf-link-ms", type=int, default=2000, help="the IDF link timer period (default 2000)")
    p.add_argument("--idf-lwip-tx-ms", type=int, default=0,
                   help="lwIP sends a frame through the IDF driver this often (default 0: never)")
    p.add_argument("--tx-stall", action="store_true",
                   help="the TX DMA takes descriptors and never returns them (no TX clock)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="esp32-emac-emu: %(message)s")
    try:
        emac, idf = build(args.phy, args.phy_addr, args.link == "up", args.speed, not args.half_duplex, args.mac,
                          not args.no_idf, args.idf_link_ms, args.idf_lwip_tx_ms, args.tx_stall)
        srv = EmacServer(emac, args.regs, args.eth, args.eth_peer, hello=args.eth_hello, idf=idf)
    except (OSError, ValueError) as e:
        log.error("cannot start: %s", e)
        return 1

    log.info("listening: regs=%s eth=%s", args.regs, getattr(srv, "eth_address", None))
    return emu_server.serve_until_signal(srv, srv.stats)


if __name__ == "__main__":
    sys.exit(main())
