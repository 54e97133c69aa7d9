"""Register link: the ESP32 EMAC's register bus carried over a local stream socket.

A driver running on the MicroPython unix port cannot map the EMAC's registers
(0x3FF69000...), so each register access is forwarded, in order, to the
emulator (esp32_emac_emu), which serves this protocol on a unix stream socket.
Descriptors and buffers are not forwarded: they are real memory of the client
process, which the emulated DMA reads and writes directly (process_vm_readv/
writev; the emulator learns the client's pid from the socket, SO_PEERCRED).

Byte stream from client to server, messages back to back, integers big-endian:

  'R' addr:u32                      0x52  read a register; reply: value:u32
  'W' addr:u32 value:u32            0x57  write a register; no reply
  'B' addr:u32 clear:u32 set:u32    0x42  read-modify-write (reg & ~clear | set); no reply
  'M' bus:u32 size:u32 real:u64     0x4D  the DMA sees the client's memory [real, real+size)
                                          at bus address `bus`; reply: 0:u32
  'I'                               0x49  network.LAN.active(False) on the modelled ESP-IDF
                                          driver (esp_eth_stop); reply: result:u32 (0 = ok)
  'A'                               0x41  network.LAN.active(True) on it (esp_eth_start);
                                          reply: result:u32 (0 = ok)
  'S'                               0x53  statistics; reply: len:u32 + JSON object
  'C' n:u16 json[n]                 0x43  control, e.g. {"link": false}, {"tx_stall": true},
                                          {"reset_stats": true}, {"receive": HEX, "count": n}
                                          (n frames arrive from the cable); reply: len:u32 +
                                          JSON (stats)

Writes are not answered, so a poll demand costs one message and no round trip;
a read waits for everything sent before it. Also here: LinkRegs (the CPython
client) and DirectRegs (the same register interface wired straight to an
emulated EMAC in this process, its DMA reading this process's memory).
The MicroPython client is host_tests/mp_emac/emac_stub.py.
"""
import json
import socket
import struct

OP_READ = 0x52
OP_WRITE = 0x57
OP_MODIFY = 0x42
OP_MAP = 0x4D
OP_IDF_STOP = 0x49
OP_IDF_START = 0x41
OP_STATS = 0x53
OP_CONTROL = 0x43
_LEN = {OP_READ: 5, OP_WRITE: 9, OP_MODIFY: 13, OP_MAP: 17, OP_IDF_STOP: 1, OP_IDF_START: 1, OP_STATS: 1}


def peer_pid(sock):
    """Process id of the peer of a connected AF_UNIX socket (Linux SO_PEERCRED), or None."""
    try:
        cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    return struct.unpack("3i", cred)[0]


