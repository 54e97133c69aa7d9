# What MicroPython has built in and CPython lacks: const() and the ticks_* clock.
# Device modules import these names from here so the same file runs on both.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us
except ImportError:
    import time as _time

    # MicroPython's ticks wrap at 2**30 on 32-bit ports; CPython's never need to,
    # so plain monotonic values with the same call shapes are enough.
    def ticks_ms():
        return _time.monotonic_ns() // 1000000

    def ticks_us():
        return _time.monotonic_ns() // 1000

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


try:
    import micropython as _mp

    heap_lock = _mp.heap_lock
    heap_unlock = _mp.heap_unlock
except (ImportError, AttributeError):

    def heap_lock():
        return 0

    def heap_unlock():
        return 0


try:
    from micropython import kbd_intr
except ImportError:  # CPython: Ctrl-C stays a KeyboardInterrupt

    def kbd_intr(chr):
        return None


CTRL_C = 3  # the interrupt character kbd_intr() gives back (MicroPython's default)


try:
    from sys import implementation as _impl

    IS_MICROPYTHON = _impl.name == "micropython"
except ImportError:
    IS_MICROPYTHON = True

# ticks_ms() at boot: 0 on a board (its tick counter starts at reset); on an
# operating system (the unix port, CPython) the counter is the host's, so the
# first import of this module stands in for the board's boot.
try:
    from sys import platform as _platform
except ImportError:
    _platform = ""
BOOT_MS = ticks_ms() if _platform in ("linux", "darwin", "win32") else 0


def uptime_s():
    """Seconds since boot (the unix port: since netdump was imported), < 2**30."""
    if BOOT_MS == 0:
        return (ticks_ms() // 1000) & 0x3FFFFFFF
    return (ticks_diff(ticks_ms(), BOOT_MS) // 1000) & 0x3FFFFFFF


def small(v):  # arm-time
    """v as a small int (when its value fits 31 bits). An int frozen inside a
    constant tuple (a board table) is a long-int object on a board, whatever
    its value (micropython/micropython tools/mpy-tool.py emits ints outside
    -0x2000..0x1FFF that way), and arithmetic on it allocates; the sum below
    is computed by the long-int code, which returns a small int when the
    result fits (micropython/micropython py/objint_mpz.c).
    Arm time only: it allocates once for such a v."""
    return v + 0
