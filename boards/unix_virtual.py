# The virtual board: the MicroPython unix port run by tools/vboard.py on a pty,
# so mpremote talks to it as to a real board. Its "RAM" is one bytearray of
# this process (RAM_SIZE bytes) that applications write into; its address is
# known only at run time, so regions are best given relative to the safe
# range: "ram+0x1000:4K". The RAM is allocated at power-on (boot(), or the
# first safe_ranges()), not at import: importing this module costs a board
# nothing. Its filesystem is the board directory (the current directory of
# the process). Never frozen into firmware (manifest.py: host only).
#
# Interfaces: "udp" = the UDP socket endpoint on the host's stack (needs root
# for SOCK_RAW, see netdump/endpoint.py); "vnic" = netdump's own Ethernet
# stack (netdump.ether) over the frame NIC (drivers/vnic.py) on tools/vnet.py
# (no root). DEFAULT_IFACE picks one when dumpon is given no interface.
#
# Its hardware watchdog: WDT below, which tools/vboard.py enforces (the
# configuration's "wdt" key starts it through make_wdt).
#
# Board data read by netdump.board, and functions where data cannot say it
# (netdump.board HOOKS): its RAM, NIC, watchdog, reset and addresses.
import os

from netdump import fast

NAME = "unix_virtual"
DESCRIPTION = "virtual board (MicroPython unix port on a pty)"
CHIP = "unix"  # netdump.board.chip: EM_X86_64, ELF class 64, "amd64"

RAM_SIZE = 256 * 1024
RAM = None  # the board's RAM for its whole life: a bytearray from power-on (_ram())
DYNAMIC_RANGES = True  # addresses differ per process: host tools check relative regions only

IFACES = {"udp": "socket", "vnic": "ether"}
DEFAULT_IFACE = "vnic"  # no root needed; "udp" is the other choice
# the frame NIC: tools/vnet.py's NIC port and this board's MAC, from the environment
# (tools/vboard.py --vnet-port/--mac set them)
NIC = {"chip": "vnic", "port_env": "NETDUMP_VNET_PORT", "mac_env": "NETDUMP_VNIC_MAC", "mac": "02:00:00:00:00:01"}


def _ram():
    global RAM
    if RAM is None:
        RAM = bytearray(RAM_SIZE)
    return RAM


def safe_ranges():
    """(name, address, size) ranges that are safe to read: the RAM bytearray."""
    return (("ram", fast.addr_of(_ram()), RAM_SIZE),)


def default_regions():
    """What to dump when the configuration names no regions."""
    return safe_ranges()


def make_nic():
    """The frame NIC on the virtual network (arm time)."""
    from netdump.drivers import vnic

    port = os.getenv(NIC["port_env"])
    return vnic.VNic(os.getenv(NIC["mac_env"]) or NIC["mac"], port=int(port) if port else vnic.DEFAULT_PORT)


def iface_address(iface):
    """(address, netmask, gateway) of an interface: loopback for udp, $NETDUMP_VNIC_ADDR for vnic."""
    if iface == "udp":
        return ("127.0.0.1", "255.0.0.0", "")
    a = os.getenv("NETDUMP_VNIC_ADDR")
    if not a:
        return None
    return (a, os.getenv("NETDUMP_VNIC_NETMASK") or "255.255.255.0", os.getenv("NETDUMP_VNIC_GATEWAY") or "")


class WDT:
    """machine.WDT for the virtual board: tools/vboard.py resets the board (ends its process)
    when feed() is not called within timeout ms. rp2's limit applies: at most 8388 ms
    (micropython/micropython ports/rp2/machine_wdt.c WDT_TIMEOUT_MAX); it cannot be stopped."""

    MAX_MS = 8388

    def __init__(self, id=0, timeout=5000):  # arm-time
        import socket

        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        if not 1 <= timeout <= self.MAX_MS:
            raise ValueError("timeout exceeds %d" % self.MAX_MS)
        port = os.getenv("NETDUMP_VBOARD_WDT_PORT")  # tools/vboard.py WDT_ENV
        if not port:
            raise ValueError("no watchdog here: run the board with netdump-vboard")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(socket.getaddrinfo("127.0.0.1", int(port))[0][-1])
        self._sock = s
        self._w = s.write  # write(buf, off, n) allocates nothing (docs/allocation.md#sockets-select-and-time)
        self._f = bytearray(b"F")
        t = ("T%d" % timeout).encode()
        self._w(t, 0, len(t))
        self.feed()

    def feed(self):
        """The watchdog goes on for another timeout (allocation-free)."""
        try:
            self._w(self._f, 0, 1)
        except Exception:  # noqa: BLE001 - under heap_lock an OSError arrives as MemoryError
            pass


def make_wdt(timeout_ms):
    """The virtual board's hardware watchdog, started (netdump.panic.arm_config's "wdt")."""
    return WDT(timeout=timeout_ms)


def reset():
    """Reboot: end the process (tools/vboard.py starts it again)."""
    import sys

    sys.exit(0)


def boot():
    """Power-on: allocate the RAM, then run boot.py and main.py from the board directory."""
    _ram()
    for name in ("boot.py", "main.py"):
        try:
            os.stat(name)
        except OSError:
            continue
        if name == "main.py" and os.getenv("NETDUMP_VBOARD_RAW"):
            continue  # a soft reset into the raw REPL skips main.py, as on boards
        with open(name) as f:
            code = f.read()
        try:
            exec(code, {"__name__": "__main__"})
        except SystemExit:
            raise
        except BaseException as e:  # a board prints the error and goes on to the REPL
            import sys

            sys.print_exception(e)
