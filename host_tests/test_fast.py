# dual-runtime
# The fast byte paths (firmware/netdump/fast.py): viper on MicroPython, the
# pure-Python twins (fast_py.py) on CPython. Known answers, a straightforward
# reference checksum, twins == viper on MicroPython, raw-address access, and
# no allocation under micropython.heap_lock().
from dualtest import MICROPYTHON, big_buffer, locked, micropython_only, unhex
import frames
from netdump import fast, fast_py

fast.crc_tables()  # the CRC code needs its tables (made at import; again here if a test dropped them)

# RFC 1071 section 3, "Numerical Examples": these 8 bytes sum to 0xDDF2.
RFC1071_BYTES = "00 01 f2 03 f4 f5 f6 f7"
# A captured IPv4 header (UDP, 192.168.0.1 -> 192.168.0.199) whose header
# checksum field is 0xB861.
IPV4_HDR = "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7"

SIZES = list(range(0, 41)) + [63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 1447, 1448]


def _pattern(n, seed):
    """n deterministic pseudo-random bytes (an LCG; same on both runtimes)."""
    b = bytearray(n)
    _fill(b, seed)
    return b


def _fill(b, seed):
    x = seed
    for i in range(len(b)):
        x = (x * 1103515245 + 12345) & 0x3FFFFFFF
        b[i] = (x >> 16) & 0xFF


def _ref_csum(data, off, n, acc):
    """Straightforward RFC 1071 sum: add big-endian words as one big int, fold."""
    total = acc
    for i in range(0, n, 2):
        hi = data[off + i]
        lo = data[off + i + 1] if i + 1 < n else 0
        total += hi * 256 + lo
    while total > 0xFFFF:
        total = (total >> 16) + (total & 0xFFFF)
    return total


def test_impl_is_viper_on_micropython_python_on_cpython():
    if MICROPYTHON:
        assert fast.IMPL == "viper"
    else:
        assert fast.IMPL == "python"
        assert fast.csum is fast_py.csum


def test_rfc1071_example():
    b = unhex(RFC1071_BYTES)
    assert fast.csum(b, 0, 8, 0) == 0xDDF2
    assert fast_py.csum(b, 0, 8, 0) == 0xDDF2
    # the same bytes split in two even pieces and chained through acc
    assert fast.csum(b, 4, 4, fast.csum(b, 0, 4, 0)) == 0xDDF2
    # at an odd offset inside a bigger buffer
    buf = bytearray(11)
    buf[3:11] = b
    assert fast.csum(buf, 3, 8, 0) == 0xDDF2


def test_captured_ipv4_header_checksum():
    h = bytearray(unhex(IPV4_HDR))
    assert len(h) == 20
    # a correct header sums to 0xFFFF (RFC 1071 section 1 "checking")
    assert fast.csum(h, 0, 20, 0) == 0xFFFF
    h[10] = 0
    h[11] = 0
    assert (~fast.csum(h, 0, 20, 0)) & 0xFFFF == 0xB861


def test_csum_matches_reference_many_sizes_offsets():
    data = _pattern(1500, 7)
    for off in (0, 1, 2, 3, 5):
        for n in SIZES:
            if off + n > len(data):
                continue
            for acc in (0, 1, 0x1234, 0xFFFF):
                assert fast.csum(data, off, n, acc) == _ref_csum(data, off, n, acc), (off, n, acc)


def test_csum_edges():
    assert fast.csum(b"", 0, 0, 0) == 0
    assert fast.csum(b"", 0, 0, 0x1234) == 0x1234
    assert fast.csum(bytearray(10), 0, 10, 0) == 0
    assert fast.csum(b"\xff\xff", 0, 2, 0) == 0xFFFF
    assert fast.csum(b"\xff\xff\x00\x01", 0, 4, 0) == 0x0001  # end-around carry
    assert fast.csum(b"\x12", 0, 1, 0) == 0x1200  # odd byte is a high byte
    assert fast.csum(b"abc", 0, -3, 5) == 5
    # an acc that is not yet folded (large partial sums) folds the same way
    assert fast.csum(b"\x00\x01", 0, 2, 0x3FFFFFFF) == _ref_csum(b"\x00\x01", 0, 2, 0x3FFFFFFF)


