# dual-runtime
# ELF core layout (firmware/netdump/elfcore.py): sizes, offsets, header bytes,
# notes, and the allocation-free setters used during a dump.
import struct

from dualtest import MICROPYTHON, cpython_only, locked, raises, unhex
from netdump import elfcore

OWNER = b"netdump\x00"


def _two():
    return elfcore.CoreLayout([("sram", 0x20000000, 0x2100), ("flash", 0x10000000, 100)],
                              elfcore.EM_ARM, board="pico", firmware="v1.29.0", msg_cap=16, tb_cap=40)


def _notes(c):
    # walk the PT_NOTE segment by hand: list of (owner, type, desc offset, descsz)
    out = []
    pos = c.notes_off
    end = pos + c.notes_len
    while pos < end:
        namesz, descsz, ntype = struct.unpack_from("<III", c.buf, pos)
        name = bytes(c.buf[pos + 12:pos + 12 + namesz])
        desc = pos + 12 + (namesz + 3) // 4 * 4
        out.append((name, ntype, desc, descsz))
        pos = desc + (descsz + 3) // 4 * 4
    assert pos == end
    return out


def _desc(c, ntype):
    for name, t, off, n in _notes(c):
        if t == ntype:
            assert name == OWNER
            return bytes(c.buf[off:off + n])
    raise AssertionError("no note %d" % ntype)


def _text(c, ntype):
    d = _desc(c, ntype)
    n = struct.unpack_from("<I", d, 0)[0]
    assert n <= len(d) - 4
    # everything after the text is NUL padding
    assert d[4 + n:] == bytes(len(d) - 4 - n)
    return d[4:4 + n]


def test_layout_sizes_and_offsets():
    c = _two()
    # the buffer ends with the notes; the rest of the first page is a hole in the file
    assert c.header_size == 4096 and len(c.buf) == c.header_len == c.notes_off + c.notes_len
    assert c.offsets == [4096, 4096 + 0x3000]
    assert c.total_size == 4096 + 0x3000 + 100
    assert c.notes_off == 52 + 3 * 32
    assert c.notes_off + c.notes_len <= c.header_size


def test_offsets_are_page_aligned_and_ordered():
    regs = [("a", 0x1000, 1), ("b", 0x3000, 4096), ("c", 0x9000, 4097), ("d", 0x20000, 0), ("e", 0x30000, 5)]
    c = elfcore.CoreLayout(regs, elfcore.EM_RISCV)
    pos = c.header_size
    for i in range(len(regs)):
        assert c.offsets[i] % 4096 == 0
        assert c.offsets[i] == pos
        pos = (pos + regs[i][2] + 4095) // 4096 * 4096
    assert c.total_size == c.offsets[-1] + 5


def test_header_grows_past_one_page():
    c = elfcore.CoreLayout([("r", 0x1000, 16)], elfcore.EM_XTENSA, tb_cap=5000)
    assert c.header_size == 8192 and c.offsets == [8192]
    c = elfcore.CoreLayout([], elfcore.EM_ARM)
    assert c.header_size == 4096 and c.offsets == [] and c.total_size == 4096
    assert len(c.buf) == c.header_len == 4096  # the whole file: its padding is sent


def test_elf_header_known_bytes():
    c = _two()
    ehdr = unhex("7f454c46 010101 00 0000000000000000"  # e_ident: ELF32, LSB, EV_CURRENT
                 "0400 2800 01000000"                    # ET_CORE, EM_ARM, EV_CURRENT
                 "00000000 34000000 00000000 00000000"   # entry, phoff 52, shoff, flags
                 "3400 2000 0300 2800 0000 0000")        # ehsize, phentsize, phnum 3, shentsize, shnum, shstrndx
    assert bytes(c.buf[0:52]) == ehdr
    note_ph = struct.pack("<IIIIIIII", 4, 148, 0, 0, c.notes_len, 0, 0, 4)
    load0 = unhex("01000000 00100000 00000020 00000020 00210000 00210000 06000000 00100000")
    load1 = unhex("01000000 00400000 00000010 00000010 64000000 64000000 06000000 00100000")
    assert bytes(c.buf[52:84]) == note_ph
    assert bytes(c.buf[84:116]) == load0
    assert bytes(c.buf[116:148]) == load1


