# WIZnet W5500 as a polled frame NIC (docs/frame-nic.md): socket 0 in MACRAW
# with all 16 KiB of TX and RX memory, driven over machine.SPI + a CS pin.
#
#   nic = W5500(spi, cs, reset=None, mac=None, nic=None, intn=None, ...)
#       arm time: allocates everything and records what start() needs; touches
#       no hardware and never waits for the link
#   nic.start() -> 0 / errno   dump time, heap locked: take the chip over
#                              (below); on failure nic.why is one line
#   nic.stop()                 give the chip back to the firmware's driver
#                              (after a dump that carries on)
#   nic.mac                    6 bytes
#   nic.send(buf, n) -> 1/0    first n bytes of buf as one Ethernet frame (no FCS)
#   nic.poll(buf) -> n         one received frame copied into buf, 0 if none
#   nic.link() -> 1/0          PHYCFGR.LNK
#   nic.multicast              set to 1 before start() by an endpoint that needs
#                              multicast frames (IPv6 neighbour discovery)
#
# The takeover (docs/w5500.md#takeover), as FreeBSD's debugnet takes a NIC from
# its normal driver: at arm, the firmware's own driver of the chip (a running
# network.WIZNET5K: `nic`, or the first one of type nic_type found in the list
# nics, e.g. network.route(), at start()) and the INTn pin (`intn`) are only
# recorded, and the MAC is taken from the running WIZNET5K (else `mac`, else a
# locally administered one derived from machine.unique_id()). start():
#   1. stops the firmware's driver: nic.active(False) (its receive path;
#      MicroPython's extmod/network_wiznet5k.c wiznet5k_poll then only clears
#      the socket's interrupt flags), and masks the INTn pin interrupt with
#      intn.irq().trigger(0) (active(False) leaves it armed);
#   2. from then on keeps each SPI transaction atomic against what still runs at
#      interrupt level (the soft timer's poll at PendSV level every 64 ms,
#      ports/rp2/mpnetworkport.c) with machine.disable_irq()/enable_irq()
#      around it: `atomic` (default: on rp2 only, docs/w5500.md#interrupts);
#   3. if the chip answers (VERSIONR 0x04), re-opens socket 0 in MACRAW without
#      a reset, so the PHY keeps its link; otherwise resets it and waits for the
#      link (bounded);
#   4. waits for Sn_CR to read 0 after every command of the takeover (DS 4.2
#      Sn_CR), bounded; on the packet path, a SEND or RECV is checked for
#      acceptance by the status read that starts the next send() or poll()
#      (below), before a command that could replace it is written.
# takeover=False skips 1 and 2 (a test hook: the firmware's poller then steals
# frames and corrupts transactions).
#
# send/poll/link/start/stop do not allocate and keep every int below 2**30.
#
# Facts: WIZnet W5500 datasheet v1.0.9 ("DS"), summarised with the other sources
# in docs/w5500.md. SPI transactions per frame (VDM, DS 2.2):
#   status read: Sn_CR (4 bytes: the last command accepted, Sn_CR 0) and the TX
#         pointers (FSR, TX_RD, TX_WR: 9) for send(), the RX pointers (RSR, RX_RD,
#         RX_WR: 9) for poll(), under one hold of the interrupt mask. Sn_CR only
#         where a command could be lost: before a SEND that follows a RECV, and
#         before a RECV that follows a SEND (a SEND taken shows as TX_RD reaching
#         TX_WR; a RECV written over our own RECV repeats it). Each transaction
#         stays under 32 bytes: rp2's machine.SPI moves longer ones by DMA, whose
#         setup costs more than reading Sn_CR..Sn_RX_WR whole would save
#   send: status read + the frame (3 + len(buf): the caller's buffer whole, the
#         bytes past n land in free TX memory, unsent) + TX_WR (5) + SEND (4),
#         those three under one hold of the interrupt mask
#   poll: status read; when frames are queued, every whole MACRAW record that
#         fits the stage (rx_cap + 2 bytes, at least 496: eight acks) in one read,
#         then RX_RD (5) + RECV (4): later polls hand out the records read without
#         touching the chip until they are used up; a record longer than the stage
#         is cut to it
from netdump import fast
from netdump.compat import const, ticks_diff, ticks_ms
from netdump.feed import feed

