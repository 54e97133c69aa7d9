# netdump package netdump-lan9118: polled LAN9118/LAN9220 frame NIC driver
# (docs/packages.md; freeze it with require("netdump-lan9118", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages")).
metadata(description="netdump's polled LAN9118/LAN9220 frame NIC driver", version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
require("netdump-drivers", library="netdump")
package("netdump", files=["drivers/lan9118.py"], base_path="../../firmware")
