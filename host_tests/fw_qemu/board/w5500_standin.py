# Board side, QEMU firmware: a stand-in machine module with what netdump.board.w5500()
# and the W5500 driver's constructor call at arm (SPI, Pin, unique_id), so a W5500
# board's configuration arms on a firmware without a W5500. Arming touches no chip
# (drivers/w5500.py: start() takes it over at the fault), so nothing here answers.
import sys


class _Pin:
    OUT = 1
    IN = 0

    def __init__(self, *a, **kw):
        pass

    def value(self, v=None):
        return 1

    def irq(self, *a, **kw):
        return self


class _SPI:
    def __init__(self, *a, **kw):
        pass

    def write(self, b):
        pass

    def readinto(self, b, w=0):
        pass

    def write_readinto(self, a, b):
        pass


class _Machine:
    Pin = _Pin
    SPI = _SPI

    def unique_id(self):
        return b"\xe6\x61\x41\x04\x03\x2a\x5b\x2c"

    def reset(self):
        raise SystemExit


sys.modules["machine"] = _Machine()
