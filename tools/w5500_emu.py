"""Register-level WIZnet W5500 emulator: SPI on one side, Ethernet frames on the other.

It follows the W5500 datasheet (v1.0.9, "DS" below; facts collected with their
sources in docs/w5500.md), not any particular driver:

* SPI frames in VDM and FDM: 16-bit offset, control byte (BSB[4:0], RWB, OM),
  data with auto-increment (DS 2.2); reserved blocks read 0 and ignore writes.
* Common register block and 8 socket register blocks with their reset values,
  read-only and write-1-to-clear bits (DS 4.1, 4.2); VERSIONR = 0x04; MR.RST;
  PHYCFGR with the link bits driven by the emulated cable.
* 16 KiB TX and 16 KiB RX memory carved into per-socket blocks in socket order
  by Sn_TXBUF_SIZE / Sn_RXBUF_SIZE (DS 3.3); the 16-bit pointers run freely and
  are mapped modulo the block size, so bursts wrap inside the socket's block.
* Sn_CR commands OPEN, CLOSE, SEND, SEND_MAC, RECV with their Sn_SR / Sn_IR
  effects; MACRAW (socket 0 only) with the MFEN / BCASTB / MMB / MIP6B filters
  and the 2-byte length header that counts itself; UDP with its 8-byte RX header.
* Time (a pluggable clock, see below): a command written to Sn_CR is accepted
  after cmd_delay_ns (and cmd_delay SPI transactions); only then does Sn_CR read
  0 and does the command act (DS 4.2 Sn_CR: "After W5500 accepts the command,
  the Sn_CR register is automatically cleared to 0x00. Even though Sn_CR is
  cleared to 0x00, the command is still being processed"). A SEND takes the
  frame's wire time at the PHY's speed (preamble, FCS and inter-frame gap
  included, IEEE 802.3) before Sn_TX_RD moves up and SEND_OK is set; sends queue
  behind each other. The frame is handed to transmit() when it starts.
* The INTn output (IR & IMR, SIR & SIMR) and the RSTn input.

The clock: W5500(clock=...) is a function returning nanoseconds, host
time.monotonic_ns by default; a SimClock advances with the SPI traffic itself
(deterministic tests, no wall time); set_time(ns) (a host with a simulated CPU
clock, tools/rp2sim) overrides both for the SPI exchange that follows.

Choices where the datasheet says only "error" or nothing (documented in the
README of the emulator, --help):
* a command written to Sn_CR while an earlier one has not been accepted yet
  replaces it (Sn_CR is one register; the chip takes what it holds when it is
  ready): the earlier command is lost (stats "lost_cmds"). Drivers wait for
  Sn_CR to read 0 after every command (DS 4.2 Sn_CR; ioLibrary, Adafruit).
* MFEN and multicast: the datasheet's MFEN description names broadcast and the
  chip's own address only; whether multicast passes is not settled. The default
  (mfen_multicast=False) drops multicast while MFEN is set (MMB aside); True
  passes it. A driver that needs multicast (IPv6 neighbour discovery) clears
  MFEN (docs/w5500.md#mfen-and-multicast).
* an illegal buffer size (not 0/1/2/4/8/16, or the running sum over sockets
  0..n passing 16 KiB) gives that socket no memory: FSR and RSR read 0, writes
  to its buffer are lost, received frames are dropped (stats "bufsize_errors");
* with the link down, received frames are lost and SEND does not complete
  (no SEND_OK, Sn_TX_RD stays) until the link comes back;
* frames shorter than 60 bytes arriving from the wire are zero-padded to 60
  (what the sending MAC puts on a real cable); longer than 1514 are dropped;
* the on-chip TCP engine, ARP/ICMP responders and PPPoE are not modelled
  (LISTEN, CONNECT, SEND_KEEP are counted in stats "unsupported_cmds").

The transport (SPI link over a local stream socket, Ethernet over a local
datagram socket) is in spi_link.py and in EmulatorServer below; run
`python -m netdump_tools.w5500_emu --help`.
"""
import argparse
import logging
import struct
import sys
import threading
import time

from . import emu_server

log = logging.getLogger("w5500_emu")

# ---- datasheet constants ----------------------------------------------------
VERSION = 0x04  # VERSIONR reset value (DS 4.1)
MEM_SIZE = 16384  # 16 KiB TX and 16 KiB RX memory (DS 3.3)
NSOCK = 8
MAX_FRAME = 1514  # Ethernet frame without FCS (IDF-W5500 ETH_MAX_PACKET_SIZE)
MIN_FRAME = 60  # minimum Ethernet frame without FCS (IEEE 802.3)
LEGAL_BUFSIZES = (0, 1, 2, 4, 8, 16)  # Sn_RXBUF_SIZE / Sn_TXBUF_SIZE, KiB (DS 4.2)

# common register offsets (DS 4.1)
MR = 0x00
SHAR = 0x09
SIPR = 0x0F
SUBR = 0x05
IR = 0x15
IMR = 0x16
SIR = 0x17
SIMR = 0x18
PHYCFGR = 0x2E
VERSIONR = 0x39
COMMON_SIZE = 0x3A
MR_RST = 0x80

