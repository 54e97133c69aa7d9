# Run on the MicroPython unix port by host_tests/test_w5500_driver.py:
#   micropython mp_w5500/sched_probe.py VERSION ROUNDS
# A callback that reschedules itself (micropython.schedule) runs at every jump the
# VM takes; it counts the runs that found chip select low or the interrupt mask
# held, while the driver's transactions run with stand-ins for SPI, CS and the mask
# (their methods are straight-line code: they run no callback themselves).
# VERSION driver: the driver as it is; branching: its register access replaced by
# transactions with a jump between the mask and the unmask (as before review M2),
# which must show callbacks inside. Prints "RESULT runs=.. cs_low=.. masked=.. ...".
import sys

import micropython

from netdump.drivers.w5500 import W5500

# the socket 0 registers by address: the last command taken (Sn_CR 0), TX_FSR 16 KiB
# with TX_RD = TX_WR, 62 bytes queued at RX (RSR 62, RX_RD 0, RX_WR 62), so send()
# and poll() take their whole paths
REGS = bytearray(64)
REGS[0x20] = 0x40
REGS[0x27] = 62
REGS[0x2B] = 62
# one MACRAW record: the 2-byte length (62, counting itself) and a 60-byte frame
RECORD = bytearray(62)
RECORD[1] = 62


class State:
    cs = 1
    mask = 0
    runs = 0
    cs_low = 0
    masked = 0
    fail = 0


class SPI:
    def write(self, b):
        pass  # nothing is sent

    def readinto(self, b):
        b[0:62] = RECORD

    def write_readinto(self, a, b):
        # a register read (header + 1..6 bytes): the registers from the header's address
        n = len(b)
        b[3:n] = REGS[a[1] : a[1] + n - 3]


class FailingSPI(SPI):
    def write(self, b):
        raise OSError(5)


class CS:
    def value(self, v):
        State.cs = v


def irq_off():
    State.mask += 1
    return 0


def irq_on(s):
    State.mask -= 1


def callback(_):
    State.runs += 1
    if State.cs == 0:
        State.cs_low += 1
    if State.mask:
        State.masked += 1
    micropython.schedule(callback, 0)


class Branching(W5500):
    # register access as it was before review M2: `if off is not None` inside the
    # masked span (a jump after the mask and after chip select rises)
    def _read(self, ctl, addr, n):
        c = self._cmd
        c[0] = addr >> 8
        c[1] = addr & 0xFF
        c[2] = ctl
        off = self._irq_off
        if off is not None:
            self._irq_state = off()
        self._csv(0)
        self._xfer(self._co[n], self._ro[n])
        self._csv(1)
        if off is not None:
            self._irq_on(self._irq_state)

    def _write(self, ctl, addr, n):
        c = self._cmd
        c[0] = addr >> 8
        c[1] = addr & 0xFF
        c[2] = ctl
        off = self._irq_off
        if off is not None:
            self._irq_state = off()
        self._csv(0)
        if n > 1:  # the frame's two pieces (_burst's `if into:`): a jump with CS low
            self._wr(self._co[n])
        else:
            self._wr(self._co[n])
        self._csv(1)
        if off is not None:
            self._irq_on(self._irq_state)


def main():
    version = sys.argv[1]
    rounds = int(sys.argv[2])
    cls = Branching if version == "branching" else W5500
    nic = cls(SPI(), CS(), mac=b"\x02\x00\x00\x00\x00\x01", atomic=(irq_off, irq_on), takeover=False)
    frame = bytearray(1514)
    rx = bytearray(256)
    got = 0
    micropython.schedule(callback, 0)
    i = 0
    while i < rounds:
        nic.link()  # a register read
        nic._write1(0x0C, 0x0001, 0)  # a register write (as start() does)
        got += nic.send(frame, 1514)
        got += nic.poll(rx) == 60
        i += 1
    print("RESULT runs=%d cs_low=%d masked=%d got=%d cs=%d mask=%d" % (
        State.runs, State.cs_low, State.masked, got, State.cs, State.mask))
    # a transfer that raises: the exception reaches the caller, chip select is high
    # and the mask released on the way out
    nic = cls(FailingSPI(), CS(), mac=b"\x02\x00\x00\x00\x00\x01", atomic=(irq_off, irq_on), takeover=False)
    raised = 0
    for path in (0, 1):
        try:
            if path:
                nic.send(frame, 1514)
            else:
                nic._write1(0x0C, 0x0001, 0)
        except OSError:
            raised += 1
    print("RESULT raised=%d cs_after=%d mask_after=%d" % (raised, State.cs, State.mask))


main()