def test_csum_long_buffer_folds():
    # more than one interim fold interval of the viper sum (0x8000 16-bit words =
    # 64 KiB, fast_viper._FOLD_EVERY), all 0xFF words (the largest partial sums);
    # one buffer, reused (outside the heap on the QEMU firmware: dualtest.big_buffer)
    n = 66000
    b = big_buffer(n, 2)
    for i in range(n):
        b[i] = 0xFF
    assert fast.csum(b, 0, n, 0) == 0xFFFF
    _fill(b, 3)
    assert fast.csum(b, 1, n - 1, 9) == _ref_csum(b, 1, n - 1, 9)


def test_copy_sizes_offsets_alignments():
    src = _pattern(1100, 11)
    for soff in (0, 1, 2, 3):
        for doff in (0, 1, 2, 3, 6):
            for n in SIZES:
                if soff + n > len(src):
                    continue
                dst = bytearray(n + 12)
                for i in range(len(dst)):
                    dst[i] = 0xA5
                fast.copy(dst, doff, src, soff, n)
                assert dst[doff : doff + n] == src[soff : soff + n], (soff, doff, n)
                # nothing outside the target range was touched
                for i in range(doff):
                    assert dst[i] == 0xA5
                for i in range(doff + n, len(dst)):
                    assert dst[i] == 0xA5


def test_copy_sources_bytes_memoryview_str():
    dst = bytearray(8)
    fast.copy(dst, 1, b"abcdef", 2, 3)
    assert bytes(dst) == b"\x00cde\x00\x00\x00\x00"
    fast.copy(dst, 0, memoryview(b"XYZ"), 0, 3)
    assert bytes(dst[0:3]) == b"XYZ"
    fast.copy(dst, 4, "hi!", 0, 3)
    assert bytes(dst[4:7]) == b"hi!"
    fast.copy(dst, 0, "zz", 0, 0)
    fast.copy(dst, 0, "zz", 0, -1)
    assert bytes(dst[0:3]) == b"XYZ"
    # a memoryview destination writes through
    base = bytearray(6)
    mv = memoryview(base)
    fast.copy(mv, 2, b"pq", 0, 2)
    assert bytes(base) == b"\x00\x00pq\x00\x00"


def test_copy_csum_fused():
    src = _pattern(600, 5)
    for soff, doff, n in ((0, 0, 512), (1, 2, 511), (3, 0, 17), (2, 2, 0)):
        dst = bytearray(620)
        r = fast.copy_csum(dst, doff, src, soff, n, 0x77)
        assert dst[doff : doff + n] == src[soff : soff + n]
        assert r == _ref_csum(src, soff, n, 0x77)


def test_addr_of_and_raw_memory_reads():
    region = _pattern(777, 21)
    a = fast.addr_of(region)
    assert a > 0
    for pos in (0, 1, 2, 3, 100, 331):
        for n in (0, 1, 3, 4, 9, 64, 100, 777 - 331):
            if pos + n > 777:
                continue
            for doff in (0, 1, 2):
                dst = bytearray(n + 3)
                r = fast.copy_mem_csum_crc(dst, doff, a, pos, n, b"")
                assert dst[doff : doff + n] == region[pos : pos + n], (pos, n, doff)
                assert r == _ref_csum(region, pos, n, 0)
    # base and pos may split the address any way
    dst = bytearray(10)
    fast.copy_mem_csum_crc(dst, 0, a - 500, 510, 10, b"")
    assert dst == region[10:20]


