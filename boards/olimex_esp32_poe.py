# Olimex ESP32-POE / ESP32-POE-ISO: ESP32 + LAN8720 on the internal EMAC (RMII).
# MDC 23, MDIO 18, PHY address 0, PHY power GPIO12; the ESP32 drives the 50 MHz
# RMII clock out on GPIO17 (GPIO0 on WROVER modules) (MicroPython quickref;
# ports/esp32/boards/OLIMEX_ESP32_POE/sdkconfig.board). The WT32-ETH01's
# interfaces with another PHY address, PHY power pin and clock direction:
# an alias with its own wiring. Board data, read by netdump.board.
LIKE = "wt32_eth01"
NAME = "olimex_esp32_poe"
DESCRIPTION = "Olimex ESP32-POE / POE-ISO (ESP32 + LAN8720)"
NIC = {"chip": "lan8720", "mdc": 23, "mdio": 18, "phy_addr": 0, "power": 12, "ref_clk": 17, "ref_clk_out": True,
       "lan": "lan8720"}
