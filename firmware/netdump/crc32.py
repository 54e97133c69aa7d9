# CRC-32 as zlib, Ethernet and PNG compute it (ITU-T V.42 / ISO 3309, "CRC-32/ISO-HDLC"):
# polynomial 0x04C11DB7 processed bit-reflected (0xEDB88320), initial value
# and final XOR 0xFFFFFFFF; the check value of b"123456789" is 0xCBF43926.
# The byte-at-a-time table method follows RFC 1952 section 8.
#
# The viper path reads a word at a time with four tables ("slicing by 4":
# table k maps a byte to its CRC after k more zero bytes), 2.3 times the speed
# of one table on the unix port (bench/bench_digest.py); the pure-Python twin
# uses the first table only. The four are interleaved (entry i of table k at
# 16*i + 4*k): one base address reaches all of them (fast_thumb.py's loop has
# eight registers).
#
# The running value is kept in a 4-byte buffer, little-endian, as the table
# method holds it (start: FF FF FF FF); the CRC of what was fed is those four
# bytes each XORed with 0xFF. fast.crc32_update() and fast.crc32_zeros()
# update it. Nothing here lets an int reach 2**30 (boards' small ints):
# table() builds each 32-bit entry as two 16-bit halves, then bytes.
from netdump.compat import const

_POLY_HI = const(0xEDB8)  # the reflected polynomial 0xEDB88320, in halves
_POLY_LO = const(0x8320)


def table(slices=1):  # arm-time
    """slices (1..4) tables of 256 entries, every entry a little-endian u32:
    slices 1: table 0 alone (1 KiB); more: interleaved, entry i of table k at
    byte 16*i + 4*k (4 KiB with 4), so that one base address reaches them all."""
    t0 = bytearray(1024)
    for i in range(256):
        hi = 0
        lo = i
        for _ in range(8):
            odd = lo & 1
            lo = (lo >> 1) | ((hi & 1) << 15)
            hi >>= 1
            if odd:
                hi ^= _POLY_HI
                lo ^= _POLY_LO
        t0[4 * i] = lo & 0xFF
        t0[4 * i + 1] = lo >> 8
        t0[4 * i + 2] = hi & 0xFF
        t0[4 * i + 3] = hi >> 8
    if slices == 1:
        return t0
    t = bytearray(1024 * slices)
    for i in range(256):
        t[16 * i:16 * i + 4] = t0[4 * i:4 * i + 4]
    for k in range(1, slices):  # table k: entry i of table k-1 shifted by one more zero byte
        for i in range(256):
            p = 16 * i + 4 * (k - 1)
            e = 4 * t[p]  # entry t[p] of table 0
            q = 16 * i + 4 * k
            t[q] = t[p + 1] ^ t0[e]
            t[q + 1] = t[p + 2] ^ t0[e + 1]
            t[q + 2] = t[p + 3] ^ t0[e + 2]
            t[q + 3] = t0[e + 3]
    return t


def start(state):
    """Reset a running value (a 4-byte buffer) to the start: FF FF FF FF."""
    state[0] = 0xFF
    state[1] = 0xFF
    state[2] = 0xFF
    state[3] = 0xFF


def final(state, out, off):
    """Write the CRC of a running value into out[off:off+4], little-endian."""
    out[off] = state[0] ^ 0xFF
    out[off + 1] = state[1] ^ 0xFF
    out[off + 2] = state[2] ^ 0xFF
    out[off + 3] = state[3] ^ 0xFF
