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


def ticks_since(t):
    """Milliseconds from the ticks_ms() value t to now, 0 .. 2**30-1 (allocation-free).
    On a board ticks_ms() wraps at 2**30 and ticks_diff() is signed, -2**29 .. 2**29-1
    (extmod/modtime.c): past 2**29 ms (6.2 days) it turns negative. Taken as unsigned, the
    difference is right for up to 2**30 ms (12.4 days)."""
    d = ticks_diff(ticks_ms(), t)
    if d < 0:
        d += 0x3FFFFFFF  # 2**30 in two steps: 2**30 itself is not a small int on a board
        d += 1
    return d


# uptime: whole seconds counted so far, and the ticks_ms() value they end at
_up = [0, BOOT_MS]


def uptime_s():
    """Seconds since boot (the unix port: since netdump was imported), < 2**30, allocation-free.
    Each call folds the seconds since the previous one into a count, so the value stays right
    while calls come less than 12.4 days apart (ticks_since): arm, every check of the hang
    watchdog (netdump.fault.tick) and every dump call it."""
    u = _up
    s = ticks_since(u[1]) // 1000
    u[1] = ticks_add(u[1], s * 1000)
    v = u[0]
    if v > 0x3FFFFFFF - s:  # after 34 years: wrap rather than become a long int
        v -= 0x3FFFFFFF
    u[0] = v + s
    return u[0]


def rtc_seconds():
    """Seconds since 1970 when the RTC looks set (after 2020-01-01), else 0. On a board the
    value is a long int: call it with the heap unlocked; MemoryError passes through (a full
    heap), anything else means no usable RTC."""
    try:
        import time

        t = int(time.time())
        if t < 946684800:  # MicroPython ports with the 2000 epoch
            t += 946684800
        return t if t >= 1577836800 else 0
    except MemoryError:
        raise
    except Exception:
        return 0


def small(v):  # arm-time
    """v as a small int (when its value fits 31 bits). An int frozen inside a
    constant tuple (a board table) is a long-int object on a board, whatever
    its value (micropython/micropython tools/mpy-tool.py emits ints outside
    -0x2000..0x1FFF that way), and arithmetic on it allocates; the sum below
    is computed by the long-int code, which returns a small int when the
    result fits (micropython/micropython py/objint_mpz.c).
    Arm time only: it allocates once for such a v."""
    return v + 0
