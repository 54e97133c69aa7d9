# struct kerneldumpheader (FreeBSD sys/sys/kerneldump.h, KERNELDUMPVERSION 4):
# 512 bytes, integers big-endian ("dump byte order"), strings NUL-padded, and a
# parity word chosen so that the XOR of all 128 32-bit words is zero.
# encode() runs on the device during a dump and allocates nothing; the host
# side (tools/kdh_host.py: decode, build) reads every layout (v1..v4).
import struct

from netdump import fast
from netdump.compat import const

SIZE = const(512)
VERSION = const(4)
BLOCKSIZE = const(4096)  # netdump's NETDUMP_DATASIZE
MAGIC = b"FreeBSD Kernel Dump"

# v4 offsets (kerneldump.h)
_ARCH = const(20)
_VERSION = const(32)
_ARCHVER = const(36)
_DUMPLENGTH = const(40)
_DUMPTIME = const(48)
_KEYSIZE = const(56)
_BLOCKSIZE = const(60)
_HOSTNAME = const(64)
_VERSIONSTR = const(128)
_PANICSTR = const(320)
_COMPRESSION = const(495)
_DUMPEXTENT = const(496)
_PARITY = const(508)


def _text(buf, off, cap, s, n=-1):
    # copy at most cap bytes of the first n (all: -1) of s, NUL-pad the rest of the field
    if n < 0:
        n = len(s)
    if n > cap:
        n = cap
    fast.copy(buf, off, s, 0, n)
    for i in range(off + n, off + cap):
        buf[i] = 0


def encode(buf, arch, archver, dumplength, time_hi, time_lo, hostname, version, panic,
           blocksize=4096, compression=0, keysize=0, panic_len=-1, off=0):
    """Write a complete v4 header into buf[off:off + 512]; allocation-free.

    dumplength < 2**30; the dump time is given as 16-bit halves of the low
    32 bits of seconds since the epoch (the high word is 0 until 2106)."""
    for i in range(off, off + SIZE):
        buf[i] = 0
    _text(buf, off, 20, MAGIC)
    _text(buf, off + _ARCH, 12, arch)
    struct.pack_into(">II", buf, off + _VERSION, VERSION, archver)
    struct.pack_into(">II", buf, off + _DUMPLENGTH, 0, dumplength)
    struct.pack_into(">IHH", buf, off + _DUMPTIME, 0, time_hi, time_lo)
    struct.pack_into(">II", buf, off + _KEYSIZE, keysize, blocksize)
    _text(buf, off + _HOSTNAME, 64, hostname)
    _text(buf, off + _VERSIONSTR, 192, version)
    if len(version) >= 192:
        # kern_shutdown.c dump_init_header(): when strlcpy() cuts the version
        # string, versionstring[sizeof - 2] = '\n' (field bytes 190 and 191)
        buf[off + _VERSIONSTR + 190] = 10
        buf[off + _VERSIONSTR + 191] = 0
    _text(buf, off + _PANICSTR, 175, panic, panic_len)
    buf[off + _COMPRESSION] = compression
    struct.pack_into(">II", buf, off + _DUMPEXTENT, 0, dumplength)  # dumpextent = dumplength
    # parity: XOR of all words with the parity word 0, kept as two 16-bit halves
    hi = 0
    lo = 0
    for i in range(off, off + _PARITY, 4):
        hi ^= (buf[i] << 8) | buf[i + 1]
        lo ^= (buf[i + 2] << 8) | buf[i + 3]
    struct.pack_into(">HH", buf, off + _PARITY, hi, lo)


def parity_ok(buf, off=0):
    """True when the XOR of the 128 words of the header at buf[off:] is zero."""
    hi = 0
    lo = 0
    for i in range(off, off + SIZE, 4):
        hi ^= (buf[i] << 8) | buf[i + 1]
        lo ^= (buf[i + 2] << 8) | buf[i + 3]
    return hi == 0 and lo == 0
