# dual-runtime
# kerneldumpheader v4 encode (device) and v1..v4 decode (host): firmware/netdump/kdh.py
from dualtest import locked
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


def test_encode_at_an_offset_touches_only_its_512_bytes():
    # the dumper encodes the header straight into a datagram, after the debugnet header
    ref = bytearray(512)
    _encode_sample(ref)
    pkt = bytearray(b"\xaa" * 600)
    def enc():
        kdh.encode(pkt, "arm", 1, 270336, 0x6A5F, 0x1234, "board-7", "MicroPython v1.29.0\n", "boom", off=24)

    locked(enc)
    assert bytes(pkt[24:536]) == bytes(ref) and kdh.parity_ok(pkt, 24)
    assert pkt[0:24] == b"\xaa" * 24 and pkt[536:] == b"\xaa" * 64


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
    # "\n" forced at byte 190 of the versionstring field (offset 128), as kern_shutdown.c does
    assert bytes(buf[128:318]) == b"v" * 190
    assert buf[128 + 190] == 10 and buf[128 + 191] == 0
    assert bytes(buf[320:495]) == b"p" * 175
    assert kdh.parity_ok(buf)


def test_version_string_of_191_bytes_is_not_cut():
    # strlcpy() into the 192-byte field fits 191 bytes + NUL: no "\n" forced
    buf = bytearray(512)
    kdh.encode(buf, "arm", 1, 0, 0, 0, "h", "v" * 191, "p")
    assert bytes(buf[128:319]) == b"v" * 191
    assert buf[319] == 0
    assert kdh.parity_ok(buf)


def test_panic_len_takes_a_prefix():
    # guard() passes a preallocated buffer and the length of the text in it
    buf = bytearray(512)
    msg = bytearray(b"ValueError: bad\0\0\0\0junk")

    def run():
        kdh.encode(buf, "arm", 1, 4096, 0, 0, "h", "v\n", msg, 4096, 0, 0, 15)
        return kdh.parity_ok(buf)

    assert locked(run)
    assert bytes(buf[320:336]) == b"ValueError: bad\0"
    assert buf[336:495] == bytearray(159)
