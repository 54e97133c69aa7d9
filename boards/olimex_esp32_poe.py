# Olimex ESP32-POE / ESP32-POE-ISO: ESP32 + LAN8720 on the internal EMAC (RMII).
# MDC 23, MDIO 18, PHY address 0, PHY power GPIO12; the ESP32 drives the 50 MHz
# RMII clock out on GPIO17 (GPIO0 on WROVER modules) (MicroPython quickref;
# ports/esp32/boards/OLIMEX_ESP32_POE/sdkconfig.board).
# Memory map: netdump/board.py (ESP32).
from netdump import board
from netdump.elfcore import EM_XTENSA

NAME = "olimex_esp32_poe"
DESCRIPTION = "Olimex ESP32-POE / POE-ISO (ESP32 + LAN8720)"
CHIP = "esp32"
ARCH = "xtensa"
MACHINE = EM_XTENSA
ELFCLASS = 32
MPY_ARCH = "xtensawin"

SAFE = board.ESP32_SAFE  # DRAM, RTC SLOW
REGIONS = board.ESP32_REGIONS  # DRAM

# lan: netdump's polled EMAC driver (netdump/drivers/esp32_emac.py) and its own Ethernet
# stack, taking the EMAC over from network.LAN at the fault; lan-udp: the UDP socket
# endpoint over network.LAN (ESP-IDF driver + lwIP), the choice before that driver existed;
# wlan: the ESP32's Wi-Fi through the UDP socket endpoint.
IFACES = {"lan": "ether", "lan-udp": "socket", "wlan": "socket"}
DEFAULT_IFACE = "lan"
NIC = {"chip": "lan8720", "mdc": 23, "mdio": 18, "phy_addr": 0, "power": 12, "ref_clk": 17, "ref_clk_out": True}

safe_ranges = board.fixed(SAFE)
default_regions = board.fixed(REGIONS)
reset = board.reset


def _lan():
    return board.lan8720(NIC)


def make_nic():
    """The polled EMAC frame NIC, to take over from network.LAN at the fault (arm time)."""
    return board.esp32_emac(NIC)


def make_endpoint(conf):
    """The endpoint for conf["iface"] (arm time)."""
    return board.endpoint(conf, IFACES, nic=make_nic, lan=_lan)


def iface_address(iface):
    """(address, netmask, gateway) of the active network.LAN or Wi-Fi station, else None."""
    if iface == "wlan":
        return board.wlan_address()
    return board.lan_address(_lan)
