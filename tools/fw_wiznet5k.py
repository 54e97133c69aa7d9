"""A model of MicroPython's own W5500 driver sharing the emulated chip's SPI bus.

On a W5500-EVB-Pico the firmware's network.WIZNET5K (lwIP build;
micropython/micropython extmod/network_wiznet5k.c over WIZnet's ioLibrary)
keeps running beside netdump at a fault. This model does to the emulated chip
(tools/w5500_emu.py) what that driver does, so tests can show what the
takeover in firmware/netdump/drivers/w5500.py protects against:

* activate(), WIZNET5K.active(True): RSTn pulse; ioLibrary's wizchip_init
  (MR.RST with SHAR/GAR/SUBR/SIPR kept, all memory to socket 0); the socket-0
  interrupt enabled (SIMR bit 0, Sn_IMR = RECV) and the INTn pin interrupt
  armed on the falling edge; socket 0 opened in MACRAW, then MFEN set; SHAR set
  if it is blank; the netif up and the lwIP soft timer running.
* deactivate(), active(False): the netif goes down (its receive path stops);
  the INTn pin interrupt stays armed, and the soft timer keeps running while
  any TCP socket exists (keep_timer; ports/rp2/mpnetworkport.c keep_running).
* the poll, wiznet5k_poll(): while the netif is up, every queued frame is
  taken as ioLibrary's recvfrom() takes it in MACRAW (Sn_RX_RSR read until two
  reads agree; Sn_RX_RD; the 2-byte length; RECV; the frame; RECV; each
  command followed by reads of Sn_CR until 0); then wizchip_clrinterrupt
  (IK_SOCK_0): IR written 0 and Sn_IR written 0xFF. Every register access is
  one SPI transaction (ioLibrary WIZCHIP_READ/WRITE). The frames go to `frames`
  (lwIP's input).
* when it runs: from the soft timer at PendSV level every period_ns (64 ms,
  ports/rp2/mpnetworkport.c LWIP_TICK_RATE_MS), and from the INTn interrupt: on
  a falling edge, with chip select high, the handler schedules the same poll
  (mpy_wiznet_read_int). Neither runs while the board masks interrupts
  (machine.disable_irq); what came due then runs when they are unmasked. A
  due poll runs when the board next frees the bus (chip.begin), or -- the
  timer's, which does not look at chip select -- between two bursts of one of
  the board's transactions: its first access then continues the board's SPI
  frame and its chip-select rise ends it, as on the real shared CS line.
* every=N: the poll runs at every N-th such opportunity (a gap, a point inside
  a transaction, the moment interrupts are unmasked; while the timer runs)
  instead of by time, for tests that must not depend on timing. run() fires
  the timer by hand.

The board drives its side over the SPI link (tools/spi_link.py messages 'D'
and 'E' interrupts masked/unmasked, 'F' active(0/1), 'G' the INTn pin's
trigger) or, in process, through Wiznet5kObject and IntnPin below.
"""
import struct

from . import w5500_emu as emu

FALL = 4  # the falling-edge trigger network_wiznet5k.c arms (MP_HAL_PIN_TRIGGER_FALL, rp2: GPIO_IRQ_EDGE_FALL)
PERIOD_NS = 64000000  # ports/rp2/mpnetworkport.c LWIP_TICK_RATE_MS
_IK_SOCK_0 = 0x01  # ioLibrary intr_kind IK_SOCK_0 >> 8: SIMR bit 0
_MAX_FRAMES = 32  # frames one poll takes at most (lwIP's pbuf pool is finite)
_CR_POLLS = 1000  # reads of Sn_CR before the model gives up on a command


