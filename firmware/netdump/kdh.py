# struct kerneldumpheader (FreeBSD sys/sys/kerneldump.h, KERNELDUMPVERSION 4):
# 512 bytes, integers big-endian ("dump byte order"), strings NUL-padded, and a
# parity word chosen so that the XOR of all 128 32-bit words is zero.
# encode() runs on the device during a dump and allocates nothing; the host
# side decodes every layout (v1..v4) by the header's own version field.
import struct

from netdump import fast
from netdump.compat import const

SIZE = const(512)
VERSION = const(4)
BLOCKSIZE = const(4096)  # netdump's NETDUMP_DATASIZE
MAGIC = b"FreeBSD Kernel Dump"
MAGICS = (b"FreeBSD Kernel Dump", b"FreeBSD Text Dump", b"Cleared Kernel Dump")
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "zstd"}

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


# ---- host side: every layout, selected by the version field -------------

# (field, offset, kind, size); kinds: u8, u32, u64, str
_LAYOUTS = {
    1: (("architectureversion", 36, "u32", 4), ("dumplength", 40, "u64", 8), ("dumptime", 48, "u64", 8),
        ("blocksize", 56, "u32", 4), ("hostname", 60, "str", 64), ("versionstring", 124, "str", 192),
        ("panicstring", 316, "str", 192)),
    2: (("architectureversion", 36, "u32", 4), ("dumplength", 40, "u64", 8), ("dumptime", 48, "u64", 8),
        ("dumpkeysize", 56, "u32", 4), ("blocksize", 60, "u32", 4), ("hostname", 64, "str", 64),
        ("versionstring", 128, "str", 192), ("panicstring", 320, "str", 188)),
    3: (("architectureversion", 36, "u32", 4), ("dumplength", 40, "u64", 8), ("dumpextent", 48, "u64", 8),
        ("dumptime", 56, "u64", 8), ("dumpkeysize", 64, "u32", 4), ("blocksize", 68, "u32", 4),
        ("compression", 72, "u8", 1), ("hostname", 73, "str", 64), ("versionstring", 137, "str", 192),
        ("panicstring", 329, "str", 179)),
    4: (("architectureversion", 36, "u32", 4), ("dumplength", 40, "u64", 8), ("dumptime", 48, "u64", 8),
        ("dumpkeysize", 56, "u32", 4), ("blocksize", 60, "u32", 4), ("hostname", 64, "str", 64),
        ("versionstring", 128, "str", 192), ("panicstring", 320, "str", 175), ("compression", 495, "u8", 1),
        ("dumpextent", 496, "u64", 8)),
}
_FMT = {"u8": ">B", "u32": ">I", "u64": ">Q"}


def _cstr(b):
    n = b.find(b"\0")
    if n >= 0:
        b = b[:n]
    return b.decode("utf-8", "replace")


def decode(data):
    """Decode a header of any layout into a dict; problems are listed, never raised."""
    data = bytes(data)
    problems = []
    if len(data) < SIZE:
        problems.append("packet too small")
        data = data + bytes(SIZE - len(data))
    data = data[:SIZE]
    version = struct.unpack_from(">I", data, _VERSION)[0]
    layout = version if version in _LAYOUTS else VERSION
    if version not in _LAYOUTS:
        problems.append("unknown version %d" % version)
    magic = data[0:20]
    if magic.rstrip(b"\0") not in MAGICS:
        problems.append("bad magic")
    out = {
        "magic": _cstr(magic),
        "architecture": _cstr(data[_ARCH:_ARCH + 12]),
        "version": version,
        "layout": layout,
        "dumpkeysize": 0,
        "compression": 0,
        "dumpextent": None,
    }
    for name, off, kind, size in _LAYOUTS[layout]:
        if kind == "str":
            out[name] = _cstr(data[off:off + size])
        else:
            out[name] = struct.unpack_from(_FMT[kind], data, off)[0]
    if out["dumpextent"] is None:
        out["dumpextent"] = out["dumplength"]
    out["parity_ok"] = parity_ok(data)
    if not out["parity_ok"]:
        problems.append("parity mismatch")
    out["problems"] = problems
    return out


def build(version=4, parity=True, magic=MAGIC, architecture="amd64", **fields):
    """A whole header in the given layout from keyword fields (host side: tests, fake kernels)."""
    buf = bytearray(SIZE)
    buf[0:len(magic)] = magic
    a = architecture.encode() if isinstance(architecture, str) else architecture
    buf[_ARCH:_ARCH + len(a[:12])] = a[:12]
    struct.pack_into(">I", buf, _VERSION, version)
    length = fields.get("dumplength", 0)
    for name, off, kind, size in _LAYOUTS.get(version, _LAYOUTS[VERSION]):
        v = fields.pop(name, None)
        if v is None:
            v = length if name == "dumpextent" else ("" if kind == "str" else 0)
        if kind == "str":
            b = v.encode() if isinstance(v, str) else bytes(v)
            b = b[:size]
            buf[off:off + len(b)] = b
        else:
            struct.pack_into(_FMT[kind], buf, off, v)
    if fields:
        raise TypeError("unknown KDH fields for v%d: %s" % (version, ", ".join(sorted(fields))))
    if parity:
        hi = 0
        for i in range(0, SIZE, 4):
            hi ^= struct.unpack_from(">I", buf, i)[0]
        struct.pack_into(">I", buf, _PARITY, hi)
    return bytes(buf)
