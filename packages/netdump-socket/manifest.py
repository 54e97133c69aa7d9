# netdump package netdump-socket: UDP socket endpoint (the firmware's network stack: lwIP, ESP-IDF)
# (docs/packages.md; freeze it with require("netdump-socket", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's UDP socket endpoint (the firmware's network stack: lwIP, ESP-IDF)",
         version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump", library="netdump")
package("netdump", files=["endpoint.py"], base_path="../../firmware")
