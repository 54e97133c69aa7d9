# WIZnet W5500-EVB-Pico: RP2040 + W5500 on SPI0.
# Pins: MicroPython ports/rp2/boards/W5500_EVB_PICO/mpconfigboard.h (MISO GP16,
# CS GP17, SCK GP18, MOSI GP19, RST GP20, INT GP21, 20 MHz); memory map:
# netdump/board.py (RP2040).
from netdump import board
from netdump.elfcore import EM_ARM

NAME = "w5500_evb_pico"
DESCRIPTION = "WIZnet W5500-EVB-Pico (RP2040 + W5500)"
CHIP = "rp2040"
ARCH = "arm"  # kerneldumpheader architecture string
MACHINE = EM_ARM
ELFCLASS = 32
MPY_ARCH = "armv6m"  # Cortex-M0+

SAFE = board.RP2040_SAFE  # SRAM and USB DPRAM
REGIONS = board.RP2040_REGIONS  # SRAM

# w5500: netdump's polled MACRAW driver + its own Ethernet stack (needs nothing
# else alive); lan: the firmware's network.WIZNET5K (lwIP over the W5500)
# through the UDP socket endpoint (lwIP must still be alive at the fault)
IFACES = {"w5500": "ether", "lan": "socket"}
DEFAULT_IFACE = "w5500"
NIC = {"chip": "w5500", "spi": 0, "baudrate": 20000000, "sck": 18, "mosi": 19, "miso": 16, "cs": 17,
       "rst": 20, "int": 21}

safe_ranges = board.fixed(SAFE)
default_regions = board.fixed(REGIONS)
reset = board.reset


def make_nic():
    """The W5500 frame NIC on this board's SPI bus (arm time)."""
    return board.w5500(NIC)


def make_endpoint(conf):
    """The endpoint for conf["iface"] (arm time)."""
    return board.endpoint(conf, IFACES, nic=make_nic, lan=board.wiznet5k)


def iface_address(iface):
    """(address, netmask, gateway) of MicroPython's own WIZNET5K interface when active, else None."""
    return board.wiznet5k_address()