class RegSession:
    """Server side of one client connection: parses messages, drives the emulator.

    server: the EmacServer (emac, idf, stats(), control(), map_client(pid, ...))."""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.pid = peer_pid(sock)
        self.buf = bytearray()

    def on_readable(self):
        """Read what is available and act on every complete message; False on EOF."""
        try:
            data = self.sock.recv(262144)
        except OSError:
            data = b""
        if not data:
            return False
        self.buf += data
        out = bytearray()
        b = self.buf
        i = 0
        n = len(b)
        srv = self.server
        emac = srv.emac
        while i < n:
            op = b[i]
            if op == OP_CONTROL:
                if i + 3 > n:
                    break
                ln = (b[i + 1] << 8) | b[i + 2]
                if i + 3 + ln > n:
                    break
                req = json.loads(bytes(b[i + 3 : i + 3 + ln]).decode() or "{}")
                out += self._reply(srv.control(req))
                i += 3 + ln
                continue
            k = _LEN.get(op)
            if k is None:
                return False  # protocol error: drop the client
            if i + k > n:
                break
            if op == OP_READ:
                (a,) = struct.unpack_from("!I", b, i + 1)
                out += struct.pack("!I", emac.read(a))
            elif op == OP_WRITE:
                a, v = struct.unpack_from("!II", b, i + 1)
                emac.write(a, v)
            elif op == OP_MODIFY:
                a, c, s = struct.unpack_from("!III", b, i + 1)
                emac.modify(a, c, s)
            elif op == OP_MAP:
                bus, size, real = struct.unpack_from("!IIQ", b, i + 1)
                srv.map_client(self.pid, bus, size, real)
                out += struct.pack("!I", 0)
            elif op == OP_IDF_STOP:
                out += struct.pack("!I", srv.idf_stop())
            elif op == OP_IDF_START:
                out += struct.pack("!I", srv.idf_start())
            elif op == OP_STATS:
                out += self._reply(srv.stats())
            i += k
            srv.after_access()
        del self.buf[:i]
        if out:
            self.sock.sendall(out)
        return True

    @staticmethod
    def _reply(obj):
        data = json.dumps(obj, sort_keys=True).encode()
        return struct.pack("!I", len(data)) + data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class LinkRegs:
    """CPython register-bus client over the link: the register interface of
    netdump.drivers.esp32_emac (rd, wr, mod, dma_window) plus idf_stop/idf_start/stats/control."""

    def __init__(self, path, dram_bus=0x3FFB0000, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.dram_bus = dram_bus

    def _recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            k = self.sock.recv(n - len(buf))
            if not k:
                raise OSError("register link closed by the emulator")
            buf += k
        return bytes(buf)

    def rd(self, addr, shift):
        """Bits shift+29..shift of the register (what the board's viper read returns)."""
        self.sock.sendall(struct.pack("!BI", OP_READ, addr))
        return (struct.unpack("!I", self._recv(4))[0] >> shift) & 0x3FFFFFFF

    def wr(self, addr, value):
        self.sock.sendall(struct.pack("!BII", OP_WRITE, addr, value & 0xFFFFFFFF))

    def mod(self, addr, clear, set_):
        self.sock.sendall(struct.pack("!BIII", OP_MODIFY, addr, clear, set_))

    def dma_window(self, real, size):
        """Let the DMA see [real, real+size) of this process at dram_bus (+ real's low bits)."""
        bus = self.dram_bus + (real & 0x1F)
        self.sock.sendall(struct.pack("!BIIQ", OP_MAP, bus, size, real))
        self._recv(4)
        return bus

    def idf_stop(self):
        self.sock.sendall(bytes([OP_IDF_STOP]))
        return struct.unpack("!I", self._recv(4))[0]

    def idf_start(self):
        self.sock.sendall(bytes([OP_IDF_START]))
        return struct.unpack("!I", self._recv(4))[0]

    def _json(self):
        (n,) = struct.unpack("!I", self._recv(4))
        return json.loads(self._recv(n).decode())

    def stats(self):
        self.sock.sendall(bytes([OP_STATS]))
        return self._json()

    def control(self, **req):
        data = json.dumps(req).encode()
        self.sock.sendall(struct.pack("!BH", OP_CONTROL, len(data)) + data)
        return self._json()

    def close(self):
        self.sock.close()


class DirectRegs:
    """The register interface wired straight to an emulated EMAC in this process;
    dma_window() lets the DMA reach this process's memory (ctypes)."""

    def __init__(self, emac, idf=None, dram_bus=0x3FFB0000):
        from .esp32_emac_emu import LocalMemory

        self.emac = emac
        self.idf = idf
        self.dram_bus = dram_bus
        self._mem = LocalMemory()

    def _after(self):
        if self.idf is not None:
            self.idf.service()

    def rd(self, addr, shift):
        v = (self.emac.read(addr) >> shift) & 0x3FFFFFFF
        self._after()
        return v

    def wr(self, addr, value):
        self.emac.write(addr, value)
        self._after()

    def mod(self, addr, clear, set_):
        self.emac.modify(addr, clear, set_)
        self._after()

    def dma_window(self, real, size):
        bus = self.dram_bus + (real & 0x1F)
        self.emac.bus.map(bus, size, self._mem, real)
        return bus

    def idf_stop(self):
        return self.idf.stop() if self.idf is not None else 1

    def idf_start(self):
        return self.idf.start() if self.idf is not None else 1