try:
    from time import sleep_ms
except ImportError:  # CPython
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)


# ---- common register block, BSB 0 (DS 4.1) ----
_MR = const(0x0000)  # mode; bit7 RST self-clearing soft reset
_SHAR = const(0x0009)  # source MAC, 6 bytes
_IR = const(0x0015)  # interrupt flags, write 1 to clear
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
_MR_MFEN = const(0x80)  # MACRAW MAC filter: own MAC and broadcast (docs/w5500.md#mfen-and-multicast)
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
_RX_GRAN = const(64)  # RX burst rounding (reading past RX_WR reads stale memory, not used)
# RX staging (whole MACRAW records read at once): rx_cap + 2 bytes, at least _STAGE_MIN,
# the eight ack-sized records (2 + 60 bytes) debugnet looks for at a time (poll_after)
_STAGE_MIN = const(496)
_RX_CAP_MIN = const(64)
# the status reads (DS 4.2): Sn_CR (0x01), Sn_TX_FSR..Sn_TX_WR (0x20..0x25) and
# Sn_RX_RSR..Sn_RX_WR (0x26..0x2B); their offsets in _srsp (as in one read of 0x01..0x2B)
_ST_LEN = const(43)
_ST_CR = const(3)
_ST_TX_FSR = const(34)
_ST_TX_RD = const(36)
_ST_TX_WR = const(38)
_ST_RX_RSR = const(40)
_ST_RX_RD = const(42)
_ST_RX_WR = const(44)
_CMD_MS = const(100)  # longest wait for Sn_CR to read 0, or Sn_SR to change

# error codes returned by start() (Linux errno numbers)
ENODEV = const(19)
ETIMEDOUT = const(110)
ENETDOWN = const(100)
EIO = const(5)

# start()'s one-line reasons (nic.why)
WHY_NOCHIP = "W5500 not found: VERSIONR is not 0x04 (check SPI wiring, CS, power)"
WHY_RESET = "W5500 reset did not complete (MR.RST stuck)"
WHY_SPI = "W5500 register readback failed (SPI data corrupt?)"
WHY_OPEN = "W5500 socket 0 did not open in MACRAW mode"
WHY_LINK = "W5500 no link: Ethernet cable unplugged or PHY down"

AUTO = "auto"  # atomic=AUTO: mask interrupts around transactions where the port allows it

_SEND = bytes((0, _SN_CR, _CTL_S0_W, _CR_SEND))  # Sn_CR = SEND, one transaction
_RECV = bytes((0, _SN_CR, _CTL_S0_W, _CR_RECV))


def _records(x, k):
    """The bytes of the whole MACRAW records at the start of x[0:k] (each a 2-byte
    big-endian length that counts itself, then a frame of 14..1514 bytes); 0 if the
    first is not one (docs/w5500.md#macraw-framing)."""
    e = 0
    while e + 2 <= k:
        ln = (x[e] << 8) | x[e + 1]
        if ln < _MIN_FRAME + 2 or ln > _MAX_FRAME + 2:
            break  # not a record boundary: found again by the next poll, when it is the first
        if e + ln > k:
            break  # read in part: the next poll reads it again
        e += ln
    return e


def local_mac(uid):
    """A locally administered unicast MAC (IEEE 802 bit 1 set, bit 0 clear) derived from a
    board's unique id. An 8-byte RP2040 flash id gives the MAC MicroPython's own WIZNET5K
    takes on a blank chip (ports/rp2/mphalport.c mp_hal_generate_laa_mac, MP_HAL_MAC_ETH0
    = 2), so the network sees one station before and after a dump."""  # arm-time
    m = bytearray(6)
    if len(uid) == 8:
        m[0] = 0x02
        m[1] = ((uid[7] << 4) | (uid[6] & 0xF)) & 0xFF
        m[2] = ((uid[5] << 4) | (uid[4] & 0xF)) & 0xFF
        m[3] = ((uid[3] << 4) | (uid[2] & 0xF)) & 0xFF
        m[4] = uid[1]
        m[5] = ((uid[0] << 2) | 2) & 0xFF
        return m
    for i in range(len(uid)):
        m[i % 6] ^= uid[i]
    m[0] = (m[0] & 0xFC) | 0x02
    return m


