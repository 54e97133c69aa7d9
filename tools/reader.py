"""netdump-read: look inside a vmcore written by netdumpd (an ELF core file).

Library:
    core = Vmcore.open("vmcore.pico.0")       # or Vmcore.from_bytes(data)
    core.regions                              # [Region(index, name, vaddr, size, offset, filesz, flags)]
    core.read_region("sram")                  # bytes; past the end of the file reads as zeros
    core.panic, core.traceback, core.board, core.firmware, core.uptime
    core.check_digest(region)                 ("ok" | "mismatch" | "not computed" | "none", CRC-32s)
    core.problems()                           what makes the dump incomplete or wrong, one line each
    core.info_path, core.info_text()          # info.<host>.<N> next to vmcore.<host>.<N>
Every problem with the file raises CoreError (a ValueError) with a one-line
message; the parser never raises anything else, whatever the input bytes.
"""
import argparse
import io
import json
import logging
import os
import struct
import sys
import time
import zlib

from netdump import elfcore

log = logging.getLogger("netdump-read")

_MAX_NOTES = 64 << 20  # refuse note segments larger than this in all (corrupt header)
_MAX_READ = 1 << 30  # read_region() refuses regions larger than this; extract streams
_CHUNK = 1 << 20
_ET_NAMES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}


class CoreError(ValueError):
    """The file is not a readable ELF core (one-line reason in str(e))."""


class BudgetError(CoreError):
    """Parsing the core would take more reads or time than the caller allowed."""


class Region:
    """One PT_LOAD segment: a memory region of the board."""

    __slots__ = ("index", "name", "vaddr", "size", "offset", "filesz", "flags")

    def __init__(self, index, name, vaddr, size, offset, filesz, flags):
        self.index = index
        self.name = name
        self.vaddr = vaddr
        self.size = size  # p_memsz: bytes of memory
        self.offset = offset  # p_offset: where the data starts in the file
        self.filesz = filesz  # p_filesz: bytes stored in the file (rest reads as 0)
        self.flags = flags

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def held(self, file_size):
        """Bytes of this region the file holds: its data up to p_filesz or the end of the file."""
        return max(0, min(self.filesz, file_size - self.offset))

    def __repr__(self):
        return "Region(%d, %r, 0x%x, %d, 0x%x)" % (self.index, self.name, self.vaddr, self.size, self.offset)


def _text(b):
    return b.decode("utf-8", "replace")


