# ELF core layout of a dump (System V gABI "ELF header", "Program header",
# "Note section"; field sizes from FreeBSD sys/sys/elf32.h and elf64.h).
#
# File layout, little-endian, ELFCLASS32 or ELFCLASS64:
#   0                 ELF header (52 or 64 bytes)
#   e_phoff           program headers: one PT_NOTE, then one PT_LOAD per region
#   after the phdrs   the PT_NOTE segment (our notes, 4-byte aligned)
#   header_size       (a multiple of 4096) data of region 0, then each next
#                     region at the next 4096-aligned offset; total_size is
#                     the end of the last region. buf holds the header up to the
#                     notes' end (header_len bytes): the rest of the first page is
#                     never sent, a hole in the server's file that reads as zeros
#                     (the regions' skipped zero blocks are holes the same way).
#
# Notes, all with owner name NOTE_OWNER ("netdump"); the type numbers are ours:
#   NT_PANIC      u32 byte length, then msg_cap bytes of text, NUL padded
#   NT_TRACEBACK  u32 byte length, then tb_cap bytes of text, NUL padded
#   NT_BOARD      u32 byte length, then the board name (UTF-8)
#   NT_FIRMWARE   u32 byte length, then the firmware version (UTF-8)
#   NT_UPTIME     u32 seconds since boot
#   NT_REGIONS    each region name followed by one NUL, in PT_LOAD order
#   NT_DIGEST     u32 algorithm (DIGEST_NONE, DIGEST_CRC32), then per region in
#                 PT_LOAD order a u32 state (DIGEST_NOT_COMPUTED 0, DIGEST_COMPUTED
#                 1) and a u32 value: the CRC-32 (netdump/crc32.py) of the
#                 region's bytes as sent, skipped zero blocks counted as zeros,
#                 i.e. of its p_memsz bytes as the server's file holds them. Sent
#                 "not computed" with the header; the dumper fills it in and
#                 sends the note again once the regions are through.
#   NT_SHA256     (older cores) 32 bytes per region, all zero: never computed
# The u32 length is the exact text length; a reader takes that many bytes
# (never more than the capacity) and ignores the NUL padding.
#
# The constructor runs at arm time and allocates everything (64-bit addresses
# and sizes only ever appear there). set_panic/set_traceback/set_uptime run
# during a dump: they allocate nothing and keep every int below 2**30.
import struct

from netdump import crc32, fast
from netdump.compat import IS_MICROPYTHON, const

# e_machine values (gABI, "Machine" table; FreeBSD sys/sys/elf_common.h)
EM_ARM = const(40)
EM_X86_64 = const(62)
EM_XTENSA = const(94)
EM_RISCV = const(243)
MACHINE_NAMES = {40: "ARM", 62: "x86-64", 94: "Xtensa", 243: "RISC-V"}

# Our note owner and types: 0x4E44 ("ND") followed by a small number. BFD
# (gdb, readelf) reads notes of unknown owners as "CORE" notes, so types 1..6
# would be taken for NT_PRSTATUS etc.; these match no type binutils knows.
NOTE_OWNER = "netdump"
NT_PANIC = const(0x4E4401)
NT_TRACEBACK = const(0x4E4402)
NT_BOARD = const(0x4E4403)
NT_FIRMWARE = const(0x4E4404)
NT_UPTIME = const(0x4E4405)
NT_REGIONS = const(0x4E4406)
NT_SHA256 = const(0x4E4407)  # read in older cores only
NT_DIGEST = const(0x4E4408)
NOTE_NAMES = {
    0x4E4401: "panic", 0x4E4402: "traceback", 0x4E4403: "board", 0x4E4404: "firmware",
    0x4E4405: "uptime", 0x4E4406: "regions", 0x4E4407: "sha256", 0x4E4408: "digest",
}
DIGEST_NONE = const(0)  # NT_DIGEST algorithm: no digests in this core
DIGEST_CRC32 = const(1)  # CRC-32 as zlib.crc32 computes it
DIGEST_NAMES = {0: "none", 1: "CRC-32"}
DIGEST_NOT_COMPUTED = const(0)  # NT_DIGEST per-region state
DIGEST_COMPUTED = const(1)

# gABI constants (elf_common.h)
ELFCLASS32 = const(1)
ELFCLASS64 = const(2)
ELFDATA2LSB = const(1)
EV_CURRENT = const(1)
ET_CORE = const(4)
PT_LOAD = const(1)
PT_NOTE = const(4)
PF_W = const(2)
PF_R = const(4)

PAGE = const(4096)  # region alignment in the file and p_align of PT_LOAD
SHA_LEN = const(32)  # SHA-256 digest size (FIPS 180-4)
_NOTE_HDR = const(12)  # namesz, descsz, type
_OWNER_FIELD = const(8)  # "netdump\0", already a multiple of 4