# socket register offsets (DS 4.2)
SN_MR = 0x00
SN_CR = 0x01
SN_IR = 0x02
SN_SR = 0x03
SN_PORT = 0x04
SN_DHAR = 0x06
SN_DIPR = 0x0C
SN_DPORT = 0x10
SN_TOS = 0x15
SN_TTL = 0x16
SN_RXBUF_SIZE = 0x1E
SN_TXBUF_SIZE = 0x1F
SN_TX_FSR = 0x20
SN_TX_RD = 0x22
SN_TX_WR = 0x24
SN_RX_RSR = 0x26
SN_RX_RD = 0x28
SN_RX_WR = 0x2A
SN_IMR = 0x2C
SOCKET_SIZE = 0x30

# Sn_MR protocol (P[3:0]) and flag bits (DS 4.2)
P_CLOSED, P_TCP, P_UDP, P_MACRAW = 0x00, 0x01, 0x02, 0x04
MR_MFEN = 0x80  # MACRAW: MAC filter (also MULTI in UDP)
MR_BCASTB = 0x40  # block broadcast (UDP, MACRAW)
MR_MMB = 0x20  # MACRAW: block multicast
MR_MIP6B = 0x10  # MACRAW: block IPv6

# Sn_CR commands (DS 4.2)
CR_OPEN, CR_LISTEN, CR_CONNECT, CR_DISCON = 0x01, 0x02, 0x04, 0x08
CR_CLOSE, CR_SEND, CR_SEND_MAC, CR_SEND_KEEP, CR_RECV = 0x10, 0x20, 0x21, 0x22, 0x40

# Sn_SR values (DS 4.2)
SOCK_CLOSED, SOCK_INIT, SOCK_UDP, SOCK_MACRAW = 0x00, 0x13, 0x22, 0x42

# Sn_IR bits (DS 4.2)
IR_SEND_OK, IR_TIMEOUT, IR_RECV, IR_DISCON, IR_CON = 0x10, 0x08, 0x04, 0x02, 0x01

# PHYCFGR bits (DS 4.1)
PHY_RST, PHY_OPMD, PHY_DPX, PHY_SPD, PHY_LNK = 0x80, 0x40, 0x04, 0x02, 0x01
PHY_RESET_VALUE = 0xB8  # RST=1, OPMD=0, OPMDC=111 (all capable, auto-negotiation)

BROADCAST = b"\xff\xff\xff\xff\xff\xff"

# on-the-wire bytes of a frame besides those the chip stores (IEEE 802.3 clause 4.2.7, 3.1.1):
# 7 preamble + 1 start delimiter + 4 FCS + 12 inter-frame gap; frames padded to 60 first
WIRE_EXTRA = 24

# SPI control byte (DS 2.2.2): BSB[4:0] in bits 7..3, RWB bit 2, OM bits 1..0
OM_VDM = 0
FDM_LEN = {1: 1, 2: 2, 3: 4}


def _common_defaults():
    r = bytearray(COMMON_SIZE)
    r[0x19], r[0x1A] = 0x07, 0xD0  # RTR = 2000 (200 ms)
    r[0x1B] = 0x08  # RCR
    r[0x1C] = 0x28  # PTIMER
    r[0x26], r[0x27] = 0xFF, 0xFF  # PMRU
    r[PHYCFGR] = PHY_RESET_VALUE
    r[VERSIONR] = VERSION
    return r


def _socket_defaults():
    r = bytearray(SOCKET_SIZE)
    r[SN_DHAR : SN_DHAR + 6] = BROADCAST
    r[SN_TTL] = 0x80
    r[SN_RXBUF_SIZE] = 2
    r[SN_TXBUF_SIZE] = 2
    r[SN_IMR] = 0xFF
    r[0x2D], r[0x2E] = 0x40, 0x00  # Sn_FRAG = 0x4000
    return r


# read-only bytes: writes are ignored (DS 4.1, 4.2 "[R]")
_COMMON_RO = set([SIR, VERSIONR] + list(range(0x28, 0x2E)) + list(range(0x2F, 0x39)))
_SOCKET_RO = set([SN_SR, 0x14] + list(range(0x17, 0x1E)) + [0x20, 0x21, 0x22, 0x23, 0x26, 0x27, 0x2A, 0x2B])


