# MicroPython side of bench/bench_emac.py: one frame NIC driver against its emulator.
#   argv: DRIVER LINK_PATH PACKETS HOW
#   DRIVER: emac (netdump.drivers.esp32_emac over host_tests/mp_emac/emac_stub.py),
#           w5500 (netdump.drivers.w5500 over host_tests/mp_w5500/spi_stub.py), or
#           null (send takes the frame, poll returns an ack at once: the loop's own cost)
#   HOW:    spin  - send a 1514-byte frame, poll until its 60-byte ack is back (timed)
#           sleep - the same, but sleep 1 ms before each poll, so a packet costs one send and
#                   one successful poll whatever the emulator's latency (for callgrind)
# Heap locked for the loop. Prints "KEY value" lines.
import sys

import micropython
from time import sleep_ms, ticks_diff, ticks_ms, ticks_us

FRAME = 1514


class NullNic:
    mac = b"\x02\x00\x00\x00\x00\x01"

    def send(self, buf, n):
        return 1

    def poll(self, buf):
        return 60


def make(driver, path):
    if driver == "null":
        return NullNic(), None
    if driver == "emac":
        from emac_stub import LinkRegs
        from netdump.drivers.esp32_emac import EMAC

        regs = LinkRegs(path)
        nic = EMAC(regs=regs)
        err = nic.start()
        if err:
            raise OSError(err, nic.why)
        return nic, regs
    from netdump.drivers.w5500 import W5500
    from spi_stub import LinkPin, LinkSPI

    spi = LinkSPI(path)
    nic = W5500(spi, LinkPin(spi), mac=b"\x02\x00\x00\x55\x00\x01")
    err = nic.start()
    if err:
        raise OSError(err, nic.why)
    return nic, spi


def loop(nic, frame, rx, n, sleep, res):
    t0 = ticks_us()
    lost = 0
    i = 0
    while i < n:
        frame[20] = i & 255
        if not nic.send(frame, FRAME):
            lost += 1
        t1 = ticks_ms()
        while 1:
            if sleep:
                sleep_ms(1)
            if nic.poll(rx):
                break
            if ticks_diff(ticks_ms(), t1) > 2000:
                lost += 1
                break
        i += 1
    res[0] = ticks_diff(ticks_us(), t0)
    res[1] = lost


def main():
    driver, path, n, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    nic, link = make(driver, path)
    frame = bytearray(FRAME)
    frame[0:6] = b"\x02\x00\x00\x00\x00\x02"  # the reflector
    frame[6:12] = nic.mac
    frame[12] = 0x88
    frame[13] = 0xB5
    rx = bytearray(1536)
    res = [0, 0]
    micropython.heap_lock()
    try:
        loop(nic, frame, rx, n, how == "sleep", res)
    finally:
        micropython.heap_unlock()
    print("US", res[0])
    print("LOST", res[1])
    print("MAC", "".join(["%02x" % b for b in nic.mac]))


main()