# ELF header and program header formats; sizes: 52/32 (ELF32), 64/56 (ELF64)
_EHDR32 = "<HHIIIIIHHHHHH"  # after the 16-byte e_ident
_EHDR64 = "<HHIQQQIHHHHHH"
_PHDR32 = "<IIIIIIII"  # type, offset, vaddr, paddr, filesz, memsz, flags, align
_PHDR64 = "<IIQQQQQQ"  # type, flags, offset, vaddr, paddr, filesz, memsz, align


def _align(n, a):
    return (n + a - 1) // a * a


def _utf8(s):
    if isinstance(s, str):
        return s.encode("utf-8")
    return bytes(s)


class CoreLayout:
    """ELF core header, program headers and notes for a list of regions."""

    def __init__(self, regions, machine, elfclass=32, board="", firmware="", msg_cap=256, tb_cap=2048):  # arm-time
        if elfclass not in (32, 64):
            raise ValueError("elfclass must be 32 or 64")
        if msg_cap < 0 or tb_cap < 0 or msg_cap > 0xFFFFFF or tb_cap > 0xFFFFFF:
            raise ValueError("msg_cap/tb_cap out of range")
        self.regions = [(r[0], r[1], r[2]) for r in regions]
        self.machine = machine
        self.elfclass = elfclass
        self.msg_cap = msg_cap
        self.tb_cap = tb_cap
        is64 = elfclass == 64
        ehsize = 64 if is64 else 52
        phentsize = 56 if is64 else 32
        limit = 1 << (64 if is64 else 32)
        nreg = len(self.regions)
        names = []
        for name, addr, size in self.regions:
            nb = _utf8(name)
            if b"\0" in nb:
                raise ValueError("region name contains NUL")
            if addr < 0 or size < 0 or addr + size > limit:
                raise ValueError("region %s does not fit ELFCLASS%d" % (name, elfclass))
            names.append(nb)
        board_b = _utf8(board)
        fw_b = _utf8(firmware)
        names_len = 0
        for nb in names:
            names_len += len(nb) + 1

        # note descriptor sizes, in the order the notes are written
        descs = (
            (NT_PANIC, 4 + msg_cap),
            (NT_TRACEBACK, 4 + tb_cap),
            (NT_BOARD, 4 + len(board_b)),
            (NT_FIRMWARE, 4 + len(fw_b)),
            (NT_UPTIME, 4),
            (NT_REGIONS, names_len),
            (NT_DIGEST, 4 + 8 * nreg),
        )
        phnum = 1 + nreg
        notes_off = ehsize + phentsize * phnum
        notes_len = 0
        for _t, dlen in descs:
            notes_len += _NOTE_HDR + _OWNER_FIELD + _align(dlen, 4)
        self.header_size = _align(notes_off + notes_len, PAGE)
        # without a region the header is the whole file: then its padding is sent too
        self.header_len = _align(notes_off + notes_len, 4) if regions else self.header_size
        self.buf = bytearray(self.header_len)
        buf = self.buf

        # region file offsets
        self.offsets = []
        pos = self.header_size
        for _name, _addr, size in self.regions:
            self.offsets.append(pos)
            pos = _align(pos + size, PAGE)
        if nreg:
            self.total_size = self.offsets[-1] + self.regions[-1][2]
        else:
            self.total_size = self.header_size

        # ELF header: e_ident (gABI "ELF Identification"), then the rest
        buf[0:4] = b"\x7fELF"
        buf[4] = ELFCLASS64 if is64 else ELFCLASS32
        buf[5] = ELFDATA2LSB
        buf[6] = EV_CURRENT  # EI_VERSION; EI_OSABI 0 = System V
        shentsize = 64 if is64 else 40
        struct.pack_into(_EHDR64 if is64 else _EHDR32, buf, 16,
                         ET_CORE, machine, EV_CURRENT, 0, ehsize, 0, 0,
                         ehsize, phentsize, phnum, shentsize, 0, 0)

        # program headers
        ph = ehsize
        if is64:
            struct.pack_into(_PHDR64, buf, ph, PT_NOTE, 0, notes_off, 0, 0, notes_len, 0, 4)
        else:
            struct.pack_into(_PHDR32, buf, ph, PT_NOTE, notes_off, 0, 0, notes_len, 0, 0, 4)
        for i in range(nreg):
            ph += phentsize
            _name, addr, size = self.regions[i]
            off = self.offsets[i]
            if is64:
                struct.pack_into(_PHDR64, buf, ph, PT_LOAD, PF_R | PF_W, off, addr, addr, size, size, PAGE)
            else:
                struct.pack_into(_PHDR32, buf, ph, PT_LOAD, off, addr, addr, size, size, PF_R | PF_W, PAGE)

        # notes; remember where each descriptor starts
        owner = _utf8(NOTE_OWNER)
        pos = notes_off
        desc_at = {}
        for ntype, dlen in descs:
            struct.pack_into("<III", buf, pos, len(owner) + 1, dlen, ntype)
            buf[pos + _NOTE_HDR:pos + _NOTE_HDR + len(owner)] = owner
            pos += _NOTE_HDR + _OWNER_FIELD
            desc_at[ntype] = pos
            pos += _align(dlen, 4)
        self.notes_off = notes_off
        self.notes_len = notes_len
        # offsets in buf of the parts written during a dump
        self.panic_off = desc_at[NT_PANIC] + 4  # text; its u32 length is just before
        self.traceback_off = desc_at[NT_TRACEBACK] + 4
        self.uptime_off = desc_at[NT_UPTIME]
        self.digest_off = desc_at[NT_DIGEST]  # algorithm; region i's state and value at +4+8i, +8+8i
        self.digest_len = 4 + 8 * nreg
        p = desc_at[NT_BOARD]
        struct.pack_into("<I", buf, p, len(board_b))
        buf[p + 4:p + 4 + len(board_b)] = board_b
        p = desc_at[NT_FIRMWARE]
        struct.pack_into("<I", buf, p, len(fw_b))
        buf[p + 4:p + 4 + len(fw_b)] = fw_b
        p = desc_at[NT_REGIONS]
        for nb in names:
            buf[p:p + len(nb)] = nb
            p += len(nb) + 1
        self._panic_len = 0
        self._tb_len = 0

    def _text(self, off, cap, old, src, n):
        # Copy the first n items of src (bytes, or characters of a str) into
        # buf[off:off+cap], zero what is left of the old text, write the byte
        # length at off-4 and return it. Allocation-free on MicroPython.
        buf = self.buf
        if n > len(src):
            n = len(src)
        if n < 0:
            n = 0
        k = 0  # bytes written
        if isinstance(src, str):
            if not IS_MICROPYTHON:
                # CPython: str has no byte view; encoding here is fine
                src = src[:n].encode("utf-8")
                k = len(src)
                if k > cap:
                    k = cap
                fast.copy(buf, off, src, 0, k)
            else:
                # MicroPython: len() counts characters of valid UTF-8. Copy
                # in pieces no longer than the bytes certainly left (one per
                # character still to start, plus the continuation bytes the
                # last lead byte announced), so no read runs past the string.
                left = n
                need = 0
                while (left > 0 or need > 0) and k < cap:
                    m = left + need
                    if m > cap - k:
                        m = cap - k
                    fast.copy(buf, off + k, src, k, m)
                    i = off + k
                    end = i + m
                    while i < end:
                        b = buf[i]
                        if need > 0 and (b & 0xC0) == 0x80:
                            need -= 1
                        else:
                            left -= 1
                            if b >= 0xF0:
                                need = 3
                            elif b >= 0xE0:
                                need = 2
                            elif b >= 0xC0:
                                need = 1
                            else:
                                need = 0
                        i += 1
                    k += m
        else:
            k = n
            if k > cap:
                k = cap
            fast.copy(buf, off, src, 0, k)
        i = off + k
        end = off + old
        while i < end:
            buf[i] = 0
            i += 1
        struct.pack_into("<I", buf, off - 4, k)
        return k

    def set_panic(self, msg, n=-1):
        """Store the panic message (str or bytes-like; its first n items, -1: all), cut to msg_cap bytes."""
        if n < 0:
            n = len(msg)
        self._panic_len = self._text(self.panic_off, self.msg_cap, self._panic_len, msg, n)

    def traceback_view(self):  # arm-time
        """The traceback note's text area, tb_cap bytes, as a view (a fault writes its traceback
        here once, and set_traceback() of this view copies nothing)."""
        return memoryview(self.buf)[self.traceback_off:self.traceback_off + self.tb_cap]

    def set_traceback(self, buf, n):
        """Store the first n bytes of buf as the traceback, cut to tb_cap bytes."""
        self._tb_len = self._text(self.traceback_off, self.tb_cap, self._tb_len, buf, n)

    def clear_digests(self, algorithm):
        """Every region's digest "not computed", under this algorithm (DIGEST_*)."""
        buf = self.buf
        struct.pack_into("<I", buf, self.digest_off, algorithm)
        i = self.digest_off + 4
        end = self.digest_off + self.digest_len
        while i < end:
            buf[i] = 0
            i += 1

    def set_digest(self, i, state):
        """Region i's digest is the CRC-32 of the running value in state (4 bytes, crc32.py)."""
        p = self.digest_off + 4 + 8 * i
        struct.pack_into("<I", self.buf, p, DIGEST_COMPUTED)
        crc32.final(state, self.buf, p + 4)

    def set_uptime(self, seconds):
        """Store the uptime in seconds (0 .. 2**30-1; negative stores 0)."""
        if seconds < 0:
            seconds = 0
        struct.pack_into("<I", self.buf, self.uptime_off, seconds)


def text_desc(desc):
    """Host side: the text of a length-prefixed note descriptor, as bytes."""
    if len(desc) < 4:
        return b""
    n = struct.unpack_from("<I", desc, 0)[0]
    return bytes(desc[4:4 + n])  # a length past the end is cut to the desc
