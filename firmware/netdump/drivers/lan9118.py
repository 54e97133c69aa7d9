# SMSC (Microchip) LAN9118 / LAN9220 as a polled frame NIC: the memory-mapped
# 10/100 MAC+PHY with TX/RX data FIFOs and status FIFOs, no DMA, no
# interrupts (its IRQ output stays disabled). QEMU models it on mps2-an385 at
# 0x40200000; docs/qemu-bed.md has the facts this driver relies on.
#
#   nic = LAN9118(base_hi, mac=None, phy=1)   arm time: checks the chip, allocates
#   nic.mac                    6-byte bytearray
#   nic.start() -> 0 / code    dump time: take the chip over (mask its IRQs, soft
#                              reset, MAC address, MAC_CR, TX on), bounded waits;
#                              nic.why = one line when code != 0
#   nic.send(buf, n) -> 1/0    buf[0:n] as one Ethernet frame (no FCS)
#   nic.poll(buf) -> n         one received frame (FCS dropped) into buf, 0 if none
#   nic.link() -> 1/0          PHY basic status register, link status bit
#   nic.wait(ms)               poll RX_FIFO_INF until a frame is there or ms pass
#   nic.stats                  counters, indexes LS_* (names: STAT_NAMES)
#   nic.idle_us                microseconds spent in wait() (for bench/bench_qemu.py; wraps
#                              at 2**29)
#   nic.multicast              1: pass every multicast frame (set at arm, before start())
#
# base_hi is the upper 16 bits of the register base (0x4020 for 0x40200000):
# the base is >= 2**30, so it never exists as a Python int; the viper helpers
# rebuild it as a native uint. Every register access on the send/poll/start
# path is viper (or Thumb code: send and poll, where the port has the inline
# assembler), and constants >= 2**30 are written uint(...) (a register value
# with bit 30 or 31 set never becomes a Python object).
#
# Datasheet: Microchip/SMSC LAN9118 "High Performance Single-Chip 10/100
# Non-PCI Ethernet Controller", revision 1.5 ("DS"); the LAN9220 has the same
# register map for everything used here (DS section 5 register map; TX path
# 3.12, RX path 3.13).
import micropython

from netdump import fast
from netdump.compat import const, ticks_add, ticks_diff, ticks_ms, ticks_us
from netdump.feed import feed

# ---- direct-address registers: word index (byte offset / 4), DS table 5.1 ----
_RX_DATA = const(0x00 >> 2)  # RX data FIFO port (0x00-0x1C alias it)
_TX_DATA = const(0x20 >> 2)  # TX data FIFO port (0x20-0x3C alias it)
_RX_STATUS = const(0x40 >> 2)  # RX status FIFO port (a read pops)
_TX_STATUS = const(0x48 >> 2)  # TX status FIFO port (a read pops)
_ID_REV = const(0x50 >> 2)  # chip ID [31:16] 0x0118 (LAN9220: 0x9220), revision [15:0]
_IRQ_CFG = const(0x54 >> 2)  # bit 8 IRQ_EN: the IRQ pin
_INT_STS = const(0x58 >> 2)  # write 1 to clear
_INT_EN = const(0x5C >> 2)
_BYTE_TEST = const(0x64 >> 2)  # reads 0x87654321 in any byte order setting
_RX_CFG = const(0x6C >> 2)  # [31:30] end alignment, [12:8] RXDOFF, bit 15 RX_DUMP
_TX_CFG = const(0x70 >> 2)  # bit 1 TX_ON, bit 2 TXSAO, bit 14 TXS_DUMP, bit 15 TXD_DUMP
_HW_CFG = const(0x74 >> 2)  # bit 0 SRST (self-clearing), bit 1 SRST_TO, [19:16] TX_FIF_SZ
_RX_FIFO_INF = const(0x7C >> 2)  # [23:16] RXSUSED status words, [15:0] RXDUSED bytes
_TX_FIFO_INF = const(0x80 >> 2)  # [23:16] TXSUSED status words, [15:0] TDFREE bytes
_PMT_CTRL = const(0x84 >> 2)  # bit 0 READY: the chip may be accessed
_MAC_CSR_CMD = const(0xA4 >> 2)  # bit 31 busy, bit 30 read, [7:0] MAC CSR index
_MAC_CSR_DATA = const(0xA8 >> 2)