def test_twins_equal_viper():
    micropython_only()
    import uctypes

    from netdump import fast_viper as fv

    src = _pattern(700, 99)
    for soff in (0, 1, 2, 3):
        for doff in (0, 1, 2, 3):
            for n in SIZES:
                if n > 650:
                    continue
                d1 = bytearray(n + 8)
                d2 = bytearray(n + 8)
                fv.copy(d1, doff, src, soff, n)
                fast_py.copy(d2, doff, src, soff, n)
                assert d1 == d2, (soff, doff, n)
                for acc in (0, 0xFFFF, 0x2BCD):
                    assert fv.csum(src, soff, n, acc) == fast_py.csum(src, soff, n, acc), (soff, n, acc)
    # raw-memory twins read the same bytes
    a = uctypes.addressof(src)
    for pos in (0, 1, 2, 5):
        for n in (0, 1, 7, 64, 333):
            d1 = bytearray(n + 2)
            d2 = bytearray(n + 2)
            s1 = bytearray(4)
            s2 = bytearray(4)
            assert fv.copy_mem_csum_crc(d1, 1, a, pos, n, s1) == fast_py.copy_mem_csum_crc(d2, 1, a, pos, n, s2)
            assert d1 == d2 and s1 == s2
            z1 = bytearray(2)
            z2 = bytearray(2)
            assert fv.zero_map(z1, 0, a, n) == fast_py.zero_map(z2, 0, a, n) and z1 == z2
    # the big-endian byte-at-a-time checksum agrees with the little-endian one
    for off in (0, 1):
        for n in (0, 1, 2, 3, 100, 101):
            assert fv._csum_be8(src, off, n, 0x55) == fv._csum_le(src, off, n, 0x55)


def test_viper_base_as_big_int_object():
    # On 32-bit boards a RAM/flash base >= 2**30 arrives as a big-int object;
    # viper truncates it to the machine word. On this 64-bit unix port adding
    # 2**64 makes such an object that truncates to the real address.
    micropython_only()
    import sys

    if sys.maxsize < 2**32:
        return
    region = _pattern(64, 4)
    big = fast.addr_of(region) + (1 << 64)
    dst = bytearray(64)
    fast.copy_mem_csum_crc(dst, 0, big, 0, 64, b"")
    assert dst == region
    z = bytearray(1)
    assert fast.zero_map(z, 0, big, 64) == 64 and z[0] == 0


def test_no_allocation_under_heap_lock():
    src = _pattern(1500, 1)
    dst = bytearray(1500)
    mv = memoryview(dst)
    a = fast.addr_of(src)
    s = "a str source"
    zmap = bytearray(1)
    for n in (0, 1, 3, 1448):
        locked(fast.copy, dst, 2, src, 1, n)
        locked(fast.copy, mv, 3, src, 0, n)
        assert locked(fast.csum, src, 1, n, 0xFFFF) == _ref_csum(src, 1, n, 0xFFFF)
        assert locked(fast.copy_csum, dst, 0, src, 2, n, 0) == _ref_csum(src, 2, n, 0)
        assert locked(fast.copy_mem_csum_crc, dst, 2, a, 2, n, b"") == _ref_csum(src, 2, n, 0)
        assert locked(fast.zero_map, zmap, 0, a, n) == n
    locked(fast.copy, dst, 0, s, 2, 5)
    assert bytes(dst[0:5]) == b"str s"
    # the pure-Python twins are allocation-free too (for bytes-like sources)
    locked(fast_py.copy, dst, 2, src, 1, 100)
    assert locked(fast_py.csum, src, 1, 101, 0x3FFFFFFF) == _ref_csum(src, 1, 101, 0x3FFFFFFF)


# ---- CRC-32 (netdump/crc32.py) -------------------------------------------------

from netdump import crc32  # noqa: E402


def _crc(fn_update, data, off, n, zeros=0):
    st = bytearray(4)
    crc32.start(st)
    fn_update(st, data, off, n)
    if zeros:
        (fast.crc32_zeros if fn_update is fast.crc32_update else fast_py.crc32_zeros)(st, zeros)
    out = bytearray(4)
    crc32.final(st, out, 0)
    return bytes(out)


