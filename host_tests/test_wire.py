# dual-runtime
# The debugnet/netdump header and ack codecs (firmware/netdump/wire.py).
from dualtest import locked, raises, unhex
from netdump import wire


def test_header_known_bytes():
    buf = bytearray(30)
    wire.pack_header(buf, 3, wire.VMCORE, 7, 0x12345, 1448)
    assert bytes(buf[3:27]) == unhex("00000003 00000007 0000000000012345 000005a8 00000000")
    assert buf[0:3] == bytearray(3) and buf[27:] == bytearray(3)


def test_header_matches_independent_encoder():
    # the header as netdump.h lays it out, written byte by byte
    buf = bytearray(24)
    wire.pack_header(buf, 0, wire.HERALD, 1, 0, 0)
    assert bytes(buf) == b"\0\0\0\1" + b"\0\0\0\1" + bytes(16)
    ref = b"\0\0\0\4" + b"\0\0\0\x63" + bytes(8) + b"\0\0\2\0" + bytes(4) + b"x" * 512
    assert wire.encode_message(wire.KDH, 99, 0, b"x" * 512) == ref


def test_set_seqno_touches_only_seqno():
    buf = bytearray(24)
    wire.pack_header(buf, 0, wire.VMCORE, 1, 4096, 4096)
    before = bytes(buf)
    wire.set_seqno(buf, 0, 0x01020304)
    assert bytes(buf[4:8]) == b"\x01\x02\x03\x04"
    assert bytes(buf[:4]) == before[:4] and bytes(buf[8:]) == before[8:]


def test_ack_seqno():
    assert wire.ack_seqno(b"\x00\x00\x01\x02", 0) == 258
    assert wire.ack_seqno(b"zz\x3f\xff\xff\xff", 2) == 0x3FFFFFFF
    # values >= 2**30 would be big ints on a board: reported as -1
    assert wire.ack_seqno(b"\x40\x00\x00\x00", 0) == -1
    assert wire.ack_seqno(b"\xff\xff\xff\xff", 0) == -1


def test_packet_path_under_heap_lock():
    buf = bytearray(64)
    ack = bytearray(b"\x00\x00\x30\x39")
    locked(wire.pack_header, buf, 8, wire.VMCORE, 12345, 0x3FFFF000, 4096)
    locked(wire.set_seqno, buf, 8, 12346)
    locked(wire.pack_ack, buf, 0, 77)
    assert locked(wire.ack_seqno, ack, 0) == 12345
    assert bytes(buf[0:4]) == b"\x00\x00\x00\x4d"
    assert bytes(buf[12:16]) == b"\x00\x00\x30\x3a"


def test_host_parse_roundtrip():
    m = wire.encode_message(wire.VMCORE, 5, (1 << 40) + 4096, b"abc")
    assert wire.parse_header(m) == (wire.VMCORE, 5, (1 << 40) + 4096, 3, 0)
    assert wire.parse_ack(wire.encode_ack(0xFFFFFFFE)) == 0xFFFFFFFE


def test_host_parse_errors():
    raises(wire.BadMessage, wire.parse_header, b"\x00" * 23)
    bad = bytearray(wire.encode_message(wire.VMCORE, 1, 0, b"abcd"))
    raises(wire.BadMessage, wire.parse_header, bytes(bad[:-1]))
    raises(wire.BadMessage, wire.parse_ack, b"\x00\x00\x00")
    raises(wire.BadMessage, wire.parse_ack, b"\x00\x00\x00\x00\x00")