# ---- MAC CSRs, reached through MAC_CSR_CMD/DATA (DS 5.4) ----
_MAC_CR = const(1)
_ADDRH = const(2)  # MAC bytes 4..5 in [15:0]
_ADDRL = const(3)  # MAC bytes 0..3, byte 0 in [7:0]
_MII_ACC = const(6)  # [15:11] PHY address, [10:6] register, bit 1 write, bit 0 busy
_MII_DATA = const(7)

# MAC_CR bits (DS 5.4.1): receiver and transmitter on, full duplex; broadcast
# stays accepted (BCAST = 0), promiscuous off; all multicast passes (MCPAS)
# when the endpoint asks for it (nic.multicast: IPv6 neighbour discovery uses
# solicited-node groups).
_MAC_CR_RUN = const(0x00100000 | 0x8 | 0x4)  # FDPX | TXEN | RXEN
_MAC_CR_MCPAS = const(0x00080000)

# PHY registers (DS 5.5, IEEE 802.3 clause 22): 0 basic control, 1 basic status
_PHY_BCR = const(0)
_PHY_BSR = const(1)
_BCR_ANEG = const(0x1000 | 0x0200)  # auto-negotiation enable + restart
_BSR_LINK = const(0x0004)

_HW_CFG_INIT = const(0x00100000 | (5 << 16))  # bit 20 must be one; 5 KiB TX data FIFO (the default)
_TX_CFG_ON = const(0x2 | 0x4)  # TX_ON | TXSAO: status FIFO may overrun (send() drains it anyway)
_CMD_A_FS_LS = const(0x3000)  # TX command 'A' (DS 3.12): first + last segment, one buffer per frame

# ---- bounds (loop counts, all small) ----
_CSR_SPINS = const(1000)  # MAC CSR busy polls (a CSR access takes under 1 us, DS 5.3 MAC_CSR_CMD)
_RESET_MS = const(100)  # soft reset and READY (DS 6: the chip is ready well within this)
_LINK_MS = const(3000)  # auto-negotiation completes in about 1.5 s (IEEE 802.3 clause 28)
_TX_ROOM_MS = const(20)  # wait for TX FIFO room: a full 5 KiB FIFO drains in 0.4 ms at 100 Mb/s
_MAX_FRAME = const(1518)  # a frame without FCS, VLAN tag included
_MIN_RX = const(18)  # 14-byte header + 4-byte FCS
_TX_STATUS_MAX = const(64)  # TX status words drained per send()

# error codes of start() (nic.why says more)
ERR_NO_CHIP = const(1)
ERR_RESET = const(2)
ERR_LINK = const(3)
ERR_CSR = const(4)

# ---- counters: indexes into LAN9118.stats ----
LS_TX = const(0)  # frames written to the TX FIFO
LS_TX_FULL = const(1)  # send() refused: a bad length, or no FIFO room in time
LS_TX_ERR = const(2)  # TX status words with the error bit (15)
LS_RX = const(3)  # frames returned by poll()
LS_RX_ERR = const(4)  # dropped: RX status error bit (15), runt, or too big for the buffer
LS_STARTS = const(5)
_NSTATS = const(6)
STAT_NAMES = ("tx", "tx_full", "tx_err", "rx", "rx_err", "starts")

_WHY_CHIP = "lan9118: no chip at the base address (BYTE_TEST)"
_WHY_RESET = "lan9118: soft reset did not complete"
_WHY_LINK = "lan9118: link down"
_WHY_CSR = "lan9118: MAC CSR access timed out"


# ---- register access (viper). hi = base >> 16; every helper returns a small int. ----

@micropython.viper
def _rd16(hi: uint, reg: int, shift: int) -> int:
    """16 bits of a direct register: (value >> shift) & 0xFFFF."""
    r = ptr32(hi << 16)
    return int((uint(r[reg]) >> uint(shift)) & uint(0xFFFF))


@micropython.viper
def _wr(hi: uint, reg: int, val: int):
    r = ptr32(hi << 16)
    r[reg] = val


@micropython.viper
def _byte_test(hi: uint) -> int:
    """1 if BYTE_TEST reads 0x87654321 (DS 5.3 BYTE_TEST)."""
    r = ptr32(hi << 16)
    return 1 if uint(r[_BYTE_TEST]) == uint(0x87654321) else 0


