# MicroPython side of the end-to-end dump test (host_tests/test_dump_e2e.py).
# Arms a dump of three regions of this process's memory, then dumps them with
# the heap locked for the whole dump (netdump.panic.dump takes the lock).
#   argv: server herald_port client_port mode big_mib
import sys

import micropython
import uctypes

from netdump import debugnet, elfcore, panic


@micropython.viper
def xorshift_fill(buf: ptr32, nwords: int, seed: uint):
    # xorshift32 (Marsaglia 2003: shifts 13, 17, 5); words stored little-endian
    x = seed
    m = uint(0xFFFFFFFF)
    for i in range(nwords):
        x = (x ^ (x << 13)) & m
        x = x ^ (x >> 17)
        x = (x ^ (x << 5)) & m
        buf[i] = x


def main():
    server = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    mode = debugnet.MODE_FREEBSD if sys.argv[4] == "freebsd" else debugnet.MODE_WINDOW
    big_mib = int(sys.argv[5])
    big = bytearray(big_mib << 20)
    xorshift_fill(big, len(big) // 4, 0x2545F491)
    sparse = bytearray(256 * 1024)  # mostly zero: 3 non-zero spots
    for off in (5, 70000, 262143):
        sparse[off] = 0xA5
    small = bytearray(b"netdump small region 0123456789" * 3)
    regions = [
        ("big", uctypes.addressof(big), len(big)),
        ("sparse", uctypes.addressof(sparse), len(sparse)),
        ("small", uctypes.addressof(small), len(small)),
    ]
    panic.arm(server, regions, elfcore.EM_X86_64, 64, "amd64", hostname="unix-board", board="unix",
              path=None, mode=mode, herald_port=hport, client_port=cport, client_ip="127.0.0.1")
    tb = "Traceback (most recent call last):\n  File \"main.py\", line 42, in <module>\nZeroDivisionError: divide by zero\n"
    err = panic.dump("test panic: e2e", tb)
    print("RESULT", err)
    d = panic._armed[0]
    print("SENT", d.sent_bytes)
    print("STATS", " ".join([str(x) for x in d.net.stats]))


main()
