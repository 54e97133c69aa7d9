# Fills the MicroPython heap to its last GC block, as an application that
# allocates until MemoryError does (host_tests/test_endpoint.py,
# host_tests/test_panic.py, bench/bench_socket_alloc.py, the RP2040 bed).
# What it allocated stays reachable from HOG.
#
# It leaves no garbage that a later collection could free (the endpoint
# collects before its herald window, and memory freed there would be memory
# the tests assume is not there). A collection right after filling is not
# enough: the collector is conservative, and a stale pointer in the C stack
# keeps garbage alive until that slot is overwritten, at a moment no test
# controls. So nothing becomes garbage at all:
#   * every object is one allocation: a tuple made by repeating a constant
#     1-tuple (py/objtuple.c: one mp_obj_malloc_var), stored in a slot of a
#     list made before filling. A bytearray would not do: its object is
#     allocated before its data (py/objarray.c array_new), and is garbage when
#     the data does not fit;
#   * the MemoryError of each failed size (allocated while some blocks are
#     still free, py/objexcept.c) is kept in a slot too;
#   * the loop is native code, whose locals live on the C stack: a bytecode
#     frame this size is allocated on the heap (py/objfun.c, above
#     VM_MAX_STATE_ON_STACK) and freed at return, which would leave it free.
import gc
import sys

import micropython

HOG = [None]  # the "application's" data: the slot list

_ONE = (None,)
_CHUNK = 64  # slots per list
_WORDS = 128  # the largest tuple tried, in items; halved after each MemoryError
_BLOCK = 32 if getattr(sys, "maxsize", 0) > 0x7FFFFFFF else 16  # MICROPY_BYTES_PER_GC_BLOCK: 4 words


def fill():
    """Allocate until not one GC block is left (large blocks first, then single blocks)."""
    gc.collect()
    # one slot per free block is enough: each success takes a block at least,
    # and there is one failure per size; in lists of _CHUNK (no large block
    # needed: the free memory may be in pieces)
    n = (gc.mem_free() // _BLOCK + 16) // _CHUNK + 1
    slots = [None] * n
    HOG[0] = slots
    j = 0
    while j < n:  # not a for loop: its range() iterator would be garbage
        slots[j] = [None] * _CHUNK
        j += 1
    _take(slots, n)


@micropython.native
def _take(slots, n):
    k = _WORDS
    j = 0
    while j < n:
        chunk = slots[j]
        i = 0
        while i < _CHUNK:
            if not k:
                return
            try:
                chunk[i] = _ONE * k
            except MemoryError as e:  # gc_alloc() has already collected and retried
                chunk[i] = e
                k >>= 1
            i += 1
        j += 1


def release():
    """Drop what fill() holds."""
    HOG[0] = None
    gc.collect()