@micropython.viper
def _csr_read16(hi: uint, csr: int, shift: int) -> int:
    """16 bits of a MAC CSR ((value >> shift) & 0xFFFF), or -1 if the CSR stays busy."""
    r = ptr32(hi << 16)
    r[_MAC_CSR_CMD] = uint(0xC0000000) | uint(csr)  # busy | read (DS 5.3 MAC_CSR_CMD)
    n = int(r[_BYTE_TEST])  # a write-to-read pause (see _csr_write)
    n = 0
    while n < _CSR_SPINS:
        if (uint(r[_MAC_CSR_CMD]) & uint(0x80000000)) == uint(0):
            return int((uint(r[_MAC_CSR_DATA]) >> uint(shift)) & uint(0xFFFF))
        n += 1
    return -1


@micropython.viper
def _csr_write(hi: uint, csr: int, lo16: int, hi16: int) -> int:
    """Write (hi16 << 16) | lo16 to a MAC CSR -> 1, or 0 if it stays busy."""
    r = ptr32(hi << 16)
    r[_MAC_CSR_DATA] = (uint(hi16) << 16) | uint(lo16)
    r[_MAC_CSR_CMD] = uint(0x80000000) | uint(csr)  # busy, write
    # a register read right after a write may see the old state: one BYTE_TEST
    # read covers the 45 ns the chip needs (SMSC AN 12.12, LAN9118 family
    # programmer reference, CSR write-to-read timing)
    n = int(r[_BYTE_TEST])
    n = 0
    while n < _CSR_SPINS:
        if (uint(r[_MAC_CSR_CMD]) & uint(0x80000000)) == uint(0):
            return 1
        n += 1
    return 0


@micropython.viper
def _set_mac(hi: uint, mac) -> int:
    """ADDRL/ADDRH from 6 bytes (DS 5.4.2-5.4.3: byte 0 in ADDRL[7:0]) -> 1, or 0 on a CSR timeout."""
    r = ptr32(hi << 16)
    m = ptr8(mac)
    r[_MAC_CSR_DATA] = uint(m[0]) | (uint(m[1]) << 8) | (uint(m[2]) << 16) | (uint(m[3]) << 24)
    r[_MAC_CSR_CMD] = uint(0x80000000) | uint(_ADDRL)
    n = int(r[_BYTE_TEST])  # write-to-read pause (see _csr_write)
    n = 0
    while n < _CSR_SPINS and (uint(r[_MAC_CSR_CMD]) & uint(0x80000000)) != uint(0):
        n += 1
    if n >= _CSR_SPINS:
        return 0
    r[_MAC_CSR_DATA] = uint(m[4]) | (uint(m[5]) << 8)
    r[_MAC_CSR_CMD] = uint(0x80000000) | uint(_ADDRH)
    n = int(r[_BYTE_TEST])
    n = 0
    while n < _CSR_SPINS and (uint(r[_MAC_CSR_CMD]) & uint(0x80000000)) != uint(0):
        n += 1
    return 1 if n < _CSR_SPINS else 0


@micropython.viper
def _tx_start(hi: uint, buf, n: int, tag: int) -> int:
    """send() in one call: pop the TX status FIFO (DS 3.12.3), and when TDFREE has room
    for the frame, its two command words (DS 3.12.1-3.12.2) -> (words with the error
    bit 15) << 16 | the number of data words that follow (0: no room yet). The words
    are read from the 4-byte aligned address at or below buf; the Data Start Offset
    in command 'A' tells the chip to skip the bytes before buf (up to 3, inside the
    same word), and the last word's extra bytes are beyond Buffer Size and not sent."""
    r = ptr32(hi << 16)
    errs = 0
    k = 0
    while k < _TX_STATUS_MAX and ((uint(r[_TX_FIFO_INF]) >> 16) & uint(0xFF)) != uint(0):
        if (uint(r[_TX_STATUS]) & uint(0x8000)) != uint(0):
            errs += 1
        k += 1
    # two command words + a word of alignment slack (DS 3.12.5)
    if int(uint(r[_TX_FIFO_INF]) & uint(0xFFFF)) < n + 12:
        return errs << 16
    off = uint(ptr8(buf)) & uint(3)
    r[_TX_DATA] = (off << 16) | uint(_CMD_A_FS_LS) | uint(n)  # command 'A'
    r[_TX_DATA] = (uint(tag) << 16) | uint(n)  # command 'B': packet tag, packet length
    return (errs << 16) | ((int(off) + n + 3) >> 2)


