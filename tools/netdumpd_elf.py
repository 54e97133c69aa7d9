"""Info-file summary of a board dump: the ELF core's regions and panic notes.

Reads only the ELF header, the program headers and the PT_NOTE segment of a
core written by netdump.elfcore (layout and note types defined there), with
every size bounded, so a hostile file costs a few kilobytes of reads at most.
"""
import os
import struct

from netdump import elfcore

_MAX_PHDRS = 4096  # more program headers than any board has regions
_MAX_NOTES = 1 << 20  # bytes of PT_NOTE read at most
_MAX_TEXT = 4096  # characters of a text note written to the info file


def _pread(fd, n, off):
    out = b""
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), off + len(out))
        if not chunk:
            break
        out += chunk
    return out


def read_core(fd):
    """(machine, elfclass, [(vaddr, memsz, offset)], [(owner, type, desc)]) of
    the little-endian ELF core in fd, or None if it is not one."""
    ident = _pread(fd, 64, 0)
    if len(ident) < 52 or ident[0:4] != b"\x7fELF" or ident[5] != elfcore.ELFDATA2LSB:
        return None
    is64 = ident[4] == elfcore.ELFCLASS64
    if is64:
        if len(ident) < 64:
            return None
        etype, machine = struct.unpack_from("<HH", ident, 16)
        phoff, = struct.unpack_from("<Q", ident, 32)
        phentsize, phnum = struct.unpack_from("<HH", ident, 54)
        want = 56
    else:
        etype, machine = struct.unpack_from("<HH", ident, 16)
        phoff, = struct.unpack_from("<I", ident, 28)
        phentsize, phnum = struct.unpack_from("<HH", ident, 42)
        want = 32
    if etype != elfcore.ET_CORE or phentsize < want or phnum > _MAX_PHDRS:
        return None
    table = _pread(fd, phentsize * phnum, phoff)
    regions = []
    notes = []
    for i in range(len(table) // phentsize):
        p = i * phentsize
        if is64:
            ptype, _flags, off, vaddr, _pa, filesz, memsz, _al = struct.unpack_from("<IIQQQQQQ", table, p)
        else:
            ptype, off, vaddr, _pa, filesz, memsz, _flags, _al = struct.unpack_from("<IIIIIIII", table, p)
        if ptype == elfcore.PT_LOAD:
            regions.append((vaddr, memsz, off))
        elif ptype == elfcore.PT_NOTE:
            notes.extend(_parse_notes(_pread(fd, min(filesz, _MAX_NOTES), off)))
    return machine, (64 if is64 else 32), regions, notes


def _parse_notes(data):
    out = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        pos += 12
        name = data[pos:pos + namesz].split(b"\0")[0].decode("utf-8", "replace")
        pos += (namesz + 3) & ~3
        desc = data[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        out.append((name, ntype, desc))
    return out


def _clean(b):
    s = b.decode("utf-8", "replace")[:_MAX_TEXT]
    return "".join(c if (c >= " " or c in "\n\t") and c != "\x7f" else "?" for c in s)


def summary_lines(fd):
    """Info-file lines (each ending in a newline) for the ELF core in fd, or []."""
    try:
        core = read_core(fd)
    except (OSError, struct.error):
        return []
    if core is None:
        return []
    machine, elfclass, regions, notes = core
    ours = {}
    for owner, ntype, desc in notes:
        if owner == elfcore.NOTE_OWNER and ntype not in ours:
            ours[ntype] = desc
    if not ours:
        return []  # an ELF core, but not from one of our boards (e.g. a FreeBSD full dump)
    names = []
    if elfcore.NT_REGIONS in ours:
        names = [n.decode("utf-8", "replace") for n in ours[elfcore.NT_REGIONS].split(b"\0")]
    lines = ["ELF core: %s, ELFCLASS%d, %d regions\n"
             % (elfcore.MACHINE_NAMES.get(machine, "machine %d" % machine), elfclass, len(regions))]
    for i, (vaddr, memsz, off) in enumerate(regions):
        name = _clean(names[i].encode()) if i < len(names) and names[i] else "-"
        lines.append("  Region %s: 0x%08x-0x%08x (%d bytes) @ file 0x%x\n"
                     % (name, vaddr, vaddr + memsz, memsz, off))
    for ntype, label in ((elfcore.NT_BOARD, "Board"), (elfcore.NT_FIRMWARE, "Firmware")):
        if ntype in ours:
            lines.append("  %s: %s\n" % (label, _clean(elfcore.text_desc(ours[ntype]))))
    if elfcore.NT_UPTIME in ours and len(ours[elfcore.NT_UPTIME]) >= 4:
        lines.append("  Uptime: %d s\n" % struct.unpack_from("<I", ours[elfcore.NT_UPTIME], 0)[0])
    if elfcore.NT_PANIC in ours:
        lines.append("  Panic: %s\n" % _clean(elfcore.text_desc(ours[elfcore.NT_PANIC])).replace("\n", " "))
    if elfcore.NT_TRACEBACK in ours:
        tb = _clean(elfcore.text_desc(ours[elfcore.NT_TRACEBACK])).rstrip("\n")
        if tb:
            lines.append("  Traceback:\n")
            for ln in tb.split("\n"):
                lines.append("    %s\n" % ln)
    return lines
