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
    which is re-raised here after the heap is unlocked."""
    if not MICROPYTHON:
        return fn(*args)
    import micropython

    n = len(args)
    a0 = args[0] if n > 0 else None
    a1 = args[1] if n > 1 else None
    a2 = args[2] if n > 2 else None
    a3 = args[3] if n > 3 else None
    a4 = args[4] if n > 4 else None
    a5 = args[5] if n > 5 else None
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
        else:
            r = fn(a0, a1, a2, a3, a4, a5)
    except BaseException as e:  # noqa: B036 - re-raised below, unlocked
        err = e
    micropython.heap_unlock()
    if err is not None:
        raise err
    return r
