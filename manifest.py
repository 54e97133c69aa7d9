# MicroPython freeze manifest for netdump (docs/reference/manifest.rst).
# In a board's firmware manifest, with this checkout's path passed to make as
# a manifest variable (MICROPY_MANIFEST_NETDUMP_DIR=/path/to/netdump):
#     include("$(NETDUMP_DIR)/manifest.py", board="w5500_evb_pico")
# freezes the netdump package and that board's module (boards/<board>.py).
# Without board= no board module is frozen (say which one you want). Modules
# only the MicroPython unix port can use (the virtual board, its frame NIC)
# are never frozen. Then boot.py arms it:
#     import netdump.panic; netdump.panic.arm_config()
import os

options.defaults(board="")

metadata(description="FreeBSD-compatible netdump client: dump RAM to netdumpd after a fault", version="0.1.0")

# the unix port only: the virtual board's frame NIC (UDP to tools/vnet.py) and the virtual board
HOST_ONLY = ("drivers/vnic.py",)
HOST_ONLY_BOARDS = ("unix_virtual",)


def _device_files():
    # every .py file of firmware/netdump (relative to it) except the host-only ones; the
    # manifest runs with its own folder as the current directory
    top = os.path.join("firmware", "netdump")
    out = []
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(d, f), top).replace(os.sep, "/")
            if f.endswith(".py") and rel not in HOST_ONLY:
                out.append(rel)
    return out


package("netdump", files=_device_files(), base_path="firmware")

if options.board:
    if options.board in HOST_ONLY_BOARDS or not os.path.exists(os.path.join("boards", options.board + ".py")):
        raise ValueError("netdump manifest: board=%r is not a board module for a microcontroller" % options.board)
    module(options.board + ".py", base_path="boards")
else:
    print("netdump manifest: no board= given, so no board module is frozen")
