# MicroPython side of the vnet end-to-end tests (host_tests/test_vnet*.py,
# test_esp32_emac.py): a board with a frame NIC and its own Ethernet/IP stack
# (netdump.ether.EtherEndpoint) dumps three regions of this process's memory
# with the heap locked for the whole dump. The NIC: nic=vnic (default;
# netdump.drivers.vnic to tools/vnet.py) or nic=emac (netdump.drivers.esp32_emac
# over the register link to tools/esp32_emac_emu.py, mp_emac/ on the path).
#   argv: key=value ... with keys nic_port mac client server netmask gateway
#         hport cport mode (window|freebsd) kib mtu arp_ms
#         nic=emac: regs (link path) phy_addr lan (1: take over from network.LAN)
#         takeover (1/0) ntx nrx link_ms; release (1: after the dump the application
#         goes on, as after netdump-testdump: fault.resume() gives the EMAC back;
#         0: the same without the driver's stop(), as on main before it had one, and
#         the application turns network.LAN on itself), then 20 frames arrive
import sys
import time

from mp import testram  # host_tests/mp/testram.py (host_tests is on MICROPYPATH)
from netdump import debugnet, elfcore, fault, panic
from netdump.ether import STAT_NAMES, EtherEndpoint


_LINK = [None]  # nic=emac: the register link (emac_stub.LinkRegs)


def make_nic(opt):
    if opt.get("nic", "vnic") == "vnic":
        from netdump.drivers.vnic import VNic

        return VNic(opt["mac"], port=int(opt["nic_port"]))
    from emac_stub import FakeLan, LinkRegs
    from netdump.drivers.esp32_emac import EMAC

    regs = _LINK[0] = LinkRegs(opt["regs"])
    lan = FakeLan(regs, bytes.fromhex(opt["mac"].replace(":", ""))) if opt.get("lan", "1") == "1" else None
    return EMAC(lan=lan, phy_addr=int(opt.get("phy_addr", "1")), regs=regs, ntx=int(opt.get("ntx", "2")),
                nrx=int(opt.get("nrx", "8")), takeover=opt.get("takeover", "1") == "1",
                link_timeout_ms=int(opt.get("link_ms", "3000")))


def main():
    opt = {"netmask": "", "gateway": "", "mode": "window", "kib": "1024", "mtu": "1500", "arp_ms": "1000",
           "client": "", "hport": "20023", "cport": "20024"}
    for a in sys.argv[1:]:
        k, v = a.split("=", 1)
        opt[k] = v
    mode = debugnet.MODE_FREEBSD if opt["mode"] == "freebsd" else debugnet.MODE_WINDOW
    nic = make_nic(opt)
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
    for k in ("sent", "received", "tx_errors", "rx_errors", "lan_error"):
        if hasattr(nic, k):
            print("NIC", k, getattr(nic, k))
    if "release" in opt:
        release(nic, ep, opt["release"] == "1")


def release(nic, ep, stop):
    # what the application meets after a dump that carries on, then 20 frames for its MAC
    import json

    link = _LINK[0]
    if not stop:
        ep._nic_stop = None  # EtherEndpoint.release() finds no nic.stop(), as before it existed
    fault.resume()
    if not stop:
        nic._lan.active(True)  # the application brings its network back itself
    arena = bytes(nic._a)
    before = json.loads(link.control("{}"))
    f = bytes(nic.mac) + bytes([2, 0, 0, 0, 0, 0x99, 0x88, 0xB5]) + bytes(range(46))
    after = json.loads(link.control('{"receive": "%s", "count": 20}' % "".join(["%02x" % b for b in f])))
    print("RELEASE lan_active=%d idf_started=%d idf_rx=%d arena_changed=%d dma_writes=%d base_running=%d"
          % (nic._lan.active(), after["idf"]["started"],
             after["idf"]["frames_to_lwip"] - before["idf"]["frames_to_lwip"], bytes(nic._a) != arena,
             after["client_dma_writes"] - before["client_dma_writes"], after["base_write_while_running"]))


main()