@micropython.viper
def _tx_words(hi: uint, buf, words: int):
    """The data words of a frame _tx_start began."""
    r = ptr32(hi << 16)
    p = ptr32(uint(ptr8(buf)) & uint(0xFFFFFFFC))
    i = 0
    while i + 4 <= words:
        r[_TX_DATA] = p[i]
        r[_TX_DATA] = p[i + 1]
        r[_TX_DATA] = p[i + 2]
        r[_TX_DATA] = p[i + 3]
        i += 4
    while i < words:
        r[_TX_DATA] = p[i]
        i += 1


@micropython.viper
def _rx_frame(hi: uint, buf, cap: int) -> int:
    """Pop one frame (DS 3.13): its length without FCS when it fit buf (cap
    bytes) and had no error, -1 when it was dropped, 0 when none is queued.
    RX_CFG is 0: no data offset, 4-byte end alignment, so the frame is
    ceil(length / 4) words, FCS included."""
    r = ptr32(hi << 16)
    if ((uint(r[_RX_FIFO_INF]) >> 16) & uint(0xFF)) == uint(0):
        return 0
    st = uint(r[_RX_STATUS])
    plen = int((st >> 16) & uint(0x3FFF))  # packet length, FCS included (DS 3.13.3)
    words = (plen + 3) >> 2
    n = plen - 4
    ok = 1
    if (st & uint(0x8000)) != uint(0) or plen < _MIN_RX or n > cap:  # error status, runt, too big
        ok = 0
        n = 0
    p = ptr8(buf)
    i = 0  # bytes stored
    k = 0  # words read
    if ok and int(uint(ptr8(buf)) & uint(3)) == 0:
        q = ptr32(buf)
        while i + 4 <= n:
            q[k] = r[_RX_DATA]
            k += 1
            i += 4
    while k < words:
        w = uint(r[_RX_DATA])
        j = 0
        while j < 4 and i < n:
            p[i] = w
            w >>= 8
            i += 1
            j += 1
        k += 1
    return n if ok else -1


@micropython.viper
def _rx_pending(hi: uint) -> int:
    r = ptr32(hi << 16)
    return int((uint(r[_RX_FIFO_INF]) >> 16) & uint(0xFF))


