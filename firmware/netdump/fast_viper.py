# @micropython.viper fast paths (MicroPython only); the pure-Python twins with
# identical results are in fast_py.py, and fast.py chooses between them.
#
# Rules kept here (docs/allocation.md#viper, docs/allocation.md#integers-and-small-ints):
# - no allocation: arguments are objects or small ints, results small ints;
# - addresses live only in native uint locals (a raw base address may be
#   >= 2**30 and arrives as an int object, converted with uint());
# - ptr16/ptr32 only at 2-/4-byte aligned addresses (Cortex-M0 faults on
#   unaligned word access), ptr8 otherwise;
# - no calls between viper functions with native address arguments (a call
#   would box the address as an int object, which allocates when >= 2**30).
import sys

import micropython
import uctypes
from micropython import const

from netdump import crc32

# Largest number of 16-bit words summed into a 32-bit accumulator between two
# folds: 0x8000 * 0xFFFF + 0x1FFFF < 2**32.
_FOLD_EVERY = const(0x8000)
# 32-bit words (two 16-bit halves each) summed between two folds: 0x4000 * 0x1FFFE + 0xFFFF < 2**32.
_FOLD_WORDS = const(0x4000)


@micropython.viper
def copy(dst, doff: int, src, soff: int, n: int):
    """Copy n bytes from src[soff:] (any buffer, str too) to dst[doff:]."""
    if n <= 0:
        return
    d = uint(ptr8(dst)) + uint(doff)
    s = uint(ptr8(src)) + uint(soff)
    if int((d ^ s) & 3) == 0:
        # same alignment mod 4: bytes up to a word boundary, then 32-bit words
        while n > 0 and int(d & 3) != 0:
            ptr8(d)[0] = ptr8(s)[0]
            d += 1
            s += 1
            n -= 1
        pd = ptr32(d)
        ps = ptr32(s)
        w = n >> 2
        i = 0
        while i + 4 <= w:
            pd[i] = ps[i]
            pd[i + 1] = ps[i + 1]
            pd[i + 2] = ps[i + 2]
            pd[i + 3] = ps[i + 3]
            i += 4
        while i < w:
            pd[i] = ps[i]
            i += 1
        d += uint(w << 2)
        s += uint(w << 2)
        n -= w << 2
    elif int((d ^ s) & 1) == 0:
        # same alignment mod 2: one byte, then 16-bit halfwords
        if n > 0 and int(d & 1) != 0:
            ptr8(d)[0] = ptr8(s)[0]
            d += 1
            s += 1
            n -= 1
        qd = ptr16(d)
        qs = ptr16(s)
        h = n >> 1
        i = 0
        while i < h:
            qd[i] = qs[i]
            i += 1
        d += uint(h << 1)
        s += uint(h << 1)
        n -= h << 1
    bd = ptr8(d)
    bs = ptr8(s)
    i = 0
    while i < n:
        bd[i] = bs[i]
        i += 1


@micropython.viper
def _csum_le(buf, off: int, n: int, acc: int) -> int:
    # RFC 1071 section 2(B): the sum is byte-order independent up to a final
    # byte swap, so sum native little-endian 16-bit words. From an even
    # address the swap is needed at the end; from an odd address the first
    # byte goes in as a high byte and the aligned words that follow are
    # already in big-endian phase (a 16-bit rotation), so no swap.
    s = uint(0)
    if n <= 0:
        n = 0
        off = 0
    a = uint(ptr8(buf)) + uint(off)
    swap = 1
    if n > 0 and int(a & 1) != 0:
        s = uint(ptr8(a)[0]) << 8
        a += 1
        n -= 1
        swap = 0
    p = ptr16(a)
    m = n >> 1
    i = 0
    while i < m:
        e = i + _FOLD_EVERY
        if e > m:
            e = m
        while i < e:
            s += uint(p[i])
            i += 1
        s = (s & 0xFFFF) + (s >> 16)
    if (n & 1) != 0:
        s += uint(ptr8(a)[n - 1])
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    if swap:
        s = ((s & 0xFF) << 8) | (s >> 8)
    s += uint(acc)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return int(s)


@micropython.viper
def _csum_be8(buf, off: int, n: int, acc: int) -> int:
    # Byte-at-a-time big-endian sum: any byte order, any alignment.
    p = ptr8(uint(ptr8(buf)) + uint(off))
    s = uint(acc)
    s = (s & 0xFFFF) + (s >> 16)
    i = 0
    while i + 1 < n:
        s += (uint(p[i]) << 8) | uint(p[i + 1])
        i += 2
        if (i & 0xFFFF) == 0:
            s = (s & 0xFFFF) + (s >> 16)
    if i < n:
        s += uint(p[i]) << 8
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return int(s)


