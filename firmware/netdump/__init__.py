# netdump: stream a MicroPython board's RAM to a netdumpd server after a fault.
# The package runs unchanged on MicroPython (the board) and CPython (host tools, tests).
VERSION = "0.1.0"