# send() and poll() in Thumb code where the port has the inline assembler (the
# QEMU bed's firmware): one call per frame instead of a viper call or two and
# Python arithmetic around them (bench/bench_qemu.py: about 2000 Thumb
# instructions less per frame sent). Compiled at import by exec() like
# fast_thumb's code (whose comment says why; the text carries no comments);
# elsewhere _tx_thumb and _rx_thumb stay None and the viper helpers above do
# the same. Both take r0 = base_hi (the register base >> 16, shifted back) and
# the stats list in r3, whose items are small ints (value << 1 | 1): adding 2
# counts one. Immediate offsets: TX_DATA 0x20, RX_DATA 0x00, RX_STATUS 0x40,
# RX_FIFO_INF 0x7C from r0; TX_STATUS 0x48 and TX_FIFO_INF 0x80 from r6 = r0 + 0x40.
#   _tx_thumb(hi, frame, n, stats) -> 1 sent, 0 no TX FIFO room yet (nothing
#     written): as _tx_start + _tx_words, the tag from LS_TX, counting LS_TX and
#     LS_TX_ERR. pop: up to 64 TX status words; room: TDFREE >= n + 12; go:
#     commands 'A' (data start offset buf & 3) and 'B', then the words from
#     buf & ~3, four a turn (w4) and one (w1).
#   _rx_thumb(hi, buf, len(buf), stats) -> as _rx_frame, counting LS_RX. got:
#     r5 the length without FCS, r6 the frame's words, r4 the whole words below
#     r5 stored by 4-byte (w32), 2-byte (w16) or 1-byte stores (w8) as buf is
#     aligned; tail: the last 1-3 bytes; rest: the FCS word(s) read and
#     dropped; drop: an error, runt or too-long frame read and dropped (-1).
_tx_thumb = None
_rx_thumb = None
_ASM = """
@micropython.asm_thumb
def _tx_thumb(r0, r1, r2, r3):
 lsl(r0,r0,16)
 mov(r6,r0)
 add(r6,0x40)
 mov(r4,64)
 label(pop)
 ldr(r5,[r6,0x40])
 lsl(r5,r5,8)
 lsr(r5,r5,24)
 beq(room)
 ldr(r5,[r6,8])
 lsl(r5,r5,16)
 bpl(next)
 ldr(r7,[r3,8])
 add(r7,2)
 str(r7,[r3,8])
 label(next)
 sub(r4,1)
 bne(pop)
 label(room)
 ldr(r5,[r6,0x40])
 lsl(r5,r5,16)
 lsr(r5,r5,16)
 mov(r4,r2)
 add(r4,12)
 cmp(r5,r4)
 bge(go)
 mov(r0,0)
 b(end)
 label(go)
 mov(r4,3)
 and_(r4,r1)
 lsl(r5,r4,16)
 mov(r7,0x30)
 lsl(r7,r7,8)
 orr(r5,r7)
 orr(r5,r2)
 str(r5,[r0,0x20])
 ldr(r5,[r3,0])
 lsl(r5,r5,15)
 lsr(r5,r5,16)
 lsl(r5,r5,16)
 orr(r5,r2)
 str(r5,[r0,0x20])
 add(r4,r4,r2)
 add(r4,3)
 lsr(r4,r4,2)
 mov(r5,3)
 bic(r1,r5)
 sub(r4,4)
 blt(rest)
 label(w4)
 ldr(r5,[r1,0])
 str(r5,[r0,0x20])
 ldr(r5,[r1,4])
 str(r5,[r0,0x20])
 ldr(r5,[r1,8])
 str(r5,[r0,0x20])
 ldr(r5,[r1,12])
 str(r5,[r0,0x20])
 add(r1,16)
 sub(r4,4)
 bge(w4)
 label(rest)
 add(r4,4)
 beq(done)
 label(w1)
 ldr(r5,[r1,0])
 str(r5,[r0,0x20])
 add(r1,4)
 sub(r4,1)
 bne(w1)
 label(done)
 ldr(r5,[r3,0])
 add(r5,2)
 str(r5,[r3,0])
 mov(r0,1)
 label(end)
@micropython.asm_thumb
def _rx_thumb(r0, r1, r2, r3):
 lsl(r0,r0,16)
 ldr(r4,[r0,0x7C])
 lsl(r4,r4,8)
 lsr(r4,r4,24)
 bne(got)
 mov(r0,0)
 b(end)
 label(got)
 ldr(r4,[r0,0x40])
 lsl(r5,r4,2)
 lsr(r5,r5,18)
 mov(r6,r5)
 add(r6,3)
 lsr(r6,r6,2)
 sub(r5,4)
 lsl(r4,r4,16)
 bmi(drop)
 cmp(r5,14)
 blt(drop)
 cmp(r5,r2)
 bgt(drop)
 lsr(r4,r5,2)
 sub(r6,r6,r4)
 mov(r2,3)
 and_(r2,r1)
 beq(w32)
 cmp(r2,2)
 beq(w16)
 label(w8)
 ldr(r2,[r0,0])
 strb(r2,[r1,0])
 lsr(r2,r2,8)
 strb(r2,[r1,1])
 lsr(r2,r2,8)
 strb(r2,[r1,2])
 lsr(r2,r2,8)
 strb(r2,[r1,3])
 add(r1,4)
 sub(r4,1)
 bne(w8)
 b(tail)
 label(w16)
 ldr(r2,[r0,0])
 strh(r2,[r1,0])
 lsr(r2,r2,16)
 strh(r2,[r1,2])
 add(r1,4)
 sub(r4,1)
 bne(w16)
 b(tail)
 label(w32)
 ldr(r2,[r0,0])
 str(r2,[r1,0])
 add(r1,4)
 sub(r4,1)
 bne(w32)
 label(tail)
 mov(r4,3)
 and_(r4,r5)
 beq(rest)
 ldr(r2,[r0,0])
 sub(r6,1)
 label(tb)
 strb(r2,[r1,0])
 lsr(r2,r2,8)
 add(r1,1)
 sub(r4,1)
 bne(tb)
 label(rest)
 cmp(r6,0)
 beq(count)
 label(rd)
 ldr(r2,[r0,0])
 sub(r6,1)
 bne(rd)
 label(count)
 ldr(r2,[r3,12])
 add(r2,2)
 str(r2,[r3,12])
 mov(r0,r5)
 b(end)
 label(drop)
 cmp(r6,0)
 beq(dropped)
 label(skip)
 ldr(r7,[r0,0])
 sub(r6,1)
 bne(skip)
 label(dropped)
 mov(r0,0)
 sub(r0,1)
 label(end)
"""
if fast.THUMB:
    exec(_ASM)


