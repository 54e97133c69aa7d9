# MicroPython side of the vnet end-to-end tests (host_tests/test_vnet*.py):
# a board with a frame NIC (netdump.drivers.vnic, to tools/vnet.py) and its own
# Ethernet/IP stack (netdump.ether.EtherEndpoint) dumps three regions of this
# process's memory with the heap locked for the whole dump.
#   argv: key=value ... with keys nic_port mac client server netmask gateway
#         hport cport mode (window|freebsd) kib mtu arp_ms
import sys
import time

from mp import testram  # host_tests/mp/testram.py (host_tests is on MICROPYPATH)
from netdump import debugnet, elfcore, fault, panic
from netdump.drivers.vnic import VNic
from netdump.ether import STAT_NAMES, EtherEndpoint


def main():
    opt = {"netmask": "", "gateway": "", "mode": "window", "kib": "1024", "mtu": "1500", "arp_ms": "1000",
           "client": "", "hport": "20023", "cport": "20024"}
    for a in sys.argv[1:]:
        k, v = a.split("=", 1)
        opt[k] = v
    mode = debugnet.MODE_FREEBSD if opt["mode"] == "freebsd" else debugnet.MODE_WINDOW
    nic = VNic(opt["mac"], port=int(opt["nic_port"]))
    netmask = opt["netmask"] or None
    if netmask is not None and "." not in netmask:
        netmask = int(netmask)
    mtu = int(opt["mtu"])
    ep = EtherEndpoint(nic, opt["client"] or None, opt["server"], netmask=netmask,
                       gateway=opt["gateway"] or None, herald_port=int(opt["hport"]),
                       client_port=int(opt["cport"]), mtu=mtu, arp_timeout_ms=int(opt["arp_ms"]))
    regions, ram = testram.regions(int(opt["kib"]) << 10)  # ram: keeps the buffers alive
    panic.arm(opt["server"], regions, elfcore.EM_X86_64, 64, "amd64", endpoint=ep, hostname="vnet-board",
              board="unix-vnic", mode=mode, mtu=mtu)
    tb = "Traceback (most recent call last):\n  File \"main.py\", line 7, in <module>\nOSError: vnet test\n"
    t0 = time.ticks_ms()
    err = panic.dump("test panic: vnet", tb)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    print("RESULT", err)
    print("DUMP_MS", dt)
    d = fault.armed[0]
    print("SENT", d.sent_bytes)
    print("STATS", " ".join([str(x) for x in d.net.stats]))
    print("EPSTATS", " ".join([STAT_NAMES[i] + "=" + str(ep.stats[i]) for i in range(len(ep.stats))]))
    print("CLIENT", ":".join(["%02x" % b for b in ep.client_ip]))


main()
