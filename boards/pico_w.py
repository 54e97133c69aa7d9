# Raspberry Pi Pico W: RP2040 + CYW43439 Wi-Fi (RPI_PICO_W firmware,
# network.WLAN station). Dumps go through the port's lwIP sockets
# (extmod/modlwip.c; netdump.endpoint, stack "lwip"), so the CYW43 driver and
# lwIP must still be alive at the fault; the application joins the network
# before arming. Board data, read by netdump.board; memory map:
# netdump/board.py (RP2040).
NAME = "pico_w"
DESCRIPTION = "Raspberry Pi Pico W (RP2040 + CYW43439 Wi-Fi)"
CHIP = "rp2040"

IFACES = {"wlan": "socket"}
DEFAULT_IFACE = "wlan"
NIC = {"chip": "cyw43"}  # on-board Wi-Fi over PIO SPI, driven by the firmware's cyw43-driver
