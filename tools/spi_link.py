"""SPI link: an SPI bus (with its chip-select line) carried over a local stream socket.

The emulated chip (w5500_emu) is the server; the host side is a driver using an
SPI/Pin stand-in (CPython: LinkSPI/LinkPin below; MicroPython, allocation-free:
host_tests/mp_w5500/spi_stub.py). Byte stream from client to server, messages
back to back, all integers big-endian:

  'L'                      0x4C  chip select falls (an SPI transaction begins)
  'H'                      0x48  chip select rises (the transaction ends)
  'W' n:u16 data[n]        0x57  clock n bytes out; MISO discarded; no reply
  'R' n:u16 fill:u8        0x52  clock n bytes of `fill` out; reply: n MISO bytes
  'X' n:u16 data[n]        0x58  full duplex; reply: n MISO bytes
  'S'                      0x53  statistics; reply: len:u32 + JSON object
  'C' n:u16 json[n]        0x43  control, e.g. {"link": false}, {"reset_stats": true},
                                 {"hard_reset": true}; reply: len:u32 + JSON (stats)
  'D'                      0x44  the board masks its interrupts (machine.disable_irq)
  'E'                      0x45  ... and unmasks them (machine.enable_irq)
  'F' v:u8                 0x46  the firmware's WIZNET5K: active(v)
  'G' t:u8                 0x47  the INTn pin interrupt's trigger set to t (0: masked)

'D' to 'G' reach the model of the firmware's own driver on the same bus
(tools/fw_wiznet5k.py) when one is attached to the chip, and are ignored
otherwise.

Only 'R', 'X', 'S' and 'C' are answered, so a write-only transaction
(L W H) costs no round trip. One transaction = one L..H pair with at least one
byte clocked; the emulator counts transactions and bytes.

Also here: DirectSPI/DirectPin, the same stand-ins wired straight to a
w5500_emu.W5500 object in the same process (benchmarks, fast tests).
"""
import json
import socket
import struct

OP_LOW = 0x4C
OP_HIGH = 0x48
OP_WRITE = 0x57
OP_READ = 0x52
OP_XFER = 0x58
OP_STATS = 0x53
OP_CONTROL = 0x43
OP_IRQ_OFF = 0x44
OP_IRQ_ON = 0x45
OP_FW_ACTIVE = 0x46
OP_INTN = 0x47
MAX_CHUNK = 0xFFFF


