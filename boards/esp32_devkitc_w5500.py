# ESP32-DevKitC + a W5500 module on VSPI, the common wiring (SCK 18, MISO 19,
# MOSI 23, CS 5, INT 22, RST 26; esphome PR #4424 user configs). ESP-IDF's
# example default (HSPI 14/13/12/15, INT 4) puts MISO on strap pin GPIO12, so
# it is not the default here. Board data, read by netdump.board; memory map:
# netdump/board.py (ESP32).
NAME = "esp32_devkitc_w5500"
DESCRIPTION = "ESP32-DevKitC + W5500 module (ESP32)"
CHIP = "esp32"

# w5500 (default): netdump's polled W5500 driver; lan: MicroPython's
# network.LAN(phy_type=PHY_W5500) (ESP-IDF's SPI W5500 driver + lwIP) through the
# UDP socket endpoint; wlan: the ESP32's Wi-Fi, through the UDP socket endpoint too.
# This board has no RMII PHY: the ESP32 EMAC driver does not
# apply, its polled path is the w5500 interface.
IFACES = {"w5500": "ether", "lan": "socket", "wlan": "socket"}
DEFAULT_IFACE = "w5500"
NIC = {"chip": "w5500", "spi": 2, "baudrate": 16000000, "sck": 18, "mosi": 23, "miso": 19, "cs": 5,
       "rst": 26, "int": 22, "lan": "w5500"}
