# WIZnet W5500-EVB-Pico: RP2040 + W5500 on SPI0 (board data, read by netdump.board).
# Pins: MicroPython ports/rp2/boards/W5500_EVB_PICO/mpconfigboard.h (MISO GP16,
# CS GP17, SCK GP18, MOSI GP19, RST GP20, INT GP21, 20 MHz); memory map:
# netdump/board.py (RP2040); docs/boards.md.
NAME = "w5500_evb_pico"
DESCRIPTION = "WIZnet W5500-EVB-Pico (RP2040 + W5500)"
CHIP = "rp2040"

# w5500: netdump's polled MACRAW driver + its own Ethernet stack (needs nothing
# else alive); lan: the firmware's network.WIZNET5K (lwIP over the W5500)
# through the UDP socket endpoint (lwIP must still be alive at the fault)
IFACES = {"w5500": "ether", "lan": "socket"}
DEFAULT_IFACE = "w5500"
NIC = {"chip": "w5500", "spi": 0, "baudrate": 20000000, "sck": 18, "mosi": 19, "miso": 16, "cs": 17,
       "rst": 20, "int": 21, "lan": "wiznet5k"}
