# Any ESP32 board on Wi-Fi (ESP32_GENERIC firmware, network.WLAN station).
# Dumps go through the port's lwIP sockets (netdump.endpoint, stack "esp32"),
# so the Wi-Fi driver and network stack must still be alive at the fault; the
# application joins the network before arming. Board data, read by
# netdump.board; memory map: netdump/board.py (ESP32).
NAME = "esp32_wlan"
DESCRIPTION = "ESP32 on Wi-Fi (network.WLAN)"
CHIP = "esp32"

IFACES = {"wlan": "socket"}
DEFAULT_IFACE = "wlan"
NIC = {"chip": "wlan"}  # the ESP32's own Wi-Fi, driven by ESP-IDF