class Vmcore:
    """A parsed ELF core: regions and netdump notes; reads region data on demand."""

    def __init__(self, f, size, path=None, max_notes=_MAX_NOTES, deadline=None):
        """Parse the core in file object f of size bytes; max_notes caps the
        note bytes read in all, deadline (time.monotonic()) the parsing time:
        BudgetError beyond either."""
        self._f = f
        self.path = path
        self.file_size = size
        self._max_notes = max_notes
        self._deadline = deadline
        self.notes = []  # (owner, type, desc bytes) of every note
        self.regions = []
        self.panic = None
        self.traceback = None
        self.board = None
        self.firmware = None
        self.uptime = None
        self.sha256 = []  # older cores: 32 zero bytes per region (never computed)
        self.digest_algorithm = elfcore.DIGEST_NONE
        self.digests = []  # per region: (state, value) from the NT_DIGEST note
        self._parse()

    # ---- construction --------------------------------------------------

    @classmethod
    def open(cls, path):
        """Open and parse a vmcore file; CoreError if it is not a readable core."""
        try:
            f = open(path, "rb")
        except OSError as e:
            raise CoreError("%s: %s" % (path, e.strerror or e)) from None
        try:
            size = os.fstat(f.fileno()).st_size
            return cls(f, size, path)
        except BaseException:
            f.close()
            raise

    @classmethod
    def from_bytes(cls, data):
        """Parse a core held in memory."""
        data = bytes(data)
        return cls(io.BytesIO(data), len(data))

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- parsing ---------------------------------------------------------

    def _read_exact(self, off, n, what):
        if off < 0 or n < 0 or off + n > self.file_size:
            raise CoreError("truncated file: %s at 0x%x+%d is past the end (%d bytes)" % (what, off, n, self.file_size))
        self._f.seek(off)
        data = self._f.read(n)
        if len(data) != n:
            raise CoreError("short read of %s" % what)
        return data

    def _parse(self):
        if self.file_size < 16:
            raise CoreError("not an ELF file (only %d bytes)" % self.file_size)
        ident = self._read_exact(0, 16, "e_ident")
        if ident[:4] != b"\x7fELF":
            raise CoreError("not an ELF file (bad magic)")
        if ident[4] not in (elfcore.ELFCLASS32, elfcore.ELFCLASS64):
            raise CoreError("unsupported ELF class %d" % ident[4])
        if ident[5] not in (1, 2):
            raise CoreError("unsupported ELF data encoding %d" % ident[5])
        self.elfclass = 64 if ident[4] == elfcore.ELFCLASS64 else 32
        e = "<" if ident[5] == 1 else ">"
        self.endian = "little" if e == "<" else "big"
        is64 = self.elfclass == 64
        ehsize = 64 if is64 else 52
        hdr = self._read_exact(16, ehsize - 16, "ELF header")
        (etype, machine, _ver, _entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum, _shentsize, _shnum,
         _shstrndx) = struct.unpack(e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"), hdr)
        if etype != elfcore.ET_CORE:
            raise CoreError("not a core file (e_type %s)" % _ET_NAMES.get(etype, etype))
        self.machine = machine
        want = 56 if is64 else 32
        if phnum and phentsize != want:
            raise CoreError("bad program header size %d (expected %d)" % (phentsize, want))
        phdrs = self._read_exact(phoff, phentsize * phnum, "program headers")
        loads = []
        notes_read = 0
        for i in range(phnum):
            if i & 1023 == 1023:
                self._check_time()
            if is64:
                ptype, flags, off, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
                    e + "IIQQQQQQ", phdrs, i * want)
            else:
                ptype, off, vaddr, _paddr, filesz, memsz, flags, _align = struct.unpack_from(
                    e + "IIIIIIII", phdrs, i * want)
            if ptype == elfcore.PT_NOTE:
                notes_read += filesz
                if notes_read > self._max_notes:
                    if filesz > self._max_notes:
                        raise BudgetError("note segment too large (%d bytes)" % filesz)
                    raise BudgetError("note segments larger than %d bytes in all" % self._max_notes)
                self._parse_notes(self._read_exact(off, filesz, "note segment"), e)
            elif ptype == elfcore.PT_LOAD:
                loads.append((vaddr, memsz, off, filesz, flags))
        names = self._note(elfcore.NT_REGIONS)
        names = [_text(n) for n in names.split(b"\0")[:-1]] if names is not None else []
        if names and len(names) != len(loads):
            log.warning("region-names note lists %d names for %d PT_LOAD segments", len(names), len(loads))
        for i, (vaddr, memsz, off, filesz, flags) in enumerate(loads):
            name = names[i] if i < len(names) and names[i] else "load%d" % i
            self.regions.append(Region(i, name, vaddr, memsz, off, filesz, flags))
        for attr, nt in (("panic", elfcore.NT_PANIC), ("traceback", elfcore.NT_TRACEBACK),
                         ("board", elfcore.NT_BOARD), ("firmware", elfcore.NT_FIRMWARE)):
            d = self._note(nt)
            if d is not None:
                setattr(self, attr, _text(elfcore.text_desc(d)))
        d = self._note(elfcore.NT_UPTIME)
        if d is not None and len(d) >= 4:
            self.uptime = struct.unpack_from("<I", d, 0)[0]
        d = self._note(elfcore.NT_SHA256)
        if d is not None:
            self.sha256 = [d[i:i + elfcore.SHA_LEN] for i in range(0, len(d) - elfcore.SHA_LEN + 1, elfcore.SHA_LEN)]
        d = self._note(elfcore.NT_DIGEST)
        if d is not None and len(d) >= 4:
            self.digest_algorithm = struct.unpack_from("<I", d, 0)[0]
            self.digests = [struct.unpack_from("<II", d, p) for p in range(4, len(d) - 7, 8)]

    def _parse_notes(self, data, e):
        pos = 0
        end = len(data)
        count = 0
        while pos + 12 <= end:
            count += 1
            if count & 1023 == 0:
                self._check_time()
            namesz, descsz, ntype = struct.unpack_from(e + "III", data, pos)
            pos += 12
            name_end = pos + namesz
            desc_at = pos + (namesz + 3) // 4 * 4
            desc_end = desc_at + descsz
            if name_end > end or desc_end > end:
                raise CoreError("corrupt note at offset %d of the note segment" % (pos - 12))
            owner = _text(data[pos:name_end].split(b"\0", 1)[0])
            self.notes.append((owner, ntype, data[desc_at:desc_end]))
            pos = (desc_end + 3) // 4 * 4
        if pos < end and data[pos:].strip(b"\0"):
            raise CoreError("corrupt note segment (%d stray bytes at the end)" % (end - pos))

    def _check_time(self):
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise BudgetError("parsing took longer than its time budget")

    def _note(self, ntype):
        for owner, t, desc in self.notes:
            if owner == elfcore.NOTE_OWNER and t == ntype:
                return desc
        return None

    # ---- data --------------------------------------------------------------

    @property
    def machine_name(self):
        return elfcore.MACHINE_NAMES.get(self.machine, "machine %d" % self.machine)

    @property
    def info_path(self):
        """Path of the info.<host>.<N> file next to this vmcore, or None."""
        if not self.path:
            return None
        d, base = os.path.split(self.path)
        if not base.startswith("vmcore."):
            return None
        p = os.path.join(d, "info." + base[len("vmcore."):])
        return p if os.path.isfile(p) else None

    def info_text(self):
        """Contents of the info file, or None when there is none."""
        p = self.info_path
        if p is None:
            return None
        with open(p, encoding="utf-8", errors="replace") as f:
            return f.read()

    def region(self, key):
        """A Region by name (first match) or by index (int or decimal string)."""
        for r in self.regions:
            if r.name == key:
                return r
        try:
            i = int(key)
        except (TypeError, ValueError):
            i = -1
        if 0 <= i < len(self.regions):
            return self.regions[i]
        raise CoreError("no region %r (have: %s)" % (key, ", ".join(r.name for r in self.regions) or "none"))

    def iter_region(self, key, chunk=_CHUNK):
        """Yield the bytes of a region in chunks; bytes missing from the file are zeros."""
        r = key if isinstance(key, Region) else self.region(key)
        done = 0
        while done < r.size:
            n = min(chunk, r.size - done)
            out = b""
            if done < r.filesz:
                avail = max(0, min(n, r.filesz - done, self.file_size - (r.offset + done)))
                if avail:
                    self._f.seek(r.offset + done)
                    out = self._f.read(avail)
            if len(out) < n:
                out += bytes(n - len(out))
            yield out
            done += n

    def read_region(self, key):
        """The whole region as bytes (memsz long; zeros past the end of the file)."""
        r = key if isinstance(key, Region) else self.region(key)
        if r.size > _MAX_READ:
            raise CoreError("region %s is %d bytes; use extract" % (r.name, r.size))
        return b"".join(self.iter_region(r))

    def extract(self, key, out):
        """Write the bytes of a region that the file holds to a binary file object
        (holes inside the file read as zeros; nothing is made up past the end of the
        file or past p_filesz); returns the byte count. shortfall() says what is missing."""
        r = key if isinstance(key, Region) else self.region(key)
        want = r.held(self.file_size)
        n = 0
        for piece in self.iter_region(r):
            piece = piece[:want - n]
            if not piece:
                break
            out.write(piece)
            n += len(piece)
        return n

    def shortfall(self, r):
        """One line on what region r lacks in this file, or None when the file holds all of it."""
        held = r.held(self.file_size)
        if r.filesz > held:
            return ("region %s: the file holds %d of its %d bytes (it ends at %d, the region at %d): "
                    "truncated dump" % (r.name, held, r.filesz, self.file_size, r.offset + r.filesz))
        if r.size > r.filesz:
            return ("region %s: %d bytes in memory but %d in the file (p_memsz > p_filesz): "
                    "corrupt or not a dump" % (r.name, r.size, r.filesz))
        return None

    def check_digest(self, key, deadline=None):
        """(verdict, expected, found) for a region's digest: verdict "ok", "mismatch", "not
        computed" (the board did not finish it: the dump ended early) or "none" (no digest in
        this core, or an algorithm this reader does not know); CRC-32s as ints or None.
        Reads the whole region; BudgetError past deadline (time.monotonic())."""
        r = key if isinstance(key, Region) else self.region(key)
        if self.digest_algorithm != elfcore.DIGEST_CRC32 or r.index >= len(self.digests):
            return "none", None, None
        state, want = self.digests[r.index]
        if state != elfcore.DIGEST_COMPUTED:
            return "not computed", None, None
        crc = 0
        for piece in self.iter_region(r):
            crc = zlib.crc32(piece, crc)
            if deadline is not None and time.monotonic() > deadline:
                raise BudgetError("checking region %s took longer than its time budget" % r.name)
        return ("ok" if crc == want else "mismatch"), want, crc

    def region_problem(self, r):
        """One line on what is wrong with region r in this file (missing data, a CRC-32 that
        does not match), or None."""
        short = self.shortfall(r)
        if short:
            return short
        verdict, want, got = self.check_digest(r)
        if verdict == "mismatch":
            return ("region %s: CRC-32 0x%08x, but the board sent 0x%08x: corrupt (in transit or on disk), "
                    "or the memory changed between a datagram and its retransmission" % (r.name, got, want))
        return None

    def problems(self):
        """Lines on what makes this dump incomplete or wrong: missing region data, a region
        whose CRC-32 does not match, an info file that does not say "Dump complete". Empty
        for a whole dump."""
        out = [p for p in (self.region_problem(r) for r in self.regions) if p]
        status = self.status
        if status is not None and status != "Dump complete":
            out.append("%s says: %s" % (os.path.basename(self.info_path), status))
        return out

    @property
    def status(self):
        """The last line of the info file ("Dump complete", "Dump incomplete: ...", ...), or None."""
        text = self.info_text()
        if not text:
            return None
        lines = text.rstrip("\n").split("\n")
        return lines[-1] if lines[-1].startswith("Dump ") else None

    def as_dict(self):
        """Everything the summary shows, JSON-ready."""
        return {
            "path": self.path,
            "elfclass": self.elfclass,
            "machine": self.machine,
            "machine_name": self.machine_name,
            "file_size": self.file_size,
            "board": self.board,
            "firmware": self.firmware,
            "uptime": self.uptime,
            "panic": self.panic,
            "traceback": self.traceback,
            "regions": [r.as_dict() for r in self.regions],
            "sha256": [h.hex() for h in self.sha256],
            "digest_algorithm": elfcore.DIGEST_NAMES.get(self.digest_algorithm, str(self.digest_algorithm)),
            "digests": [{"region": r.name, "check": v[0], "crc32": None if v[1] is None else "%08x" % v[1]}
                        for r, v in ((r, self.check_digest(r)) for r in self.regions)],
            "info_path": self.info_path,
            "status": self.status,
            "problems": self.problems(),
        }


