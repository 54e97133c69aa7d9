# netdump package "netdump", the core: arm()/dump()/panic()/guard() and the fault
# state, the debugnet transport, the dumper with its ELF core and
# kerneldumpheader, the configuration and the board reader (docs/packages.md).
# Freeze it with require("netdump", library="netdump") after
# add_library("netdump", "$(NETDUMP_DIR)/packages").
metadata(description="netdump core: fault entry points, transport, ELF core, kerneldumpheader, configuration",
         version="0.1.0", license="BSD-2-Clause")

add_library("netdump", "..")
package("netdump", files=["__init__.py", "compat.py", "wire.py", "kdh.py", "elfcore.py", "crc32.py", "fast.py",
                          "fast_viper.py", "fast_thumb.py", "feed.py", "debugnet.py", "dumper.py", "fault.py",
                          "console.py", "watchdog.py", "panic.py", "arming.py", "config.py", "addr.py", "board.py"],
        base_path="../../firmware")