def test_header_matches_struct_encoder():
    cpython_only()
    # an independent encoder, field by field from the gABI tables
    c = _two()
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 4, 40, 1, 0, 52, 0, 0, 52, 32, 3, 40, 0, 0)
    ph = struct.pack("<8I", 4, 52 + 96, 0, 0, c.notes_len, 0, 0, 4)
    ph += struct.pack("<8I", 1, 4096, 0x20000000, 0x20000000, 0x2100, 0x2100, 6, 4096)
    ph += struct.pack("<8I", 1, 4096 + 0x3000, 0x10000000, 0x10000000, 100, 100, 6, 4096)

    def note(t, desc):
        return struct.pack("<III", 8, len(desc), t) + OWNER + desc + bytes(-len(desc) % 4)

    notes = note(0x4E4401, struct.pack("<I", 0) + bytes(16))
    notes += note(0x4E4402, struct.pack("<I", 0) + bytes(40))
    notes += note(0x4E4403, struct.pack("<I", 4) + b"pico")
    notes += note(0x4E4404, struct.pack("<I", 7) + b"v1.29.0")
    notes += note(0x4E4405, bytes(4))
    notes += note(0x4E4406, b"sram\0flash\0")
    notes += note(0x4E4408, bytes(4 + 16))  # algorithm none, two regions not computed
    want = ehdr + ph + notes
    assert len(notes) == c.notes_len
    assert bytes(c.buf) == want


def test_notes_owner_types_and_fixed_text():
    c = _two()
    got = [(n, t, sz) for n, t, _off, sz in _notes(c)]
    assert got == [
        (OWNER, elfcore.NT_PANIC, 20), (OWNER, elfcore.NT_TRACEBACK, 44), (OWNER, elfcore.NT_BOARD, 8),
        (OWNER, elfcore.NT_FIRMWARE, 11), (OWNER, elfcore.NT_UPTIME, 4), (OWNER, elfcore.NT_REGIONS, 11),
        (OWNER, elfcore.NT_DIGEST, 20),
    ]
    assert _text(c, elfcore.NT_BOARD) == b"pico"
    assert _text(c, elfcore.NT_FIRMWARE) == b"v1.29.0"
    assert _desc(c, elfcore.NT_REGIONS) == b"sram\x00flash\x00"
    assert _desc(c, elfcore.NT_DIGEST) == bytes(20)
    assert _text(c, elfcore.NT_PANIC) == b"" and _text(c, elfcore.NT_TRACEBACK) == b""


def test_set_panic_under_heap_lock():
    c = _two()
    locked(c.set_panic, "boom: bad thing")
    assert _text(c, elfcore.NT_PANIC) == b"boom: bad thing"
    # a shorter message leaves no trace of the longer one
    locked(c.set_panic, b"oops")
    assert _text(c, elfcore.NT_PANIC) == b"oops"
    # cut to msg_cap (16)
    locked(c.set_panic, "0123456789abcdefXYZ")
    assert _text(c, elfcore.NT_PANIC) == b"0123456789abcdef"
    locked(c.set_panic, bytearray(b"ba"))
    assert _text(c, elfcore.NT_PANIC) == b"ba"
    locked(c.set_panic, "")
    assert _text(c, elfcore.NT_PANIC) == b""
    # the first n bytes of a preallocated buffer (what guard() passes)
    locked(c.set_panic, bytearray(b"KeyError: 3\0\0\0\0"), 11)
    assert _text(c, elfcore.NT_PANIC) == b"KeyError: 3"


def test_set_panic_utf8_exact():
    c = _two()
    s = "h\u00e9 \u20ac\U0001d11ex"  # 1, 2, 3 and 4-byte characters
    locked(c.set_panic, s)
    assert _text(c, elfcore.NT_PANIC) == s.encode("utf-8")
    # cut inside a character at the capacity: only the first 16 bytes
    s2 = "abcdefghijklmn\u20ac\u20ac"
    locked(c.set_panic, s2)
    assert _text(c, elfcore.NT_PANIC) == s2.encode("utf-8")[:16]


def test_set_traceback_under_heap_lock():
    c = _two()
    tb = bytearray(64)
    text = b"Traceback (most recent call last):\n  File"
    for i in range(len(text)):
        tb[i] = text[i]
    locked(c.set_traceback, tb, 10)
    assert _text(c, elfcore.NT_TRACEBACK) == text[:10]
    locked(c.set_traceback, tb, len(text))
    assert _text(c, elfcore.NT_TRACEBACK) == text[:40]  # tb_cap
    locked(c.set_traceback, memoryview(tb), 3)
    assert _text(c, elfcore.NT_TRACEBACK) == b"Tra"
    locked(c.set_traceback, tb, 1000)  # n larger than the buffer: cut to it, then to tb_cap
    assert _text(c, elfcore.NT_TRACEBACK) == bytes(tb[:40])