def _csum(data):
    """RFC 1071 Internet checksum (inverted)."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), bytes(data)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class _Socket:
    def __init__(self):
        self.regs = _socket_defaults()
        self.sr = SOCK_CLOSED
        self.tx_rd = 0
        self.rx_wr = 0
        self.rx_rd = 0  # the chip's read pointer, committed by RECV (DS Sn_RX_RD)
        self.cmd_wait = 0  # transactions left until Sn_CR reads 0
        self.cmd_t = 0  # when the pending command was written (chip time, ns)
        self.wait_t = 0  # when its transaction count ran out
        self.send_pending = False  # a SEND accepted with the link down
        self.last_send = CR_SEND
        self.tx_next = 0  # where the next SEND's data starts: the end of the last accepted SEND
        self.tx_busy = 0  # when the transmitter is free again (chip time, ns)
        self.tx_done = []  # sends on the wire: (time done, TX_RD after it, Sn_IR bit), in order

    def reg16(self, off):
        return (self.regs[off] << 8) | self.regs[off + 1]

    def set16(self, off, v):
        self.regs[off] = (v >> 8) & 0xFF
        self.regs[off + 1] = v & 0xFF


class SimClock:
    """Simulated time for the emulator that advances with the SPI traffic itself:
    each byte takes 8 SCLK periods, each transaction txn_ns more (the host's own
    work between chip-select edges). A run then takes the same chip time however
    busy the machine is. advance(ns) lets time pass by hand."""

    def __init__(self, sclk_hz=20000000, txn_ns=5000, start_ns=0):
        if sclk_hz <= 0 or txn_ns < 0:
            raise ValueError("sclk_hz must be > 0 and txn_ns >= 0")
        self.sclk_hz = sclk_hz
        self.txn_ns = txn_ns
        self.ns = start_ns

    def __call__(self):
        return self.ns

    def advance(self, ns):
        """Let ns nanoseconds pass."""
        self.ns += ns

    def spi(self, nbytes, transactions):
        """The time nbytes clocked and `transactions` chip-select frames take."""
        self.ns += transactions * self.txn_ns + nbytes * 8000000000 // self.sclk_hz


class W5500:
    """The chip: begin()/transfer()/end() is one SPI frame; receive_frame() is the wire.

    transmit(frame) is called with each frame the chip sends. Knobs: link (cable),
    speed (PHY speed in Mb/s, 10 or 100), ptr_init (value OPEN gives the pointers;
    the datasheet only says "initialized"), cmd_delay_ns and cmd_delay (chip time
    and SPI transactions before a command written to Sn_CR is accepted: Sn_CR
    reads 0 and the command acts), clock (see the module comment),
    mfen_multicast (whether MFEN passes multicast frames).

    Pins besides SPI: intn() is the INTn output level, on_int(level, seq) is
    called when it changes (seq counts the changes); rst_line(level) is the
    RSTn input. set_time(ns) tells the chip the simulated time of the SPI
    exchange that follows, when the host has a simulated clock (tools/rp2sim);
    now_ns is None otherwise."""

    def __init__(self, transmit=None, link=True, ptr_init=0, cmd_delay=0, on_int=None, cmd_delay_ns=0,
                 speed=100, clock=None, mfen_multicast=False):
        if speed not in (10, 100):
            raise ValueError("speed must be 10 or 100 (Mb/s)")
        self.transmit = transmit or (lambda frame: None)
        self.clock = clock or time.monotonic_ns
        self._clock_spi = getattr(self.clock, "spi", None)
        self.cmd_delay_ns = cmd_delay_ns
        self.speed = speed
        self.mfen_multicast = bool(mfen_multicast)
        # a model of another driver on the same bus (tools/fw_wiznet5k.py) attaches here: the
        # chip tells it when the bus is free between two transactions (gap()) and between two
        # bursts of one transaction (inside())
        self.firmware = None
        self.on_int = on_int
        self.int_seq = 0
        self._intn = 1
        self._rst_low = False
        self.now_ns = None
        self._link = bool(link)
        self.ptr_init = ptr_init & 0xFFFF
        self.cmd_delay = cmd_delay
        self.tx_mem = bytearray(MEM_SIZE)
        self.rx_mem = bytearray(MEM_SIZE)
        self.lock = threading.RLock()
        self.arp = {}  # IPv4 -> MAC learned from received frames (for UDP SEND)
        self.ip_id = 0
        self.reset_stats()
        self.hard_reset()
        self.stats["resets"] = 0  # count MR.RST / RSTn after power-on only

    # ---- reset, link, statistics ------------------------------------------
    def hard_reset(self):
        """RSTn pulse (or MR.RST): every register to its reset value (DS 4.1/4.2)."""
        self.common = _common_defaults()
        self.sockets = [_Socket() for _ in range(NSOCK)]
        self._cs = False
        self._phase = 0
        self._nbytes = 0
        self._addr = self._bsb = self._rwb = 0
        self._left = -1
        self.stats["resets"] += 1
        self._int_check()

    def reset_stats(self):
        self.stats = dict(
            transactions=0, bytes=0, header_bytes=0, data_bytes=0, stray_bytes=0,
            frames_tx=0, bytes_tx=0, frames_rx=0, bytes_rx=0,
            rx_dropped_filter=0, rx_dropped_full=0, rx_dropped_link=0, rx_dropped_size=0,
            tx_stalled=0, tx_oversize=0, bufsize_errors=0, unsupported_cmds=0,
            lost_cmds=0, reserved_block=0, eth_tx_lost=0, rx_rd_errors=0, udp_arp_timeouts=0, resets=0,
            bytes_in_reset=0,
        )

    def set_time(self, ns):
        """The simulated time (ns) of the SPI exchange that follows (a host with a simulated clock)."""
        self.now_ns = ns

    def now(self):
        """The chip's time in ns: set_time()'s, else the clock's."""
        if self.now_ns is not None:
            return int(self.now_ns)
        return self.clock()

    def update(self):
        """Let the chip catch up with its clock: accept due commands, finish due sends."""
        with self.lock:
            self._catch_up(self.now())

    def _catch_up(self, now):
        for n, s in enumerate(self.sockets):
            if s.regs[SN_CR] and not s.cmd_wait and now >= s.cmd_t + self.cmd_delay_ns:
                t = max(s.cmd_t + self.cmd_delay_ns, s.wait_t)
                cmd = s.regs[SN_CR]
                s.regs[SN_CR] = 0
                self._accept(n, s, cmd, t)
            while s.tx_done and s.tx_done[0][0] <= now:
                _, rd, bit = s.tx_done.pop(0)
                s.tx_rd = rd  # SEND done: TX_RD catches up with the data it sent (DS Sn_TX_RD)
                s.regs[SN_IR] |= bit
        self._int_check()

    def wire_ns(self, nbytes):
        """Time on the wire of a frame of nbytes (no FCS) at the PHY's speed."""
        return (max(nbytes, MIN_FRAME) + WIRE_EXTRA) * 8000 // self.speed

    # ---- pins: INTn, RSTn -------------------------------------------------
    def intn(self):
        """INTn level: 0 (asserted) while an enabled interrupt is pending -- IR & IMR, or
        SIR & SIMR where SIR bit n is Sn_IR & Sn_IMR (DS 4.1 IR/IMR/SIR/SIMR, 4.2 Sn_IMR); else 1."""
        c = self.common
        if c[IR] & c[IMR]:
            return 0
        simr = c[SIMR]
        for n, s in enumerate(self.sockets):
            if simr & (1 << n) and s.regs[SN_IR] & s.regs[SN_IMR]:
                return 0
        return 1

    def _int_check(self):
        level = self.intn()
        if level != self._intn:
            self._intn = level
            self.int_seq += 1
            if self.on_int is not None:
                self.on_int(level, self.int_seq)

    def rst_line(self, level):
        """The RSTn pin: low holds the chip in reset (registers at their reset values, SPI
        ignored: counted in stats "bytes_in_reset"); high releases it (DS 2.1, RSTn)."""
        with self.lock:
            low = not level
            if low and not self._rst_low:
                self.hard_reset()
            self._rst_low = low
            self._int_check()

    @property
    def link(self):
        return self._link

    @link.setter
    def link(self, up):
        with self.lock:
            was = self._link
            self._link = bool(up)
            if self._link and not was:
                now = self.now()
                for n, s in enumerate(self.sockets):
                    if s.send_pending:
                        self._do_send(n, s, s.last_send, now)
                self._catch_up(now)
            self._int_check()

    def _phy_up(self):
        return self._link and (self.common[PHYCFGR] & PHY_RST)

    # ---- memory layout -----------------------------------------------------
    def block(self, n, tx):
        """(base, size) of socket n's TX or RX block; size 0 when not legal (DS 3.3)."""
        off = SN_TXBUF_SIZE if tx else SN_RXBUF_SIZE
        base = 0
        for i in range(NSOCK):
            v = self.sockets[i].regs[off]
            size = v * 1024 if v in LEGAL_BUFSIZES and base + v * 1024 <= MEM_SIZE else 0
            if i == n:
                return base, size
            base += size
        raise IndexError(n)

    def _bufsizes_legal(self, tx):
        off = SN_TXBUF_SIZE if tx else SN_RXBUF_SIZE
        vals = [s.regs[off] for s in self.sockets]
        return all(v in LEGAL_BUFSIZES for v in vals) and sum(vals) <= 16

    def _fsr(self, n, s):
        _, size = self.block(n, True)
        used = (s.reg16(SN_TX_WR) - s.tx_rd) & 0xFFFF
        return size - used if used <= size else 0

    def _rsr(self, n, s):
        _, size = self.block(n, False)
        if size == 0:
            return 0
        return (s.rx_wr - s.rx_rd) & 0xFFFF

    def rx_free(self, n=0):
        """Free bytes in socket n's RX block (for test harnesses pacing injection)."""
        with self.lock:
            _, size = self.block(n, False)
            return size - self._rsr(n, self.sockets[n])

    # ---- SPI ------------------------------------------------------------------
    def begin(self):
        """SCSn falls: a new SPI frame starts (DS 2.2)."""
        with self.lock:
            if self.firmware is not None:
                self.firmware.gap()  # the bus is free: another driver may run first
            if self._clock_spi is not None:
                self._clock_spi(0, 1)
            self._cs = True
            self._phase = 0
            self._nbytes = 0
            self._catch_up(self.now())

    def end(self):
        """SCSn rises: the frame ends; a transaction is counted if bytes were clocked."""
        with self.lock:
            if self._cs and self._nbytes:
                self.stats["transactions"] += 1
                now = self.now()
                for n, s in enumerate(self.sockets):
                    if s.cmd_wait:
                        s.cmd_wait -= 1
                        if s.cmd_wait == 0:
                            s.wait_t = now
            self._cs = False
            self._catch_up(self.now())

    def transfer(self, mosi):
        """Clock len(mosi) bytes while SCSn is low; returns the MISO bytes."""
        with self.lock:
            if self._cs and self._nbytes and self.firmware is not None:
                self.firmware.inside()  # between two bursts of one frame: an interrupt may come
            miso = bytearray(len(mosi))
            if self._clock_spi is not None:
                self._clock_spi(len(mosi), 0)
            if not self._cs:
                self.stats["stray_bytes"] += len(mosi)
                return miso
            if self._rst_low:
                self.stats["bytes_in_reset"] += len(mosi)
                return miso
            self.stats["bytes"] += len(mosi)
            self._nbytes += len(mosi)
            self._catch_up(self.now())
            i = 0
            n = len(mosi)
            while i < n:
                ph = self._phase
                if ph < 3:
                    b = mosi[i]
                    if ph == 0:
                        self._addr = b << 8
                    elif ph == 1:
                        self._addr |= b
                    else:
                        self._bsb = b >> 3
                        self._rwb = (b >> 2) & 1
                        om = b & 3
                        self._left = FDM_LEN[om] if om else -1
                    self._phase = ph + 1
                    self.stats["header_bytes"] += 1
                    i += 1
                    continue
                k = n - i if self._left < 0 else min(n - i, self._left)
                self._data(mosi, i, k, miso)
                self.stats["data_bytes"] += k
                i += k
                if self._left >= 0:
                    self._left -= k
                    if self._left == 0:
                        self._phase = 0  # FDM: the next byte starts a new frame
            if self._left >= 0:
                self._int_check()  # FDM frames may never raise SCSn (DS 2.2.1)
            return miso

    def peek(self, bsb, addr, n):
        """The n bytes a read of block bsb from addr would shift out, without changing anything
        (W5500 reads have no side effects: registers are R, R/W or write-1-to-clear, DS 4.1/4.2)."""
        with self.lock:
            miso = bytearray(n)
            if self._rst_low:
                return miso
            self._catch_up(self.now())
            saved = (self._bsb, self._addr, self._rwb)
            counts = dict(self.stats)
            self._bsb, self._addr, self._rwb = bsb, addr & 0xFFFF, 0
            try:
                self._data(bytes(n), 0, n, miso)
            finally:
                self._bsb, self._addr, self._rwb = saved
                self.stats.update(counts)  # in place: callers may hold the dict
            return miso

    def _data(self, mosi, i, k, miso):
        bsb = self._bsb
        addr = self._addr
        self._addr = (addr + k) & 0xFFFF
        if bsb == 0:
            for j in range(k):
                a = (addr + j) & 0xFFFF
                if self._rwb:
                    self._write_common(a, mosi[i + j])
                else:
                    miso[i + j] = self._read_common(a)
            return
        n, kind = (bsb - 1) >> 2, (bsb - 1) & 3
        if kind == 3 or n >= NSOCK:
            self.stats["reserved_block"] += 1
            return
        s = self.sockets[n]
        if kind == 0:
            for j in range(k):
                a = (addr + j) & 0xFFFF
                if self._rwb:
                    self._write_socket(n, s, a, mosi[i + j])
                else:
                    miso[i + j] = self._read_socket(n, s, a)
            return
        tx = kind == 1
        base, size = self.block(n, tx)
        mem = self.tx_mem if tx else self.rx_mem
        if size == 0:
            self.stats["bufsize_errors"] += 1
            return
        mask = size - 1
        done = 0
        while done < k:
            off = (addr + done) & mask
            seg = min(k - done, size - off)
            if self._rwb:
                mem[base + off : base + off + seg] = mosi[i + done : i + done + seg]
            else:
                miso[i + done : i + done + seg] = mem[base + off : base + off + seg]
            done += seg

    # ---- common registers ---------------------------------------------------------
    def _read_common(self, a):
        if a >= COMMON_SIZE:
            return 0
        if a == PHYCFGR:
            v = self.common[PHYCFGR] & 0xF8
            if self._phy_up():
                v |= PHY_LNK | PHY_DPX | (PHY_SPD if self.speed == 100 else 0)
            return v
        if a == SIR:
            v = 0
            for n, s in enumerate(self.sockets):
                if s.regs[SN_IR] & s.regs[SN_IMR]:
                    v |= 1 << n
            return v
        return self.common[a]

    def _write_common(self, a, v):
        if a >= COMMON_SIZE or a in _COMMON_RO:
            return
        if a == MR:
            if v & MR_RST:
                self._soft_reset()
                return
            self.common[MR] = v & 0x3A  # bits 6, 2, 0 reserved
        elif a == IR:
            self.common[IR] &= ~v & 0xFF  # write 1 to clear
        elif a == PHYCFGR:
            self.common[PHYCFGR] = v & 0xF8  # bits 2..0 are read-only status
        else:
            self.common[a] = v

    def _soft_reset(self):
        # MR.RST: all internal registers initialised, bit self-clears (DS 4.1);
        # SPI framing state is kept (we are in the middle of a frame)
        cs, phase, nb = self._cs, self._phase, self._nbytes
        bsb, rwb, addr, left = self._bsb, self._rwb, self._addr, self._left
        self.hard_reset()
        self._cs, self._phase, self._nbytes = cs, phase, nb
        self._bsb, self._rwb, self._addr, self._left = bsb, rwb, addr, left

    # ---- socket registers ----------------------------------------------------------
    def _read_socket(self, n, s, a):
        if a >= SOCKET_SIZE:
            return 0
        if a == SN_SR:
            return s.sr
        if a in (SN_TX_FSR, SN_TX_FSR + 1):
            v = self._fsr(n, s)
        elif a in (SN_TX_RD, SN_TX_RD + 1):
            v = s.tx_rd
        elif a in (SN_RX_RSR, SN_RX_RSR + 1):
            v = self._rsr(n, s)
        elif a in (SN_RX_WR, SN_RX_WR + 1):
            v = s.rx_wr
        else:
            return s.regs[a]
        return (v >> 8) & 0xFF if a & 1 == 0 else v & 0xFF

    def _write_socket(self, n, s, a, v):
        if a >= SOCKET_SIZE or a in _SOCKET_RO:
            return
        if a == SN_CR:
            self._command(n, s, v)
        elif a == SN_IR:
            s.regs[SN_IR] &= ~v & 0xFF  # write 1 to clear
        elif a in (SN_RXBUF_SIZE, SN_TXBUF_SIZE):
            s.regs[a] = v
            if not self._bufsizes_legal(a == SN_TXBUF_SIZE):
                self.stats["bufsize_errors"] += 1
                log.debug("illegal buffer size configuration (socket %d reg 0x%02x = %d)", n, a, v)
        else:
            s.regs[a] = v

    def _command(self, n, s, cmd):
        if s.regs[SN_CR]:
            self.stats["lost_cmds"] += 1  # the previous command was not accepted yet: replaced
        if cmd == 0:
            s.regs[SN_CR] = 0
            s.cmd_wait = 0
            return
        now = self.now()
        s.regs[SN_CR] = cmd
        s.cmd_t = now
        s.wait_t = now
        s.cmd_wait = self.cmd_delay + 1 if self.cmd_delay else 0  # the frame that wrote it does not count
        if not s.cmd_wait and not self.cmd_delay_ns:
            s.regs[SN_CR] = 0
            self._accept(n, s, cmd, now)

    def _accept(self, n, s, cmd, t):
        """The chip takes command cmd of socket n at chip time t."""
        proto = s.regs[SN_MR] & 0x0F
        if cmd == CR_OPEN:
            p = self.ptr_init
            s.tx_rd = s.tx_next = s.rx_wr = s.rx_rd = p
            s.set16(SN_TX_WR, p)
            s.set16(SN_RX_RD, p)
            s.send_pending = False
            s.tx_done = []
            s.tx_busy = 0
            if proto == P_TCP:
                s.sr = SOCK_INIT
            elif proto == P_UDP:
                s.sr = SOCK_UDP
            elif proto == P_MACRAW and n == 0:
                s.sr = SOCK_MACRAW
            else:
                s.sr = SOCK_CLOSED
        elif cmd in (CR_CLOSE, CR_DISCON):
            s.sr = SOCK_CLOSED
            s.send_pending = False
            s.tx_done = []
        elif cmd in (CR_SEND, CR_SEND_MAC):
            if s.sr in (SOCK_UDP, SOCK_MACRAW):
                s.last_send = cmd
                if self._phy_up():
                    self._do_send(n, s, cmd, t)
                else:
                    s.send_pending = True
                    self.stats["tx_stalled"] += 1
        elif cmd == CR_RECV:
            _, size = self.block(n, False)
            new_rd = s.reg16(SN_RX_RD)
            if ((s.rx_wr - new_rd) & 0xFFFF) > size:
                self.stats["rx_rd_errors"] += 1  # host moved RX_RD past RX_WR
            s.rx_rd = new_rd
        else:
            self.stats["unsupported_cmds"] += 1

    def _do_send(self, n, s, cmd, t):
        # the data from the end of the last SEND up to TX_WR goes out as one frame, after the
        # frames already on the wire; TX_RD and SEND_OK follow when it is done (_catch_up)
        s.send_pending = False
        base, size = self.block(n, True)
        wr = s.reg16(SN_TX_WR)
        length = (wr - s.tx_next) & 0xFFFF
        if size == 0:
            self.stats["bufsize_errors"] += 1
            data = b""
        else:
            if length > size:
                self.stats["tx_oversize"] += 1
            mask = size - 1
            data = bytes(self.tx_mem[base + ((s.tx_next + j) & mask)] for j in range(length))
        s.tx_next = wr
        if s.sr == SOCK_MACRAW:
            frame = data
        else:
            frame = self._udp_frame(n, s, cmd, data)
        if frame is not None and len(data):
            self.stats["frames_tx"] += 1
            self.stats["bytes_tx"] += len(frame)
            self.transmit(bytes(frame))
        start = max(t, s.tx_busy)
        done = start + (self.wire_ns(len(frame)) if frame else 0)
        s.tx_busy = done
        s.tx_done.append((done, wr, IR_SEND_OK if frame is not None else IR_TIMEOUT))

    def _udp_frame(self, n, s, cmd, payload):
        dip = bytes(s.regs[SN_DIPR : SN_DIPR + 4])
        if cmd == CR_SEND_MAC:
            dmac = bytes(s.regs[SN_DHAR : SN_DHAR + 6])
        elif dip == b"\xff\xff\xff\xff":
            dmac = BROADCAST
        else:
            dmac = self.arp.get(dip)
            if dmac is None:
                # the chip would ARP and time out (Sn_IR TIMEOUT); no ARP is sent here
                self.stats["udp_arp_timeouts"] += 1
                return None
        sip = bytes(self.common[SIPR : SIPR + 4])
        udp_len = 8 + len(payload)
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, s.regs[SN_TOS], 20 + udp_len, self.ip_id, 0x4000,
                                   s.regs[SN_TTL], 17, 0, sip, dip))
        struct.pack_into("!H", ip, 10, _csum(ip))
        udp = bytearray(struct.pack("!HHHH", s.reg16(SN_PORT), s.reg16(SN_DPORT), udp_len, 0) + bytes(payload))
        c = _csum(sip + dip + struct.pack("!BBH", 0, 17, udp_len) + bytes(udp))
        struct.pack_into("!H", udp, 6, c or 0xFFFF)
        eth = dmac + bytes(self.common[SHAR : SHAR + 6]) + b"\x08\x00"
        return eth + bytes(ip) + bytes(udp)

    # ---- the wire ---------------------------------------------------------------------
    def receive_frame(self, frame):
        """A frame (no FCS) arrives from the cable; returns the socket it was stored in or -1."""
        with self.lock:
            self._catch_up(self.now())
            frame = bytes(frame)
            if not self._phy_up():
                self.stats["rx_dropped_link"] += 1
                return -1
            if len(frame) < 14 or len(frame) > MAX_FRAME:
                self.stats["rx_dropped_size"] += 1
                return -1
            if len(frame) < MIN_FRAME:
                frame = frame + bytes(MIN_FRAME - len(frame))
            self._learn(frame)
            for n, s in enumerate(self.sockets):
                if s.sr == SOCK_UDP and self._udp_match(s, frame):
                    return self._store_udp(n, s, frame)
            s = self.sockets[0]
            if s.sr == SOCK_MACRAW:
                if not self._macraw_match(s, frame):
                    self.stats["rx_dropped_filter"] += 1
                    return -1
                rec = struct.pack("!H", len(frame) + 2) + frame  # length counts itself
                stored = self._store(0, s, rec)
                self._int_check()
                return 0 if stored else -1
            self.stats["rx_dropped_filter"] += 1
            return -1

    def _learn(self, frame):
        et = frame[12:14]
        if et == b"\x08\x06" and len(frame) >= 42:  # ARP: sender IP/MAC
            self.arp[frame[28:32]] = frame[22:28]
        elif et == b"\x08\x00" and len(frame) >= 34:
            self.arp[frame[26:30]] = frame[6:12]

    def _macraw_match(self, s, frame):
        mr = s.regs[SN_MR]
        dst = frame[0:6]
        if dst == BROADCAST:
            if mr & MR_BCASTB:
                return False
        elif dst[0] & 1:
            if mr & MR_MMB or (mr & MR_MFEN and not self.mfen_multicast):
                return False
        elif mr & MR_MFEN and dst != bytes(self.common[SHAR : SHAR + 6]):
            return False
        if mr & MR_MIP6B and frame[12:14] == b"\x86\xdd":
            return False
        return True

    def _udp_match(self, s, frame):
        if frame[12:14] != b"\x08\x00" or len(frame) < 42 or frame[23] != 17:
            return False
        ihl = (frame[14] & 0x0F) * 4
        if (frame[20] & 0x3F) or frame[21]:  # fragments are not reassembled here
            return False
        dst = frame[0:6]
        if dst == BROADCAST:
            if s.regs[SN_MR] & MR_BCASTB:
                return False
        elif dst != bytes(self.common[SHAR : SHAR + 6]):
            return False
        dip = frame[30:34]
        if dip != bytes(self.common[SIPR : SIPR + 4]) and dip != b"\xff\xff\xff\xff":
            return False
        u = 14 + ihl
        return struct.unpack("!H", frame[u + 2 : u + 4])[0] == s.reg16(SN_PORT)

    def _store_udp(self, n, s, frame):
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        u = 14 + ihl
        plen = max(0, min(total - ihl, len(frame) - 14 - ihl) - 8)
        payload = frame[u + 8 : u + 8 + plen]
        rec = frame[26:30] + frame[u : u + 2] + struct.pack("!H", plen) + payload  # DS/IOLIB UDP header
        stored = self._store(n, s, rec)
        self._int_check()
        return n if stored else -1

    def _store(self, n, s, rec):
        base, size = self.block(n, False)
        if size == 0:
            self.stats["bufsize_errors"] += 1
            self.stats["rx_dropped_full"] += 1
            return False
        if size - self._rsr(n, s) < len(rec):
            self.stats["rx_dropped_full"] += 1
            return False
        mask = size - 1
        for j, b in enumerate(rec):
            self.rx_mem[base + ((s.rx_wr + j) & mask)] = b
        s.rx_wr = (s.rx_wr + len(rec)) & 0xFFFF
        s.regs[SN_IR] |= IR_RECV
        self.stats["frames_rx"] += 1
        self.stats["bytes_rx"] += len(rec)
        return True


