# MicroPython side of the register link to the ESP32 EMAC emulator (protocol:
# tools/emac_link.py): the register interface of netdump.drivers.esp32_emac
# (rd, wr, mod, dma_window) and a network.LAN stand-in whose active(False)
# stops the emulator's model of ESP-IDF's driver. After construction nothing
# here allocates: preallocated message buffers, stream write(buf, off, n) and
# readinto() of exact sizes.
#
#   regs = LinkRegs("/path/to/regs.sock", dram_bus=0x3FFB0000)
#   lan = FakeLan(regs, mac)          # .active(v), .config("mac"), .config(mac=...)
#   nic = EMAC(lan=lan, phy_addr=1, regs=regs)
import socket

_OP_READ = 0x52
_OP_WRITE = 0x57
_OP_MODIFY = 0x42
_OP_MAP = 0x4D
_OP_IDF_STOP = 0x49
_OP_IDF_START = 0x41
_OP_CONTROL = 0x43
_AF_UNIX_LINUX = 1  # sa_family of struct sockaddr_un on Linux (little-endian u16)


def _unix_sockaddr(path):
    # MicroPython's unix-port connect() takes the raw struct sockaddr_un
    p = path.encode() if isinstance(path, str) else path
    a = bytearray(2 + len(p) + 1)
    a[0] = _AF_UNIX_LINUX
    a[2 : 2 + len(p)] = p
    return a


def _put32(b, i, v):
    b[i] = (v >> 24) & 0xFF
    b[i + 1] = (v >> 16) & 0xFF
    b[i + 2] = (v >> 8) & 0xFF
    b[i + 3] = v & 0xFF


class LinkRegs:
    """Register access over the link (allocation-free after construction)."""

    def __init__(self, path, dram_bus=0x3FFB0000, timeout_s=20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(_unix_sockaddr(path))
        s.settimeout(timeout_s)
        self.sock = s
        self._sw = s.write
        self._sr = s.readinto
        self.dram_bus = dram_bus
        self._msg = bytearray(17)
        self._rep = bytearray(4)
        self.reads = 0
        self.writes = 0

    def _recv4(self):
        r = self._rep
        got = self._sr(r, 4)
        if got != 4:
            raise OSError(5, "register link closed")
        return (r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]

    def rd(self, addr, shift):
        """Bits shift+29..shift of the register (what the board's viper read returns)."""
        m = self._msg
        m[0] = _OP_READ
        _put32(m, 1, addr)
        self._sw(m, 0, 5)
        self.reads += 1
        return (self._recv4() >> shift) & 0x3FFFFFFF

    def wr(self, addr, value):
        m = self._msg
        m[0] = _OP_WRITE
        _put32(m, 1, addr)
        _put32(m, 5, value)
        self._sw(m, 0, 9)
        self.writes += 1

    def mod(self, addr, clear, bits):
        m = self._msg
        m[0] = _OP_MODIFY
        _put32(m, 1, addr)
        _put32(m, 5, clear)
        _put32(m, 9, bits)
        self._sw(m, 0, 13)
        self.writes += 1

    def dma_window(self, real, size):
        """Arm time: the emulated DMA sees [real, real+size) of this process at dram_bus."""
        bus = self.dram_bus + (real & 0x1F)
        m = bytearray(17)
        m[0] = _OP_MAP
        _put32(m, 1, bus)
        _put32(m, 5, size)
        _put32(m, 9, real >> 32)
        _put32(m, 13, real & 0xFFFFFFFF)
        self._sw(m, 0, 17)
        self._recv4()
        return bus

    def idf_stop(self):
        """esp_eth_stop() on the emulator's model of ESP-IDF's driver -> its result (0 = ok)."""
        m = self._msg
        m[0] = _OP_IDF_STOP
        self._sw(m, 0, 1)
        return self._recv4()

    def idf_start(self):
        """esp_eth_start() on the emulator's model of ESP-IDF's driver -> its result (0 = ok)."""
        m = self._msg
        m[0] = _OP_IDF_START
        self._sw(m, 0, 1)
        return self._recv4()

    def control(self, req):
        """Emulator control (allocates; never on the packet path): req is JSON text -> reply text."""
        data = req.encode()
        m = bytearray(3 + len(data))
        m[0] = _OP_CONTROL
        m[1] = len(data) >> 8
        m[2] = len(data) & 0xFF
        m[3:] = data
        self._sw(m, 0, len(m))
        n = self._recv4()
        body = bytearray(n)
        self._sr(body, n)
        return bytes(body).decode()


class FakeLan:
    """The parts of network.LAN (MicroPython ports/esp32/network_lan.c) the driver uses.
    active(False) / active(True) run esp_eth_stop() / esp_eth_start() on the emulator's
    ESP-IDF model and, like lan_active(), raise OSError("ethernet disable failed" /
    "ethernet enable failed") if that fails."""

    def __init__(self, regs, mac, active=True):
        self.regs = regs
        self.mac = bytes(mac)
        self.on = active
        self.calls = 0
        self._e_disable = OSError(5, "ethernet disable failed")
        self._e_enable = OSError(5, "ethernet enable failed")

    def active(self, v=None):
        if v is None:
            return self.on
        self.calls += 1
        if not v and self.on:
            self.on = self.regs.idf_stop() != 0
            if self.on:
                raise self._e_disable
        elif v and not self.on:
            self.on = self.regs.idf_start() == 0
            if not self.on:
                raise self._e_enable
        return self.on

    def config(self, *args, **kw):
        if "mac" in kw:  # esp_eth_ioctl(ETH_CMD_S_MAC_ADDR) -> emac_hal_set_address
            m = self.mac = bytes(kw["mac"])
            self.regs.wr(0x3FF6A040, (m[5] << 8) | m[4])
            self.regs.wr(0x3FF6A044, m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24))
            return None
        if args and args[0] == "mac":
            return self.mac
        raise ValueError("unknown config param")