def test_crc32_check_value():
    # the CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926 (little-endian below)
    assert _crc(fast.crc32_update, b"123456789", 0, 9) == unhex("2639f4cb")
    assert _crc(fast_py.crc32_update, b"123456789", 0, 9) == unhex("2639f4cb")
    assert _crc(fast.crc32_update, b"", 0, 0) == bytes(4)
    # zlib.crc32(bytes(4096)) == 0xC71C0011
    st = bytearray(4)
    crc32.start(st)
    fast.crc32_zeros(st, 4096)
    out = bytearray(4)
    crc32.final(st, out, 0)
    assert bytes(out) == unhex("11001cc7")


def test_crc32_table_slices():
    t = crc32.table(4)  # interleaved: entry i of table k at 16*i + 4*k
    t0 = crc32.table()
    assert bytes(t0[4:8]) == unhex("96300777")  # entry 1 of table 0: 0x77073096
    for i in (0, 1, 77, 255):
        assert bytes(t[16 * i:16 * i + 4]) == bytes(t0[4 * i:4 * i + 4])
        # table k entry i is table k-1's entry i after one more zero byte
        for k in (1, 2, 3):
            st = bytearray(t[16 * i + 4 * (k - 1):16 * i + 4 * k])
            fast_py.crc32_zeros(st, 1)
            assert bytes(st) == bytes(t[16 * i + 4 * k:16 * i + 4 * k + 4])


def test_crc32_twins_equal_and_chain():
    data = _pattern(3000, 11)
    for off in (0, 1, 2, 3, 5):
        for n in (0, 1, 3, 4, 5, 7, 8, 63, 1448, 2990):
            assert _crc(fast.crc32_update, data, off, n) == _crc(fast_py.crc32_update, data, off, n), (off, n)
    for z in (0, 1, 3, 4, 9, 4096):
        assert _crc(fast.crc32_update, data, 1, 100, z) == _crc(fast_py.crc32_update, data, 1, 100, z), z
    # in pieces == in one go
    st = bytearray(4)
    crc32.start(st)
    for a, b in ((0, 7), (7, 1000), (1007, 1)):
        fast.crc32_update(st, data, a, b)
    one = bytearray(4)
    crc32.start(one)
    fast.crc32_update(one, data, 0, 1008)
    assert st == one


def test_crc32_no_allocation():
    data = _pattern(1448, 3)
    st = bytearray(4)
    crc32.start(st)
    locked(fast.crc32_update, st, data, 1, 1447)
    locked(fast.crc32_zeros, st, 4096)
    out = bytearray(4)
    locked(crc32.final, st, out, 0)
    locked(crc32.start, st)
    if MICROPYTHON:  # the twin too (on CPython it is zlib)
        locked(fast_py.crc32_update, st, data, 0, 100)
        locked(fast_py.crc32_zeros, st, 10)


def test_crc32_zeros_blocks_and_rest():
    # whole 4096-byte blocks go through the zero operator, the rest a word/byte at a time
    data = _pattern(64, 5)
    for z in (4095, 4096, 4097, 8192, 8195, 12288 + 3):
        assert _crc(fast.crc32_update, data, 0, 64, z) == _crc(fast_py.crc32_update, data, 0, 64, z), z
    st = bytearray(4)
    crc32.start(st)
    fast.crc32_zeros(st, 8192)
    ref = bytearray(4)
    crc32.start(ref)
    fast.crc32_update(ref, bytes(8192), 0, 8192)
    assert st == ref


# ---- the data path's fused helpers -----------------------------------------------


