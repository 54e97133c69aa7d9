# WT32-ETH01: ESP32 + LAN8720 on the internal EMAC (RMII). MDC 23, MDIO 18,
# PHY address 1, 50 MHz oscillator into GPIO0, oscillator enable GPIO16 on
# v1.4 (MicroPython docs/esp32/quickref.rst). Board data, read by
# netdump.board; memory map: netdump/board.py (ESP32).
NAME = "wt32_eth01"
DESCRIPTION = "WT32-ETH01 (ESP32 + LAN8720)"
CHIP = "esp32"

# lan: netdump's polled EMAC driver (netdump/drivers/esp32_emac.py) and its own Ethernet
# stack, taking the EMAC over from network.LAN at the fault; lan-udp: the UDP socket
# endpoint over network.LAN (ESP-IDF driver + lwIP), the choice before that driver existed;
# wlan: the ESP32's Wi-Fi through the UDP socket endpoint.
IFACES = {"lan": "ether", "lan-udp": "socket", "wlan": "socket"}
DEFAULT_IFACE = "lan"
NIC = {"chip": "lan8720", "mdc": 23, "mdio": 18, "phy_addr": 1, "power": 16, "ref_clk": 0, "ref_clk_out": False,
       "lan": "lan8720"}
