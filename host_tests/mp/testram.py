# Test RAM for the MicroPython sides of the end-to-end dumps and the benchmark:
# pseudo-random words (no zero blocks, so nothing is skipped) and the three
# test regions whose expected contents host_tests/netutil.py computes.
import micropython
import uctypes

BIG_SEED = 0x2545F491  # the seed of the "big" region (netutil.BIG_SEED)


@micropython.viper
def xorshift_fill(buf: ptr32, nwords: int, seed: uint):
    # xorshift32 (Marsaglia 2003: shifts 13, 17, 5); words stored little-endian
    x = seed
    m = uint(0xFFFFFFFF)
    for i in range(nwords):
        x = (x ^ (x << 13)) & m
        x = x ^ (x >> 17)
        x = (x ^ (x << 5)) & m
        buf[i] = x


def regions(big_size):
    """The test regions [(name, address, size)] and the buffers that hold them (keep them alive):
    big (big_size pseudo-random bytes), sparse (256 KiB, 3 non-zero bytes), small (a text)."""
    big = bytearray(big_size)
    xorshift_fill(big, big_size // 4, BIG_SEED)
    sparse = bytearray(256 * 1024)  # mostly zero: 3 non-zero spots
    for off in (5, 70000, 262143):
        sparse[off] = 0xA5
    small = bytearray(b"netdump small region 0123456789" * 3)
    bufs = (big, sparse, small)
    return [("big", uctypes.addressof(big), big_size), ("sparse", uctypes.addressof(sparse), len(sparse)),
            ("small", uctypes.addressof(small), len(small))], bufs
