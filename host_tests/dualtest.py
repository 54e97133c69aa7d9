# Helpers for test files that run on both CPython (pytest) and the MicroPython
# unix port (host_tests/mprun.py). Dual test files carry the marker line
# "# dual-runtime" and contain plain test_* functions that take no arguments.
import sys

MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    """Raised by a test that cannot run on this runtime; reported as skipped."""


def skip(reason):
    if not MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise SkipTest(reason)


def cpython_only():
    if MICROPYTHON:
        raise SkipTest("CPython only")


def micropython_only():
    if not MICROPYTHON:
        skip("MicroPython only")


def parse_mprun(text):
    """Host side: mprun.py's output -> ({test: (PASS|FAIL|SKIP, its output)}, the
    name of a test that began without an @@END line or None, that test's output)."""
    res = {}
    cur = None
    lines = []
    for ln in text.splitlines():
        if ln.startswith("@@BEGIN "):
            cur, lines = ln.split()[1], []
        elif ln.startswith("@@END ") and cur is not None:
            res[cur] = (ln.split()[2], "\n".join(lines))
            cur = None
        elif cur is not None:
            lines.append(ln)
    return res, cur, "\n".join(lines)


def big_buffer(n, slot=0):
    """An n-byte (n <= 1 MiB) zeroed buffer for a test that needs one piece larger
    than a board's heap keeps free: on the QEMU firmware (sys.platform "qemu") a
    view of SSRAM2/3, RAM the firmware does not use (boards/qemu_mps2_an385.py),
    slot MiB into it (slots 0..2: buffers in use at once take different slots),
    else a bytearray."""
    if MICROPYTHON and sys.platform == "qemu":
        import uctypes

        import qemu_mps2_an385 as b
        from netdump import fast

        if n > 1 << 20 or not 0 <= slot <= 2:
            raise ValueError("big_buffer: at most 1 MiB, slots 0..2")
        buf = uctypes.bytearray_at(b.SSRAM23 + (slot << 20), n)
        zero = bytes(4096)
        off = 0
        while off < n:
            k = n - off if n - off < 4096 else 4096
            fast.copy(buf, off, zero, 0, k)
            off += k
        return buf
    return bytearray(n)


def raises(exc, fn, *args):
    """Call fn(*args) and return the exception it raised; fail if it raised none
    or raised another type."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %s" % (exc.__name__, fn))


def unhex(s):
    """bytes from a hex string that may contain spaces and newlines."""
    import binascii

    return binascii.unhexlify("".join(s.split()))


def locked(fn, *args):
    """Run fn(*args) under micropython.heap_lock() (plain call on CPython).

    The call must not allocate: on MicroPython any allocation raises MemoryError,
    which is re-raised here after the heap is unlocked. Up to 10 arguments."""
    if not MICROPYTHON:
        return fn(*args)
    import micropython

    n = len(args)
    if n > 10:
        raise ValueError("locked() takes at most 10 arguments")
    a = list(args) + [None] * (10 - n)
    a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 = a
    r = None
    err = None
    micropython.heap_lock()
    try:
        # no star-call under the lock: it allocates an argument array
        if n == 0:
            r = fn()
        elif n == 1:
            r = fn(a0)
        elif n == 2:
            r = fn(a0, a1)
        elif n == 3:
            r = fn(a0, a1, a2)
        elif n == 4:
            r = fn(a0, a1, a2, a3)
        elif n == 5:
            r = fn(a0, a1, a2, a3, a4)
        elif n == 6:
            r = fn(a0, a1, a2, a3, a4, a5)
        elif n == 7:
            r = fn(a0, a1, a2, a3, a4, a5, a6)
        elif n == 8:
            r = fn(a0, a1, a2, a3, a4, a5, a6, a7)
        elif n == 9:
            r = fn(a0, a1, a2, a3, a4, a5, a6, a7, a8)
        else:
            r = fn(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9)
    except BaseException as e:  # noqa: B036 - re-raised below, unlocked
        err = e
    micropython.heap_unlock()
    if err is not None:
        raise err
    return r
