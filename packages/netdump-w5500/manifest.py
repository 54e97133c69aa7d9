# netdump package netdump-w5500: polled W5500 (MACRAW over SPI) frame NIC driver
# (docs/packages.md; freeze it with require("netdump-w5500", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's polled W5500 (MACRAW over SPI) frame NIC driver",
         version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump-drivers", library="netdump")
package("netdump", files=["drivers/w5500.py"], base_path="../../firmware")
