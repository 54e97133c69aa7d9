# MicroPython freeze manifest for netdump (docs/reference/manifest.rst).
# In a board's firmware manifest:
#     include("/path/to/netdump/manifest.py", board="w5500_evb_pico")
# freezes the netdump package and that board's module (boards/<board>.py);
# without board= every board module is frozen. Then boot.py arms it:
#     import netdump.panic; netdump.panic.arm_config()
options.defaults(board="")

metadata(description="FreeBSD-compatible netdump client: dump RAM to netdumpd after a fault", version="0.1.0")

package("netdump", base_path="firmware")

_BOARDS = ("w5500_evb_pico", "pico_w5500", "esp32_devkitc_w5500", "wt32_eth01", "olimex_esp32_poe", "esp32_wlan",
           "pico_w", "unix_virtual")
if options.board:
    module(options.board + ".py", base_path="boards")
else:
    for _b in _BOARDS:
        module(_b + ".py", base_path="boards")
