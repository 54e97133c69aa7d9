# Run on the MicroPython unix port by host_tests/test_w5500_driver.py:
#   micropython mp_w5500/w5500_run.py MODE SPI_PATH [ARGS...]
# MODE frames NTX NRX : send NTX pattern frames, then receive NRX pattern frames
#                       and check them byte by byte, all under heap_lock
# MODE linkdown       : start() against an emulator whose link is down
# MODE absent FILL    : start() with no chip on the bus (MISO floats to FILL)
# MODE stall          : start(), pull the cable, send twice under heap_lock
# MODE takeover       : the emulator's model of WIZNET5K owns the chip (CS left low
#                       mid-frame); arm, then start() under heap_lock
# Prints "RESULT key=value ..." lines for the test to parse.
import sys
import time

from mp.framepat import fill_tx, frames, locked
from netdump.drivers.w5500 import W5500
from spi_stub import FakeWiznet5k, IntnPin, LinkPin, LinkSPI

OUR_MAC = b"\x02\x11\x22\x33\x44\x55"


def try_init(spi, cs, **kw):
    # arm (nothing touches the chip), then start() under heap_lock
    nic = W5500(spi, cs, **kw)
    t0 = time.ticks_ms()
    res = [0, 0, 0, 0]
    locked(start_nic, nic, res, None, None)
    ms = time.ticks_diff(time.ticks_ms(), t0)
    if res[0]:
        print("RESULT error=1 errno=%d ms=%d" % (res[0], ms))
        print("MESSAGE", nic.why)
        return None
    print("RESULT error=0 ms=%d" % ms)
    return nic


def start_nic(nic, res, _a, _b):
    res[0] = nic.start()


STALL_FRAME = bytearray(60)  # made before the heap is locked


def stall(nic, res, spi, _):
    res[0] = nic.send(STALL_FRAME, 60)
    t0 = time.ticks_ms()
    res[1] = nic.send(STALL_FRAME, 60)
    res[2] = time.ticks_diff(time.ticks_ms(), t0)
    res[3] = nic.poll(nic._rx)


def send_one(nic, buf, n, res):
    res[0] = nic.send(buf, n)


def cut_off_frame(spi, cs):
    # a register write cut off after two header bytes: CS stays low
    cs.value(0)
    spi.write(b"\x00\x28")


def main():
    mode = sys.argv[1]
    path = sys.argv[2]
    if mode == "absent":
        spi = LinkSPI(None, miso=int(sys.argv[3]))
        try_init(spi, LinkPin(spi), reset_timeout_ms=200, link_timeout_ms=200)
        return
    spi = LinkSPI(path)
    cs = LinkPin(spi)
    if mode == "linkdown":
        try_init(spi, cs, mac=OUR_MAC, link_timeout_ms=300)
        return
    if mode == "frames":
        nic = try_init(spi, cs, mac=OUR_MAC)
        ntx = int(sys.argv[3])
        nrx = int(sys.argv[4])
        res = [0, 0, 0, 0]
        locked(frames, nic, ntx, nrx, res)
        print("RESULT tx_fail=%d rx_frames=%d rx_bad=%d rx_bytes=%d" % (res[0], res[1], res[2], res[3]))
        print("RESULT tx_timeouts=%d rx_errors=%d" % (nic.tx_timeouts, nic.rx_errors))
        return
    if mode == "stall":
        nic = try_init(spi, cs, mac=OUR_MAC)
        spi.control('{"link": false}')
        res = [0, 0, 0, 0]
        locked(stall, nic, res, spi, None)
        print("RESULT first=%d second=%d wait_ms=%d poll=%d timeouts=%d" % (
            res[0], res[1], res[2], res[3], nic.tx_timeouts))
        return
    if mode == "takeover":
        fw = FakeWiznet5k(spi, bytes.fromhex(sys.argv[3]))
        intn = IntnPin(spi)
        cut_off_frame(spi, cs)
        nic = try_init(spi, cs, nic=fw, intn=intn, atomic=(spi.irq_off, spi.irq_on))
        print("RESULT mac=%s fw_active=%d trigger=%d" % ("".join("%02x" % b for b in nic.mac), fw.up,
                                                         intn.irq().trigger()))
        tx = bytearray(1514)
        fill_tx(tx, 0, 100, nic.mac)
        res = [0, 0, 0, 0]
        locked(send_one, nic, tx, 100, res)
        print("RESULT sent=%d" % res[0])
        nic.stop()
        print("RESULT stopped_fw_active=%d stopped_trigger=%d" % (fw.up, intn.irq().trigger()))
        return
    print("unknown mode", mode)


main()