class LinkSession:
    """Server side of one client connection: parses messages, drives the chip."""

    def __init__(self, chip, sock):
        self.chip = chip
        self.sock = sock
        self.buf = bytearray()

    def on_readable(self):
        """Read what is available and act on every complete message; False on EOF."""
        try:
            data = self.sock.recv(262144)
        except OSError:
            data = b""
        if not data:
            self.chip.end()  # a vanished client releases chip select
            return False
        self.buf += data
        out = bytearray()
        b = self.buf
        i = 0
        n = len(b)
        while i < n:
            op = b[i]
            if op == OP_LOW:
                self.chip.begin()
                i += 1
            elif op == OP_HIGH:
                self.chip.end()
                i += 1
            elif op in (OP_WRITE, OP_XFER, OP_CONTROL):
                if i + 3 > n:
                    break
                ln = (b[i + 1] << 8) | b[i + 2]
                if i + 3 + ln > n:
                    break
                payload = bytes(b[i + 3 : i + 3 + ln])
                if op == OP_WRITE:
                    self.chip.transfer(payload)
                elif op == OP_XFER:
                    out += self.chip.transfer(payload)
                else:
                    out += self._reply(self._control(json.loads(payload.decode() or "{}")))
                i += 3 + ln
            elif op == OP_READ:
                if i + 4 > n:
                    break
                ln = (b[i + 1] << 8) | b[i + 2]
                out += self.chip.transfer(bytes([b[i + 3]]) * ln)
                i += 4
            elif op == OP_STATS:
                out += self._reply(self.chip.stats)
                i += 1
            elif op in (OP_IRQ_OFF, OP_IRQ_ON):
                fw = self.chip.firmware
                if fw is not None:
                    fw.set_masked(op == OP_IRQ_OFF)
                i += 1
            elif op in (OP_FW_ACTIVE, OP_INTN):
                if i + 2 > n:
                    break
                fw = self.chip.firmware
                if fw is not None:
                    if op == OP_INTN:
                        fw.set_trigger(b[i + 1])
                    elif b[i + 1]:
                        fw.activate()
                    else:
                        fw.deactivate()
                i += 2
            else:
                return False  # protocol error: drop the client
        del self.buf[:i]
        if out:
            self.sock.sendall(out)
        return True

    def _control(self, req):
        chip = self.chip
        if "link" in req:
            chip.link = bool(req["link"])
        if req.get("reset_stats"):
            chip.reset_stats()
        if req.get("hard_reset"):
            chip.hard_reset()
        return chip.stats

    @staticmethod
    def _reply(obj):
        data = json.dumps(obj, sort_keys=True).encode()
        return struct.pack("!I", len(data)) + data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class LinkSPI:
    """CPython SPI stand-in over the link: write/readinto/write_readinto like machine.SPI."""

    def __init__(self, address, timeout=5.0):
        if isinstance(address, str) and "/" in address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
            if isinstance(address, tuple):
                host, port = address
            self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            address = (host.strip("[]"), int(port))
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.out = bytearray()

    def _flush(self):
        if self.out:
            self.sock.sendall(self.out)
            self.out = bytearray()

    def _recv(self, n):
        buf = bytearray(n)
        mv = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(mv[got:])
            if not k:
                raise OSError("SPI link closed by the emulator")
            got += k
        return buf

    def cs(self, level):
        self.out.append(OP_HIGH if level else OP_LOW)
        if level:
            self._flush()

    def write(self, buf):
        mv = memoryview(buf)
        for i in range(0, len(mv), MAX_CHUNK):
            part = mv[i : i + MAX_CHUNK]
            self.out += struct.pack("!BH", OP_WRITE, len(part)) + bytes(part)

    def readinto(self, buf, write=0):
        mv = memoryview(buf)
        for i in range(0, len(mv), MAX_CHUNK):
            k = min(MAX_CHUNK, len(mv) - i)
            self.out += struct.pack("!BHB", OP_READ, k, write)
            self._flush()
            mv[i : i + k] = self._recv(k)

    def write_readinto(self, wbuf, rbuf):
        w = memoryview(wbuf)
        r = memoryview(rbuf)
        for i in range(0, len(w), MAX_CHUNK):
            part = w[i : i + MAX_CHUNK]
            self.out += struct.pack("!BH", OP_XFER, len(part)) + bytes(part)
            self._flush()
            r[i : i + len(part)] = self._recv(len(part))

    def stats(self):
        """The emulator's statistics dict."""
        self.out.append(OP_STATS)
        self._flush()
        (n,) = struct.unpack("!I", self._recv(4))
        return json.loads(self._recv(n).decode())

    def control(self, **req):
        """Send a control request (link=, reset_stats=, hard_reset=); returns the stats."""
        data = json.dumps(req).encode()
        self.out += struct.pack("!BH", OP_CONTROL, len(data)) + data
        self._flush()
        (n,) = struct.unpack("!I", self._recv(4))
        return json.loads(self._recv(n).decode())

    def close(self):
        self.sock.close()


class DirectSPI:
    """SPI stand-in wired straight to an in-process emulated chip (no socket)."""

    def __init__(self, chip):
        self.chip = chip

    def cs(self, level):
        if level:
            self.chip.end()
        else:
            self.chip.begin()

    def write(self, buf):
        self.chip.transfer(bytes(buf))

    def readinto(self, buf, write=0):
        memoryview(buf)[:] = self.chip.transfer(bytes([write]) * len(buf))

    def write_readinto(self, wbuf, rbuf):
        memoryview(rbuf)[:] = self.chip.transfer(bytes(wbuf))

    def irq_off(self):
        """machine.disable_irq() on the board: the firmware model's interrupts wait -> state."""
        if self.chip.firmware is not None:
            self.chip.firmware.set_masked(True)
        return 0

    def irq_on(self, state):
        """machine.enable_irq(state)."""
        if self.chip.firmware is not None:
            self.chip.firmware.set_masked(False)


class LinkPin:
    """Chip-select pin stand-in: value(0) starts an SPI transaction, value(1) ends it."""

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

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


DirectPin = LinkPin
