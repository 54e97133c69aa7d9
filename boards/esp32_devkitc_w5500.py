# ESP32-DevKitC + a W5500 module on VSPI, the common wiring (SCK 18, MISO 19,
# MOSI 23, CS 5, INT 22, RST 26; esphome PR #4424 user configs). ESP-IDF's
# example default (HSPI 14/13/12/15, INT 4) puts MISO on strap pin GPIO12, so
# it is not the default here. Memory map: netdump/board.py (ESP32).
from netdump import board
from netdump.elfcore import EM_XTENSA

NAME = "esp32_devkitc_w5500"
DESCRIPTION = "ESP32-DevKitC + W5500 module (ESP32)"
CHIP = "esp32"
ARCH = "xtensa"  # kerneldumpheader architecture string
MACHINE = EM_XTENSA
ELFCLASS = 32
MPY_ARCH = "xtensawin"

SAFE = board.ESP32_SAFE  # DRAM, RTC SLOW
REGIONS = board.ESP32_REGIONS  # DRAM

# w5500 (default): netdump's polled W5500 driver; lan: MicroPython's
# network.LAN(phy_type=PHY_W5500) (ESP-IDF's SPI W5500 driver + lwIP) through the
# UDP socket endpoint; wlan: the ESP32's Wi-Fi, through the UDP socket endpoint too.
# This board has no RMII PHY: the ESP32 EMAC driver does not
# apply, its polled path is the w5500 interface.
IFACES = {"w5500": "ether", "lan": "socket", "wlan": "socket"}
DEFAULT_IFACE = "w5500"
NIC = {"chip": "w5500", "spi": 2, "baudrate": 16000000, "sck": 18, "mosi": 23, "miso": 19, "cs": 5,
       "rst": 26, "int": 22}

safe_ranges = board.fixed(SAFE)
default_regions = board.fixed(REGIONS)
reset = board.reset


def make_nic():
    """The W5500 frame NIC on VSPI (arm time)."""
    return board.w5500(NIC)


def _lan():
    return board.w5500_lan(NIC)


def make_endpoint(conf):
    """The endpoint for conf["iface"] (arm time)."""
    return board.endpoint(conf, IFACES, nic=make_nic, lan=_lan)


def iface_address(iface):
    """(address, netmask, gateway) of the active network.LAN or Wi-Fi station, else None."""
    if iface == "wlan":
        return board.wlan_address()
    return board.lan_address(_lan)
