# MicroPython freeze manifest for netdump (docs/reference/manifest.rst). The
# installable units are packages/<unit>/manifest.py (docs/packages.md); this
# file picks them. In a board's firmware manifest, with this checkout's path
# passed to make as a manifest variable (MICROPY_MANIFEST_NETDUMP_DIR=/path/to/netdump):
#     include("$(NETDUMP_DIR)/manifest.py", board="w5500_evb_pico")
# freezes that board's chain: its definition (boards/<board>.py), the core,
# dumpon's device side and what its default interface needs (ip6=True,
# socket=True add IPv6 and the socket endpoint). Without board= every unit a
# board can use is frozen and no board module (say which one you want);
# everything=True adds them to a board's chain. Host-only modules (the virtual
# board, its frame NIC, the pure-Python twins of the viper paths) are in no
# unit and never frozen. Then boot.py arms it:
#     import netdump.panic; netdump.panic.arm_config()
options.defaults(board="", ip6=False, socket=False, everything=False)

metadata(description="FreeBSD-compatible netdump client: dump RAM to netdumpd after a fault", version="0.1.0",
         license="BSD-2-Clause")

add_library("netdump", "packages")
if options.board:
    require("netdump-board", library="netdump", board=options.board, ip6=options.ip6, socket=options.socket)
else:
    print("netdump manifest: no board= given, so no board module is frozen")
if options.everything or not options.board:
    for unit in ("netdump", "netdump-dumpon", "netdump-ip4", "netdump-ip6", "netdump-socket", "netdump-w5500",
                 "netdump-esp32-emac", "netdump-lan9118"):
        require(unit, library="netdump")
