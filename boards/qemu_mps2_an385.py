# QEMU's mps2-an385 machine (ARM MPS2 FPGA image AN385: Cortex-M3, LAN9118
# Ethernet) running MicroPython's ports/qemu BOARD=MPS2_AN385 with this
# package frozen: the project's firmware test bed (tools/fwbuild.py builds it,
# docs/qemu-bed.md describes it).
#
# Memory map (qemu/qemu hw/arm/mps2.c, AN385 part; docs/qemu-bed.md):
#   0x00000000  4 MiB ZBT SSRAM1: the whole firmware. micropython/micropython
#               ports/qemu/mcu/arm/mps2.ld
#               puts .text, .data and .bss (which holds the 140 KiB GC heap)
#               from address 0 up, and the C stack below the top (_estack =
#               0x400000). Untouched RAM reads zero and is skipped in a dump.
#   0x01000000  16 KiB block RAM (unused)
#   0x20000000  4 MiB ZBT SSRAM2/3 (unused by the firmware; mount_ramdisk()
#               keeps a filesystem in its last 64 KiB)
#   0x21000000  16 MiB PSRAM (unused)
#   0x40200000  LAN9118 registers (the NIC). Peripherals are never dumped.
# Board data, read by netdump.board (chip "mps2-an385": Cortex-M3, mpy-cross
# -march=armv7m; the firmware's armv6m variant runs armv6m code too), and a RAM
# disk for the configuration file.
NAME = "qemu_mps2_an385"
DESCRIPTION = "QEMU mps2-an385 (Cortex-M3 + LAN9118), MicroPython ports/qemu"
CHIP = "mps2-an385"

# RAM base addresses and sizes, as named values: a tuple of literals would be
# frozen as long-int objects (tools/smallint_check.py, rule frozen-long)
SSRAM1 = 0x00000000
SSRAM1_SIZE = 0x400000
BLOCKRAM = 0x01000000
BLOCKRAM_SIZE = 0x4000
SSRAM23 = 0x20000000
SSRAM23_SIZE = 0x400000
PSRAM = 0x21000000
PSRAM_SIZE = 0x1000000
RAMDISK = 0x20300000  # mount_ramdisk(): the last MiB of SSRAM2/3 (room for a mip install)
RAMDISK_SIZE = 0x100000

SAFE = (
    ("ssram1", SSRAM1, SSRAM1_SIZE),
    ("blockram", BLOCKRAM, BLOCKRAM_SIZE),
    ("ssram23", SSRAM23, SSRAM23_SIZE),
    ("psram", PSRAM, PSRAM_SIZE),
)
REGIONS = (("ssram1", SSRAM1, SSRAM1_SIZE),)  # everything the firmware uses: image, data, heap, stack

IFACES = {"lan": "ether"}  # polled LAN9118 driver + netdump's own Ethernet stack
DEFAULT_IFACE = "lan"
# base_hi: the upper half of the register base 0x40200000; mac: what the tests
# give QEMU with -net nic,macaddr= (None: the address the chip holds)
NIC = {"chip": "lan9118", "base_hi": 0x4020, "mac": None}  # machine.reset() ends QEMU (semihosting exit)

class _RamDisk:
    """Block device over RAM outside the heap (uctypes.bytearray_at), for vfs.VfsLfs2."""

    def __init__(self, addr, size, bs=512):
        import uctypes

        self.mem = uctypes.bytearray_at(addr, size)
        self.bs = bs
        self.count = size // bs

    def readblocks(self, n, buf, off=0):
        a = n * self.bs + off
        buf[:] = self.mem[a:a + len(buf)]

    def writeblocks(self, n, buf, off=0):
        a = n * self.bs + off
        self.mem[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count (extmod/vfs.h MP_BLOCKDEV_IOCTL_BLOCK_COUNT)
            return self.count
        if op == 5:  # block size
            return self.bs
        if op == 6:  # erase: nothing to do in RAM
            return 0
        return None


def mount_ramdisk():
    """Mount a littlefs filesystem kept in SSRAM2/3 at / (formatting it the first
    time) so netdump.json has somewhere to live; ports/qemu boots without one."""
    import os

    import vfs

    try:
        os.stat("/netdump.ramdisk")
        return  # mounted already
    except OSError:
        pass
    bdev = _RamDisk(RAMDISK, RAMDISK_SIZE)
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.mount(fs, "/")
    os.chdir("/")
    with open("/netdump.ramdisk", "w") as f:
        f.write("littlefs on SSRAM2/3\n")
