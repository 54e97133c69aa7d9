"""fwbuild: build MicroPython v1.28.0 firmware for the test beds from a source
tarball or tree, never downloading anything, never touching the source.

    python -m netdump_tools.fwbuild mpy-cross            -> prints the mpy-cross path
    python -m netdump_tools.fwbuild qemu [--variant V]   -> prints the firmware ELF path

The source is $MICROPYTHON_SRC (or --src): a `git archive` tarball of the
release (.tar.gz) or an extracted source tree. It is unpacked (or copied) once
under build/mp-src/<key>/, keyed by the tarball's sha256 (a tree: by the names,
sizes and times of its files), and built there.

mpy-cross:  build/mpy-cross-1.28.0/mpy-cross (a stable path; the Makefile's
            MPY_CROSS_128), rebuilt when the source changes.
qemu:       ports/qemu BOARD=MPS2_AN385 (Cortex-M3, QEMU machine mps2-an385),
            with the netdump package and boards/qemu_mps2_an385.py frozen
            through this checkout's manifest.py, included from the board
            manifest (BOARD_MANIFEST below):
                include("$(NETDUMP_DIR)/manifest.py", board="qemu_mps2_an385")
            plus host_tests/fw_qemu/frozen/fwprobe.py, which the frozen-int
            test reads,
            with MICROPY_MANIFEST_NETDUMP_DIR=<this checkout> on make's command
            line (py/mkrules.mk turns every MICROPY_MANIFEST_<NAME> variable
            into a $(<NAME>) manifest path variable). MPY_LIB_DIR points at a
            stub folder with a README.md: py/mkrules.mk checks for
            micropython-lib even when nothing is require()d. littlefs v2 is
            compiled in (MICROPY_VFS_LFS2=1) so the board can keep netdump.json
            on a RAM disk (qemu_mps2_an385.mount_ramdisk()).
            Variants (VARIANTS below): "default" (the port's own settings: 140
            KiB heap, native code for armv7m) and "armv6m" (the native emitter
            and mpy-cross restricted to armv6m, the RP2040's instruction set;
            py/mpconfig.h MICROPY_EMIT_THUMB_ARMV7M=0, -march=armv6m).
            Output: build/qemu/<variant>/firmware.elf, rebuilt (incrementally,
            same build folder) when the source, the variant or any file that
            can be frozen (firmware/, boards/, manifest.py) changes.

Exit status: 0 built (or up to date), 1 the build failed or no source, 2 usage.
"""
import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile

log = logging.getLogger("fwbuild")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
VERSION = "1.28.0"  # the release the test beds are written for
MPY_CROSS = os.path.join(BUILD, "mpy-cross-" + VERSION, "mpy-cross")
QEMU_BOARD = "MPS2_AN385"
NETDUMP_BOARD = "qemu_mps2_an385"  # boards/<name>.py frozen into the firmware
QEMU_MACHINE = "mps2-an385"

RECIPE = 2  # bumped when the way things are built changes: every cached build is redone

# ports/qemu has no RTC and no mp_hal_time_ns(), which littlefs' file times
# call: file times read 1970 (py/mphal.h skips its prototype when it is a macro)
_NO_RTC = "-D'mp_hal_time_ns()=0'"
# variant -> extra make arguments (ports/qemu, BOARD=MPS2_AN385)
VARIANTS = {
    "default": ["CFLAGS_EXTRA=" + _NO_RTC],
    "armv6m": ["CFLAGS_EXTRA=-DMICROPY_EMIT_THUMB_ARMV7M=0 " + _NO_RTC, "MPY_CROSS_FLAGS=-march=armv6m"],
}
# make arguments common to every variant
_COMMON = ["MICROPY_VFS_LFS2=1"]
# the test bed's board manifest: the board's chain as any board builder writes it (with
# everything=True, every unit a board can use), plus what the bed's
# tests use beyond a board: the pure-Python twins the dual-runtime tests compare the viper paths
# with, the W5500 board's data (the memory bench's frozen W5500 configuration) and a probe module
# the frozen-int test reads (test-bed firmware only)
BOARD_MANIFEST = ('include("$(NETDUMP_DIR)/manifest.py", board="%s", everything=True)\n'
                  'package("netdump", files=["fast_py.py"], base_path="$(NETDUMP_DIR)/firmware")\n'
                  'module("w5500_evb_pico.py", base_path="$(NETDUMP_DIR)/boards")\n'
                  'freeze("$(NETDUMP_DIR)/host_tests/fw_qemu/frozen", "fwprobe.py")\n' % NETDUMP_BOARD)


class BuildError(Exception):
    """A build that cannot go on; str(e) is one line."""


