"""Info-file summary of a board dump: the ELF core's regions and panic notes.

The core is parsed by the dump reader (netdump_tools.reader), which reads the
ELF header, the program headers (at most 65535 x 56 bytes) and the note
segments. A client chooses all of these, so the parse runs with a budget:
NOTES_BUDGET bytes of notes in all and TIME_BUDGET seconds; beyond either the
info file says the core was not analysed. Each region's CRC-32 (the NT_DIGEST
note the board sends after its data) is checked against the file, reading at
most DIGEST_TIME_BUDGET seconds in all. netdumpd runs this in a worker thread,
never in its event loop."""
import os
import time

from . import reader
from .netdumpd_text import clean

NOTES_BUDGET = 1 << 20  # note bytes read in all (our boards' notes are a few KiB)
TIME_BUDGET = 2.0  # seconds of parsing
MAX_REGION_LINES = 64  # regions listed one per line; the rest are counted
DIGEST_TIME_BUDGET = 30.0  # seconds of reading regions back to check their CRC-32s


def _digest_text(core, r, deadline):
    if core.shortfall(r):
        return ", the file ends early"
    try:
        verdict, want, got = core.check_digest(r, deadline)
    except reader.BudgetError:
        return ", CRC-32 not checked (time budget)"
    if verdict == "ok":
        return ", CRC-32 %08x verified" % got
    if verdict == "mismatch":
        return ", CRC-32 MISMATCH: the board sent %08x, the file holds %08x" % (want, got)
    if verdict == "not computed":
        return ", CRC-32 not computed (the dump ended before it)"
    return ""


def summary_lines(fd, notes_budget=NOTES_BUDGET, time_budget=TIME_BUDGET):
    """Info-file lines (each ending in a newline) for the ELF core in fd, or []."""
    try:
        with os.fdopen(os.dup(fd), "rb") as f:
            core = reader.Vmcore(f, os.fstat(f.fileno()).st_size, max_notes=notes_budget,
                                 deadline=time.monotonic() + time_budget)
            return _lines(core)
    except reader.BudgetError as e:
        return ["ELF core: not analysed: %s\n" % e]
    except (OSError, ValueError):  # reader.CoreError is a ValueError
        return []


def _lines(core):
    if core.board is None and core.panic is None and not any(n[0] == reader.elfcore.NOTE_OWNER for n in core.notes):
        return []  # an ELF core, but not from one of our boards (e.g. a FreeBSD full dump)
    lines = ["ELF core: %s, ELFCLASS%d, %d regions\n" % (core.machine_name, core.elfclass, len(core.regions))]
    deadline = time.monotonic() + DIGEST_TIME_BUDGET
    for r in core.regions[:MAX_REGION_LINES]:
        lines.append("  Region %s: 0x%08x-0x%08x (%d bytes) @ file 0x%x%s\n"
                     % (clean(r.name, limit=64), r.vaddr, r.vaddr + r.size, r.size, r.offset,
                        _digest_text(core, r, deadline)))
    if len(core.regions) > MAX_REGION_LINES:
        lines.append("  (%d more regions)\n" % (len(core.regions) - MAX_REGION_LINES))
    if core.board is not None:
        lines.append("  Board: %s\n" % clean(core.board))
    if core.firmware is not None:
        lines.append("  Firmware: %s\n" % clean(core.firmware))
    if core.uptime is not None:
        lines.append("  Uptime: %d s\n" % core.uptime)
    if core.panic is not None:
        lines.append("  Panic: %s\n" % clean(core.panic))
    tb = clean(core.traceback or "", keep_newlines=True).rstrip("\n")
    if tb:
        lines.append("  Traceback:\n")
        for ln in tb.split("\n"):
            lines.append("    %s\n" % ln)
    return lines
