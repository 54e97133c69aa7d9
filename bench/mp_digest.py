# MicroPython side of bench/bench_digest.py: what a per-region digest costs
# during a dump, with the heap locked. Prints one "name value" line per figure.
#   argv: [chunk_bytes] [mib] [only]   only: run just that one loop (for callgrind)
import hashlib
import sys
import time

import micropython

from netdump import crc32, fast, fast_py

fast.crc_tables()  # arm-time: what a dump with digests makes at arm

CHUNK = int(sys.argv[1]) if len(sys.argv) > 1 else 1448  # one datagram's payload at MTU 1500
MIB = int(sys.argv[2]) if len(sys.argv) > 2 else 4
buf = bytearray(CHUNK)
for i in range(CHUNK):
    buf[i] = (i * 31 + 7) & 0xFF
dst = bytearray(CHUNK)
src_addr = fast.addr_of(buf)
rounds = (MIB << 20) // CHUNK


def rate(fn):
    t0 = time.ticks_us()
    micropython.heap_lock()
    try:
        fn()
    finally:
        micropython.heap_unlock()
    us = time.ticks_diff(time.ticks_us(), t0)
    return rounds * CHUNK / us  # bytes per us = MB/s


def copy_only():
    # a datagram's payload from memory with its Internet checksum, no digest
    for _ in range(rounds):
        fast.copy_mem_csum_crc(dst, 0, src_addr, 0, CHUNK, b"")


fstate = bytearray(4)
crc32.start(fstate)


def copy_crc():
    # the same with the region's CRC-32 in the same pass: what a dump does
    for _ in range(rounds):
        fast.copy_mem_csum_crc(dst, 0, src_addr, 0, CHUNK, fstate)


h = hashlib.sha256()


def sha_update():
    for _ in range(rounds):
        h.update(buf)


state = bytearray(4)
crc32.start(state)


def crc_viper():
    for _ in range(rounds):
        fast.crc32_update(state, buf, 0, CHUNK)


pstate = bytearray(4)
crc32.start(pstate)


def crc_python():
    for _ in range(rounds // 64 or 1):
        fast_py.crc32_update(pstate, buf, 0, CHUNK)


ONLY = sys.argv[3] if len(sys.argv) > 3 else None
if ONLY is not None:
    {"copy": copy_only, "fused": copy_crc, "sha256": sha_update, "crc32": crc_viper, "crc32py": crc_python}[ONLY]()
    sys.exit(0)

print("impl", fast.IMPL)
print("copy_mem_MBps %.1f" % rate(copy_only))
print("copy_crc_MBps %.1f" % rate(copy_crc))
print("sha256_update_MBps %.1f" % rate(sha_update))
print("crc32_viper_MBps %.1f" % rate(crc_viper))
print("crc32_python_MBps %.3f" % (rate(crc_python) / (rounds / (rounds // 64 or 1))))
# what SHA-256 needs beyond update(), with the heap locked
r = ""  # made now: a new global while the heap is locked would grow the module's dict
for what, fn in (("sha256_new", lambda: hashlib.sha256()), ("sha256_digest", lambda: h.digest())):
    micropython.heap_lock()
    try:
        fn()
        r = "ok"
    except MemoryError:
        r = "MemoryError"
    finally:
        micropython.heap_unlock()
    print(what, r)
try:
    h.update(buf)
    print("sha256_update_after_digest ok")
except ValueError as e:
    print("sha256_update_after_digest", str(e).replace(" ", "_"))
