# Raspberry Pi Pico (RP2040) + a W5500 module on SPI0, wired like the W5500-EVB-Pico
# (docs/boards.md), so that board's firmware and data apply unchanged: an alias.
# (The "WIZnet Ethernet HAT" carries a W5100S, not a W5500: not this board.)
LIKE = "w5500_evb_pico"
NAME = "pico_w5500"
DESCRIPTION = "Raspberry Pi Pico + W5500 module (RP2040)"