def test_copy_mem_csum_crc():
    src = _pattern(5000, 21)
    a = fast.addr_of(src)
    for pos in (0, 1, 2, 4):
        for doff in (0, 1, 2, 68):
            for n in (0, 1, 2, 3, 5, 8, 63, 1447, 1448, 4096):
                dst = bytearray(4200)
                st = bytearray(4)
                crc32.start(st)
                r = fast.copy_mem_csum_crc(dst, doff, a, pos, n, st)
                assert dst[doff:doff + n] == src[pos:pos + n]
                assert r == _ref_csum(src, pos, n, 0), (pos, doff, n)
                want = bytearray(4)
                crc32.start(want)
                fast_py.crc32_update(want, src, pos, n)
                assert st == want, (pos, doff, n)
                # an empty state: no CRC, the same copy and sum
                assert fast.copy_mem_csum_crc(dst, doff, a, pos, n, b"") == r
                assert fast_py.copy_mem_csum_crc(dst, doff, a, pos, n, b"") == r
    dst = bytearray(1600)
    st = bytearray(4)
    assert locked(fast.copy_mem_csum_crc, dst, 68, a, 0, 1448, st) == _ref_csum(src, 0, 1448, 0)
    locked(fast.copy_mem_csum_crc, dst, 68, a, 0, 1448, b"")


def test_put_header():
    from netdump import wire

    for args in ((wire.VMCORE, 2, 4096, 1448), (wire.FINISHED, 0x3FFFFFFF, 0, 0), (wire.KDH, 77, 0x3FFFF000, 512),
                 (wire.VMCORE, 0x12345678 >> 3, 0x2ABCDEF0 >> 1, 4096)):
        for off in (0, 3, 4):  # word stores when aligned, byte stores else
            b = bytearray(b"\xee" * 30)  # stale bytes: every header byte is written
            want = bytearray(b"\xee" * 30)
            wire.pack_header(want, off, args[0], args[1], args[2], args[3])
            s = fast.put_header(b, off, args[0], args[1], args[2], args[3])
            assert b == want and s == _ref_csum(want, off, 24, 0), (args, off)
            b2 = bytearray(b"\xee" * 30)
            assert fast_py.put_header(b2, off, args[0], args[1], args[2], args[3]) == s and b2 == want
    assert locked(fast.put_header, b, 0, 3, 5, 6, 7) == _ref_csum(b, 0, 24, 0)


def test_udp_finish_ipv4_and_ipv6():
    from netdump import inet, inet6

    cip = bytes([10, 0, 2, 15])
    sip = bytes([10, 0, 2, 2])
    for n in (0, 5, 18, 1472):
        for impl in (fast, fast_py):
            f = bytearray(1514)
            for i in range(len(f)):
                f[i] = 0xEE  # stale bytes: the padding must be zeroed
            inet.eth_header(f, 0, b"\x02" * 6, b"\x04" * 6, inet.ETHERTYPE_IPV4)
            inet.ipv4_header(f, 14, 0, inet.PROTO_UDP, cip, sip)
            f[16] = f[17] = f[24] = f[25] = 0
            inet.udp_header(f, 34, 20024, 40000, 0, 0)
            pay = _pattern(n, n)
            f[42:42 + n] = pay
            ipsum = fast.csum(f, 14, 20, 0)
            usum = fast_py._fold(inet.pseudo4_sum(cip, sip, inet.PROTO_UDP, 0) + 20024 + 40000)
            prm = bytes([14, 34, 1, 0, ipsum >> 8, ipsum & 0xFF, usum >> 8, usum & 0xFF])
            flen = locked(impl.udp_finish, f, n, fast.csum(pay, 0, n, 0), prm)
            assert flen == max(60, 42 + n)
            assert inet.classify(f, 0, flen) == inet.KIND_UDP4
            assert frames.udp4_payload_len(f, 0) == n and bytes(f[42 + n:flen]) == bytes(flen - 42 - n)
    cip6 = unhex("fe80 0000 0000 0000 0000 0000 0000 0001")
    sip6 = unhex("fe80 0000 0000 0000 0000 0000 0000 0002")
    for n in (0, 30, 1452):
        f = bytearray(1514)
        inet.eth_header(f, 0, b"\x02" * 6, b"\x04" * 6, inet.ETHERTYPE_IPV6)
        inet6.ipv6_header(f, 14, 0, inet.PROTO_UDP, 255, cip6, sip6)
        inet.udp_header(f, 54, 20024, 40000, 0, 0)
        pay = _pattern(n, 3)
        f[62:62 + n] = pay
        usum = fast_py._fold(inet6.pseudo6_sum(cip6, sip6, inet.PROTO_UDP, 0) + 20024 + 40000)
        prm = bytes([14, 54, 0, 0, 0, 0, usum >> 8, usum & 0xFF])
        flen = fast.udp_finish(f, n, fast.csum(pay, 0, n, 0), prm)
        assert flen == 62 + n and inet6.classify(f, 0, flen) == inet6.KIND_UDP6


