# netdump package netdump-ip6: IPv6 framing and NDP next-hop resolution
# (docs/packages.md; freeze it with require("netdump-ip6", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's IPv6 framing and NDP next-hop resolution", version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump-ether", library="netdump")
package("netdump", files=["inet6.py", "ip6.py", "ndp.py"], base_path="../../firmware")