def source_path(src=None):
    """The MicroPython source to build from: src, else $MICROPYTHON_SRC -> path; BuildError if none."""
    src = src or os.environ.get("MICROPYTHON_SRC", "")
    if not src:
        raise BuildError("MICROPYTHON_SRC is not set (the MicroPython v%s tarball or source tree)" % VERSION)
    if not os.path.exists(src):
        raise BuildError("MICROPYTHON_SRC %s does not exist" % src)
    return os.path.abspath(src)


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SKIP_DIRS = (".git", "__pycache__", "build")


def _skip_dir(name):
    return name in _SKIP_DIRS or name.startswith("build-")


def _tree_key(root):
    h = hashlib.sha256()
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not _skip_dir(x))
        for f in sorted(files):
            p = os.path.join(d, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            h.update(("%s\0%d\0%d\n" % (os.path.relpath(p, root), st.st_size, st.st_mtime_ns)).encode())
    return h.hexdigest()


def source_key(src):
    """A key that changes when the source does (tarball: its sha256)."""
    if os.path.isdir(src):
        return "tree-" + _tree_key(src)[:16]
    return _sha256_file(src)[:16]


@contextlib.contextmanager
def _lock():
    import fcntl

    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, ".fwbuild.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _version_of(tree):
    with open(os.path.join(tree, "py", "mpconfig.h")) as f:
        text = f.read()
    parts = []
    for k in ("MAJOR", "MINOR", "MICRO"):
        m = re.search(r"#define MICROPY_VERSION_%s \(?(\d+)\)?\s" % k, text)
        if not m:
            raise BuildError("%s: no MICROPY_VERSION_%s: not a MicroPython source tree" % (tree, k))
        parts.append(m.group(1))
    return ".".join(parts)


def unpacked(src):
    """The source tree under build/mp-src/<key>/ (unpacked or copied once) -> (path, key)."""
    key = source_key(src)
    base = os.path.join(BUILD, "mp-src", key)
    done = os.path.join(base, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        if os.path.isdir(src):
            log.info("copying %s", src)
            shutil.copytree(src, os.path.join(base, "micropython"), symlinks=True,
                            ignore=lambda d, names: [n for n in names if _skip_dir(n)])
            tree = os.path.join(base, "micropython")
        else:
            log.info("unpacking %s", src)
            try:
                with tarfile.open(src) as t:
                    members = [m for m in t.getmembers() if _safe_member(m)]
                    t.extractall(base, members=members)
            except (tarfile.TarError, OSError) as e:
                raise BuildError("cannot unpack %s: %s" % (src, e))
            tops = [n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n))]
            if len(tops) != 1:
                raise BuildError("%s: expected one top folder, found %s" % (src, tops))
            os.rename(os.path.join(base, tops[0]), os.path.join(base, "micropython"))
            tree = os.path.join(base, "micropython")
        v = _version_of(tree)
        if v != VERSION:
            raise BuildError("MICROPYTHON_SRC is MicroPython %s; the test beds need v%s" % (v, VERSION))
        with open(done, "w") as f:
            f.write(src + "\n")
    return os.path.join(base, "micropython"), key


def _safe_member(m):
    # a git archive holds files, folders and relative symlinks inside its prefix; nothing else is taken
    if m.name.startswith("/") or ".." in m.name.split("/"):
        return False
    if m.issym():
        return not m.linkname.startswith("/")
    return m.isfile() or m.isdir()


def _stamp_ok(path, key):
    try:
        with open(path) as f:
            return f.read().strip() == key
    except OSError:
        return False


def _write_stamp(path, key):
    with open(path, "w") as f:
        f.write(key + "\n")


def _tree_root(path):
    # build/mp-src/<key>/micropython from a folder inside it
    while os.path.basename(path) != "micropython" and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _jobs():
    return str(max(1, min(4, os.cpu_count() or 1)))


def _make(args, cwd, what):
    cmd = ["make", "-j" + _jobs(), "-s"] + args
    log.info("building %s: %s", what, " ".join(cmd))
    # the tree lies inside this checkout: without a ceiling, micropython/micropython tools/makeversionhdr.py
    # would take the firmware's version string from this project's git history
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=os.path.dirname(_tree_root(cwd)))
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-25:]
        raise BuildError("building %s failed (make exit %d):\n%s" % (what, r.returncode, "\n".join(tail)))


def build_mpy_cross(src=None):
    """mpy-cross of the MicroPython source -> its path (MPY_CROSS)."""
    src = source_path(src)
    with _lock():
        tree, key = unpacked(src)
        stamp = MPY_CROSS + ".key"
        key = "%s-%d" % (key, RECIPE)
        if os.path.exists(MPY_CROSS) and _stamp_ok(stamp, key):
            return MPY_CROSS
        os.makedirs(os.path.dirname(MPY_CROSS), exist_ok=True)
        obj = os.path.join(os.path.dirname(MPY_CROSS), "obj")
        _make(["BUILD=" + obj], os.path.join(tree, "mpy-cross"), "mpy-cross")
        shutil.copy2(os.path.join(obj, "mpy-cross"), MPY_CROSS)
        _write_stamp(stamp, key)
        return MPY_CROSS


