# MicroPython side of host_tests/test_console_vnic.py: a board with a frame NIC
# (netdump.drivers.vnic, to tools/vnet.py in user mode) and its own stack
# (netdump.ether.EtherEndpoint) is armed for a server that does not answer;
# panic() dumps (and fails), then the panic console reads commands from stdin
# (`netdump -s a.b.c.d:port` retargets the endpoint in place and dumps again).
# The whole fault path, console included, runs with the heap locked.
#   argv: key=value ... with keys nic_port mac client server netmask gateway
#         hport cport kib arp_ms
import sys

import micropython

from mp import testram  # host_tests/mp/testram.py (host_tests is on MICROPYPATH)
from netdump import elfcore, fault, panic
from netdump.drivers.vnic import VNic
from netdump.ether import STAT_NAMES, EtherEndpoint


def main():
    opt = {"netmask": "", "gateway": "", "kib": "256", "arp_ms": "1000", "client": "10.0.2.15",
           "hport": "20023", "cport": "20024"}
    for a in sys.argv[1:]:
        k, v = a.split("=", 1)
        opt[k] = v
    nic = VNic(opt["mac"], port=int(opt["nic_port"]))
    netmask = opt["netmask"] or None
    if netmask is not None and "." not in netmask:
        netmask = int(netmask)
    ep = EtherEndpoint(nic, opt["client"], opt["server"], netmask=netmask, gateway=opt["gateway"] or None,
                       herald_port=int(opt["hport"]), client_port=int(opt["cport"]),
                       arp_timeout_ms=int(opt["arp_ms"]))
    regions, ram = testram.regions(int(opt["kib"]) << 10)  # ram: keeps the buffers alive
    # The dump to the silent herald port fails when its herald retries run out:
    # RTO 0.2 s doubling to at most 0.4 s, 10 retries, about 4 s. The deadline is
    # far away, so a slow machine cannot make the retried dump miss it.
    panic.arm(opt["server"], regions, elfcore.EM_X86_64, 64, "amd64", endpoint=ep, hostname="vnic-console",
              board="unix-vnic", action="continue", console=-1, deadline_ms=120000, rto_max_us=400000)
    micropython.heap_lock()
    try:
        r = panic.panic("console test vnic")
    finally:
        micropython.heap_unlock()
    print("RESULT", r, fault.ctx[0].err)
    print("SERVER", ".".join([str(b) for b in ep.server_ip]), ep.herald_port)
    print("EPSTATS", " ".join([STAT_NAMES[i] + "=" + str(ep.stats[i]) for i in range(len(ep.stats))]))


main()