def parse_bytes(data):
    """Parse a core from bytes: a Vmcore, or CoreError (never another exception)."""
    return Vmcore.from_bytes(data)


# ---- CLI -----------------------------------------------------------------------


def _regions_table(core, out):
    w = 16 if core.elfclass == 64 else 8
    out.write("  %-3s %-16s %-*s %12s %12s  %s\n" % ("#", "name", w + 2, "vaddr", "size", "offset", "check"))
    for r in core.regions:
        held = r.held(core.file_size)
        if held < r.filesz:
            check = "file ends early: %d bytes missing" % (r.filesz - held)
        else:
            verdict, want, got = core.check_digest(r)
            check = {"ok": "CRC-32 ok", "mismatch": "CRC-32 MISMATCH", "not computed": "CRC-32 not computed",
                     "none": "-"}[verdict]
        out.write("  %-3d %-16s 0x%0*x %12d %#12x  %s\n" % (r.index, r.name, w, r.vaddr, r.size, r.offset, check))


def _summary(core, out):
    out.write("vmcore:    %s (ELF%d core, %s, %d bytes)\n"
              % (core.path or "-", core.elfclass, core.machine_name, core.file_size))
    out.write("board:     %s\n" % (core.board if core.board is not None else "?"))
    out.write("firmware:  %s\n" % (core.firmware if core.firmware is not None else "?"))
    out.write("uptime:    %s\n" % ("%d s" % core.uptime if core.uptime is not None else "?"))
    out.write("panic:     %s\n" % (core.panic if core.panic is not None else "?"))
    if core.info_path:
        out.write("info:      %s\n" % core.info_path)
        if core.status:
            out.write("status:    %s\n" % core.status)
    out.write("regions:\n")
    _regions_table(core, out)
    if core.traceback:
        out.write("traceback:\n")
        for line in core.traceback.splitlines():
            out.write("  %s\n" % line)