def test_set_uptime_under_heap_lock():
    c = _two()
    locked(c.set_uptime, 123456)
    assert _desc(c, elfcore.NT_UPTIME) == b"\x40\xe2\x01\x00"
    locked(c.set_uptime, 0x3FFFFFFF)
    assert _desc(c, elfcore.NT_UPTIME) == b"\xff\xff\xff\x3f"
    locked(c.set_uptime, -5)
    assert _desc(c, elfcore.NT_UPTIME) == bytes(4)


def test_setters_touch_only_their_note():
    c = _two()
    before = bytes(c.buf)
    c.set_panic("x")
    c.set_traceback(b"y", 1)
    c.set_uptime(7)
    changed = [i for i in range(len(before)) if before[i] != c.buf[i]]
    assert changed == [c.panic_off - 4, c.panic_off, c.traceback_off - 4, c.traceback_off, c.uptime_off]


def test_64bit_layout():
    base = 0x7F0012345000
    c = elfcore.CoreLayout([("heap", base, 0x10000), ("stack", base + 0x100000000, 5000)],
                           elfcore.EM_X86_64, elfclass=64, board="unix", firmware="x")
    assert bytes(c.buf[0:8]) == b"\x7fELF\x02\x01\x01\x00"
    etype, mach, ver, entry, phoff, shoff, flags, ehsize, phentsize, phnum = struct.unpack_from(
        "<HHIQQQIHHH", c.buf, 16)
    assert (etype, mach, ver, entry, phoff, shoff, flags) == (4, 62, 1, 0, 64, 0, 0)
    assert (ehsize, phentsize, phnum) == (64, 56, 3)
    assert c.notes_off == 64 + 3 * 56
    assert c.offsets == [4096, 4096 + 0x10000]
    assert c.total_size == 4096 + 0x10000 + 5000
    t, fl, off, va, pa, fs, ms, al = struct.unpack_from("<IIQQQQQQ", c.buf, 64)
    assert (t, off, fs, al) == (4, c.notes_off, c.notes_len, 4)
    t, fl, off, va, pa, fs, ms, al = struct.unpack_from("<IIQQQQQQ", c.buf, 64 + 112)
    assert (t, fl, off, fs, ms, al) == (1, 6, 4096 + 0x10000, 5000, 5000, 4096)
    assert va == base + 0x100000000 and pa == va
    assert bytes(c.buf[64 + 56 + 16:64 + 56 + 24]) == unhex("0050341200 7f0000")
    locked(c.set_panic, "64-bit panic")
    locked(c.set_uptime, 99)
    assert _text(c, elfcore.NT_PANIC) == b"64-bit panic"
    assert _desc(c, elfcore.NT_UPTIME) == b"\x63\x00\x00\x00"


def test_bad_arguments():
    raises(ValueError, elfcore.CoreLayout, [("r", 0, 16)], elfcore.EM_ARM, 48)
    # does not fit a 32-bit core
    raises(ValueError, elfcore.CoreLayout, [("r", 0xFFFFF000, 0x2000)], elfcore.EM_ARM)
    raises(ValueError, elfcore.CoreLayout, [("a\x00b", 0, 16)], elfcore.EM_ARM)


def test_machine_constants():
    assert (elfcore.EM_ARM, elfcore.EM_XTENSA, elfcore.EM_RISCV, elfcore.EM_X86_64) == (40, 94, 243, 62)
    if MICROPYTHON:
        # the note types are small ints on every port
        assert elfcore.NT_SHA256 < 0x40000000 and elfcore.NT_DIGEST < 0x40000000


def test_digests_under_heap_lock():
    from netdump import crc32

    c = _two()
    locked(c.clear_digests, elfcore.DIGEST_CRC32)
    assert _desc(c, elfcore.NT_DIGEST) == struct.pack("<I", 1) + bytes(16)  # both "not computed"
    st = bytearray(b"\x01\x02\x03\x04")  # a running value; the CRC is its complement
    locked(c.set_digest, 1, st)
    assert _desc(c, elfcore.NT_DIGEST) == struct.pack("<IIIII", 1, 0, 0, 1, 0xFBFCFDFE)
    locked(crc32.start, st)
    locked(c.set_digest, 0, st)
    assert _desc(c, elfcore.NT_DIGEST)[4:12] == struct.pack("<II", 1, 0)
    locked(c.clear_digests, elfcore.DIGEST_NONE)
    assert _desc(c, elfcore.NT_DIGEST) == bytes(20)
    assert c.digest_off == [d for _n, t, d, _s in _notes(c) if t == elfcore.NT_DIGEST][0] and c.digest_len == 20