class LAN9118:
    """Polled LAN9118/LAN9220 frame NIC (see the module comment)."""

    def __init__(self, base_hi, mac=None, phy=1, link_ms=_LINK_MS):  # arm-time
        if not 0 < base_hi < 0x10000:
            raise ValueError("base_hi is the upper 16 bits of the register base")
        self._hi = base_hi
        self._phy = phy
        self._link_ms = link_ms
        if not _byte_test(base_hi):
            raise OSError(19, _WHY_CHIP)  # ENODEV
        self.chip_id = _rd16(base_hi, _ID_REV, 16)
        self.mac = bytearray(6)
        if mac is None:  # the address the chip holds (from its EEPROM, or QEMU's -nic mac=)
            lo = _csr_read16(base_hi, _ADDRL, 0)
            mid = _csr_read16(base_hi, _ADDRL, 16)
            top = _csr_read16(base_hi, _ADDRH, 0)
            if lo < 0 or mid < 0 or top < 0:
                raise OSError(110, _WHY_CSR)  # ETIMEDOUT
            mac = bytes([lo & 0xFF, lo >> 8, mid & 0xFF, mid >> 8, top & 0xFF, top >> 8])
        if len(mac) != 6:
            raise ValueError("mac must be 6 bytes")
        self.mac[:] = mac
        self.why = ""
        self.multicast = 0  # set to 1 by an endpoint that needs multicast frames (docs/frame-nic.md)
        self.stats = [0] * _NSTATS
        self.idle_us = 0
        self._thumb = _tx_thumb is not None  # send/poll in Thumb code

    # ---- dump time: nothing below allocates ----

    def start(self):
        """Take the chip over and (re)initialise it -> 0, or ERR_* with self.why set."""
        hi = self._hi
        self.stats[LS_STARTS] += 1
        if not _byte_test(hi):
            self.why = _WHY_CHIP
            return ERR_NO_CHIP
        # mask first: no interrupt may reach the firmware's handlers while we own it
        _wr(hi, _IRQ_CFG, 0)
        _wr(hi, _INT_EN, 0)
        _wr(hi, _HW_CFG, 1)  # SRST (DS 5.3 HW_CFG)
        end = ticks_add(ticks_ms(), _RESET_MS)
        while _rd16(hi, _HW_CFG, 0) & 1 or not _rd16(hi, _PMT_CTRL, 0) & 1:
            if ticks_diff(end, ticks_ms()) <= 0:
                self.why = _WHY_RESET
                return ERR_RESET
        if _rd16(hi, _HW_CFG, 0) & 2:  # SRST_TO: the reset timed out inside the chip
            self.why = _WHY_RESET
            return ERR_RESET
        _wr(hi, _IRQ_CFG, 0)
        _wr(hi, _INT_EN, 0)
        _wr(hi, _INT_STS, 0xFFFFFFF)  # clear what is pending (bits 31..28 are not used here)
        _wr(hi, _HW_CFG, _HW_CFG_INIT)
        _wr(hi, _RX_CFG, 0)
        cr_hi = (_MAC_CR_RUN | _MAC_CR_MCPAS) >> 16 if self.multicast else _MAC_CR_RUN >> 16
        if not _set_mac(hi, self.mac) or not _csr_write(hi, _MAC_CR, _MAC_CR_RUN & 0xFFFF, cr_hi):
            self.why = _WHY_CSR
            return ERR_CSR
        _wr(hi, _TX_CFG, _TX_CFG_ON)
        # the PHY keeps its link across a MAC soft reset; make sure it negotiates
        bcr = self._mii_read(_PHY_BCR)
        if bcr < 0:
            self.why = _WHY_CSR
            return ERR_CSR
        if not bcr & 0x1000:
            if not self._mii_write(_PHY_BCR, _BCR_ANEG):
                self.why = _WHY_CSR
                return ERR_CSR
        end = ticks_add(ticks_ms(), self._link_ms)
        while not self.link():
            if ticks_diff(end, ticks_ms()) <= 0:
                self.why = _WHY_LINK
                return ERR_LINK
            feed()  # auto-negotiation takes seconds: longer than a short hardware watchdog
        self.why = ""
        return 0

    def send(self, buf, n):
        """Write buf[0:n] as one frame into the TX FIFO -> 1, or 0 if it did not fit in time."""
        st = self.stats
        if n < 14 or n > _MAX_FRAME:
            st[LS_TX_FULL] += 1
            return 0
        if self._thumb and _tx_thumb(self._hi, buf, n, st):
            return 1  # sent in one call; else no room yet: the wait below
        hi = self._hi
        # the packet tag (DS 3.12.2, command 'B'): the frame's number, as the count of those sent
        v = _tx_start(hi, buf, n, st[LS_TX] & 0xFFFF)  # status popped, room checked, commands written
        if v & 0xFFFF == 0:
            end = ticks_add(ticks_ms(), _TX_ROOM_MS)
            while v & 0xFFFF == 0:
                if v >> 16:
                    st[LS_TX_ERR] += v >> 16
                if ticks_diff(end, ticks_ms()) <= 0:
                    st[LS_TX_FULL] += 1
                    return 0
                v = _tx_start(hi, buf, n, st[LS_TX] & 0xFFFF)
        if v >> 16:
            st[LS_TX_ERR] += v >> 16
        _tx_words(hi, buf, v & 0xFFFF)
        st[LS_TX] += 1
        return 1

    def poll(self, buf):
        """One received frame into buf -> its length (no FCS), or 0 if none is queued."""
        if self._thumb:
            n = _rx_thumb(self._hi, buf, len(buf), self.stats)  # counted there
            if n >= 0:
                return n
        else:
            n = _rx_frame(self._hi, buf, len(buf))
        if n > 0:
            self.stats[LS_RX] += 1
            return n
        k = 0
        while n < 0:  # frames dropped for errors do not end the poll (bounded)
            self.stats[LS_RX_ERR] += 1
            k += 1
            if k >= 8:
                return 0
            n = _rx_frame(self._hi, buf, len(buf))
            if n > 0:
                self.stats[LS_RX] += 1
        return n

    def wait(self, ms):
        """Poll until a frame is queued or ms milliseconds pass (time counted in idle_us)."""
        t0 = ticks_us()
        hi = self._hi
        end = ticks_add(ticks_ms(), ms)
        while not _rx_pending(hi) and ticks_diff(end, ticks_ms()) > 0:
            pass
        v = self.idle_us
        if v >= 0x20000000:  # wrap before adding: the sum must never reach 2**30 (a long int)
            v -= 0x20000000
        self.idle_us = v + ticks_diff(ticks_us(), t0)

    def link(self):
        """1 if the PHY reports link up (basic status register bit 2), else 0."""
        v = self._mii_read(_PHY_BSR)
        if v >= 0 and not v & _BSR_LINK:
            # the bit latches low after a link failure until read (IEEE 802.3
            # 22.2.4.2.13): the second read is the state now
            v = self._mii_read(_PHY_BSR)
        return 1 if v > 0 and v & _BSR_LINK else 0

    # ---- PHY over the MAC's MII management registers (DS 5.4.6-5.4.7) ----

    def _mii_read(self, reg):
        hi = self._hi
        if not _csr_write(hi, _MII_ACC, (self._phy << 11) | (reg << 6) | 1, 0):
            return -1
        n = 0
        while n < _CSR_SPINS:
            v = _csr_read16(hi, _MII_ACC, 0)
            if v < 0:
                return -1
            if not v & 1:
                return _csr_read16(hi, _MII_DATA, 0)
            n += 1
        return -1

    def _mii_write(self, reg, val):
        hi = self._hi
        if not _csr_write(hi, _MII_DATA, val, 0):
            return 0
        if not _csr_write(hi, _MII_ACC, (self._phy << 11) | (reg << 6) | 3, 0):
            return 0
        n = 0
        while n < _CSR_SPINS:
            v = _csr_read16(hi, _MII_ACC, 0)
            if v < 0:
                return 0
            if not v & 1:
                return 1
            n += 1
        return 0
