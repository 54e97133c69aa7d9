# netdump package netdump-drivers: frame NIC drivers package
# (docs/packages.md; freeze it with require("netdump-drivers", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's frame NIC drivers package", version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump", library="netdump")
package("netdump", files=["drivers/__init__.py"], base_path="../../firmware")
