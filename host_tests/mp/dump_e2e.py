# MicroPython side of the end-to-end dump test (host_tests/test_dump_e2e.py).
# Arms a dump of three regions of this process's memory, then dumps them with
# the heap locked for the whole dump (netdump.panic.dump takes the lock).
#   argv: server herald_port client_port mode big_mib
import sys

from mp import testram  # host_tests/mp/testram.py (host_tests is on MICROPYPATH)
from netdump import debugnet, elfcore, fault, panic


def main():
    server = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    mode = debugnet.MODE_FREEBSD if sys.argv[4] == "freebsd" else debugnet.MODE_WINDOW
    big_mib = int(sys.argv[5])
    regions, ram = testram.regions(big_mib << 20)  # ram: keeps the buffers alive
    panic.arm(server, regions, elfcore.EM_X86_64, 64, "amd64", hostname="unix-board", board="unix",
              path=None, mode=mode, herald_port=hport, client_port=cport, client_ip="127.0.0.1")
    tb = "Traceback (most recent call last):\n  File \"main.py\", line 42, in <module>\nZeroDivisionError: divide by zero\n"
    err = panic.dump("test panic: e2e", tb)
    print("RESULT", err)
    d = fault.armed[0]
    print("SENT", d.sent_bytes)
    print("STATS", " ".join([str(x) for x in d.net.stats]))


main()