if sys.byteorder == "little":
    csum = _csum_le
else:
    csum = _csum_be8


def copy_csum(dst, doff, src, soff, n, acc):
    """copy(dst, doff, src, soff, n) then return csum(dst, doff, n, acc)."""
    # Two viper passes: measured as fast as a fused loop (docs/allocation.md#speed).
    copy(dst, doff, src, soff, n)
    return csum(dst, doff, n, acc)


def addr_of(buf):
    """Address of the first byte of a bytearray (uctypes.addressof)."""
    return uctypes.addressof(buf)


# CRC-32 (netdump/crc32.py): four interleaved tables (4 KiB), 4-byte aligned as ptr32 needs (a heap
# block), made at import (crc_tables() below, with crc32_zeros' _ZOP); arming a dump without
# digests lets go of them (drop_crc_tables: None, which a CRC call would fail on, not misread)
_CRC_TABLE = None
_ZOP = None


def crc_tables():  # arm-time
    """The CRC tables, made again if they were dropped -> the 4 KiB buffer (its address:
    mem_read's crc word)."""
    global _CRC_TABLE, _ZOP
    if _CRC_TABLE is None:
        _CRC_TABLE = crc32.table(4)
        z = bytearray(128)
        _zeros_op(z, ZBLOCK)
        _ZOP = z
    return _CRC_TABLE


def drop_crc_tables():  # arm-time
    """Let go of the CRC tables (arming a dump without digests: 4 KiB of heap back)."""
    global _CRC_TABLE, _ZOP
    _CRC_TABLE = None
    _ZOP = None


@micropython.viper
def crc32_update(state, buf, off: int, n: int):
    """Feed buf[off:off+n] to the running CRC-32 in state (4 bytes, see crc32.py)."""
    t = ptr32(_CRC_TABLE)  # four interleaved tables: entry i of table k at word 4*i + k
    s = ptr8(state)
    c = uint(s[0]) | (uint(s[1]) << 8) | (uint(s[2]) << 16) | (uint(s[3]) << 24)
    a = uint(ptr8(buf)) + uint(off)
    while n > 0 and int(a & 3) != 0:  # bytes up to a word boundary
        c = uint(t[((c ^ uint(ptr8(a)[0])) & 0xFF) << 2]) ^ (c >> 8)
        a += 1
        n -= 1
    w = ptr32(a)
    k = n >> 2
    i = 0
    while i + 2 <= k:  # little-endian words, slicing by 4, two per turn
        c ^= uint(w[i])
        c = uint(t[((c & 0xFF) << 2) | 3]) ^ uint(t[(((c >> 8) & 0xFF) << 2) | 2]) ^ uint(t[(((c >> 16) & 0xFF) << 2) | 1]) ^ uint(t[(c >> 24) << 2])
        c ^= uint(w[i + 1])
        c = uint(t[((c & 0xFF) << 2) | 3]) ^ uint(t[(((c >> 8) & 0xFF) << 2) | 2]) ^ uint(t[(((c >> 16) & 0xFF) << 2) | 1]) ^ uint(t[(c >> 24) << 2])
        i += 2
    if i < k:
        c ^= uint(w[i])
        c = uint(t[((c & 0xFF) << 2) | 3]) ^ uint(t[(((c >> 8) & 0xFF) << 2) | 2]) ^ uint(t[(((c >> 16) & 0xFF) << 2) | 1]) ^ uint(t[(c >> 24) << 2])
    p = ptr8(a + uint(k << 2))
    n -= k << 2
    i = 0
    while i < n:
        c = uint(t[((c ^ uint(p[i])) & 0xFF) << 2]) ^ (c >> 8)
        i += 1
    s[0] = int(c & 0xFF)
    s[1] = int((c >> 8) & 0xFF)
    s[2] = int((c >> 16) & 0xFF)
    s[3] = int(c >> 24)


@micropython.viper
def _zeros_op(out, nbytes: int):
    # The running CRC-32 after nbytes zero bytes is a linear function of the
    # running value before them (the table step c -> table0[c & 0xFF] ^ (c >> 8) has
    # no constant term): out[k] (a u32) is its image of the value 1 << k, so the
    # image of any value is the XOR of out[k] over its set bits k.
    t = ptr32(_CRC_TABLE)
    o = ptr32(out)
    k = 0
    while k < 32:
        c = uint(1) << uint(k)
        i = nbytes >> 2
        while i > 0:
            c = uint(t[((c & 0xFF) << 2) | 3]) ^ uint(t[(((c >> 8) & 0xFF) << 2) | 2]) ^ uint(t[(((c >> 16) & 0xFF) << 2) | 1]) ^ uint(t[(c >> 24) << 2])
            i -= 1
        o[k] = c
        k += 1