def build_parser():
    p = argparse.ArgumentParser(
        prog="netdump-read",
        description="Show what is inside a vmcore written by netdumpd: board, firmware, panic message, "
                    "uptime, memory regions and traceback (ELF core notes), or extract a region's bytes.",
        epilog="Exit status: 0 ok; 1 unreadable or corrupt file, unknown region, or an incomplete dump (region "
               "data missing from the file, or the info file not saying \"Dump complete\"): what can be read "
               "is still printed or extracted, and one line per problem goes to stderr; 2 bad usage.",
    )
    p.add_argument("vmcore", help="the dump file (vmcore.<host>.<N>)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--list", action="store_true", help="print only the regions table")
    g.add_argument("--extract", metavar="NAME", help="write the bytes of region NAME (or its index) to -o FILE")
    g.add_argument("--panic", action="store_true", help="print only the panic message")
    g.add_argument("--traceback", action="store_true", help="print only the traceback")
    g.add_argument("--json", action="store_true", help="print everything as one JSON object")
    g.add_argument("--info", action="store_true", help="print the info.<host>.<N> file next to the vmcore")
    p.add_argument("-o", "--output", metavar="FILE", help="output file for --extract ('-' for stdout)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return p


def main(argv=None):
    """Entry point of netdump-read; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="netdump-read: %(message)s", stream=sys.stderr)
    if args.extract is not None and not args.output:
        parser.error("--extract needs -o FILE")
    try:
        with Vmcore.open(args.vmcore) as core:
            out = sys.stdout
            problems = [] if args.info or args.extract is not None else core.problems()
            if args.list:
                _regions_table(core, out)
            elif args.panic:
                out.write((core.panic or "") + "\n")
            elif args.traceback:
                tb = core.traceback or ""
                out.write(tb if tb.endswith("\n") or not tb else tb + "\n")
            elif args.json:
                json.dump(core.as_dict(), out, indent=2)
                out.write("\n")
            elif args.info:
                text = core.info_text()
                if text is None:
                    raise CoreError("no info file next to %s" % args.vmcore)
                out.write(text)
            elif args.extract is not None:
                r = core.region(args.extract)
                if args.output == "-":
                    out.flush()
                    n = core.extract(r, sys.stdout.buffer)
                else:
                    with open(args.output, "wb") as f:
                        n = core.extract(r, f)
                log.info("wrote %d bytes of %s to %s", n, r.name, args.output)
                problems = [p for p in [core.region_problem(r)] if p]
                if problems and r.held(core.file_size) < r.size:
                    problems[0] += " (wrote the %d bytes it holds)" % n
            else:
                _summary(core, out)
            out.flush()
            for p in problems:
                sys.stderr.write("netdump-read: %s\n" % p)
            if problems:
                return 1
    except CoreError as e:
        sys.stderr.write("netdump-read: %s\n" % e)
        return 1
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): stop quietly
        sys.stdout = open(os.devnull, "w")
        return 1
    except OSError as e:
        sys.stderr.write("netdump-read: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