def frozen_inputs():
    """Every file of this checkout that a board manifest may freeze (sorted relative paths)."""
    out = ["manifest.py"]
    for top in ("firmware", "boards", "packages", os.path.join("host_tests", "fw_qemu", "frozen")):
        for d, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            out.extend(os.path.relpath(os.path.join(d, f), ROOT) for f in sorted(files) if f.endswith(".py"))
    return out


def firmware_key(src_key, variant):
    """Key of one firmware build: source, variant, board manifest and the frozen files' contents."""
    h = hashlib.sha256()
    h.update(json.dumps([src_key, RECIPE, variant, VARIANTS[variant], _COMMON, BOARD_MANIFEST]).encode())
    for rel in frozen_inputs():
        h.update(rel.encode() + b"\0")
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()[:24]


def firmware_dir(variant):
    """build/qemu/<variant>: firmware.elf and its build folder."""
    return os.path.join(BUILD, "qemu", variant)


def build_qemu(variant="default", src=None):
    """ports/qemu BOARD=MPS2_AN385 with netdump frozen -> path of firmware.elf."""
    if variant not in VARIANTS:
        raise BuildError("unknown variant %r (have: %s)" % (variant, ", ".join(VARIANTS)))
    mpy_cross = build_mpy_cross(src)
    src = source_path(src)
    with _lock():
        tree, skey = unpacked(src)
        out = firmware_dir(variant)
        elf = os.path.join(out, "firmware.elf")
        key = firmware_key(skey, variant)
        stamp = elf + ".key"
        if os.path.exists(elf) and _stamp_ok(stamp, key):
            return elf
        os.makedirs(out, exist_ok=True)
        stub = os.path.join(BUILD, "qemu", "micropython-lib-stub")
        os.makedirs(stub, exist_ok=True)
        with open(os.path.join(stub, "README.md"), "w") as f:
            f.write("Nothing here: netdump's firmware requires nothing from micropython-lib.\n")
        manifest = os.path.join(out, "manifest.py")
        with open(manifest, "w") as f:
            f.write(BOARD_MANIFEST)
        obj = os.path.join(out, "obj")
        args = ["BOARD=" + QEMU_BOARD, "BUILD=" + obj, "FROZEN_MANIFEST=" + manifest, "MPY_LIB_DIR=" + stub,
                "MICROPY_MANIFEST_NETDUMP_DIR=" + ROOT, "MICROPY_MPYCROSS=" + mpy_cross] + _COMMON + VARIANTS[variant]
        # make does not see changed flags: a new source or new flags start from a clean folder;
        # changed frozen files only rebuild the frozen content
        flags = os.path.join(out, "obj.flags")
        fkey = json.dumps([skey, RECIPE] + args)
        if not _stamp_ok(flags, fkey):
            shutil.rmtree(obj, ignore_errors=True)
            _write_stamp(flags, fkey)
        _make(args, os.path.join(tree, "ports", "qemu"), "qemu firmware (%s)" % variant)
        shutil.copyfile(os.path.join(obj, "firmware.elf"), elf)
        _write_stamp(stamp, key)
        return elf


def toolchain_missing():
    """The build and run tools not on PATH (names), [] if all are there."""
    need = ("make", "gcc", "arm-none-eabi-gcc", "qemu-system-arm")
    return [t for t in need if shutil.which(t) is None]


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m netdump_tools.fwbuild",
        description="Build MicroPython v%s's mpy-cross, or its QEMU Cortex-M3 firmware with netdump frozen, "
                    "from $MICROPYTHON_SRC (a release tarball or source tree); never downloads. Prints the "
                    "path of what was built." % VERSION,
        epilog="example: MICROPYTHON_SRC=micropython-%s.tar.gz python -m netdump_tools.fwbuild qemu "
               "--variant armv6m" % VERSION)
    ap.add_argument("what", choices=("mpy-cross", "qemu"), help="what to build")
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS),
                    help="qemu firmware variant (repeatable; default: default)")
    ap.add_argument("--src", help="MicroPython source tarball or tree (default: $MICROPYTHON_SRC)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log what is built")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="fwbuild: %(message)s",
                        stream=sys.stderr)
    try:
        if a.what == "mpy-cross":
            print(build_mpy_cross(a.src))
        else:
            for v in a.variant or ["default"]:
                print(build_qemu(v, a.src))
    except BuildError as e:
        sys.stderr.write("fwbuild: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