# The running value's image after ZBLOCK zero bytes (crc32_zeros of a skipped
# zero block in a few hundred instructions instead of one table step per word).
# Made with the tables by crc_tables(), which runs here, at import.
ZBLOCK = const(4096)
crc_tables()


@micropython.viper
def crc32_zeros(state, n: int):
    """Feed n zero bytes to the running CRC-32 in state."""
    t = ptr32(_CRC_TABLE)
    z = ptr32(_ZOP)
    s = ptr8(state)
    c = uint(s[0]) | (uint(s[1]) << 8) | (uint(s[2]) << 16) | (uint(s[3]) << 24)
    while n >= ZBLOCK:
        r = uint(0)
        k = 0
        while c != uint(0):
            if (c & 1) != uint(0):
                r ^= uint(z[k])
            c >>= 1
            k += 1
        c = r
        n -= ZBLOCK
    while n >= 4:
        c = uint(t[((c & 0xFF) << 2) | 3]) ^ uint(t[(((c >> 8) & 0xFF) << 2) | 2]) ^ uint(t[(((c >> 16) & 0xFF) << 2) | 1]) ^ uint(t[(c >> 24) << 2])
        n -= 4
    while n > 0:
        c = uint(t[(c & 0xFF) << 2]) ^ (c >> 8)
        n -= 1
    s[0] = int(c & 0xFF)
    s[1] = int((c >> 8) & 0xFF)
    s[2] = int((c >> 16) & 0xFF)
    s[3] = int(c >> 24)


@micropython.viper
def copy_mem_csum_crc(dst, doff: int, base, pos: int, n: int, state) -> int:
    """Copy n bytes from memory address base+pos to dst[doff:], feed them to the
    running CRC-32 in state (skipped when state is empty) -> their RFC 1071 sum
    (folded, not inverted, pairs from the first byte), in one pass."""
    if n <= 0:
        return 0
    d = uint(ptr8(dst)) + uint(doff)
    a = uint(base) + uint(pos)
    docrc = int(len(state))
    sp = ptr8(state)
    c = uint(0)
    if docrc:
        c = uint(sp[0]) | (uint(sp[1]) << 8) | (uint(sp[2]) << 16) | (uint(sp[3]) << 24)
    b = uint(0)
    if docrc:  # the tables only then: a dump without digests may have dropped them
        b = uint(ptr8(_CRC_TABLE))  # interleaved: entry i of table k at byte 16*i + 4*k
    t0 = ptr32(b)
    acc = uint(0)  # little-endian pairs, swapped at the end
    i = 0
    if int((d | a) & 3) == 0:
        # both word-aligned: a word at a time (little-endian: the copy's
        # RFC 1071 pairs are its halves, the CRC's bytes in order), through
        # pointers that move: constant offsets are single loads for the native
        # emitter, an index costs several instructions
        w = n >> 2
        while i < w:
            e = i + _FOLD_WORDS
            if e > w:
                e = w
            q = d + uint(e << 2)
            dd = d + uint(i << 2)
            aa = a + uint(i << 2)
            if docrc:
                while dd < q:
                    x = uint(ptr32(aa)[0])
                    ptr32(dd)[0] = x
                    acc += (x & 0xFFFF) + (x >> 16)
                    c ^= x
                    c = uint(ptr32(b + ((c & 0xFF) << 4))[3]) ^ uint(ptr32(b + (((c >> 8) & 0xFF) << 4))[2]) ^ uint(ptr32(b + (((c >> 16) & 0xFF) << 4))[1]) ^ uint(ptr32(b + ((c >> 24) << 4))[0])
                    aa += 4
                    dd += 4
            else:
                while dd < q:
                    x = uint(ptr32(aa)[0])
                    ptr32(dd)[0] = x
                    acc += (x & 0xFFFF) + (x >> 16)
                    aa += 4
                    dd += 4
            i = e
            acc = (acc & 0xFFFF) + (acc >> 16)
        i = w << 2
    bd = ptr8(d)
    bs = ptr8(a)
    while i < n:  # the rest (all of it when unaligned), a byte at a time
        x = uint(bs[i])
        bd[i] = x
        if (i & 1) != 0:
            acc += x << 8
        else:
            acc += x
        if docrc:
            c = uint(t0[((c ^ x) & 0xFF) << 2]) ^ (c >> 8)
        i += 1
        if (i & 0x7FFF) == 0:
            acc = (acc & 0xFFFF) + (acc >> 16)
    if docrc:
        sp[0] = int(c & 0xFF)
        sp[1] = int((c >> 8) & 0xFF)
        sp[2] = int((c >> 16) & 0xFF)
        sp[3] = int(c >> 24)
    acc = (acc & 0xFFFF) + (acc >> 16)
    acc = (acc & 0xFFFF) + (acc >> 16)
    return int(((acc & 0xFF) << 8) | (acc >> 8))


