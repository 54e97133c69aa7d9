# WIZnet W5500 as a polled frame NIC (docs/frame-nic.md): socket 0 in MACRAW
# with all 16 KiB of TX and RX memory, driven over machine.SPI + a CS pin.
#
#   nic = W5500(spi, cs, reset=None, mac=None)   allocates everything, then init()
#   nic.mac                    6 bytes
#   nic.send(buf, n) -> 1/0    first n bytes of buf as one Ethernet frame (no FCS)
#   nic.poll(buf) -> n         one received frame copied into buf, 0 if none
#   nic.link() -> 1/0          PHYCFGR.LNK
#
# send/poll/link do not allocate and keep every int below 2**30; init() may
# raise OSError(code, message) with one clear line (no chip, no link, ...).
#
# Facts: WIZnet W5500 datasheet v1.0.9 ("DS"), summarised with the other sources
# in docs/w5500.md. SPI cost per frame (VDM, DS 2.2):
#   send: 1 status read (9 B) + data (3 + n rounded up to 32) + TX_WR (5) + SEND (4)
#   poll: 1 status read (9 B); with a frame: + data (3 + 64, or 2 reads for
#         frames over 62 bytes) + RX_RD (5) + RECV (4)
from netdump import fast
from netdump.compat import const, ticks_diff, ticks_ms

try:
    from time import sleep_ms
except ImportError:  # CPython
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)


# ---- common register block, BSB 0 (DS 4.1) ----
_MR = const(0x0000)  # mode; bit7 RST self-clearing soft reset
_SHAR = const(0x0009)  # source MAC, 6 bytes
_IMR = const(0x0016)  # interrupt mask
_SIMR = const(0x0018)  # socket interrupt mask
_PHYCFGR = const(0x002E)  # bit0 LNK (1 = link up)
_VERSIONR = const(0x0039)  # reads 0x04
_MR_RST = const(0x80)
_VERSION = const(0x04)
_PHY_LNK = const(0x01)

# ---- socket register block (DS 4.2) ----
_SN_MR = const(0x0000)
_SN_CR = const(0x0001)
_SN_IR = const(0x0002)
_SN_SR = const(0x0003)
_SN_RXBUF_SIZE = const(0x001E)  # KiB; followed by Sn_TXBUF_SIZE at 0x1F
_SN_TX_FSR = const(0x0020)  # FSR, TX_RD, TX_WR: 6 contiguous bytes
_SN_TX_WR = const(0x0024)
_SN_RX_RSR = const(0x0026)  # RSR, RX_RD, RX_WR: 6 contiguous bytes
_SN_RX_RD = const(0x0028)
_SN_IMR = const(0x002C)
_MR_MACRAW = const(0x04)  # Sn_MR P[3:0] = 0100, socket 0 only
_MR_MFEN = const(0x80)  # MACRAW MAC filter: own MAC, broadcast, multicast
_CR_OPEN = const(0x01)
_CR_CLOSE = const(0x10)
_CR_SEND = const(0x20)
_CR_RECV = const(0x40)
_SOCK_CLOSED = const(0x00)
_SOCK_MACRAW = const(0x42)

# ---- SPI control byte: BSB[4:0] << 3 | RWB << 2 | OM (VDM = 00) (DS 2.2.2) ----
_CTL_COMMON_R = const(0x00)
_CTL_COMMON_W = const(0x04)
_CTL_S0_R = const(0x08)  # socket 0 registers (BSB 00001)
_CTL_S0_W = const(0x0C)
_CTL_S0_TX_W = const(0x14)  # socket 0 TX buffer (BSB 00010)
_CTL_S0_RX_R = const(0x18)  # socket 0 RX buffer (BSB 00011)

_MEM = const(16384)  # all TX (and all RX) memory for socket 0 (DS 3.3)
_MAX_FRAME = const(1514)  # no FCS; what MACRAW stores and sends (docs/w5500.md#macraw-framing)
_MIN_FRAME = const(14)
_GRAN = const(32)  # TX burst rounding: bytes past n land in free TX memory, unsent
_RX_FIRST = const(64)  # first RX read: 2-byte length + a minimum 60-byte frame + 2
_RX_GRAN = const(64)

# error codes for OSError (Linux errno numbers)
ENODEV = const(19)
ETIMEDOUT = const(110)
ENETDOWN = const(100)
EIO = const(5)

