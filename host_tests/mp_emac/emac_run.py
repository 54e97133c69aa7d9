# Run on the MicroPython unix port by host_tests/test_esp32_emac.py:
#   micropython mp_emac/emac_run.py MODE REGS_PATH [key=value ...]
# MODE frames  : start, send ntx pattern frames, receive nrx pattern frames, all
#                under heap_lock; frames checked byte by byte
# MODE start   : start() under heap_lock once; prints its result, why and time
# MODE txstall : start, then send under heap_lock until the driver gives up
# MODE arm     : only construct the driver (dram_bus=... picks where the DMA sees it)
# keys: phy_addr, phy, ntx, nrx, rx_buf, link_ms, tx_ms, dram_bus, lan (1/0), lanmac (what
#       network.LAN reports), mac (given to the driver), takeover (1/0), n_tx, n_rx
# Prints "RESULT key=value ..." lines for the test to parse.
import sys
import time

from emac_stub import FakeLan, LinkRegs
from mp.framepat import RXB, fill_tx, frames, locked
from netdump.drivers.esp32_emac import EMAC


def start_once(nic, res, a, b):
    t0 = time.ticks_ms()
    res[0] = nic.start()
    res[1] = time.ticks_diff(time.ticks_ms(), t0)


def txstall(nic, res, tx, b):
    t0 = time.ticks_ms()
    k = 0
    while k < 100:
        if not nic.send(tx, 60):
            break
        k += 1
    res[0] = k
    res[1] = time.ticks_diff(time.ticks_ms(), t0)
    res[2] = nic.poll(RXB)



def main():
    mode = sys.argv[1]
    path = sys.argv[2]
    opt = {"phy_addr": "1", "phy": "lan8720", "ntx": "2", "nrx": "8", "rx_buf": "512", "link_ms": "3000",
           "tx_ms": "500", "dram_bus": "0x3FFB0000", "lan": "1", "mac": "", "takeover": "1",
           "lanmac": "020000000015"}
    for a in sys.argv[3:]:
        k, v = a.split("=", 1)
        opt[k] = v
    regs = LinkRegs(path, dram_bus=int(opt["dram_bus"], 0))
    lan = FakeLan(regs, bytes.fromhex(opt["lanmac"])) if opt["lan"] == "1" else None
    mac = bytes.fromhex(opt["mac"]) if opt["mac"] else None
    try:
        nic = EMAC(lan=lan, phy_addr=int(opt["phy_addr"]), phy=opt["phy"], mac=mac, regs=regs,
                   ntx=int(opt["ntx"]), nrx=int(opt["nrx"]), rx_buf=int(opt["rx_buf"]),
                   link_timeout_ms=int(opt["link_ms"]), tx_timeout_ms=int(opt["tx_ms"]),
                   takeover=opt["takeover"] == "1")
    except OSError as e:
        print("RESULT arm=1 errno=%d" % e.args[0])
        print("MESSAGE", e.args[1])
        return
    print("RESULT arm=0 mac=%s" % "".join("%02x" % b for b in nic.mac))
    if mode == "arm":
        return
    res = [0, 0, 0, 0]
    if mode == "start":
        locked(start_once, nic, res, None, None)
        print("RESULT start=%d ms=%d lan_calls=%d lan_error=%d" % (res[0], res[1], lan.calls if lan else -1,
                                                                   nic.lan_error))
        print("MESSAGE", nic.why)
        return
    err = nic.start()
    print("RESULT start=%d" % err)
    if err:
        print("MESSAGE", nic.why)
        return
    if mode == "frames":
        locked(frames, nic, int(opt.get("n_tx", "0")), int(opt.get("n_rx", "0")), res)
        print("RESULT tx_fail=%d rx_frames=%d rx_bad=%d rx_bytes=%d" % (res[0], res[1], res[2], res[3]))
        print("RESULT tx_errors=%d rx_errors=%d sent=%d received=%d" % (nic.tx_errors, nic.rx_errors, nic.sent,
                                                                        nic.received))
        return
    if mode == "txstall":
        tx = bytearray(60)
        fill_tx(tx, 0, 60, nic.mac)
        locked(txstall, nic, res, tx, None)
        print("RESULT sent=%d ms=%d poll=%d up=%d" % (res[0], res[1], res[2], nic._up))
        return
    print("unknown mode", mode)


main()
