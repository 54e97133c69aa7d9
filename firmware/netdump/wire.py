# FreeBSD debugnet/netdump wire format: the 24-byte message header and the
# 4-byte ack (sys/net/debugnet.h, sys/netinet/netdump/netdump.h).
# All fields are big-endian. Device-side functions pack into and read from
# caller-supplied buffers at offsets and never allocate; values stay below 2**30.
import struct

from netdump.compat import const

# Message types (debugnet.h 1-3, netdump.h adds 4 and 5).
HERALD = const(1)
FINISHED = const(2)
VMCORE = const(3)
KDH = const(4)
EKCD_KEY = const(5)
TYPE_MIN = const(1)
TYPE_MAX = const(5)

# netdump.h NETDUMP_PORT / NETDUMP_ACKPORT; both overridable at arm time.
HERALD_PORT = const(20023)
CLIENT_PORT = const(20024)

HDR_LEN = const(24)  # struct debugnet_msg_hdr
ACK_LEN = const(4)  # struct debugnet_ack
MAX_PAYLOAD = const(4096)  # netdumpd's receive buffer holds 24 + 4096 bytes
# Sequence numbers and offsets on the device stay below this (31-bit small ints).
SMALL_LIMIT = const(0x3FFFFFFF)

_HDR_FMT = ">IIIIII"  # type, seqno, offset hi, offset lo, len, aux2

TYPE_NAMES = {1: "HERALD", 2: "FINISHED", 3: "VMCORE", 4: "KDH", 5: "EKCD_KEY"}


def pack_header(buf, off, mtype, seqno, offset, length):
    """Write a message header at buf[off:off+24]; offset < 2**30 (high word 0)."""
    struct.pack_into(_HDR_FMT, buf, off, mtype, seqno, 0, offset, length, 0)


def set_seqno(buf, off, seqno):
    """Rewrite only the sequence number of a header already in buf."""
    struct.pack_into(">I", buf, off + 4, seqno)


def pack_ack(buf, off, seqno):
    """Write a 4-byte ack for seqno at buf[off:off+4]."""
    struct.pack_into(">I", buf, off, seqno)


def ack_seqno(buf, off):
    """The sequence number in the ack at buf[off:off+4], or -1 if it is >= 2**30.

    Device side: never builds an int of 2**30 or more, whatever a peer sends."""
    b0 = buf[off]
    if b0 >= 0x40:
        return -1
    return (b0 << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]


# ---- host side (CPython server, tools, tests): these allocate -------------


class BadMessage(ValueError):
    """A datagram that is not a valid debugnet message."""


def parse_header(data):  # arm-time (host side)
    """Return (type, seqno, offset, length, aux2) of a datagram; BadMessage if
    it is shorter than a header or its length disagrees with mh_len."""
    if len(data) < HDR_LEN:
        raise BadMessage("runt packet (got %d)" % len(data))
    mtype, seqno, ohi, olo, length, aux2 = struct.unpack_from(_HDR_FMT, data, 0)
    if len(data) - HDR_LEN != length:
        raise BadMessage("bad packet size (mh_len %d, payload %d)" % (length, len(data) - HDR_LEN))
    return mtype, seqno, (ohi << 32) | olo, length, aux2


def encode_message(mtype, seqno, offset=0, payload=b"", aux2=0):
    """A whole datagram (header + payload), any 64-bit offset."""
    return struct.pack(">IIQII", mtype, seqno, offset, len(payload), aux2) + bytes(payload)


def encode_ack(seqno):
    return struct.pack(">I", seqno)


def parse_ack(data):
    """Sequence number of a 4-byte ack; BadMessage for any other length."""
    if len(data) != ACK_LEN:
        raise BadMessage("ack must be 4 bytes (got %d)" % len(data))
    return struct.unpack(">I", data)[0]