def test_ack_match():
    from netdump import inet

    cip = bytes([10, 0, 2, 15])
    sip = bytes([10, 0, 2, 2])
    mac = b"\x02\x00\x00\x00\x00\x15"
    f0 = bytearray(60)
    frames.udp4_frame(f0, 0, mac, b"\x52" * 6, sip, cip, 40000, 20024, 4)
    f0[42:46] = b"\x00\x00\x01\x02"
    frames.udp4_set_checksum(f0, 34, sip, cip)
    t = bytearray(fast.ACK_TEMPLATE)
    t[0] = 42
    t[1] = 14
    t[2] = 34
    t[6:48] = f0[0:42]
    t[70:112] = b"\xff" * 42
    for i in list(range(6, 12)) + [15, 18, 19, 22, 24, 25, 34, 35, 40, 41]:
        t[6 + i] = 0
        t[70 + i] = 0
    s = inet.pseudo4_sum(cip, sip, inet.PROTO_UDP, 12)
    t[4] = s >> 8
    t[5] = s & 0xFF
    t6 = bytearray(t)
    t6[1] = 0xFF  # as over IPv6: no IPv4 header checksum, a UDP checksum required
    buf = bytearray(72)  # frames at 2 mod 4 (the word path) and at 1 mod 4 (the byte path)
    for impl in (fast, fast_py):
        for off in (2, 1):
            def check(frame, n, tmpl=t):
                buf[off:off + 60] = frame
                return impl.ack_match(memoryview(buf)[off:], n, tmpl)

            assert check(f0, 60) == 0x102, (impl, off)
            assert locked(impl.ack_match, memoryview(buf)[off:], 60, t) == 0x102
            assert check(f0, 45) == -1  # too short
            g = bytearray(f0)
            g[45] ^= 1  # the UDP checksum no longer matches
            assert check(g, 60) == -1
            g = bytearray(f0)
            g[40] = g[41] = 0  # no UDP checksum: allowed over IPv4
            assert check(g, 60) == 0x102
            assert check(g, 60, t6) == -1  # not over IPv6
            g = bytearray(f0)
            g[22] = 7  # another TTL: masked, but the IPv4 header checksum fails
            assert check(g, 60) == -1
            g = bytearray(f0)
            g[36] = 0  # another destination port
            assert check(g, 60) == -1
            g = bytearray(f0)
            g[1] = 0x77  # another destination MAC (in the bytes before the words)
            assert check(g, 60) == -1
            g = bytearray(f0)
            g[42] = 0x40  # a seqno of 2**30 or more (checksum fixed below)
            frames.udp4_set_checksum(g, 34, sip, cip)
            assert check(g, 60) == -2
    # every byte of the frame, and bytes of the template's sum, reference and mask,
    # changed in turn: fast (fast_thumb's on Cortex-M) and fast_py agree
    cases = [(j, -1) for j in range(46)] + [(-1, k) for k in (4, 5, 9, 46, 73, 110)]
    tt = bytearray(len(t))
    for off in (2, 1, 3):
        mv = memoryview(buf)[off:]
        for tm in (t, t6):
            for j, k in cases:
                for x in (1, 0x80):
                    buf[off:off + 60] = f0
                    tt[:] = tm
                    if j >= 0:
                        buf[off + j] ^= x
                    else:
                        tt[k] ^= x
                    for n in (60, 46):
                        assert fast.ack_match(mv, n, tt) == fast_py.ack_match(mv, n, tt), (off, j, k, x, n)


