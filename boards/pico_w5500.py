# Raspberry Pi Pico (RP2040) + a W5500 module on SPI0, wired like the W5500-EVB-Pico.
# (The "WIZnet Ethernet HAT" carries a W5100S, not a W5500: not this board.)
# Pins as on W5500-EVB-Pico, MicroPython ports/rp2/boards/W5500_EVB_PICO/mpconfigboard.h (MISO GP16,
# CS GP17, SCK GP18, MOSI GP19, RST GP20, INT GP21, 20 MHz); memory map:
# pico-sdk src/rp2040/hardware_regs/include/hardware/regs/addressmap.h.
from netdump.elfcore import EM_ARM

NAME = "pico_w5500"
DESCRIPTION = "Raspberry Pi Pico + W5500 module (RP2040)"
CHIP = "rp2040"
ARCH = "arm"  # kerneldumpheader architecture string
MACHINE = EM_ARM
ELFCLASS = 32
MPY_ARCH = "armv6m"  # Cortex-M0+

# Readable RAM only: SRAM0-3 striped (256 KiB) + SRAM4/5 scratch X/Y (the C
# stack under MicroPython), and the USB DPRAM. Peripherals (0x40000000+,
# 0x50000000+ except DPRAM, SIO 0xD0000000, PPB 0xE0000000) are never dumped.
SAFE = (
    ("sram", 0x20000000, 0x42000),
    ("usb_dpram", 0x50100000, 0x1000),
)
REGIONS = (("sram", 0x20000000, 0x42000),)

IFACES = {"w5500": "ether"}  # polled MACRAW driver + netdump's own Ethernet stack
DEFAULT_IFACE = "w5500"
NIC = {"chip": "w5500", "spi": 0, "baudrate": 20000000, "sck": 18, "mosi": 19, "miso": 16, "cs": 17,
       "rst": 20, "int": 21}


def safe_ranges():
    """(name, address, size) ranges that are safe to read."""
    return SAFE


def default_regions():
    """What to dump when the configuration names no regions."""
    return REGIONS


def make_nic():
    """The W5500 frame NIC on this board's SPI bus (arm time)."""
    import machine
    from netdump.drivers.w5500 import W5500

    n = NIC
    spi = machine.SPI(n["spi"], baudrate=n["baudrate"], sck=machine.Pin(n["sck"]), mosi=machine.Pin(n["mosi"]),
                      miso=machine.Pin(n["miso"]))
    return W5500(spi, machine.Pin(n["cs"], machine.Pin.OUT), machine.Pin(n["rst"], machine.Pin.OUT))


def make_endpoint(conf):
    """The endpoint for conf["iface"] (arm time)."""
    from netdump import config

    return config.ether_endpoint(conf, make_nic())


def iface_address(iface):
    """(address, netmask, gateway) of MicroPython's own WIZNET5K interface when active, else None."""
    try:
        import network

        from netdump import config

        return config.lan_address(network.WIZNET5K())
    except (ImportError, AttributeError, OSError, TypeError):
        return None


def reset():
    """Reboot the board."""
    import machine

    machine.reset()
