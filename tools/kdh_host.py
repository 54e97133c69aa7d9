"""Host side of struct kerneldumpheader (FreeBSD sys/sys/kerneldump.h): decode() of every
layout (v1..v4, selected by the header's own version field) and build() for tests and fake
kernels. The device side, encode() of v4, is firmware/netdump/kdh.py."""
import struct

from netdump.kdh import MAGIC, SIZE, VERSION, parity_ok

MAGICS = (b"FreeBSD Kernel Dump", b"FreeBSD Text Dump", b"Cleared Kernel Dump")
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "zstd"}
# v4 offsets used here (kerneldump.h; the other fields come from the layouts below)
_ARCH = 20
_VERSION = 32
_PARITY = 508

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
