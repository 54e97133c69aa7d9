"""Info-file summary of a board dump: the ELF core's regions and panic notes.

The core is parsed by the dump reader (netdump_tools.reader), which reads only
the ELF header, the program headers and a size-capped PT_NOTE segment, so a
hostile file costs a few kilobytes of reads at most."""
import os

from . import reader

_MAX_TEXT = 4096  # characters of a text note written to the info file


def _clean(s):
    s = s[:_MAX_TEXT]
    return "".join(c if (c >= " " or c in "\n\t") and c != "\x7f" else "?" for c in s)


def summary_lines(fd):
    """Info-file lines (each ending in a newline) for the ELF core in fd, or []."""
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            core = reader.Vmcore(f, os.fstat(f.fileno()).st_size)
    except (OSError, ValueError):  # reader.CoreError is a ValueError
        return []
    if core.board is None and core.panic is None and not any(n[0] == reader.elfcore.NOTE_OWNER for n in core.notes):
        return []  # an ELF core, but not from one of our boards (e.g. a FreeBSD full dump)
    lines = ["ELF core: %s, ELFCLASS%d, %d regions\n" % (core.machine_name, core.elfclass, len(core.regions))]
    for r in core.regions:
        lines.append("  Region %s: 0x%08x-0x%08x (%d bytes) @ file 0x%x\n"
                     % (_clean(r.name), r.vaddr, r.vaddr + r.size, r.size, r.offset))
    if core.board is not None:
        lines.append("  Board: %s\n" % _clean(core.board))
    if core.firmware is not None:
        lines.append("  Firmware: %s\n" % _clean(core.firmware))
    if core.uptime is not None:
        lines.append("  Uptime: %d s\n" % core.uptime)
    if core.panic is not None:
        lines.append("  Panic: %s\n" % _clean(core.panic).replace("\n", " "))
    tb = _clean(core.traceback or "").rstrip("\n")
    if tb:
        lines.append("  Traceback:\n")
        for ln in tb.split("\n"):
            lines.append("    %s\n" % ln)
    return lines
