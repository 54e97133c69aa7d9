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
w5500_emu.W5500 object in the same process (benchmarks, fast tests); and
BatchLinkServer, the server of a second, batched and timed link: the
emulated RP2040 of tools/rp2sim (w5500link.js documents its messages).
"""
import json
import os
import socket
import struct
import threading

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


# ---- the batched, timed link of the RP2040 test bed (tools/rp2sim/w5500link.js) -------------
# A different protocol on a different channel (a pair of pipes), little-endian:
BL_PREFETCH = 0x50  # 'P' t:f64 hdr:3 off:u16 -> status, n:u16, n bytes
BL_COMMIT = 0x43  # 'C' t0:f64 t1:f64 n:u32 mosi[n] miso[n] -> status
BL_STRAY = 0x53  # 'S' t:f64 n:u32 (no reply)
BL_RESET = 0x52  # 'R' t:f64 level:u8 -> status
BL_MEMORY = 0x4D  # 'M' t:f64 tag:u8 n:u32 data[n] (no reply)
# status = flags:u8 (bit 0 INTn level, bit 1 send a snapshot now, bits 7:2 its tag) + INTn seq:u32
_FDM_LEN = (0, 1, 2, 4)  # W5500 OM bits -> fixed data length (DS 2.2.2)
_REG_PREFETCH = 64  # a register block holds at most 0x3A bytes (DS 4.1)
_BUF_PREFETCH = 256  # first read of a TX/RX buffer; then as much again as already read
_MAX_PREFETCH = 16384


class BatchLinkServer:
    """Serves a W5500 emulator to the emulated RP2040 over two pipes: answers
    prefetches by peeking at the chip, runs each committed transaction on it at
    its simulated time, reports INTn in every reply, requests and collects
    SRAM snapshots. Frames from the cable that arrive while a transaction is
    open wait until it is committed (deliver()), so the bytes the CPU was given
    are the bytes the chip shifted out."""

    def __init__(self, chip, rfd, wfd, notify_int=None, on_snapshot=None):
        self.chip = chip
        self._rf = os.fdopen(rfd, "rb", buffering=1 << 16)
        self._wfd = wfd
        self.notify_int = notify_int  # notify_int(level, seq): INTn changed outside a link message
        self.on_snapshot = on_snapshot  # on_snapshot(tag, t_ns, data)
        self.snapshots = []  # (tag, t_ns, data) in arrival order
        # committed VDM transactions by (address, control byte, data bytes) of their first frame:
        # who touched which register how often (tests tell the firmware's driver from ours by it)
        self.headers = {}
        self.stats = dict(prefetches=0, prefetch_bytes=0, commits=0, commit_bytes=0, miso_mismatches=0,
                          stray_bytes=0, deferred_frames=0, snapshots=0, resets=0)
        self.last_ns = 0.0  # simulated time of the last message
        self._lock = threading.Lock()
        self._open = False
        self._deferred = []
        self._tag = None
        self._thread = None
        chip.on_int = self._int_changed

    # ---- the other threads' side ----------------------------------------------
    def deliver(self, frame):
        """A frame from the cable: to the chip now, or after the open transaction."""
        with self._lock:
            if self._open:
                self._deferred.append(bytes(frame))
                self.stats["deferred_frames"] += 1
                return
            self.chip.receive_frame(frame)

    def request_snapshot(self, tag):
        """Ask for an SRAM snapshot in the next commit reply (tag 0..63)."""
        self._tag = tag & 0x3F

    def _int_changed(self, level, seq):
        if threading.current_thread() is not self._thread and self.notify_int is not None:
            self.notify_int(level, seq)

    # ---- the pipe -------------------------------------------------------------------
    def start(self):
        """Serve in a daemon thread until the other side closes; returns self."""
        self._thread = threading.Thread(target=self._serve, name="rp2-spi-link", daemon=True)
        self._thread.start()
        return self

    def _read(self, n):
        b = self._rf.read(n)
        if b is None or len(b) < n:
            raise EOFError
        return b

    def _reply(self, extra=b""):
        chip = self.chip
        flags = chip._intn & 1
        if self._tag is not None:
            flags |= 2 | (self._tag << 2)
            self._tag = None
        data = struct.pack("<BI", flags, chip.int_seq & 0xFFFFFFFF) + extra
        view = memoryview(data)
        while view:
            view = view[os.write(self._wfd, view):]

    def _serve(self):
        try:
            while True:
                self._message(self._read(1)[0])
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._open = False
                frames, self._deferred = self._deferred, []
            for f in frames:
                self.chip.receive_frame(f)

    def _message(self, op):
        chip = self.chip
        if op == BL_PREFETCH:
            t, a_hi, a_lo, ctl, off = struct.unpack("<dBBBH", self._read(13))
            self.last_ns = t
            with self._lock:
                self._open = True
            chip.set_time(t)
            bsb, om = ctl >> 3, ctl & 3
            if om:
                n = max(1, _FDM_LEN[om] - off)
            elif bsb == 0 or (bsb - 1) & 3 == 0:
                n = _REG_PREFETCH
            else:
                n = min(_MAX_PREFETCH, max(_BUF_PREFETCH, off))
            data = chip.peek(bsb, ((a_hi << 8) | a_lo) + off, n)
            self.stats["prefetches"] += 1
            self.stats["prefetch_bytes"] += n
            self._reply(struct.pack("<H", n) + bytes(data))
        elif op == BL_COMMIT:
            t0, t1, n = struct.unpack("<ddI", self._read(20))
            mosi = self._read(n)
            miso = self._read(n)
            self.last_ns = t1
            chip.set_time(t0)
            chip.begin()
            real = chip.transfer(mosi)
            chip.set_time(t1)
            chip.end()
            if real != miso:
                self.stats["miso_mismatches"] += 1
            if n > 3 and not mosi[2] & 3:
                key = ((mosi[0] << 8) | mosi[1], mosi[2], n - 3)
                self.headers[key] = self.headers.get(key, 0) + 1
            self.stats["commits"] += 1
            self.stats["commit_bytes"] += n
            with self._lock:
                self._open = False
                frames, self._deferred = self._deferred, []
            for f in frames:
                chip.receive_frame(f)
            self._reply()
        elif op == BL_STRAY:
            t, n = struct.unpack("<dI", self._read(12))
            self.last_ns = t
            chip.set_time(t)
            chip.transfer(bytes(n))  # chip select high: the chip counts them as stray
            self.stats["stray_bytes"] += n
        elif op == BL_RESET:
            t, level = struct.unpack("<dB", self._read(9))
            self.last_ns = t
            chip.set_time(t)
            chip.rst_line(level)
            self.stats["resets"] += 0 if level else 1
            self._reply()
        elif op == BL_MEMORY:
            t, tag, n = struct.unpack("<dBI", self._read(13))
            data = self._read(n)
            self.last_ns = t
            self.snapshots.append((tag, t, data))
            self.stats["snapshots"] += 1
            if self.on_snapshot is not None:
                self.on_snapshot(tag, t, data)
        else:
            raise ValueError("SPI link: unknown message 0x%02x" % op)