_DEFAULT_MAC = b"\x02\x00\x00\x55\x00\x01"  # locally administered (IEEE 802 bit 1)


class W5500:
    """W5500 MACRAW frame NIC on socket 0 (send/poll allocation-free after init)."""

    def __init__(self, spi, cs, reset=None, mac=None, nic=None, init=True,
                 link_timeout_ms=5000, reset_timeout_ms=300, tx_timeout_ms=20, mfen=True):
        self.spi = spi
        self.cs = cs
        self.reset_pin = reset
        self.nic = nic  # a network.WIZNET5K that was using the chip: deactivated by init()
        self.link_timeout_ms = link_timeout_ms
        self.reset_timeout_ms = reset_timeout_ms
        self.tx_timeout_ms = tx_timeout_ms
        self.mfen = mfen
        self.want_mac = mac
        self.mac = bytearray(6)
        self.version = 0  # VERSIONR as last read by init()
        self.tx_timeouts = 0
        self.rx_errors = 0
        # one command buffer shared by every register access: 3-byte header + data
        self._cmd = bytearray(11)
        self._rsp = bytearray(11)
        c = memoryview(self._cmd)
        r = memoryview(self._rsp)
        self._h3 = c[0:3]
        # index n: header + n data bytes (n = 1, 2, 6)
        self._co = [None, c[0:4], c[0:5], None, None, None, c[0:9]]
        self._ro = [None, r[0:4], r[0:5], None, None, None, r[0:9]]
        # TX staging: header + frame, views rounded up to _GRAN
        self._tx = bytearray(3 + _GRAN * ((_MAX_FRAME + _GRAN - 1) // _GRAN))
        t = memoryview(self._tx)
        self._txv = [t[0 : 3 + _GRAN * k] for k in range((_MAX_FRAME + _GRAN - 1) // _GRAN + 1)]
        # RX staging: 2-byte length + frame; first read _RX_FIRST, rest in _RX_GRAN steps
        nrest = (_MAX_FRAME + 2 - _RX_FIRST + _RX_GRAN - 1) // _RX_GRAN
        self._rx = bytearray(_RX_FIRST + _RX_GRAN * nrest)
        x = memoryview(self._rx)
        self._rx0 = x[0:_RX_FIRST]
        self._rxv = [x[_RX_FIRST : _RX_FIRST + _RX_GRAN * k] for k in range(nrest + 1)]
        # cached bound methods (creating one allocates; calling a cached one does not)
        self._wr = spi.write
        self._rd = spi.readinto
        self._xfer = spi.write_readinto
        self._csv = cs.value
        self._copy = fast.copy
        # errors init() can raise, made now so raising them does not need the heap
        self._e_nochip = OSError(ENODEV, "W5500 not found: VERSIONR is not 0x04 (check SPI wiring, CS, power)")
        self._e_reset = OSError(ETIMEDOUT, "W5500 reset did not complete (MR.RST stuck)")
        self._e_spi = OSError(EIO, "W5500 register readback failed (SPI data corrupt?)")
        self._e_open = OSError(ETIMEDOUT, "W5500 socket 0 did not open in MACRAW mode")
        self._e_link = OSError(ENETDOWN, "W5500 no link: Ethernet cable unplugged or PHY down")
        self._csv(1)
        if init:
            self.init()

    # ---- register access (allocation-free) ----
    def _read(self, ctl, addr, n):
        # one SPI transaction: header + n dummy bytes; the data lands in _rsp[3:3+n]
        c = self._cmd
        c[0] = addr >> 8
        c[1] = addr & 0xFF
        c[2] = ctl
        self._csv(0)
        self._xfer(self._co[n], self._ro[n])
        self._csv(1)

    def _write(self, ctl, addr, n):
        # one SPI transaction: header + the n bytes already in _cmd[3:3+n]
        c = self._cmd
        c[0] = addr >> 8
        c[1] = addr & 0xFF
        c[2] = ctl
        self._csv(0)
        self._wr(self._co[n])
        self._csv(1)

    def _read1(self, ctl, addr):
        self._read(ctl, addr, 1)
        return self._rsp[3]

    def _write1(self, ctl, addr, v):
        self._cmd[3] = v
        self._write(ctl, addr, 1)

    def _write2(self, ctl, addr, v):
        self._cmd[3] = v >> 8
        self._cmd[4] = v & 0xFF
        self._write(ctl, addr, 2)

    def _command(self, cmd):
        # Sn_CR: written, then read back 0 once accepted (DS 4.2 Sn_CR)
        self._write1(_CTL_S0_W, _SN_CR, cmd)
        t0 = ticks_ms()
        while self._read1(_CTL_S0_R, _SN_CR):
            if ticks_diff(ticks_ms(), t0) > 100:
                return 0
        return 1

    # ---- arm time ----
    def init(self):
        """Take over the chip: reset, check VERSIONR, MAC, 16 KiB to socket 0, MACRAW open, link up."""
        self._csv(1)  # end any SPI frame another driver left open
        if self.nic is not None:
            # MicroPython's WIZNET5K polls socket 0 from its lwIP timer/INTn IRQ:
            # stop it before the chip is reset under it (MPY extmod/network_wiznet5k.c)
            try:
                self.nic.active(False)
            except Exception:
                pass
        # keep the MAC the board already used (set by WIZNET5K or a previous init)
        m = self.mac
        self._read(_CTL_COMMON_R, _SHAR, 6)
        blank = 1
        i = 0
        while i < 6:
            m[i] = self._rsp[3 + i]
            if m[i] not in (0x00, 0xFF):
                blank = 0
            i += 1
        self._reset()
        i = 0
        while i < 6:
            if self.want_mac is not None:
                m[i] = self.want_mac[i]
            elif blank:
                m[i] = _DEFAULT_MAC[i]
            i += 1
        i = 0
        while i < 6:
            self._cmd[3 + i] = m[i]
            i += 1
        self._write(_CTL_COMMON_W, _SHAR, 6)
        self._read(_CTL_COMMON_R, _SHAR, 6)
        i = 0
        while i < 6:
            if self._rsp[3 + i] != m[i]:
                raise self._e_spi
            i += 1
        # no interrupts: nothing may pull INTn and wake another driver (DS 4.1 IMR/SIMR)
        self._write1(_CTL_COMMON_W, _IMR, 0)
        self._write1(_CTL_COMMON_W, _SIMR, 0)
        # all memory to socket 0: sockets 1..7 first to 0 KiB, so the sum never passes 16 (DS 3.3)
        s = 1
        while s < 8:
            self._cmd[3] = 0
            self._cmd[4] = 0
            self._write(0x0C + 0x20 * s, _SN_RXBUF_SIZE, 2)  # socket s register block, write
            s += 1
        self._cmd[3] = 16
        self._cmd[4] = 16
        self._write(_CTL_S0_W, _SN_RXBUF_SIZE, 2)
        self._write1(_CTL_S0_W, _SN_IMR, 0)
        if not self._open():
            raise self._e_open
        t0 = ticks_ms()
        while not self.link():
            if ticks_diff(ticks_ms(), t0) > self.link_timeout_ms:
                raise self._e_link
            sleep_ms(5)

    def _reset(self):
        if self.reset_pin is not None:
            # RSTn low >= 1 ms then poll VERSIONR (docs/w5500.md#reset-and-phy)
            self.reset_pin.value(0)
            sleep_ms(2)
            self.reset_pin.value(1)
        else:
            self._write1(_CTL_COMMON_W, _MR, _MR_RST)
        t0 = ticks_ms()
        while 1:
            mr = self._read1(_CTL_COMMON_R, _MR)
            self.version = self._read1(_CTL_COMMON_R, _VERSIONR)
            if self.version == _VERSION and not (mr & _MR_RST):
                return
            if ticks_diff(ticks_ms(), t0) > self.reset_timeout_ms:
                if self.version != _VERSION:
                    raise self._e_nochip
                raise self._e_reset
            sleep_ms(1)

    def _open(self):
        # CLOSE, Sn_MR = MACRAW (+MFEN), OPEN, Sn_SR must become SOCK_MACRAW (DS 4.2)
        self._command(_CR_CLOSE)
        self._write1(_CTL_S0_W, _SN_MR, _MR_MACRAW | (_MR_MFEN if self.mfen else 0))
        self._write1(_CTL_S0_W, _SN_IR, 0xFF)
        if not self._command(_CR_OPEN):
            return 0
        t0 = ticks_ms()
        while self._read1(_CTL_S0_R, _SN_SR) != _SOCK_MACRAW:
            if ticks_diff(ticks_ms(), t0) > 100:
                return 0
        return 1

    # ---- packet path (allocation-free) ----
    def link(self):
        """1 if PHYCFGR reports link up, else 0."""
        return self._read1(_CTL_COMMON_R, _PHYCFGR) & _PHY_LNK

    def send(self, buf, n):
        """Send the first n bytes of buf as one Ethernet frame; 1 if handed to the chip, else 0."""
        if n < _MIN_FRAME or n > _MAX_FRAME:
            return 0
        r = self._rsp
        # TX_FSR, TX_RD, TX_WR in one burst. FSR is not latched (DS 4.2 note): it is
        # accepted when it agrees with the pointers read with it and the previous
        # SEND has finished (TX_RD caught up with TX_WR, DS Sn_TX_RD) -- this is also
        # where the completion of the previous SEND is awaited, with a deadline.
        t0 = ticks_ms()
        while 1:
            self._read(_CTL_S0_R, _SN_TX_FSR, 6)
            rd = (r[5] << 8) | r[6]
            wr = (r[7] << 8) | r[8]
            if rd == wr and ((r[3] << 8) | r[4]) == _MEM:
                break
            if ticks_diff(ticks_ms(), t0) > self.tx_timeout_ms:
                # the chip never finished: count it, reopen the socket, drop this frame
                self.tx_timeouts += 1
                self._open()
                return 0
        # the frame at TX_WR in one burst; the chip wraps it inside socket 0's block
        if len(buf) == n:
            c = self._cmd
            c[0] = wr >> 8
            c[1] = wr & 0xFF
            c[2] = _CTL_S0_TX_W
            self._csv(0)
            self._wr(self._h3)
            self._wr(buf)
            self._csv(1)
        else:
            t = self._tx
            t[0] = wr >> 8
            t[1] = wr & 0xFF
            t[2] = _CTL_S0_TX_W
            self._copy(t, 3, buf, 0, n)
            self._csv(0)
            self._wr(self._txv[(n + _GRAN - 1) // _GRAN])
            self._csv(1)
        self._write2(_CTL_S0_W, _SN_TX_WR, (wr + n) & 0xFFFF)
        self._write1(_CTL_S0_W, _SN_CR, _CR_SEND)
        return 1

    def poll(self, buf):
        """Copy one received frame into buf and return its length (truncated to len(buf)); 0 if none."""
        r = self._rsp
        # RX_RSR, RX_RD, RX_WR in one burst: RSR is accepted when it equals
        # RX_WR - RX_RD read with it (RSR is not latched, DS 4.2 note; a RECV the
        # chip has not processed yet also shows up as a mismatch)
        tries = 0
        while 1:
            self._read(_CTL_S0_R, _SN_RX_RSR, 6)
            rsr = (r[3] << 8) | r[4]
            rd = (r[5] << 8) | r[6]
            if rsr == 0:
                return 0
            if rsr == ((((r[7] << 8) | r[8]) - rd) & 0xFFFF):
                break
            tries += 1
            if tries > 3:
                return 0
        x = self._rx
        c = self._cmd
        c[0] = rd >> 8
        c[1] = rd & 0xFF
        c[2] = _CTL_S0_RX_R
        self._csv(0)
        self._wr(self._h3)
        self._rd(self._rx0)
        self._csv(1)
        # MACRAW record: 2-byte big-endian length that counts itself, then the frame (docs/w5500.md#macraw-framing)
        ln = (x[0] << 8) | x[1]
        if ln < _MIN_FRAME + 2 or ln > _MAX_FRAME + 2 or ln > rsr:
            # not a record boundary: drop everything queued and start again at RX_WR
            self.rx_errors += 1
            self._write2(_CTL_S0_W, _SN_RX_RD, (r[7] << 8) | r[8])
            self._write1(_CTL_S0_W, _SN_CR, _CR_RECV)
            return 0
        if ln > _RX_FIRST:
            a = (rd + _RX_FIRST) & 0xFFFF
            c[0] = a >> 8
            c[1] = a & 0xFF
            self._csv(0)
            self._wr(self._h3)
            self._rd(self._rxv[(ln - _RX_FIRST + _RX_GRAN - 1) // _RX_GRAN])
            self._csv(1)
        n = ln - 2
        if n > len(buf):
            n = len(buf)
        self._copy(buf, 0, x, 2, n)
        self._write2(_CTL_S0_W, _SN_RX_RD, (rd + ln) & 0xFFFF)
        self._write1(_CTL_S0_W, _SN_CR, _CR_RECV)
        return n
