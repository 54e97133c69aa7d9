# Pure-Python twins of the viper fast paths in fast_viper.py (fast.py lists
# them): byte copies, zero scans, the RFC 1071 Internet checksum, the CRC-32,
# the debugnet header and UDP frame fields. Same arguments, same results; they
# run on CPython and MicroPython. fast.py picks which set to export.
#
# Allocation: the functions over buffers index them one byte at a time and do
# not allocate on MicroPython (a str source is encoded first, which does).
# Those that read raw memory (copy_mem_csum_crc, zero_map) use ctypes on
# CPython, a uctypes window (allocated per call) on MicroPython -- a reference
# implementation only; on MicroPython fast.py uses the viper versions.
import struct
import sys

from netdump import crc32

_MICROPYTHON = sys.implementation.name == "micropython"

if _MICROPYTHON:
    _ctypes = None
else:
    import ctypes as _ctypes


def _fold(s):
    # RFC 1071 section 4.1: add the carries back in until none are left.
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def copy(dst, doff, src, soff, n):
    """Copy n bytes from src[soff:] to dst[doff:] (regions must not overlap)."""
    if isinstance(src, str):
        src = src.encode()
    if not _MICROPYTHON:  # CPython: one slice copy (slices allocate only on MicroPython)
        if n > 0:
            dst[doff:doff + n] = memoryview(src)[soff:soff + n]
        return
    i = 0
    while i < n:
        dst[doff + i] = src[soff + i]
        i += 1


def csum(buf, off, n, acc):
    """RFC 1071 ones-complement sum of buf[off:off+n] as big-endian 16-bit words
    plus acc, folded to 0..0xFFFF, not inverted. An odd n pads a zero byte; only
    the last piece of a chained sum may be odd."""
    s = _fold(acc)
    i = off
    end = off + n - 1
    while i < end:
        s += (buf[i] << 8) | buf[i + 1]
        i += 2
        if s > 0x3FFF0000:
            s = _fold(s)
    if i == end:
        s += buf[i] << 8
    return _fold(s)


def copy_csum(dst, doff, src, soff, n, acc):
    """copy(dst, doff, src, soff, n) then return csum(dst, doff, n, acc)."""
    copy(dst, doff, src, soff, n)
    return csum(dst, doff, n, acc)


# ---- raw memory --------------------------------------------------------------

if _ctypes is not None:

    def addr_of(buf):
        """Address of the first byte of a bytearray (or writable buffer); bytes too."""
        if isinstance(buf, bytes):
            return _ctypes.cast(_ctypes.c_char_p(buf), _ctypes.c_void_p).value
        n = len(buf)
        if n == 0:
            # ctypes cannot map an empty buffer; an empty bytearray has no data
            return 0
        return _ctypes.addressof((_ctypes.c_char * n).from_buffer(buf))

    def _copy_mem(dst, doff, base, pos, n):
        """Copy n bytes from memory address base+pos into dst[doff:]."""
        if n <= 0:
            return
        dst[doff : doff + n] = _ctypes.string_at(base + pos, n)

    def _is_zero_mem(base, pos, n):
        """1 if the n bytes at memory address base+pos are all zero, else 0."""
        if n <= 0:
            return 1
        return 0 if _ctypes.string_at(base + pos, n).strip(b"\x00") else 1

else:
    import uctypes as _uctypes

    def addr_of(buf):
        """Address of the first byte of a bytearray (or writable buffer); bytes too."""
        return _uctypes.addressof(buf)

    def _copy_mem(dst, doff, base, pos, n):
        """Copy n bytes from memory address base+pos into dst[doff:]."""
        if n <= 0:
            return
        w = _uctypes.bytearray_at(base + pos, n)
        copy(dst, doff, w, 0, n)

    def _is_zero_mem(base, pos, n):
        """1 if the n bytes at memory address base+pos are all zero, else 0."""
        if n <= 0:
            return 1
        w = _uctypes.bytearray_at(base + pos, n)
        i = 0
        while i < n:
            if w[i]:
                return 0
            i += 1
        return 1


def copy_mem_csum_crc(dst, doff, base, pos, n, state):
    """The n bytes at memory address base+pos into dst[doff:], fed to the running
    CRC-32 in state (none if state is empty) -> csum(dst, doff, n, 0)."""
    if n <= 0:
        return 0
    _copy_mem(dst, doff, base, pos, n)
    if len(state):
        crc32_update(state, dst, doff, n)
    return csum(dst, doff, n, 0)


def put_header(buf, off, mtype, seq, foff, n):
    """Write a debugnet message header (wire.pack_header) at buf[off:off+24] -> its RFC 1071 sum."""
    struct.pack_into(">IIIIII", buf, off, mtype, seq, 0, foff, n, 0)
    return _fold(mtype + (seq >> 16) + (seq & 0xFFFF) + (foff >> 16) + (foff & 0xFFFF) + (n >> 16) + (n & 0xFFFF))


