# netdump package netdump-dumpon: device side of dumpon: writes the configuration the host sends
# (docs/packages.md; freeze it with require("netdump-dumpon", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's device side of dumpon: writes the configuration the host sends",
         version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump", library="netdump")
package("netdump", files=["dumpon.py"], base_path="../../firmware")