class Wiznet5kModel:
    """The firmware's driver on the emulated chip's bus (see the module comment)."""

    def __init__(self, chip, mac, period_ns=PERIOD_NS, every=0, keep_timer=True):
        self.chip = chip
        self.mac = bytes(mac)
        self.period_ns = period_ns
        self.every = every
        self.keep_timer = keep_timer
        self.netif_up = False
        self.timer = False
        self.trigger = 0  # the INTn pin interrupt's trigger (0: masked)
        self.masked = False  # the board has interrupts masked
        self.pending = False  # a poll scheduled by the INTn handler
        self.irq_held = False  # an INTn edge while interrupts were masked
        self.next_t = 0
        self.frames = []
        self.stats = dict(polls=0, polls_inside=0, polls_irq=0, frames=0, irqs=0, irqs_cs_low=0,
                          activations=0, fatal=0)
        self._n = 0
        self._busy = False
        self._first = False
        self._prev_on_int = chip.on_int
        chip.on_int = self._on_int
        chip.firmware = self

    # ---- the board's side ------------------------------------------------------------
    def activate(self):
        """WIZNET5K.active(True) (extmod/network_wiznet5k.c wiznet5k_active)."""
        chip = self.chip
        with chip.lock:
            self._busy = True
            try:
                self.stats["activations"] += 1
                chip.rst_line(0)
                chip.rst_line(1)
                self._sleep(161000000)  # 1 ms low, then 160 ms
                # wizchip_init: wizchip_sw_reset keeps SHAR, GAR, SUBR, SIPR across MR.RST
                keep = self._rd(0x00, 0x0001, 18)
                self._wr(0x04, emu.MR, b"\x80")
                self._wr(0x04, 0x0001, keep)
                for n in range(emu.NSOCK):
                    self._wr(self._sreg(n, True), emu.SN_TXBUF_SIZE, bytes([16 if n == 0 else 0]))
                for n in range(emu.NSOCK):
                    self._wr(self._sreg(n, True), emu.SN_RXBUF_SIZE, bytes([16 if n == 0 else 0]))
                # wizchip_setinterruptmask(IK_SOCK_0); setSn_IMR(0, Sn_IR_RECV)
                self._wr(0x04, emu.IMR, b"\x00")
                self._wr(0x04, emu.SIMR, bytes([_IK_SOCK_0]))
                self._wr(0x0C, emu.SN_IMR, bytes([emu.IR_RECV]))
                self.trigger = FALL
                # wiznet5k_netif_init: socket(0, Sn_MR_MACRAW, 0, 0), then MFEN
                self._cmd(emu.CR_CLOSE)
                self._wr(0x0C, emu.SN_IR, b"\xff")
                self._wr(0x0C, emu.SN_MR, bytes([emu.P_MACRAW]))
                self._cmd(emu.CR_OPEN)
                for _ in range(_CR_POLLS):
                    if self._rd(0x08, emu.SN_SR, 1)[0] != emu.SOCK_CLOSED:
                        break
                mr = self._rd(0x08, emu.SN_MR, 1)[0]
                self._wr(0x0C, emu.SN_MR, bytes([mr | emu.MR_MFEN]))
                if self._rd(0x00, emu.SHAR, 6) == bytes(6):
                    self._wr(0x04, emu.SHAR, self.mac)
                self._sleep(250000000)
                self.netif_up = True
                self.timer = True
                self.next_t = chip.now() + self.period_ns
            finally:
                self._busy = False

    def deactivate(self):
        """WIZNET5K.active(False): the netif goes down; INTn and the soft timer stay."""
        self.netif_up = False
        self.timer = self.keep_timer

    def set_trigger(self, trigger):
        """The INTn pin interrupt's trigger (Pin.irq().trigger(t)) -> the previous one."""
        prev = self.trigger
        self.trigger = trigger
        return prev

    def set_masked(self, masked):
        """machine.disable_irq() (True) / enable_irq() (False) on the board."""
        self.masked = bool(masked)
        if self.masked or self._busy:
            return
        if self.irq_held:
            self.irq_held = False
            self._irq_handler()
        if self.pending or self._chance():
            self._poll(self.chip._cs)  # PendSV runs the moment interrupts are unmasked

    def run(self):
        """The soft timer fires while the board leaves the bus alone: poll now."""
        if not self._busy and not self.chip._cs:
            self._poll(False)

    # ---- hooks called by the chip ------------------------------------------------------
    def gap(self):
        """The bus is free between two of the board's transactions."""
        if self._busy or self.masked:
            return
        if self.pending or self._chance():
            self._poll(False)

    def inside(self):
        """Between two bursts of one of the board's transactions (chip select low)."""
        if self._busy or self.masked:
            return
        if self._chance():
            self._poll(True)

    def _chance(self):
        # the soft timer's poll: every `every` opportunities, or when its period ran out
        if not self.timer:
            return False
        if self.every:
            self._n += 1
            return self._n % self.every == 0
        return self._timer_due()

    def _timer_due(self):
        if not self.timer or self.every:
            return False
        now = self.chip.now()
        if now < self.next_t:
            return False
        self.next_t = now + self.period_ns
        return True

    def _on_int(self, level, seq):
        if self._prev_on_int is not None:
            self._prev_on_int(level, seq)
        if level == 0 and self.trigger & FALL:
            self.stats["irqs"] += 1
            if self.masked:
                self.irq_held = True
            else:
                self._irq_handler()

    def _irq_handler(self):
        # mpy_wiznet_read_int: poll at PendSV unless the SPI bus is busy (CS low)
        if self.chip._cs:
            self.stats["irqs_cs_low"] += 1
        else:
            self.pending = True
            self.stats["polls_irq"] += 1

    # ---- wiznet5k_poll ------------------------------------------------------------------
    def _poll(self, inside):
        self._busy = True
        self.pending = False
        self._first = inside
        try:
            self.stats["polls"] += 1
            if inside:
                self.stats["polls_inside"] += 1
            if self.netif_up:
                for _ in range(_MAX_FRAMES):
                    if not self._rsr() or not self._recvfrom():
                        break
            self._wr(0x04, emu.IR, b"\x00")  # wizchip_clrinterrupt(IK_SOCK_0): setIR(0) ...
            self._wr(0x0C, emu.SN_IR, b"\xff")  # ... and Sn_IR(0) = 0xFF
        finally:
            self._busy = False

    def _rsr(self):
        # getSn_RX_RSR: two one-byte reads per value, until two values agree
        v = -1
        for _ in range(_CR_POLLS):
            a = self._rd16(emu.SN_RX_RSR)
            if a != 0:
                b = self._rd16(emu.SN_RX_RSR)
                if a != b:
                    continue
            v = a
            break
        return max(v, 0)

    def _recvfrom(self):
        # ioLibrary recvfrom(), MACRAW: the length, RECV, the frame, RECV
        head = self._recv_data(2)
        self._cmd(emu.CR_RECV)
        n = struct.unpack("!H", head)[0] - 2
        if n > emu.MAX_FRAME or n < 0:  # SOCKFATAL_PACKLEN: recvfrom closes the socket
            self.stats["fatal"] += 1
            self._cmd(emu.CR_CLOSE)
            self.netif_up = False
            return False
        data = self._recv_data(n)
        self._cmd(emu.CR_RECV)
        self.frames.append(data)
        self.stats["frames"] += 1
        return True

    def _recv_data(self, n):
        # wiz_recv_data: read at Sn_RX_RD, then Sn_RX_RD += n
        ptr = self._rd16(emu.SN_RX_RD)
        data = self._rd(0x18, ptr, n) if n else b""
        ptr = (ptr + n) & 0xFFFF
        self._wr(0x0C, emu.SN_RX_RD, bytes([ptr >> 8]))
        self._wr(0x0C, emu.SN_RX_RD + 1, bytes([ptr & 0xFF]))
        return data

    def _cmd(self, c):
        self._wr(0x0C, emu.SN_CR, bytes([c]))
        for _ in range(_CR_POLLS):
            if self._rd(0x08, emu.SN_CR, 1)[0] == 0:
                return
            self._sleep(1000)

    # ---- SPI transactions -----------------------------------------------------------------
    @staticmethod
    def _sreg(n, write):
        return ((4 * n + 1) << 3) | (4 if write else 0)

    def _txn(self, ctl, addr, data=b"", nread=0):
        chip = self.chip
        if self._first and chip._cs:
            self._first = False  # chip select is already low: no new frame, the board's goes on
        else:
            self._first = False
            chip.begin()
        miso = chip.transfer(bytes([addr >> 8, addr & 0xFF, ctl]) + bytes(data) + bytes(nread))
        chip.end()
        return bytes(miso[3 + len(data):])

    def _rd(self, ctl, addr, n):
        return self._txn(ctl, addr, nread=n)

    def _wr(self, ctl, addr, data):
        self._txn(ctl, addr, data)

    def _rd16(self, off):
        return (self._rd(0x08, off, 1)[0] << 8) | self._rd(0x08, off + 1, 1)[0]

    def _sleep(self, ns):
        # mp_hal_delay_ms: simulated time passes; the host's clock passes by itself
        adv = getattr(self.chip.clock, "advance", None)
        if adv is not None and self.chip.now_ns is None:
            adv(ns)


class Wiznet5kObject:
    """The board side of the model in process: what network.WIZNET5K looks like to netdump."""

    def __init__(self, model):
        self.model = model

    def active(self, up=None):
        """active() -> bool; active(True/False)."""
        if up is None:
            return self.model.netif_up
        if up and not self.model.netif_up:
            self.model.activate()
        elif not up:
            self.model.deactivate()
        return None

    def config(self, key):
        """config('mac') -> the MAC in SHAR."""
        if key != "mac":
            raise ValueError("unknown config param")
        return bytes(self.model.chip.peek(0, emu.SHAR, 6))


class _Irq:
    def __init__(self, model):
        self.model = model

    def trigger(self, t=None):
        if t is None:
            return self.model.trigger
        return self.model.set_trigger(t)


class IntnPin:
    """The INTn GPIO as machine.Pin: irq() returns its irq object, whose trigger(t) the driver uses."""

    def __init__(self, model):
        self._irq = _Irq(model)

    def irq(self):
        return self._irq
