# dual-runtime
# kerneldumpheader v4 encode (device) and v1..v4 decode (host): firmware/netdump/kdh.py
from dualtest import MICROPYTHON, cpython_only, locked
from netdump import kdh


def _encode_sample(buf):
    kdh.encode(buf, "arm", 1, 270336, 0x6A5F, 0x1234, "board-7", "MicroPython v1.29.0\n", "boom", 4096, 0, 0)


def test_encode_fields_and_parity():
    buf = bytearray(512)
    _encode_sample(buf)
    assert bytes(buf[0:20]) == b"FreeBSD Kernel Dump\0"
    assert bytes(buf[20:24]) == b"arm\0"
    assert bytes(buf[32:40]) == b"\x00\x00\x00\x04\x00\x00\x00\x01"
    assert bytes(buf[40:48]) == b"\x00\x00\x00\x00\x00\x04\x20\x00"  # 270336
    assert bytes(buf[48:56]) == b"\x00\x00\x00\x00\x6a\x5f\x12\x34"
    assert bytes(buf[56:64]) == b"\x00\x00\x00\x00\x00\x00\x10\x00"
    assert bytes(buf[64:72]) == b"board-7\0"
    assert bytes(buf[320:325]) == b"boom\0"
    assert bytes(buf[496:504]) == bytes(buf[40:48])  # dumpextent = dumplength
    assert kdh.parity_ok(buf)
    buf[100] ^= 1
    assert not kdh.parity_ok(buf)


def test_encode_is_allocation_free():
    buf = bytearray(512)
    arch = b"amd64"
    host = "host"
    ver = "MicroPython\n"
    panic = "x" * 300  # cut to 175

    def run():
        kdh.encode(buf, arch, 2, (1 << 30) - 4096, 0x6A5F, 0x1234, host, ver, panic, 4096, 0, 0)
        return kdh.parity_ok(buf)

    assert locked(run)
    assert bytes(buf[320:495]) == b"x" * 175


def test_long_strings_are_cut():
    buf = bytearray(512)
    kdh.encode(buf, "toolongarchitecture", 1, 0, 0, 0, "h" * 100, "v" * 300, "p" * 300)
    assert bytes(buf[20:32]) == b"toolongarchi"
    assert bytes(buf[64:128]) == b"h" * 64
    assert buf[190] == 10 and buf[191] == 0  # "\n" forced at byte 190, as kern_shutdown.c does
    assert bytes(buf[320:495]) == b"p" * 175
    assert kdh.parity_ok(buf)


def test_matches_independent_encoder():
    cpython_only()
    import struct

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
    cpython_only()
    buf = bytearray(512)
    _encode_sample(buf)
    d = kdh.decode(buf)
    assert d["problems"] == []
    assert d["layout"] == 4 and d["version"] == 4
    assert d["architecture"] == "arm" and d["architectureversion"] == 1
    assert d["dumplength"] == 270336 and d["dumpextent"] == 270336
    assert d["dumptime"] == 0x6A5F1234 and d["blocksize"] == 4096
    assert d["hostname"] == "board-7" and d["panicstring"] == "boom"
    assert d["versionstring"] == "MicroPython v1.29.0\n"
    assert d["parity_ok"] is True


def test_decode_older_layouts_by_version():
    cpython_only()
    common = dict(dumplength=1 << 33, dumptime=1700000000, blocksize=512, hostname="old", versionstring="FreeBSD 11\n",
                  panicstring="page fault")
    for v in (1, 2, 3):
        extra = {} if v == 1 else {"dumpkeysize": 0}
        d = kdh.decode(kdh.build(version=v, architecture="i386", architectureversion=2, **dict(common, **extra)))
        assert d["problems"] == [], (v, d["problems"])
        assert d["layout"] == v
        for k, val in common.items():
            assert d[k] == val, (v, k, d[k])
    d = kdh.decode(kdh.build(version=3, dumpextent=12345, compression=2, dumplength=10))
    assert d["dumpextent"] == 12345 and d["compression"] == 2


def test_decode_reports_problems_never_raises():
    cpython_only()
    good = kdh.build(dumplength=4096)
    assert kdh.decode(good)["problems"] == []
    assert "packet too small" in kdh.decode(good[:100])["problems"]
    assert "bad magic" in kdh.decode(kdh.build(magic=b"Linux Kernel Dump"))["problems"]
    assert "unknown version 9" in kdh.decode(kdh.build(version=9))["problems"]
    bad = bytearray(good)
    bad[300] ^= 0x80
    assert kdh.decode(bad)["problems"] == ["parity mismatch"]
    for n in (0, 1, 511, 512, 600):
        kdh.decode(b"\xff" * n)
