# The vmcore reader (tools/reader.py) against cores laid out by
# firmware/netdump/elfcore.py, checked independently with binutils readelf
# (and gdb when installed). CPython only: subprocess, hypothesis.
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from netdump import elfcore
from netdump_tools import reader
from netdump_tools.reader import CoreError, Vmcore

READELF = shutil.which("readelf")
GDB = shutil.which("gdb")

REGIONS32 = [("sram", 0x20000000, 0x2100), ("flash", 0x10000000, 100), ("rom", 0x00000000, 4096)]
TB = b'Traceback (most recent call last):\n  File "main.py", line 3, in <module>\nZeroDivisionError: divide by zero\n'


def pattern(i, n):
    return bytes((i * 37 + k * 7 + (k >> 8)) & 0xFF for k in range(n))


def write_core(path, regions, machine, elfclass=32, panic="kaboom", tb=TB, uptime=4321,
               board="rp2-pico", firmware="MicroPython v1.29.0", truncate=None, data=None):
    """A vmcore as netdumpd would write it: header page(s) at 0, each region at its offset."""
    c = elfcore.CoreLayout(regions, machine, elfclass=elfclass, board=board, firmware=firmware)
    c.set_panic(panic)
    c.set_traceback(tb, len(tb))
    c.set_uptime(uptime)
    blobs = data or [pattern(i, r[2]) for i, r in enumerate(regions)]
    with open(path, "wb") as f:
        f.write(c.buf)
        for off, blob in zip(c.offsets, blobs):
            f.seek(off)
            f.write(blob)
        f.truncate(c.total_size if truncate is None else truncate)
    return c, blobs