def _board_mac():  # arm-time
    # machine.unique_id() on a board; random bytes where there is none (the unix port, CPython)
    try:
        import machine

        return local_mac(machine.unique_id())
    except (ImportError, AttributeError):
        pass
    import os

    return local_mac(os.urandom(6))


def _auto_atomic():  # arm-time
    # machine.disable_irq() masks PendSV and the GPIO interrupt on rp2 (PRIMASK,
    # ports/rp2/mphalport.h), and its SPI transfers poll (ports/rp2/machine_spi.c).
    # On esp32 it is a spinlock critical section (ports/esp32/mphalport.h) in which
    # machine.SPI's blocking transfer must not run (ports/esp32/machine_hw_spi.c
    # spi_device_transmit waits for the SPI interrupt): not used there.
    import sys

    if sys.platform != "rp2":
        return None
    import machine

    return (machine.disable_irq, machine.enable_irq)


class W5500:
    """W5500 MACRAW frame NIC on socket 0 (see the module comment)."""

    def __init__(self, spi, cs, reset=None, mac=None, nic=None, intn=None, nics=None, nic_type=None,
                 atomic=AUTO, takeover=True, link_timeout_ms=5000, reset_timeout_ms=300, tx_timeout_ms=20,
                 mfen=True, rx_cap=_MAX_FRAME):  # arm-time
        self.spi = spi
        self.cs = cs
        self.reset_pin = reset
        self.nic = nic  # the firmware's own driver of this chip (network.WIZNET5K), if known
        self._nics = nics  # a live list to find it in at start() (network.route()), with its type
        self._nic_type = nic_type
        self._irq = intn.irq() if intn is not None else None  # the INTn pin's irq object (not changed)
        self.takeover = takeover
        if atomic == AUTO:
            atomic = _auto_atomic() if takeover else None
        # the interrupt mask around each transaction; without one, int() and int(s):
        # C calls that return at once, so every transaction runs the same bytecode
        self._irq_off = atomic[0] if atomic else int
        self._irq_on = atomic[1] if atomic else int
        self.link_timeout_ms = link_timeout_ms
        self.reset_timeout_ms = reset_timeout_ms
        self.tx_timeout_ms = tx_timeout_ms
        self.mfen = mfen
        self.multicast = 0
        self.mac = bytearray(6)
        m = mac
        if m is None:
            m = self._fw_mac()
        if m is None:
            m = _board_mac()
        if len(m) != 6:
            raise ValueError("mac must be 6 bytes")
        self.mac[0:6] = m
        self.version = 0  # VERSIONR as last read by start()
        self.started = 0
        self.resets = 0  # hardware resets start() needed (0: the chip was re-opened as it was)
        self.why = ""
        self._fw = None  # the firmware driver start() deactivated, for stop()
        self._trig = -1  # the INTn trigger start() masked (-1: none), for stop()
        self.tx_timeouts = 0
        self.rx_errors = 0
        self.cmd_timeouts = 0
        # one command buffer shared by every register access: 3-byte header + data
        self._cmd = bytearray(11)
        self._rsp = bytearray(11)
        c = memoryview(self._cmd)
        r = memoryview(self._rsp)
        # index n: header + n data bytes (n = 1, 2, 6)
        self._co = [None, c[0:4], c[0:5], None, None, None, c[0:9]]
        self._ro = [None, r[0:4], r[0:5], None, None, None, r[0:9]]
        # RX staging: whole MACRAW records read at once, views in _RX_GRAN steps (the last
        # the whole stage); records [_rxo, _rxe) not handed out yet. A frame longer than
        # rx_cap may be cut to it (at least): an endpoint that takes in only short frames
        # (netdump.link.RX_MAX) needs no room for a full one.
        if rx_cap < _RX_CAP_MIN or rx_cap > _MAX_FRAME:
            raise ValueError("rx_cap must be %d..%d" % (_RX_CAP_MIN, _MAX_FRAME))
        st = rx_cap + 2 if rx_cap + 2 > _STAGE_MIN else _STAGE_MIN
        self._stage = st
        self._rx = bytearray(st)
        x = memoryview(self._rx)
        self._rxv = [x[0:min(_RX_GRAN * k, st)] for k in range((st + _RX_GRAN - 1) // _RX_GRAN + 1)]
        self._rxo = 0
        self._rxe = 0
        self._sent = 0  # 1: the last command written to Sn_CR was send()'s SEND
        # the packet path's fixed transactions: the TX buffer header (its address set per
        # frame), Sn_TX_WR and Sn_RX_RD writes (their values set), SEND and RECV (_SEND, _RECV)
        self._txh = bytearray(3)
        self._txh[2] = _CTL_S0_TX_W
        self._rxh = bytearray(3)
        self._rxh[2] = _CTL_S0_RX_R
        self._txwr = bytearray((0, _SN_TX_WR, _CTL_S0_W, 0, 0))
        self._rxrd = bytearray((0, _SN_RX_RD, _CTL_S0_W, 0, 0))
        # the status reads (module comment): Sn_CR (4 bytes), the TX or the RX pointers
        # (9), each answer landing in _srsp at its register's offset from Sn_CR (_ST_*)
        self._srsp = bytearray(3 + _ST_LEN)
        sr = memoryview(self._srsp)
        self._crc = bytes((0, _SN_CR, _CTL_S0_R, 0))
        self._crr = sr[0:4]
        self._txc = bytes((0, _SN_TX_FSR, _CTL_S0_R, 0, 0, 0, 0, 0, 0))
        self._txr = sr[_ST_TX_FSR - 3 : _ST_TX_FSR + 6]
        self._rxc = bytes((0, _SN_RX_RSR, _CTL_S0_R, 0, 0, 0, 0, 0, 0))
        self._rxr = sr[_ST_RX_RSR - 3 : _ST_RX_RSR + 6]
        # cached bound methods (creating one allocates; calling a cached one does not)
        self._wr = spi.write
        self._rd = spi.readinto
        self._xfer = spi.write_readinto
        self._csv = cs.value
        self._copy = fast.copy
        # the packet path's bus methods and status buffers: one attribute load, not ten
        b = (self._csv, self._wr, self._xfer, self._irq_off, self._irq_on, self._crc, self._crr)
        self._txbus = b + (self._txc, self._txr, self._srsp)
        self._rxbus = b + (self._rxc, self._rxr, self._srsp)

    def _fw_mac(self):  # arm-time
        # the running firmware driver's MAC (config('mac'), extmod/network_wiznet5k.c), else None
        fw = self._find_fw()
        if fw is None:
            return None
        try:
            if fw.active():
                return bytes(fw.config("mac"))
        except (AttributeError, OSError, ValueError, TypeError):
            pass
        return None

    def _find_fw(self):
        # the firmware driver: the one given, else the first of nic_type in the nics list
        # (a list and isinstance: nothing allocated)
        if self.nic is not None:
            return self.nic
        lst = self._nics
        t = self._nic_type
        if lst is None or t is None:
            return None
        for n in lst:
            if isinstance(n, t):
                return n
        return None

    # ---- register access (allocation-free) ----
    # Every transaction is chip select low .. high; with `atomic`, interrupts are
    # masked from before CS falls until after it rises (docs/w5500.md#interrupts),
    # and without it _irq_off/_irq_on are int() (a C call that returns 0). The span
    # from the mask to the unmask is branch-free bytecode: MicroPython runs scheduled
    # callbacks and raises pending exceptions (KeyboardInterrupt) only at a jump
    # (py/vm.c pending_exception_check), so none runs with CS low or interrupts
    # masked; a try/finally (no jump on its normal path) raises CS and restores the
    # mask when a transfer raises.
    def _read(self, ctl, addr, n):
        # one SPI transaction: header + n dummy bytes; the data lands in _rsp[3:3+n]
        c = self._cmd
        c[0] = addr >> 8
        c[1] = addr & 0xFF
        c[2] = ctl
        csv = self._csv
        s = self._irq_off()
        try:
            csv(0)
            self._xfer(self._co[n], self._ro[n])
        finally:
            csv(1)
            self._irq_on(s)

    def _write(self, ctl, addr, n):
        # one SPI transaction: header + the n bytes already in _cmd[3:3+n]
        c = self._cmd
        c[0] = addr >> 8
        c[1] = addr & 0xFF
        c[2] = ctl
        csv = self._csv
        s = self._irq_off()
        try:
            csv(0)
            self._wr(self._co[n])
        finally:
            csv(1)
            self._irq_on(s)

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
        # Sn_CR: once the last command was taken (a SEND or RECV of the packet path is
        # not waited for there), written, then read back until the chip took it (0),
        # bounded (DS 4.2 Sn_CR: a command written before then would replace it)
        if not self._cr_idle():
            return 0
        self._sent = 0
        self._write1(_CTL_S0_W, _SN_CR, cmd)
        return self._cr_idle()

    def _cr_idle(self):
        # Sn_CR read until 0 -> 1, or 0 (counted) after _CMD_MS
        t0 = ticks_ms()
        while self._read1(_CTL_S0_R, _SN_CR):
            if ticks_diff(ticks_ms(), t0) > _CMD_MS:
                self.cmd_timeouts += 1
                return 0
        return 1

    # ---- the takeover (dump time, allocation-free) ----
    def start(self):
        """Take the chip over (module comment) -> 0, or an errno with self.why set."""
        if self.started and self._read1(_CTL_S0_R, _SN_SR) == _SOCK_MACRAW:
            return 0  # still ours (EtherEndpoint.reset() calls this at every connection)
        self.started = 0
        if self.takeover:
            self._quiesce()
        self._csv(1)  # end any SPI frame another driver left open
        self.version = self._read1(_CTL_COMMON_R, _VERSIONR)
        err = 1
        if self.version == _VERSION:
            err = self._setup()  # the chip answers: re-open socket 0, keep the PHY's link
        if err:
            err = self._reset()
            if not err:
                self.resets += 1
                err = self._setup()
        if not err:
            err = self._wait_link()
        if err:
            return err
        self.started = 1
        return 0

    def _quiesce(self):
        # stop the firmware's driver of the chip and mask its INTn interrupt (once per takeover)
        if self._fw is None:
            fw = self._find_fw()
            if fw is not None and fw.active():
                fw.active(False)
                self._fw = fw
        if self._irq is not None and self._trig < 0:
            self._trig = self._irq.trigger(0)

    def stop(self):
        """Give the chip back (after the dump, heap unlocked: this allocates): restore the INTn
        interrupt, re-activate the firmware's driver (network.WIZNET5K.active(True) resets and
        re-initialises the chip, and starts DHCP) and put back a static address it had."""
        self.started = 0
        if self._trig >= 0:
            self._irq.trigger(self._trig)
            self._trig = -1
        fw = self._fw
        if fw is None:
            return
        self._fw = None
        cfg = None
        try:
            # the interface keeps its addresses while down (extmod/network_lwip.c ifconfig reads netif)
            if not fw.ipconfig("dhcp4"):
                cfg = fw.ifconfig()
        except (AttributeError, OSError, ValueError, TypeError):
            pass
        fw.active(True)
        if cfg is not None and cfg[0] != "0.0.0.0":
            try:
                fw.ifconfig(cfg)  # static: active(True) began with 0.0.0.0 and DHCP
            except (OSError, ValueError, TypeError):
                pass

    def _setup(self):
        # socket 0 closed, every interrupt masked, all memory to socket 0, our MAC,
        # MACRAW (+MFEN unless multicast is needed) open -> 0 or an errno
        self.why = WHY_SPI
        self._rxo = 0  # records staged before are gone with the socket's memory
        self._rxe = 0
        self._sent = 0
        # no interrupts: nothing may pull INTn and wake another driver (DS 4.1 IMR/SIMR, 4.2 Sn_IMR)
        self._write1(_CTL_COMMON_W, _SIMR, 0)
        self._write1(_CTL_COMMON_W, _IMR, 0)
        self._write1(_CTL_S0_W, _SN_IMR, 0)
        self._write1(_CTL_COMMON_W, _IR, 0xFF)
        if not self._command(_CR_CLOSE) or not self._wait_sr(_SOCK_CLOSED):
            self.why = WHY_OPEN
            return ETIMEDOUT
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
        m = self.mac
        i = 0
        while i < 6:
            self._cmd[3 + i] = m[i]
            i += 1
        self._write(_CTL_COMMON_W, _SHAR, 6)
        self._read(_CTL_COMMON_R, _SHAR, 6)
        i = 0
        while i < 6:
            if self._rsp[3 + i] != m[i]:
                return EIO
            i += 1
        self._read(_CTL_S0_R, _SN_RXBUF_SIZE, 2)
        if self._rsp[3] != 16 or self._rsp[4] != 16:
            return EIO
        mode = _MR_MACRAW
        if self.mfen and not self.multicast:
            mode |= _MR_MFEN
        self._write1(_CTL_S0_W, _SN_MR, mode)
        self._write1(_CTL_S0_W, _SN_IR, 0xFF)
        if not self._command(_CR_OPEN) or not self._wait_sr(_SOCK_MACRAW):
            self.why = WHY_OPEN
            return ETIMEDOUT
        self.why = ""
        return 0

    def _wait_sr(self, want):
        t0 = ticks_ms()
        while self._read1(_CTL_S0_R, _SN_SR) != want:
            if ticks_diff(ticks_ms(), t0) > _CMD_MS:
                return 0
        return 1

    def _reset(self):
        # RSTn low, released, then VERSIONR 0x04 with MR.RST clear (docs/w5500.md#reset-and-phy);
        # MR.RST when there is no reset pin -> 0 or an errno
        if self.reset_pin is not None:
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
                return 0
            if ticks_diff(ticks_ms(), t0) > self.reset_timeout_ms:
                if self.version != _VERSION:
                    self.why = WHY_NOCHIP
                    return ENODEV
                self.why = WHY_RESET
                return ETIMEDOUT
            feed()
            sleep_ms(1)

    def _wait_link(self):
        # PHY link, bounded: after a reset, auto-negotiation takes seconds
        t0 = ticks_ms()
        while not self.link():
            if ticks_diff(ticks_ms(), t0) > self.link_timeout_ms:
                self.why = WHY_LINK
                return ENETDOWN
            feed()
            sleep_ms(5)
        return 0

    # ---- packet path (allocation-free) ----
    def link(self):
        """1 if PHYCFGR reports link up, else 0."""
        return self._read1(_CTL_COMMON_R, _PHYCFGR) & _PHY_LNK

    def send(self, buf, n):
        """Send the first n bytes of buf as one Ethernet frame; 1 if handed to the chip, else 0
        (all of buf goes over SPI: keep it short, at most the chip's 16 KiB of TX memory)."""
        if n < _MIN_FRAME or n > _MAX_FRAME or len(buf) > _MEM:
            return 0
        # transactions inline (a method call costs more than a short transaction's bytes
        # on an RP2040), each masked span branch-free (see "register access")
        csv, wr, xfer, off, on, cc, cr, pc, pr, r = self._txbus
        t0 = -1
        # the previous command taken (Sn_CR 0) and the previous SEND finished (TX_RD
        # caught up with TX_WR, DS Sn_TX_RD); FSR is not latched (DS 4.2 note): it is
        # accepted when it agrees with the pointers read with it. Bounded. When the last
        # command was our SEND, Sn_CR is not read: TX_RD moves only when a SEND runs,
        # so TX_RD at TX_WR (n > 0 past where it was) says that SEND was taken.
        while 1:
            if self._sent:
                r[_ST_CR] = 0
                s = off()
                try:
                    csv(0)
                    xfer(pc, pr)
                finally:
                    csv(1)
                    on(s)
            else:
                s = off()
                try:
                    csv(0)
                    xfer(cc, cr)
                    csv(1)
                    csv(0)
                    xfer(pc, pr)
                finally:
                    csv(1)
                    on(s)
            if r[_ST_CR] == 0 and r[_ST_TX_RD] == r[_ST_TX_WR] and r[_ST_TX_RD + 1] == r[_ST_TX_WR + 1] and \
                    r[_ST_TX_FSR] == _MEM >> 8 and r[_ST_TX_FSR + 1] == 0:
                break
            if t0 < 0:
                t0 = ticks_ms()
            elif ticks_diff(ticks_ms(), t0) > self.tx_timeout_ms:
                # the chip never finished: count it, reopen the socket, drop this frame
                self.tx_timeouts += 1
                self._setup()
                return 0
        # the frame at TX_WR in one burst, the bytes of buf past n with it (they land in
        # free TX memory, unsent: a dump's data frames fill their buffer); the chip wraps
        # it inside socket 0's block. Then TX_WR + n and SEND, in the same masked span.
        h = self._txh
        h[0] = r[_ST_TX_WR]
        h[1] = r[_ST_TX_WR + 1]
        p = (((r[_ST_TX_WR] << 8) | r[_ST_TX_WR + 1]) + n) & 0xFFFF
        w = self._txwr
        w[3] = p >> 8
        w[4] = p & 0xFF
        s = off()
        try:
            csv(0)
            wr(h)
            wr(buf)
            csv(1)
            csv(0)
            wr(w)
            csv(1)
            csv(0)
            wr(_SEND)  # taken: seen by the next status read
        finally:
            csv(1)
            on(s)
        self._sent = 1
        return 1

    def poll(self, buf):
        """Copy one received frame into buf and return its length (truncated to len(buf)); 0 if none."""
        o = self._rxo
        if o < self._rxe:  # the next record read before (as _hand, inline: most acks come here)
            x = self._rx
            ln = (x[o] << 8) | x[o + 1]
            self._rxo = o + ln
            n = ln - 2
            if n > len(buf):
                n = len(buf)
            self._copy(buf, 0, x, o + 2, n)
            return n
        csv, wr, xfer, off, on, cc, cr, pc, pr, r = self._rxbus
        # RX_RSR, RX_RD, RX_WR: RSR is accepted when it equals RX_WR - RX_RD read with
        # it (RSR is not latched, DS 4.2 note), once the last command was taken. Sn_CR
        # is read only after a SEND (a RECV written over it would lose it); a RECV
        # written over our own last RECV only repeats it (both take RX_RD as it is).
        tries = 0
        while 1:
            if self._sent:
                s = off()
                try:
                    csv(0)
                    xfer(cc, cr)
                    csv(1)
                    csv(0)
                    xfer(pc, pr)
                finally:
                    csv(1)
                    on(s)
            else:
                r[_ST_CR] = 0
                s = off()
                try:
                    csv(0)
                    xfer(pc, pr)
                finally:
                    csv(1)
                    on(s)
            rsr = (r[_ST_RX_RSR] << 8) | r[_ST_RX_RSR + 1]
            rd = (r[_ST_RX_RD] << 8) | r[_ST_RX_RD + 1]
            if r[_ST_CR] == 0:
                if rsr == 0:
                    return 0
                if rsr == ((((r[_ST_RX_WR] << 8) | r[_ST_RX_WR + 1]) - rd) & 0xFFFF):
                    break
            tries += 1
            if tries > 3:
                return 0
        # every whole MACRAW record queued, up to the stage's size, in one read
        st = self._stage
        k = rsr if rsr < st else st
        h = self._rxh
        h[0] = rd >> 8
        h[1] = rd & 0xFF
        v = self._rxv[(k + _RX_GRAN - 1) // _RX_GRAN]
        s = off()
        try:
            csv(0)
            wr(h)
            self._rd(v)
        finally:
            csv(1)
            on(s)
        x = self._rx
        e = _records(x, k)
        if e == 0:
            ln = (x[0] << 8) | x[1]
            if k == st and st < ln <= _MAX_FRAME + 2 and ln <= rsr:
                # a whole record longer than the stage (rx_cap): its first st bytes are
                # handed out as the record, the chip moves past all of it
                x[0] = st >> 8
                x[1] = st & 0xFF
                e = st
                rd = (rd + ln) & 0xFFFF
            else:
                # not a record boundary (or a record longer than what is queued): drop
                # everything queued and start again at RX_WR
                self.rx_errors += 1
                rd = (r[_ST_RX_WR] << 8) | r[_ST_RX_WR + 1]
        else:
            rd = (rd + e) & 0xFFFF
        w = self._rxrd
        w[3] = rd >> 8
        w[4] = rd & 0xFF
        s = off()
        try:
            csv(0)
            wr(w)
            csv(1)
            csv(0)
            wr(_RECV)  # taken: seen by the next status read
        finally:
            csv(1)
            on(s)
        self._sent = 0
        if e == 0:
            return 0
        self._rxo = 0
        self._rxe = e
        return self._hand(buf)

    def _hand(self, buf):
        # the next staged record's frame into buf (truncated to len(buf)) -> its length
        x = self._rx
        o = self._rxo
        ln = (x[o] << 8) | x[o + 1]
        self._rxo = o + ln
        n = ln - 2
        if n > len(buf):
            n = len(buf)
        self._copy(buf, 0, x, o + 2, n)
        return n
