# netdump package netdump-board: one board's definition, boards/<board>.py (and
# the board it is an alias of), with the chain its default interface needs:
# the core, dumpon's device side, and either netdump's own Ethernet stack
# (IPv4; ip6=True adds IPv6) with the board's NIC driver, or the socket
# endpoint (socket=True adds it to an Ethernet board, for its socket
# interfaces). docs/packages.md; in a firmware manifest:
#     add_library("netdump", "$(NETDUMP_DIR)/packages")
#     require("netdump-board", library="netdump", board="w5500_evb_pico")
import os

options.defaults(board="", ip4=True, ip6=False, socket=False)
metadata(description="netdump: one board's definition and the packages it uses", version="0.1.0",
         license="BSD-2-Clause")

# boards that run only on the MicroPython unix port (the virtual board): never on a board
HOST_ONLY_BOARDS = ("unix_virtual",)
# NIC chip -> the package of netdump's polled driver for it
DRIVERS = {"w5500": "netdump-w5500", "lan8720": "netdump-esp32-emac", "lan9118": "netdump-lan9118"}
BOARDS_DIR = os.path.join("..", "..", "boards")


def _data(name):
    # a board module is data: run it for its names (boards/<name>.py)
    path = os.path.join(BOARDS_DIR, name + ".py")
    if name in HOST_ONLY_BOARDS or not os.path.exists(path):
        raise ValueError("netdump-board: board=%r is not a board module for a microcontroller" % name)
    d = {}
    with open(path) as f:
        exec(f.read(), d)
    return d


if not options.board:
    raise ValueError("netdump-board: give board=<name> (boards/<name>.py)")
_b = _data(options.board)
_like = _data(_b["LIKE"]) if _b.get("LIKE") else {}
_ifaces = _b.get("IFACES") or _like["IFACES"]
_nic = _b.get("NIC") or _like["NIC"]
_kind = _ifaces[_b.get("DEFAULT_IFACE") or _like["DEFAULT_IFACE"]]

add_library("netdump", "..")
require("netdump", library="netdump")
require("netdump-dumpon", library="netdump")
if _kind == "ether":
    if options.ip4:
        require("netdump-ip4", library="netdump")
    if options.ip6:
        require("netdump-ip6", library="netdump")
    require(DRIVERS[_nic["chip"]], library="netdump")
if _kind == "socket" or (options.socket and "socket" in _ifaces.values()):
    require("netdump-socket", library="netdump")
module(options.board + ".py", base_path=BOARDS_DIR)
if _b.get("LIKE"):
    module(_b["LIKE"] + ".py", base_path=BOARDS_DIR)
