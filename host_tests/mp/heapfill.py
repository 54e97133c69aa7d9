# Fills the MicroPython heap to its last GC block, as an application that
# allocates until MemoryError does (host_tests/test_endpoint.py,
# bench/mp_socket_alloc.py). What it allocated stays reachable from HOG.
import gc

HOG = [None]  # the "application's" data: a chain of tuples


def fill():
    """Allocate until not one GC block is left (large blocks first, then single blocks)."""
    gc.collect()
    chain = None
    n = 1024
    while n:
        try:
            while True:
                chain = (chain, bytearray(n))
        except MemoryError:  # gc_alloc() has already collected and retried
            pass
        n >>= 1
    try:
        while True:
            chain = (chain,)  # one GC block each
    except MemoryError:
        pass
    HOG[0] = chain


def release():
    """Drop what fill() holds."""
    HOG[0] = None
    gc.collect()