# ---- CRC-32 (netdump/crc32.py) -------------------------------------------------

_CRC_TABLE = crc32.table()


def crc_tables():  # arm-time
    """The CRC table (1 KiB here, made at import and kept: this twin runs on hosts)."""
    return _CRC_TABLE


def drop_crc_tables():  # arm-time
    """Kept here: 1 KiB on a host, where other dumps in the same process may still use it."""

if not _MICROPYTHON:
    import zlib as _zlib


def _zlib_crc(state, data):
    # CPython: zlib works on the finished CRC, which is the running value's complement
    c = _zlib.crc32(data, int.from_bytes(bytes([b ^ 0xFF for b in state]), "little"))
    out = c.to_bytes(4, "little")
    for i in range(4):
        state[i] = out[i] ^ 0xFF


def crc32_update(state, buf, off, n):
    """Feed buf[off:off+n] to the running CRC-32 in state (4 bytes, see crc32.py)."""
    if not _MICROPYTHON:
        _zlib_crc(state, memoryview(buf)[off:off + n])
        return
    t = _CRC_TABLE
    s0 = state[0]  # one by one: unpacking four at once builds a tuple on MicroPython
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    i = off
    end = off + n
    while i < end:
        e = (s0 ^ buf[i]) << 2
        s0 = t[e] ^ s1
        s1 = t[e + 1] ^ s2
        s2 = t[e + 2] ^ s3
        s3 = t[e + 3]
        i += 1
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3


_ZEROS = bytes(64)


def crc32_zeros(state, n):
    """Feed n zero bytes to the running CRC-32 in state."""
    if not _MICROPYTHON:
        _zlib_crc(state, bytes(n))
        return
    while n > 0:
        k = n if n < 64 else 64
        crc32_update(state, _ZEROS, 0, k)
        n -= k


# ---- UDP framing (udp.py, ether.py) ----------------------------------------------


def udp_finish(frame, n, s, prm):
    """Complete the frame of an n-byte UDP payload with sum s as prm describes it
    (lengths, checksums, padding; see fast_viper.udp_finish) -> the frame length."""
    ip = prm[0]
    u = prm[1]
    ulen = n + 8
    if prm[2]:
        tot = ulen + 20
        frame[ip + 2] = tot >> 8
        frame[ip + 3] = tot & 0xFF
        c = 0xFFFF ^ _fold(((prm[4] << 8) | prm[5]) + tot)
        frame[ip + 10] = c >> 8
        frame[ip + 11] = c & 0xFF
    else:
        frame[ip + 4] = ulen >> 8
        frame[ip + 5] = ulen & 0xFF
    frame[u + 4] = ulen >> 8
    frame[u + 5] = ulen & 0xFF
    c = 0xFFFF ^ _fold(s + ((prm[6] << 8) | prm[7]) + ulen + ulen)
    if c == 0:
        c = 0xFFFF
    frame[u + 6] = c >> 8
    frame[u + 7] = c & 0xFF
    f = u + ulen
    while f < 60:
        frame[f] = 0
        f += 1
    return f


ACK_TEMPLATE = 136  # bytes of an ack_match template (fast_viper.ack_match)


def ack_match(frame, n, tmpl):
    """The seqno of frame[0:n] if it is the ack tmpl describes (see
    fast_viper.ack_match), -2 if that is 2**30 or more, else -1."""
    m = tmpl[0]
    ip = tmpl[1]
    u = tmpl[2]
    if n < u + 12:
        return -1
    i = 0
    while i < m:
        if frame[i] & tmpl[70 + i] != tmpl[6 + i]:
            return -1
        i += 1
    if ip != 0xFF and csum(frame, ip, 20, 0) != 0xFFFF:
        return -1
    if frame[u + 6] | frame[u + 7] == 0:
        if ip == 0xFF:
            return -1
    elif csum(frame, u, 12, (tmpl[4] << 8) | tmpl[5]) != 0xFFFF:
        return -1
    b = frame[u + 8]
    if b >= 0x40:
        return -2
    return (b << 24) | (frame[u + 9] << 16) | (frame[u + 10] << 8) | frame[u + 11]


# ---- zero blocks (dumper.py) --------------------------------------------------------


def zero_map(zmap, b, base, size):
    """zmap[b + k] = 1 for each all-zero 4096-byte block at base (see fast_viper.zero_map)
    -> the bytes of the blocks that are not all zero."""
    total = 0
    pos = 0
    while pos < size:
        n = size - pos
        if n > 4096:
            n = 4096
        z = _is_zero_mem(base, pos, n)
        zmap[b] = z
        if not z:
            total += n
        b += 1
        pos += n
    return total


def span(buf, i, end):
    """The first index j in [i, end) with buf[j] != buf[i], else end."""
    if i >= end:
        return end
    v = buf[i]
    i += 1
    while i < end and buf[i] == v:
        i += 1
    return i
