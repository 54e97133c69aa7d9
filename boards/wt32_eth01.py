# WT32-ETH01: ESP32 + LAN8720 on the internal EMAC (RMII). MDC 23, MDIO 18,
# PHY address 1, 50 MHz oscillator into GPIO0, oscillator enable GPIO16 on
# v1.4 (MicroPython docs/esp32/quickref.rst).
# Memory map: netdump/board.py (ESP32).
from netdump import board
from netdump.elfcore import EM_XTENSA

NAME = "wt32_eth01"
DESCRIPTION = "WT32-ETH01 (ESP32 + LAN8720)"
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
NIC = {"chip": "lan8720", "mdc": 23, "mdio": 18, "phy_addr": 1, "power": 16, "ref_clk": 0, "ref_clk_out": False}

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
