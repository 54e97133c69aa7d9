# netdump package netdump-esp32-emac: polled ESP32 EMAC frame NIC driver (LAN8720/IP101 PHYs)
# (docs/packages.md; freeze it with require("netdump-esp32-emac", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's polled ESP32 EMAC frame NIC driver (LAN8720/IP101 PHYs)",
         version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump-drivers", library="netdump")
package("netdump", files=["drivers/esp32_emac.py"], base_path="../../firmware")
