# Raspberry Pi Pico W: RP2040 + CYW43439 Wi-Fi (RPI_PICO_W firmware,
# network.WLAN station). Dumps go through the port's lwIP sockets
# (extmod/modlwip.c; netdump.endpoint, stack "lwip"), so the CYW43 driver and
# lwIP must still be alive at the fault; the application joins the network
# before arming. Memory map: netdump/board.py (RP2040).
from netdump import board
from netdump.elfcore import EM_ARM

NAME = "pico_w"
DESCRIPTION = "Raspberry Pi Pico W (RP2040 + CYW43439 Wi-Fi)"
CHIP = "rp2040"
ARCH = "arm"  # kerneldumpheader architecture string
MACHINE = EM_ARM
ELFCLASS = 32
MPY_ARCH = "armv6m"  # Cortex-M0+

SAFE = board.RP2040_SAFE  # SRAM and USB DPRAM
REGIONS = board.RP2040_REGIONS  # SRAM

IFACES = {"wlan": "socket"}
DEFAULT_IFACE = "wlan"
NIC = {"chip": "cyw43"}  # on-board Wi-Fi over PIO SPI, driven by the firmware's cyw43-driver

safe_ranges = board.fixed(SAFE)
default_regions = board.fixed(REGIONS)
reset = board.reset


def make_endpoint(conf):
    """The UDP socket endpoint over the connected Wi-Fi station (arm time)."""
    return board.endpoint(conf, IFACES)


def iface_address(iface):
    """(address, netmask, gateway) of the connected Wi-Fi station, else None."""
    return board.wlan_address()
