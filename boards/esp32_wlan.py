# Any ESP32 board on Wi-Fi (ESP32_GENERIC firmware, network.WLAN station).
# Dumps go through the port's lwIP sockets (netdump.endpoint, stack "esp32"),
# so the Wi-Fi driver and network stack must still be alive at the fault; the
# application joins the network before arming. Memory map: netdump/board.py (ESP32).
from netdump import board
from netdump.elfcore import EM_XTENSA

NAME = "esp32_wlan"
DESCRIPTION = "ESP32 on Wi-Fi (network.WLAN)"
CHIP = "esp32"
ARCH = "xtensa"  # kerneldumpheader architecture string
MACHINE = EM_XTENSA
ELFCLASS = 32
MPY_ARCH = "xtensawin"

SAFE = board.ESP32_SAFE  # DRAM, RTC FAST, RTC SLOW
REGIONS = board.ESP32_REGIONS  # DRAM

IFACES = {"wlan": "socket"}
DEFAULT_IFACE = "wlan"
NIC = {"chip": "wlan"}  # the ESP32's own Wi-Fi, driven by ESP-IDF

safe_ranges = board.fixed(SAFE)
default_regions = board.fixed(REGIONS)
reset = board.reset


def make_endpoint(conf):
    """The UDP socket endpoint over the connected Wi-Fi station (arm time)."""
    return board.endpoint(conf, IFACES)


def iface_address(iface):
    """(address, netmask, gateway) of the connected Wi-Fi station, else None."""
    return board.wlan_address()