@micropython.viper
def put_header(buf, off: int, mtype: int, seq: int, foff: int, n: int) -> int:
    """Write a debugnet message header (wire.pack_header) at buf[off:off+24]
    -> its RFC 1071 sum (folded, not inverted)."""
    a = uint(ptr8(buf)) + uint(off)
    if int(a & 3) == 0:
        # six little-endian word stores of the big-endian fields (byte-swapped)
        w = ptr32(a)
        w[0] = mtype << 24
        w[1] = ((seq & 0xFF) << 24) | ((seq & 0xFF00) << 8) | ((seq >> 8) & 0xFF00) | (seq >> 24)
        w[2] = 0
        w[3] = ((foff & 0xFF) << 24) | ((foff & 0xFF00) << 8) | ((foff >> 8) & 0xFF00) | (foff >> 24)
        w[4] = ((n & 0xFF) << 24) | ((n & 0xFF00) << 8) | ((n >> 8) & 0xFF00) | (n >> 24)
        w[5] = 0
    else:
        p = ptr8(a)
        p[0] = 0
        p[1] = 0
        p[2] = 0
        p[3] = mtype
        p[4] = seq >> 24
        p[5] = seq >> 16
        p[6] = seq >> 8
        p[7] = seq
        p[8] = 0
        p[9] = 0
        p[10] = 0
        p[11] = 0
        p[12] = foff >> 24
        p[13] = foff >> 16
        p[14] = foff >> 8
        p[15] = foff
        p[16] = n >> 24
        p[17] = n >> 16
        p[18] = n >> 8
        p[19] = n
        p[20] = 0
        p[21] = 0
        p[22] = 0
        p[23] = 0
    s = mtype + (seq >> 16) + (seq & 0xFFFF) + (foff >> 16) + (foff & 0xFFFF) + (n >> 16) + (n & 0xFFFF)
    s = (s & 0xFFFF) + (s >> 16)
    return (s & 0xFFFF) + (s >> 16)


@micropython.viper
def udp_finish(frame, n: int, s: int, prm) -> int:
    """Complete the frame of an n-byte UDP payload whose RFC 1071 sum is s, in place
    after its headers, as prm (8 bytes) describes it: [0] the IP header's offset,
    [1] the UDP header's offset u, [2] 1 for IPv4, [4:6] the IPv4 header's sum
    without its total length and checksum, [6:8] the UDP pseudo-header's sum
    without the length, plus the ports (both big-endian). Writes the UDP length
    and checksum, the IPv4 total length and header checksum or the IPv6 payload
    length, zeros up to 60 bytes -> the frame length."""
    p = ptr8(frame)
    q = ptr8(prm)
    ip = q[0]
    u = q[1]
    ulen = n + 8
    if q[2]:
        tot = ulen + 20
        p[ip + 2] = tot >> 8  # total length (RFC 791 section 3.1)
        p[ip + 3] = tot
        c = ((q[4] << 8) | q[5]) + tot
        c = (c & 0xFFFF) + (c >> 16)
        c = 0xFFFF ^ ((c & 0xFFFF) + (c >> 16))
        p[ip + 10] = c >> 8
        p[ip + 11] = c
    else:
        p[ip + 4] = ulen >> 8  # payload length (RFC 8200 section 3)
        p[ip + 5] = ulen
    p[u + 4] = ulen >> 8
    p[u + 5] = ulen
    # RFC 768 / RFC 8200 section 8.1: pseudo-header (addresses, length, protocol) + header + data
    c = s + ((q[6] << 8) | q[7]) + ulen + ulen
    c = (c & 0xFFFF) + (c >> 16)
    c = (c & 0xFFFF) + (c >> 16)
    c = 0xFFFF ^ ((c & 0xFFFF) + (c >> 16))
    if c == 0:
        c = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    p[u + 6] = c >> 8
    p[u + 7] = c
    f = u + ulen
    while f < 60:  # IEEE 802.3 minimum frame without the FCS
        p[f] = 0
        f += 1
    return f