def test_zero_map_and_span():
    size = 4096 * 5 + 100
    buf = bytearray(size + 4)  # one buffer: the board's heap is small and fragments
    # not zero: a byte of block 1, block 4's last byte, a byte of the short last block
    marks = ((4096 + 7, 1), (4096 * 4 + 4095, 2), (4096 * 5 + 99, 3))
    for base_off in (0, 1):  # word-aligned, and not
        for i, v in marks:
            buf[i + 1 - base_off] = 0  # the previous round's mark
            buf[i + base_off] = v
        a = fast.addr_of(buf) + base_off
        for impl in (fast, fast_py):
            zmap = bytearray(8)
            # fast_py's raw-memory reads allocate on MicroPython (a reference only)
            run = locked if impl is fast or not MICROPYTHON else (lambda f, *args: f(*args))
            assert run(impl.zero_map, zmap, 1, a, size) == 4096 * 2 + 100
            assert bytes(zmap) == bytes([0, 1, 0, 1, 1, 0, 0, 0])
            zmap = bytearray(8)
            assert impl.zero_map(zmap, 0, a, 4096 * 5 + 50) == 4096 * 2  # the short block is zero here
            assert bytes(zmap[0:6]) == bytes([1, 0, 1, 1, 0, 1])
    z = bytes([1, 1, 0, 0, 0, 1, 0])
    for impl in (fast, fast_py):
        assert [locked(impl.span, z, i, 7) for i in range(8)] == [2, 2, 5, 5, 5, 6, 7, 7]
        assert impl.span(z, 2, 4) == 4


def test_mem_read_where_there_is_one():
    # fast.mem_read (Thumb CPUs): fast_viper's copy_mem_csum_crc in one call, or 0x10000
    # and nothing done (no bytes, an address not word-aligned)
    if fast.mem_read is None:
        assert not fast.THUMB
        return
    import struct

    from netdump import fast_viper

    src = _pattern(4200, 23)
    a = fast.addr_of(src)
    tbl = fast.addr_of(fast.crc_tables())
    st = bytearray(8)
    dst = bytearray(4200)
    want_st = bytearray(4)
    want_dst = bytearray(4200)
    zero = bytes(4200)
    for pos in (0, 1, 4):
        for doff in (0, 2, 68):
            for n in (0, 1, 2, 3, 4, 5, 7, 8, 12, 20, 1447, 1448, 1449, 1200, 4096):
                crc32.start(st)
                struct.pack_into("<I", st, 4, tbl)
                dst[:] = zero
                want_dst[:] = zero
                r = fast.mem_read(dst, doff | (n << 16), a + pos, st)
                if n == 0 or (a + pos) & 3 or (fast.addr_of(dst) + doff) & 3:
                    assert r == 0x10000 and dst == zero, (pos, doff, n)
                    continue
                crc32.start(want_st)
                want = fast_viper.copy_mem_csum_crc(want_dst, doff, a, pos, n, want_st)
                assert r == want and dst == want_dst and st[0:4] == want_st, (pos, doff, n)
                assert fast.mem_read(dst, doff | (n << 16), a + pos, None) == want  # no CRC
                assert st[4:8] == struct.pack("<I", tbl)
    struct.pack_into("<I", st, 4, tbl)
    assert locked(fast.mem_read, dst, 68 | (1448 << 16), a, st) < 0x10000


def test_thumb_where_the_assembler_is():
    # where the inline Thumb assembler compiles a function, fast_thumb must have compiled too
    # (a fast_thumb the assembler rejects would leave the port on the slower viper loop unseen)
    try:
        ns = {}
        exec("@micropython.asm_thumb\ndef f(r0):\n    add(r0, r0, 1)\n", ns)
        have = ns["f"](1) == 2
    except Exception:
        have = False
    assert fast.THUMB == (have and fast.IMPL == "viper" and fast._thumb_cpu())
    if fast.THUMB:
        assert fast.mem_read is not None and fast.ack_match is not fast_py.ack_match
