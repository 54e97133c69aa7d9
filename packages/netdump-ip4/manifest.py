# netdump package netdump-ip4: IPv4 framing and ARP next-hop resolution
# (docs/packages.md; freeze it with require("netdump-ip4", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's IPv4 framing and ARP next-hop resolution", version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump-ether", library="netdump")
package("netdump", files=["arp.py", "ip4.py"], base_path="../../firmware")