def cli(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, os.path.join(ROOT, "firmware")])
    return subprocess.run([sys.executable, "-m", "netdump_tools.reader"] + list(args),
                          capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


# ---- readelf: an independent parser -------------------------------------------


def readelf(path):
    out = subprocess.run([READELF, "-W", "-h", "-l", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "Error" not in out.stderr, out.stderr
    return out.stdout


@pytest.mark.skipif(READELF is None, reason="binutils readelf not installed")
@pytest.mark.parametrize("machine,mname", [(elfcore.EM_ARM, "ARM"), (elfcore.EM_XTENSA, "Tensilica Xtensa"),
                                           (elfcore.EM_RISCV, "RISC-V")])
def test_readelf_32bit(tmp_path, machine, mname):
    p = tmp_path / "vmcore.pico.0"
    c, _ = write_core(p, REGIONS32, machine)
    text = readelf(p)
    assert re.search(r"Class:\s+ELF32", text)
    assert re.search(r"Data:\s+2's complement, little endian", text)
    assert re.search(r"Type:\s+CORE", text)
    assert re.search(r"Machine:\s+" + re.escape(mname), text)
    segs = re.findall(r"^\s+(NOTE|LOAD)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S+)?\s*(0x[0-9a-f]+)$",
                      text, re.M)
    assert [s[0] for s in segs] == ["NOTE", "LOAD", "LOAD", "LOAD"]
    assert int(segs[0][1], 16) == c.notes_off and int(segs[0][4], 16) == c.notes_len
    for (_t, off, va, pa, fs, ms, flg, al), (name, addr, size), o in zip(segs[1:], REGIONS32, c.offsets):
        assert (int(off, 16), int(va, 16), int(pa, 16), int(fs, 16), int(ms, 16)) == (o, addr, addr, size, size)
        assert flg == "RW" and int(al, 16) == 4096
    owners = re.findall(r"^\s+(\S+)\s+0x[0-9a-f]+\s+Unknown note type: \((0x[0-9a-f]+)\)", text, re.M)
    assert [o for o, _ in owners] == ["netdump"] * 7
    assert [int(t, 16) for _, t in owners] == [elfcore.NT_PANIC, elfcore.NT_TRACEBACK, elfcore.NT_BOARD,
                                              elfcore.NT_FIRMWARE, elfcore.NT_UPTIME, elfcore.NT_REGIONS,
                                              elfcore.NT_DIGEST]
    # the region-names note as readelf dumps it
    assert "73 72 61 6d 00 66 6c 61 73 68 00 72 6f 6d 00" in text


@pytest.mark.skipif(READELF is None, reason="binutils readelf not installed")
def test_readelf_64bit(tmp_path):
    regs = [("heap", 0x7F12_3456_7000, 0x3000), ("bss", 0x5555_0000_1000, 10)]
    p = tmp_path / "vmcore.unix.3"
    c, _ = write_core(p, regs, elfcore.EM_X86_64, elfclass=64)
    text = readelf(p)
    assert re.search(r"Class:\s+ELF64", text) and re.search(r"Machine:\s+Advanced Micro Devices X86-64", text)
    assert re.search(r"Number of program headers:\s+3", text)
    loads = re.findall(r"^\s+LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)",
                       text, re.M)
    assert [(int(a, 16), int(b, 16), int(s, 16)) for a, b, _pa, s, _m in loads] == [
        (c.offsets[0], regs[0][1], regs[0][2]), (c.offsets[1], regs[1][1], regs[1][2])]
    assert len(re.findall(r"^\s+NOTE\s", text, re.M)) == 1
    assert text.count("netdump ") == 7


@pytest.mark.skipif(GDB is None, reason="gdb not installed")
def test_gdb_reads_memory(tmp_path):
    regs = [("heap", 0x7F00_0000_1000, 8192), ("data", 0x5555_0000_0000, 100)]
    p = tmp_path / "vmcore.unix.0"
    write_core(p, regs, elfcore.EM_X86_64, elfclass=64, data=[bytes(range(256)) * 32, b"Z" * 100])
    out = subprocess.run([GDB, "-nx", "-batch", "-ex", "core-file " + str(p), "-ex", "x/4xb 0x7f0000001010",
                          "-ex", "x/2xb 0x555500000062"], capture_output=True, text=True, timeout=60)
    assert "0x7f0000001010:\t0x10\t0x11\t0x12\t0x13" in out.stdout, out.stdout + out.stderr
    assert "0x555500000062:\t0x5a\t0x5a" in out.stdout


# ---- the library ---------------------------------------------------------------


def test_roundtrip_32bit(tmp_path):
    p = tmp_path / "vmcore.pico.0"
    c, blobs = write_core(p, REGIONS32, elfcore.EM_ARM, panic="h\u00e9llo panic")
    with Vmcore.open(str(p)) as core:
        assert (core.elfclass, core.machine, core.machine_name) == (32, 40, "ARM")
        assert [(r.name, r.vaddr, r.size, r.offset) for r in core.regions] == [
            (n, a, s, o) for (n, a, s), o in zip(REGIONS32, c.offsets)]
        for r, blob in zip(core.regions, blobs):
            assert core.read_region(r.name) == blob
        assert core.read_region(1) == blobs[1] and core.read_region("2") == blobs[2]
        assert core.panic == "h\u00e9llo panic"
        assert core.traceback == TB.decode()
        assert (core.board, core.firmware, core.uptime) == ("rp2-pico", "MicroPython v1.29.0", 4321)
        assert core.sha256 == [] and core.digest_algorithm == elfcore.DIGEST_NONE
        assert core.check_digest("sram") == ("none", None, None)
        assert core.info_path is None
        with pytest.raises(CoreError, match="no region 'nope'"):
            core.region("nope")


def test_roundtrip_64bit_and_extract(tmp_path):
    regs = [("heap", 0x7F12_3456_7000, 0x3000), ("bss", 0x5555_0000_1000, 10)]
    p = tmp_path / "vmcore.unix.1"
    c, blobs = write_core(p, regs, elfcore.EM_X86_64, elfclass=64, panic=b"x" * 300)
    core = Vmcore.open(str(p))
    assert core.elfclass == 64 and core.regions[0].vaddr == regs[0][1]
    assert core.panic == "x" * 256  # msg_cap
    out = tmp_path / "heap.bin"
    with open(out, "wb") as f:
        assert core.extract("heap", f) == 0x3000
    assert out.read_bytes() == blobs[0]
    assert b"".join(core.iter_region("heap", chunk=1000)) == blobs[0]
    core.close()


def test_truncated_file_reads_zeros(tmp_path):
    # the sender skipped the all-zero tail: the file ends inside the last region
    p = tmp_path / "vmcore.pico.2"
    c, blobs = write_core(p, REGIONS32, elfcore.EM_ARM, truncate=None)
    cut = c.offsets[1] + 40
    with open(p, "r+b") as f:
        f.truncate(cut)
    core = Vmcore.open(str(p))
    assert core.read_region("sram") == blobs[0]
    assert core.read_region("flash") == blobs[1][:40] + bytes(60)
    assert core.read_region("rom") == bytes(4096)
    # and a file that holds only the header
    with open(p, "r+b") as f:
        f.truncate(c.header_size)
    core = Vmcore.open(str(p))
    assert core.read_region("sram") == bytes(0x2100)
    assert core.panic == "kaboom"


def test_info_file(tmp_path):
    p = tmp_path / "vmcore.pico.5"
    write_core(p, REGIONS32[:1], elfcore.EM_ARM)
    (tmp_path / "info.pico.5").write_text("Dump from pico [10.0.0.2]\n  Panic String: kaboom\n")
    core = Vmcore.open(str(p))
    assert core.info_path == str(tmp_path / "info.pico.5")
    assert "Panic String: kaboom" in core.info_text()


def test_foreign_core_without_our_notes():
    # an ELF core with two PT_LOADs and no notes: regions get default names
    ehdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 4, 40, 1, 0, 52, 0, 0, 52, 32, 2, 0, 0, 0)
    ph = struct.pack("<8I", 1, 116, 0x1000, 0x1000, 4, 8, 6, 4)
    ph += struct.pack("<8I", 1, 120, 0x2000, 0x2000, 4, 4, 6, 4)
    core = Vmcore.from_bytes(ehdr + ph + b"abcdwxyz")
    assert [r.name for r in core.regions] == ["load0", "load1"]
    assert core.read_region("load0") == b"abcd" + bytes(4)  # memsz > filesz: zero fill
    assert core.read_region("load1") == b"wxyz"
    assert core.panic is None and core.board is None and core.uptime is None


BAD = [
    (b"", "not an ELF file"),
    (b"hello world, not an elf at all", "not an ELF file"),
    (b"\x7fELF\x03\x01\x01" + bytes(60), "unsupported ELF class"),
    (b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HH", 2, 40) + bytes(32), "not a core file"),
    (b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HH", 4, 40), "truncated"),
    (b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 4, 40, 1, 0, 52, 0, 0, 52, 32, 9, 0, 0, 0),
     "program headers"),
]


@pytest.mark.parametrize("data,msg", BAD)
def test_bad_input_clean_error(data, msg):
    with pytest.raises(CoreError, match=msg):
        Vmcore.from_bytes(data)


def test_corrupt_note_segment(tmp_path):
    p = tmp_path / "vmcore.x.0"
    c, _ = write_core(p, REGIONS32, elfcore.EM_ARM)
    data = bytearray(p.read_bytes())
    struct.pack_into("<I", data, c.notes_off, 0x7FFFFFFF)  # namesz of the first note
    with pytest.raises(CoreError, match="corrupt note"):
        Vmcore.from_bytes(data)
    data = bytearray(p.read_bytes())
    struct.pack_into("<I", data, 52 + 16, 0x7FFFFFFF)  # PT_NOTE p_filesz
    with pytest.raises(CoreError):
        Vmcore.from_bytes(data)


def _valid_core_bytes():
    c = elfcore.CoreLayout(REGIONS32[:2], elfcore.EM_ARM, board="b", firmware="f", msg_cap=8, tb_cap=8)
    c.set_panic("p")
    return bytes(c.buf[:c.notes_off + c.notes_len])


VALID = _valid_core_bytes()


def _parse_or_error(data):
    try:
        core = Vmcore.from_bytes(data)
    except CoreError as e:
        assert str(e) and "\n" not in str(e)
        return None
    for r in core.regions:
        if r.size <= 1 << 16:
            assert len(core.read_region(r)) == r.size
    core.as_dict()
    return core


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data):
    _parse_or_error(data)
    _parse_or_error(b"\x7fELF" + data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(VALID)))
def test_fuzz_mutated_core(edits, cut):
    data = bytearray(VALID)
    for pos, val in edits:
        data[pos] = val
    _parse_or_error(bytes(data[:cut]))
    _parse_or_error(bytes(data))


# ---- the CLI -------------------------------------------------------------------


def test_cli_summary_and_modes(tmp_path):
    p = tmp_path / "vmcore.pico.0"
    c, blobs = write_core(p, REGIONS32, elfcore.EM_ARM, panic="assertion failed")
    r = cli(str(p))
    assert r.returncode == 0, r.stderr
    for want in ("board:     rp2-pico", "firmware:  MicroPython v1.29.0", "uptime:    4321 s",
                 "panic:     assertion failed", "ZeroDivisionError: divide by zero", "ELF32 core, ARM"):
        assert want in r.stdout
    assert re.search(r"^\s+0\s+sram\s+0x20000000\s+8448\s+0x1000  -$", r.stdout, re.M)
    r = cli("--list", str(p))
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4 and "flash" in r.stdout
    r = cli("--panic", str(p))
    assert r.stdout == "assertion failed\n"
    r = cli("--traceback", str(p))
    assert r.stdout == TB.decode()
    r = cli("--json", str(p))
    doc = json.loads(r.stdout)
    assert doc["panic"] == "assertion failed" and doc["uptime"] == 4321
    assert [x["name"] for x in doc["regions"]] == ["sram", "flash", "rom"]
    assert doc["regions"][0]["vaddr"] == 0x20000000
    out = tmp_path / "flash.bin"
    r = cli("--extract", "flash", "-o", str(out), str(p))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == blobs[1]


def test_cli_info(tmp_path):
    p = tmp_path / "vmcore.pico.0"
    write_core(p, REGIONS32[:1], elfcore.EM_ARM)
    r = cli("--info", str(p))
    assert r.returncode == 1 and r.stderr.startswith("netdump-read: no info file")
    (tmp_path / "info.pico.0").write_text("Dump Status: good\n")
    r = cli("--info", str(p))
    assert r.returncode == 0 and r.stdout == "Dump Status: good\n"
    assert "info:      " in cli(str(p)).stdout


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x7fELF\x01\x01\x01" + bytes(40)])
def test_cli_garbage_exit_1(tmp_path, content):
    p = tmp_path / "vmcore.bad.0"
    p.write_bytes(content)
    r = cli(str(p))
    assert r.returncode == 1
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("netdump-read: ")
    assert "Traceback" not in r.stderr


def test_cli_errors_in_process(tmp_path, capsys):
    assert reader.main([str(tmp_path / "missing")]) == 1
    assert "No such file" in capsys.readouterr().err
    p = tmp_path / "vmcore.pico.0"
    write_core(p, REGIONS32[:1], elfcore.EM_ARM)
    assert reader.main(["--extract", "nope", "-o", str(tmp_path / "x"), str(p)]) == 1
    assert "no region 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        reader.main(["--extract", "sram", str(p)])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        reader.main(["--help"])
    assert e.value.code == 0 and "netdump-read" in capsys.readouterr().out


# ---- truncated and corrupt dumps: bounded output, exit 1, one clear line ---------------


def test_cli_truncated_dump_exit_1(tmp_path):
    p = tmp_path / "vmcore.pico.3"
    c, blobs = write_core(p, REGIONS32, elfcore.EM_ARM)
    cut = c.offsets[1] + 40  # the file ends inside "flash"; "rom" is wholly missing
    with open(p, "r+b") as f:
        f.truncate(cut)
    r = cli(str(p))
    assert r.returncode == 1 and "panic:     kaboom" in r.stdout
    assert r.stderr.splitlines() == [
        "netdump-read: region flash: the file holds 40 of its 100 bytes (it ends at %d, the region at %d): "
        "truncated dump" % (cut, c.offsets[1] + 100),
        "netdump-read: region rom: the file holds 0 of its 4096 bytes (it ends at %d, the region at %d): "
        "truncated dump" % (cut, c.offsets[2] + 4096)]
    assert "  file ends early: 60 bytes missing" in r.stdout
    assert cli("--list", str(p)).returncode == 1 and cli("--json", str(p)).returncode == 1
    out = tmp_path / "flash.bin"
    r = cli("--extract", "flash", "-o", str(out), str(p))
    assert r.returncode == 1 and out.read_bytes() == blobs[1][:40]  # what the file holds, nothing made up
    assert r.stderr.strip().endswith("truncated dump (wrote the 40 bytes it holds)")
    r = cli("--extract", "sram", "-o", str(out), str(p))  # a region the file holds in full
    assert r.returncode == 0 and out.read_bytes() == blobs[0]


def test_cli_corrupt_size_is_not_padded(tmp_path):
    # a p_filesz/p_memsz of 5 GB in a 12 KiB file: the old reader wrote 5 GB of zeros
    p = tmp_path / "vmcore.pico.4"
    c, blobs = write_core(p, REGIONS32, elfcore.EM_ARM)
    data = bytearray(p.read_bytes())
    ph = 52 + 32  # the second program header: the first PT_LOAD ("sram")
    struct.pack_into("<II", data, ph + 16, 5 << 30 & 0xFFFFFFFF | 1 << 31, 5 << 30 & 0xFFFFFFFF | 1 << 31)
    p.write_bytes(bytes(data))
    out = tmp_path / "sram.bin"
    r = cli("--extract", "sram", "-o", str(out), str(p))
    assert r.returncode == 1 and "truncated dump" in r.stderr
    assert out.read_bytes() == bytes(data[c.offsets[0]:])  # up to the end of the file, no further
    core = Vmcore.open(str(p))
    assert core.regions[0].held(core.file_size) == len(data) - c.offsets[0]
    # p_memsz beyond p_filesz (zero fill) is said, not written
    struct.pack_into("<II", data, ph + 16, len(blobs[0]), 1 << 31)
    p.write_bytes(bytes(data))
    r = cli("--extract", "sram", "-o", str(out), str(p))
    assert r.returncode == 1 and out.read_bytes() == blobs[0]
    assert "region sram: 2147483648 bytes in memory but 8448 in the file (p_memsz > p_filesz)" in r.stderr


def test_cli_sparse_file_is_whole(tmp_path):
    # holes inside the file (zero blocks the board skipped) read as zeros: a whole dump
    blob = bytes(8192) + pattern(1, 100) + bytes(4096)
    p = tmp_path / "vmcore.pico.6"
    write_core(p, [("ram", 0x20000000, len(blob))], elfcore.EM_ARM, data=[blob])
    out = tmp_path / "ram.bin"
    r = cli("--extract", "ram", "-o", str(out), str(p))
    assert r.returncode == 0 and out.read_bytes() == blob and r.stderr == ""
    assert cli(str(p)).returncode == 0


def test_cli_incomplete_info_status_exit_1(tmp_path):
    p = tmp_path / "vmcore.pico.7"
    write_core(p, REGIONS32, elfcore.EM_ARM)
    (tmp_path / "info.pico.7").write_text("Dump from pico [10.0.0.2]\nDump incomplete: client timed out\n")
    r = cli(str(p))
    assert r.returncode == 1 and "status:    Dump incomplete: client timed out" in r.stdout
    assert r.stderr == "netdump-read: info.pico.7 says: Dump incomplete: client timed out\n"
    assert json.loads(cli("--json", str(p)).stdout)["status"] == "Dump incomplete: client timed out"
    (tmp_path / "info.pico.7").write_text("Dump from pico [10.0.0.2]\nDump complete\n")
    assert cli(str(p)).returncode == 0


def test_cli_digests(tmp_path):
    import zlib

    p = tmp_path / "vmcore.pico.8"
    c, blobs = write_core(p, REGIONS32, elfcore.EM_ARM)
    c.clear_digests(elfcore.DIGEST_CRC32)
    for i in (0, 1):  # rom: not computed (the dump ended before the board finished it)
        c.set_digest(i, bytearray(b ^ 0xFF for b in zlib.crc32(blobs[i]).to_bytes(4, "little")))
    data = bytearray(p.read_bytes())
    data[0:len(c.buf)] = c.buf
    p.write_bytes(bytes(data))
    r = cli(str(p))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert re.search(r"^\s+0\s+sram\s.*  CRC-32 ok$", r.stdout, re.M)
    assert re.search(r"^\s+2\s+rom\s.*  CRC-32 not computed$", r.stdout, re.M)
    assert Vmcore.open(str(p)).check_digest("flash") == ("ok", zlib.crc32(blobs[1]), zlib.crc32(blobs[1]))
    data[c.offsets[1] + 7] ^= 0x40  # one bit of flash changed
    p.write_bytes(bytes(data))
    r = cli(str(p))
    assert r.returncode == 1 and "  CRC-32 MISMATCH" in r.stdout
    want, got = zlib.crc32(blobs[1]), zlib.crc32(bytes(data[c.offsets[1]:c.offsets[1] + 100]))
    assert r.stderr == ("netdump-read: region flash: CRC-32 0x%08x, but the board sent 0x%08x: corrupt (in transit "
                        "or on disk), or the memory changed between a datagram and its retransmission\n" % (got, want))
    r = cli("--extract", "flash", "-o", str(tmp_path / "f.bin"), str(p))
    assert r.returncode == 1 and "CRC-32" in r.stderr
    doc = json.loads(cli("--json", str(p)).stdout)
    assert doc["digest_algorithm"] == "CRC-32" and [x["check"] for x in doc["digests"]] == ["ok", "mismatch",
                                                                                         "not computed"]
