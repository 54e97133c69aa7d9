"""make demo (tools/demo.py) end to end, as a user without root: netdumpd, the
user-mode virtual network, the virtual board, dumpon and a test dump over
mpremote; then the failure path. Both check that no child process outlives
the demo.

When the tests run as root, the demo runs as nobody:nogroup (setpriv, else
runuser), so it proves that no raw socket, tap or other privilege is needed;
its work directory is a fresh directory under the system temp dir, mode 0777.
Where nobody cannot run the venv's Python (a venv built on an interpreter
under root's 0700 home, as on the development VM), it runs as uid 0 with an
empty capability set (setpriv --bounding-set=-all), which forbids the same
raw sockets and tap devices; without setpriv or runuser it runs as root.
pytest -s shows which one it used.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_PROBE = ("import subprocess, sys; "
          "sys.exit(subprocess.call([sys.executable, '-c', 'import netdump_tools, mpremote']))")


def _as_user():
    """(command prefix, who): how to run the demo without root's privileges."""
    if os.geteuid() != 0:
        return [], "uid %d" % os.geteuid()
    if shutil.which("setpriv"):
        prefixes = [["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]]
    elif shutil.which("runuser"):
        prefixes = [["runuser", "-u", "nobody", "--"]]
    else:
        prefixes = []
    for prefix in prefixes:
        # nobody must be able to start this Python from a child too (a venv whose interpreter
        # lives under a 0700 home cannot: exec fails with EACCES)
        r = subprocess.run(prefix + [sys.executable, "-c", _PROBE], capture_output=True, timeout=30, cwd=ROOT)
        if r.returncode == 0:
            return prefix, "nobody"
    if shutil.which("setpriv"):
        # uid 0 with an empty capability set: no raw sockets, no tap, no CAP_NET_*
        return (["setpriv", "--bounding-set=-all", "--inh-caps=-all"],
                "uid 0 without any capability (nobody cannot run %s)" % sys.executable)
    return [], "root, with its privileges (neither setpriv nor runuser can drop them here)"


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="netdump-demo-test-")
    os.chmod(d, 0o777)  # the demo may run as nobody
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_demo(workdir, *args, env=None):
    prefix, who = _as_user()
    print("demo runs as", who)
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "LANG": "C.UTF-8", "NO_COLOR": "1"}
    e.update(env or {})
    r = subprocess.run(prefix + [sys.executable, "-m", "netdump_tools.demo"] + list(args), capture_output=True,
                       text=True, timeout=120, cwd=ROOT, env=e)
    return r.returncode, r.stdout + r.stderr


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def processes_using(path):
    """pids of processes whose command line or working directory mentions path (Linux /proc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if path in cmd or cwd.startswith(path):
            found.append((int(pid), cmd))
    return found


def assert_nothing_left(out, path):
    m = re.search(r"NIC side on 127\.0\.0\.1:(\d+)", out)
    assert m, out
    assert port_free(int(m.group(1))), "vnet still holds its NIC port"
    m = re.search(r"--herald-port (\d+)", out)
    if m:
        assert port_free(int(m.group(1))), "netdumpd still holds its herald port"
    if os.path.isdir("/proc"):
        assert processes_using(path) == []


def test_demo_completes_without_root(workdir):
    work = os.path.join(workdir, "run")
    st, out = run_demo(workdir, "--keep", work, "--no-color")
    assert st == 0, out
    for header in ("==> starting netdumpd", "==> starting the virtual board on /dev/pts/",
                   "==> dumpon -s 10.0.2.2 ... vnic (over mpremote)"):
        assert header in out, out
    # the plain mpremote line of the test dump, then what the board printed
    assert re.search(r'mpremote connect /dev/pts/\d+ resume exec "import netdump.panic as p; p.test_dump\(\)"',
                     out), out
    assert "netdump finished." in out and "Completed dump from client" in out, out
    assert re.search(r"panic:\s+netdump test dump", out), out  # netdump-read's summary
    assert "Panic String: netdump test dump" in out, out  # the info file
    last = out.strip().splitlines()[-1]
    m = re.match(r"demo: dump complete: (\S+)", last)
    assert m, last
    core = m.group(1)
    assert core.startswith(os.path.join(work, "crash", "vmcore.")) and os.path.getsize(core) > 256 * 1024
    from netdump_tools import reader

    c = reader.Vmcore.open(core)
    assert c.panic == "netdump test dump" and c.board == "unix_virtual"
    assert c.read_region("ram")[4096:4112] == b"netdump demo RAM"
    assert_nothing_left(out, workdir)


def test_demo_failure_is_one_line_and_cleans_up(workdir):
    # a board that cannot start: the demo says which step failed, shows the log, exits 1
    work = os.path.join(workdir, "run")
    st, out = run_demo(workdir, "--keep", work, env={"MICROPYTHON": "/nonexistent/micropython"})
    assert st == 1, out
    errors = [ln for ln in out.splitlines() if ln.startswith("demo: error: ")]
    assert len(errors) == 1 and errors[0].startswith("demo: error: the virtual board exited"), out
    assert "No such file or directory: '/nonexistent/micropython'" in out, out  # the board's log is shown
    assert "dump complete" not in out
    assert_nothing_left(out, workdir)


def test_keep_dir_with_an_old_dump_is_refused(workdir):
    work = os.path.join(workdir, "run")
    os.makedirs(os.path.join(work, "crash"))
    with open(os.path.join(work, "crash", "vmcore.x.0"), "w") as f:
        f.write("old")
    os.chmod(work, 0o777)
    os.chmod(os.path.join(work, "crash"), 0o777)
    st, out = run_demo(workdir, "--keep", work)
    assert st == 1 and "is not empty" in out, out


def test_vnet_bad_port_is_a_usage_error():
    # the demo's virtual network: an out-of-range port is bad usage (exit 2, one line), not a traceback
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "firmware")]))
    for args in (["--nic-port", "99999"], ["--nic-port", "x"], ["--nic-peer", "127.0.0.1:70000"],
                 ["--nic-peer", "foo"]):
        r = subprocess.run([sys.executable, "-m", "netdump_tools.vnet", "user"] + args, capture_output=True,
                           text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.strip().splitlines()[-1].startswith("python -m netdump_tools.vnet: error: "), r.stderr
    r = subprocess.run([sys.executable, "-m", "netdump_tools.vnet", "--help"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 0 and "--loss 5% --seed 7" in r.stdout, r.stdout
