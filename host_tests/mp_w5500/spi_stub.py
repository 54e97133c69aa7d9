# MicroPython-side SPI and Pin stand-ins that reach the W5500 emulator over the
# SPI link (protocol: tools/spi_link.py). After construction nothing here
# allocates: one preallocated output buffer, stream write(buf, off, n) and
# readinto(); a connection that fails turns the bus into a floating one.
#
#   spi = LinkSPI("/path/to/spi.sock")   # or LinkSPI(None, miso=0xFF): no chip on the bus
#   cs = LinkPin(spi)                    # value(0) starts a transaction, value(1) ends it
#   spi.write(buf) / spi.readinto(buf, write=0) / spi.write_readinto(wbuf, rbuf)
#   spi.irq_off() / spi.irq_on(state)    machine.disable_irq()/enable_irq() as the
#                                        emulator's model of the firmware sees them
#   FakeWiznet5k(spi, mac), IntnPin(spi)  network.WIZNET5K and the INTn pin, whose
#                                        active()/irq().trigger() reach that model
import socket

_OP_LOW = 0x4C  # 'L' chip select falls
_OP_HIGH = 0x48  # 'H' chip select rises
_OP_WRITE = 0x57  # 'W' n:u16 data
_OP_READ = 0x52  # 'R' n:u16 fill:u8 -> n bytes
_OP_XFER = 0x58  # 'X' n:u16 data -> n bytes
_OP_CONTROL = 0x43  # 'C' n:u16 json -> u32 len + json
_OP_IRQ_OFF = 0x44  # 'D' interrupts masked
_OP_IRQ_ON = 0x45  # 'E' interrupts unmasked
_OP_FW_ACTIVE = 0x46  # 'F' v:u8 the firmware's WIZNET5K active(v)
_OP_INTN = 0x47  # 'G' t:u8 the INTn pin interrupt's trigger
_CAP = 4096
_AF_UNIX_LINUX = 1  # sa_family of struct sockaddr_un on Linux (little-endian u16)


def _unix_sockaddr(path):
    p = path.encode() if isinstance(path, str) else path
    a = bytearray(2 + len(p) + 1)
    a[0] = _AF_UNIX_LINUX
    a[2 : 2 + len(p)] = p
    return a


class LinkSPI:
    """machine.SPI stand-in: write, readinto, write_readinto over the SPI link."""

    def __init__(self, path, miso=0xFF, timeout_s=10):
        self.fill = miso  # what a floating MISO reads when no chip answers
        self.out = bytearray(_CAP)
        self.n = 0
        self.sock = None
        self.failures = 0
        if path is not None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(_unix_sockaddr(path))
            s.settimeout(timeout_s)
            self.sock = s
            self._sw = s.write
            self._sr = s.readinto

    def _dead(self):
        self.failures += 1
        self.sock = None
        self.n = 0

    def _flush(self):
        if self.sock is not None and self.n:
            try:
                self._sw(self.out, 0, self.n)
            except OSError:
                self._dead()
        self.n = 0

    def _hdr(self, op, m):
        if self.n + 4 > _CAP:
            self._flush()
        o = self.out
        k = self.n
        o[k] = op
        o[k + 1] = m >> 8
        o[k + 2] = m & 0xFF
        self.n = k + 3

    def _put(self, buf, m):
        # copy buf (m bytes) into the output buffer, or send it straight away
        if self.n + m > _CAP:
            self._flush()
        if m > _CAP:
            if self.sock is not None:
                try:
                    self._sw(buf, 0, m)
                except OSError:
                    self._dead()
            return
        k = self.n
        self.out[k : k + m] = buf
        self.n = k + m

    def cs(self, level):
        if self.sock is None:
            return
        if self.n + 1 > _CAP:
            self._flush()
        self.out[self.n] = _OP_HIGH if level else _OP_LOW
        self.n += 1
        if level:
            self._flush()

    def _float(self, buf):
        i = 0
        m = len(buf)
        f = self.fill
        while i < m:
            buf[i] = f
            i += 1

    def _reply(self, buf):
        self._flush()
        if self.sock is None:
            self._float(buf)
            return
        try:
            got = self._sr(buf)
        except OSError:
            got = -1
        if got is None or got != len(buf):
            self._dead()
            self._float(buf)

    def write(self, buf):
        """Clock out buf; MISO ignored."""
        if self.sock is None:
            return
        m = len(buf)
        self._hdr(_OP_WRITE, m)
        self._put(buf, m)

    def readinto(self, buf, write=0):
        """Clock out len(buf) bytes of `write`; MISO into buf."""
        if self.sock is None:
            self._float(buf)
            return
        self._hdr(_OP_READ, len(buf))
        self.out[self.n] = write
        self.n += 1
        self._reply(buf)

    def write_readinto(self, wbuf, rbuf):
        """Full duplex: wbuf out, MISO into rbuf (same length)."""
        if self.sock is None:
            self._float(rbuf)
            return
        m = len(wbuf)
        self._hdr(_OP_XFER, m)
        self._put(wbuf, m)
        self._reply(rbuf)

    def _op(self, op, arg=-1):
        # a one-way message: queued, sent with the next flush (order is kept)
        if self.sock is None:
            return
        if self.n + 2 > _CAP:
            self._flush()
        self.out[self.n] = op
        self.n += 1
        if arg >= 0:
            self.out[self.n] = arg
            self.n += 1

    def irq_off(self):
        """machine.disable_irq() stand-in -> a state for irq_on()."""
        self._op(_OP_IRQ_OFF)
        return 0

    def irq_on(self, state):
        """machine.enable_irq(state) stand-in."""
        self._op(_OP_IRQ_ON)
        self._flush()

    def control(self, req):
        """Emulator control (allocates; not for the packet path): req is JSON bytes/str."""
        if self.sock is None:
            return None
        if isinstance(req, str):
            req = req.encode()
        self._hdr(_OP_CONTROL, len(req))
        self._put(req, len(req))
        self._flush()
        h = bytearray(4)
        self._sr(h)
        ln = (h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]
        body = bytearray(ln)
        self._sr(body)
        return bytes(body)


class LinkPin:
    """machine.Pin stand-in for chip select on a LinkSPI."""

    def __init__(self, spi):
        self.spi = spi
        self.level = 1

    def value(self, v=None):
        if v is None:
            return self.level
        v = 1 if v else 0
        if v != self.level:
            self.level = v
            self.spi.cs(v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class FakeWiznet5k:
    """network.WIZNET5K stand-in: active(v) reaches the emulator's model of the firmware."""

    def __init__(self, spi, mac, up=True):
        self.spi = spi
        self.mac = bytes(mac)
        self.up = up

    def active(self, v=None):
        if v is None:
            return self.up
        self.up = bool(v)
        self.spi._op(_OP_FW_ACTIVE, 1 if v else 0)
        self.spi._flush()
        return None

    def config(self, key):
        return self.mac


class _Irq:
    def __init__(self, spi):
        self.spi = spi
        self.t = 4  # armed on the falling edge, as network_wiznet5k.c leaves it

    def trigger(self, t=-1):
        prev = self.t
        if t >= 0:
            self.t = t
            self.spi._op(_OP_INTN, t)
            self.spi._flush()
        return prev


class IntnPin:
    """machine.Pin stand-in for INTn: irq() gives the object whose trigger() the driver uses."""

    def __init__(self, spi):
        self._irq = _Irq(spi)

    def irq(self):
        return self._irq