# ---- the server: SPI link + Ethernet datagram socket ---------------------------------------

parse_address = emu_server.parse_address


class EmulatorServer(emu_server.ChipServer):
    """Serves one W5500 over an SPI link socket and an Ethernet datagram socket.

    receive(frame) hands a frame from the cable to the chip (default chip.receive_frame;
    spi_link.BatchLinkServer.deliver defers it past an open SPI transaction)."""

    thread_name = "w5500-emu"

    def __init__(self, chip, spi_addr, eth_bind=None, eth_peer=None, hello=False, receive=None):
        from . import spi_link

        self.chip = chip
        self.receive = receive or chip.receive_frame
        self._spi_link = spi_link
        super().__init__(spi_addr, eth_bind, eth_peer, hello)
        self.spi_path = self.link_path
        self.spi_address = self.link_address
        chip.transmit = self.transmit

    def new_session(self, sock):
        return self._spi_link.LinkSession(self.chip, sock)

    def frame_in(self, data):
        self.receive(data)

    def tick(self):
        self.chip.update()  # commands and sends that came due while the bus was idle

    def lost_frame(self):
        self.chip.stats["eth_tx_lost"] += 1


def build_parser():
    p = argparse.ArgumentParser(
        prog="w5500_emu",
        description=(
            "Register-level W5500 emulator. The SPI side is a local stream socket speaking the SPI-link "
            "protocol (netdump_tools.spi_link: one message per CS edge / byte burst); the Ethernet side is "
            "a local datagram socket, one datagram = one Ethernet frame without FCS. Runs until killed; "
            "prints SPI/frame statistics as JSON on stderr on SIGTERM/SIGINT."
        ),
    )
    p.add_argument("--spi", required=True, help="SPI link listen address: a unix socket PATH, or 127.0.0.1:PORT")
    p.add_argument("--eth", help="Ethernet side bind address: unix datagram PATH, or 127.0.0.1:PORT (UDP)")
    p.add_argument("--eth-peer", help="where transmitted frames go (PATH or 127.0.0.1:PORT); "
                   "default: the sender of the most recent received frame")
    p.add_argument("--eth-hello", action="store_true",
                   help="send one empty datagram to --eth-peer at start (registers with tools/vnet.py)")
    p.add_argument("--link", choices=("up", "down"), default="up", help="cable state at start (PHYCFGR.LNK)")
    p.add_argument("--ptr-init", type=lambda s: int(s, 0), default=0,
                   help="value OPEN gives the socket pointers (default 0; e.g. 0xFFF0 exercises 16-bit wrap)")
    p.add_argument("--cmd-delay", type=int, default=0,
                   help="SPI transactions before a command written to Sn_CR is accepted (default 0)")
    p.add_argument("--cmd-delay-us", type=float, default=0.0,
                   help="microseconds before a command written to Sn_CR is accepted (default 0)")
    p.add_argument("--speed", type=int, choices=(10, 100), default=100,
                   help="PHY speed in Mb/s: a SEND completes after the frame's wire time (default 100)")
    p.add_argument("--mfen-multicast", action="store_true",
                   help="let Sn_MR.MFEN pass multicast frames (default: only broadcast and our own MAC)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="w5500_emu: %(message)s")
    chip = W5500(link=args.link == "up", ptr_init=args.ptr_init, cmd_delay=args.cmd_delay,
                 cmd_delay_ns=int(args.cmd_delay_us * 1000), speed=args.speed, mfen_multicast=args.mfen_multicast)
    try:
        srv = EmulatorServer(chip, args.spi, args.eth, args.eth_peer, hello=args.eth_hello)
    except (OSError, ValueError) as e:
        log.error("cannot start: %s", e)
        return 1

    log.info("listening: spi=%s eth=%s", srv.spi_address, getattr(srv, "eth_address", None))
    return emu_server.serve_until_signal(srv, lambda: chip.stats)


if __name__ == "__main__":
    sys.exit(main())
