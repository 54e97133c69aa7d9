"""tools/kdh_host.py and firmware/netdump/kdh.py: the device encoder checked against an
independent struct encoder, and decode() of every layout (v1..v4)."""
import struct

from netdump_tools import kdh_host
from test_kdh import _encode_sample


def test_matches_independent_encoder():
    buf = bytearray(512)
    _encode_sample(buf)
    ref = bytearray(512)
    struct.pack_into(">20s12sIIQQII64s192s175sBQI", ref, 0, b"FreeBSD Kernel Dump", b"arm", 4, 1, 270336,
                     0x6A5F1234, 0, 4096, b"board-7", b"MicroPython v1.29.0\n", b"boom", 0, 270336, 0)
    words = struct.unpack(">128I", bytes(ref))
    par = 0
    for w in words:
        par ^= w
    struct.pack_into(">I", ref, 508, par)
    assert bytes(buf) == bytes(ref)


def test_decode_v4_roundtrip():
    buf = bytearray(512)
    _encode_sample(buf)
    d = kdh_host.decode(buf)
    assert d["problems"] == []
    assert d["layout"] == 4 and d["version"] == 4
    assert d["architecture"] == "arm" and d["architectureversion"] == 1
    assert d["dumplength"] == 270336 and d["dumpextent"] == 270336
    assert d["dumptime"] == 0x6A5F1234 and d["blocksize"] == 4096
    assert d["hostname"] == "board-7" and d["panicstring"] == "boom"
    assert d["versionstring"] == "MicroPython v1.29.0\n"
    assert d["parity_ok"] is True


def test_decode_older_layouts_by_version():
    common = dict(dumplength=1 << 33, dumptime=1700000000, blocksize=512, hostname="old", versionstring="FreeBSD 11\n",
                  panicstring="page fault")
    for v in (1, 2, 3):
        extra = {} if v == 1 else {"dumpkeysize": 0}
        d = kdh_host.decode(kdh_host.build(version=v, architecture="i386", architectureversion=2, **dict(common, **extra)))
        assert d["problems"] == [], (v, d["problems"])
        assert d["layout"] == v
        for k, val in common.items():
            assert d[k] == val, (v, k, d[k])
    d = kdh_host.decode(kdh_host.build(version=3, dumpextent=12345, compression=2, dumplength=10))
    assert d["dumpextent"] == 12345 and d["compression"] == 2


def test_decode_reports_problems_never_raises():
    good = kdh_host.build(dumplength=4096)
    assert kdh_host.decode(good)["problems"] == []
    assert "packet too small" in kdh_host.decode(good[:100])["problems"]
    assert "bad magic" in kdh_host.decode(kdh_host.build(magic=b"Linux Kernel Dump"))["problems"]
    assert "unknown version 9" in kdh_host.decode(kdh_host.build(version=9))["problems"]
    bad = bytearray(good)
    bad[300] ^= 0x80
    assert kdh_host.decode(bad)["problems"] == ["parity mismatch"]
    for n in (0, 1, 511, 512, 600):
        kdh_host.decode(b"\xff" * n)
