# Run on the MicroPython unix port by host_tests/test_w5500_driver.py:
#   micropython mp_w5500/w5500_run.py MODE SPI_PATH [ARGS...]
# MODE frames NTX NRX : send NTX pattern frames, then receive NRX pattern frames
#                       and check them byte by byte, all under heap_lock
# MODE linkdown       : init against an emulator whose link is down
# MODE absent FILL    : init with no chip on the bus (MISO floats to FILL)
# MODE stall          : init, pull the cable, send twice under heap_lock
# MODE takeover       : leave the chip as WIZNET5K would, CS low mid-frame, then init
# Prints "RESULT key=value ..." lines for the test to parse.
import sys
import time

from mp.framepat import fill_tx, frames, locked
from netdump.drivers.w5500 import W5500
from spi_stub import LinkPin, LinkSPI

OUR_MAC = b"\x02\x11\x22\x33\x44\x55"



def try_init(spi, cs, **kw):
    t0 = time.ticks_ms()
    try:
        nic = W5500(spi, cs, **kw)
    except OSError as e:
        print("RESULT error=1 errno=%d ms=%d" % (e.args[0], time.ticks_diff(time.ticks_ms(), t0)))
        print("MESSAGE", e.args[1])
        return None
    print("RESULT error=0 ms=%d" % time.ticks_diff(time.ticks_ms(), t0))
    return nic


def stall(nic, res, spi, _):
    res[0] = nic.send(nic._tx, 60)
    t0 = time.ticks_ms()
    res[1] = nic.send(nic._tx, 60)
    res[2] = time.ticks_diff(time.ticks_ms(), t0)
    res[3] = nic.poll(nic._rx)


def send_one(nic, buf, n, res):
    res[0] = nic.send(buf, n)


class FakeNic:
    def __init__(self):
        self.calls = []

    def active(self, v=None):
        self.calls.append(v)


def foreign_setup(spi, cs):
    # what MicroPython's WIZNET5K (ioLibrary) leaves behind: a MAC in SHAR,
    # 16 KiB to socket 0, MACRAW + MFEN open, socket-0 interrupts enabled
    def w(ctl, addr, data):
        cs.value(0)
        spi.write(bytes([addr >> 8, addr & 0xFF, ctl]) + bytes(data))
        cs.value(1)

    w(0x04, 0x0009, b"\x00\x08\xdc\x01\x02\x03")
    w(0x0C, 0x001E, b"\x10\x10")
    for s in range(1, 8):
        w(0x0C + 0x20 * s, 0x001E, b"\x00\x00")
    w(0x0C, 0x0000, b"\x84")
    w(0x0C, 0x0001, b"\x01")
    w(0x04, 0x0018, b"\x01")
    w(0x0C, 0x002C, b"\x04")
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
        foreign_setup(spi, cs)
        fake = FakeNic()
        nic = try_init(spi, cs, nic=fake)
        print("RESULT mac=%s nic_calls=%s" % ("".join("%02x" % b for b in nic.mac), fake.calls))
        tx = bytearray(1514)
        fill_tx(tx, 0, 100, nic.mac)
        res = [0, 0, 0, 0]
        locked(send_one, nic, tx, 100, res)
        print("RESULT sent=%d" % res[0])
        return
    print("unknown mode", mode)


main()