ACK_TEMPLATE = const(136)  # bytes of an ack_match template (below)


@micropython.viper
def ack_match(frame, n: int, tmpl) -> int:
    """A debugnet ack as an endpoint expects it, described by tmpl (ACK_TEMPLATE
    bytes): [0] m, the frame bytes compared; [1] the IPv4 header's offset, or
    0xFF (IPv6); [2] the UDP header's offset u; [4:6] the pseudo-header sum
    (addresses, protocol, length 12), big-endian; frame byte j is compared under
    the mask byte at 70 + j with the byte at 6 + j (m <= 64, m - 2 a multiple of
    4). Frame and IPv4 header checksums (the UDP one: zero allowed only over
    IPv4) good, 4 payload bytes -> the ack's seqno, -2 if it is 2**30 or more,
    -1 if the frame is not that ack."""
    t = ptr8(tmpl)
    m = t[0]
    ip = t[1]
    u = t[2]
    if n < u + 12:
        return -1
    f = ptr8(frame)
    a = uint(f)
    b = uint(t)
    if int((a + 2) & 3) == 0 and int(b & 3) == 0:
        # frame bytes 2.. are word-aligned (the endpoints' buffers put frames at 2 mod 4),
        # and the template's reference and mask for them too: a word at a time
        if (f[0] & t[70]) != t[6] or (f[1] & t[71]) != t[7]:
            return -1
        fw = ptr32(a + 2)
        rw = ptr32(b + 8)
        mw = ptr32(b + 72)
        k = (m - 2) >> 2
        i = 0
        while i < k:
            if (uint(fw[i]) & uint(mw[i])) != uint(rw[i]):
                return -1
            i += 1
    else:
        i = 0
        while i < m:
            if (f[i] & t[70 + i]) != t[6 + i]:
                return -1
            i += 1
    s = 0
    if ip != 0xFF:
        i = ip
        while i < ip + 20:
            s += (f[i] << 8) | f[i + 1]
            i += 2
        s = (s & 0xFFFF) + (s >> 16)
        if ((s & 0xFFFF) + (s >> 16)) != 0xFFFF:
            return -1
    if (f[u + 6] | f[u + 7]) == 0:
        if ip == 0xFF:
            return -1  # RFC 8200 section 8.1: a zero UDP checksum over IPv6 is invalid
    else:
        s = (t[4] << 8) | t[5]
        i = u
        while i < u + 12:
            s += (f[i] << 8) | f[i + 1]
            i += 2
        s = (s & 0xFFFF) + (s >> 16)
        if ((s & 0xFFFF) + (s >> 16)) != 0xFFFF:
            return -1
    c = f[u + 8]
    if c >= 0x40:
        return -2
    return (c << 24) | (f[u + 9] << 16) | (f[u + 10] << 8) | f[u + 11]


@micropython.viper
def zero_map(zmap, b: int, base, size: int) -> int:
    """For each 4096-byte block of the size bytes at memory address base (the last
    may be shorter): zmap[b + k] = 1 if it is all zero, else 0 -> the bytes of the
    blocks that are not all zero."""
    z = ptr8(zmap)
    total = 0
    pos = 0
    while pos < size:
        n = size - pos
        if n > 4096:
            n = 4096
        a = uint(base) + uint(pos)
        e = a + uint(n)
        zero = 1
        if int(a & 3) == 0:
            # 64 bytes per test, from a pointer that moves: constant offsets are
            # single loads for the native emitter (an index costs several
            # instructions), 2.5 times faster on a zero block
            w = e - uint(n & 63)
            while a < w:
                p = ptr32(a)
                if (p[0] | p[1] | p[2] | p[3] | p[4] | p[5] | p[6] | p[7] | p[8] | p[9] | p[10] | p[11]
                        | p[12] | p[13] | p[14] | p[15]) != 0:
                    zero = 0
                    break
                a += 64
        while zero and a < e:
            if ptr8(a)[0] != 0:
                zero = 0
            a += 1
        z[b] = zero
        if not zero:
            total += n
        b += 1
        pos += n
    return total


@micropython.viper
def span(buf, i: int, end: int) -> int:
    """The first index j in [i, end) with buf[j] != buf[i], else end."""
    p = ptr8(buf)
    if i >= end:
        return end
    v = p[i]
    i += 1
    while i < end and p[i] == v:
        i += 1
    return i
