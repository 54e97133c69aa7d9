# netdump package netdump-ether: own Ethernet endpoint over a polled frame NIC (link, IP/UDP framing base)
# (docs/packages.md; freeze it with require("netdump-ether", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's own Ethernet endpoint over a polled frame NIC (link, IP/UDP framing base)",
         version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump", library="netdump")
package("netdump", files=["ether.py", "inet.py", "link.py", "udp.py"], base_path="../../firmware")
