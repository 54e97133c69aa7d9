"""The virtual board (tools/vboard.py): the MicroPython unix port on a pty,
driven by the real mpremote as a board: exec, the filesystem commands, soft
reset, a reset that reboots the process, Ctrl-C into a running program."""
import os
import subprocess
import time

import pytest

from netdump_tools import dumpon, vboard


def mpremote(dev, *args, timeout=60):
    r = subprocess.run([dumpon.mpremote_exe(), "connect", dev] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def board(tmp_path):
    vb = vboard.VBoard(str(tmp_path / "board"), heapsize="4M", log_path=str(tmp_path / "console.log"))
    vb.start()
    assert vb.wait_ready(20), bytes(vb.output)
    yield vb
    vb.stop()


def test_exec_resume(board):
    st, out = mpremote(board.device, "resume", "exec", "print(6 * 7)")
    assert st == 0 and out.strip() == "42", out
    st, out = mpremote(board.device, "resume", "exec", "import os; print(os.getcwd())")
    assert out.strip() == board.dir, out


def test_state_survives_resume_and_not_soft_reset(board):
    mpremote(board.device, "resume", "exec", "marker = 1234")
    st, out = mpremote(board.device, "resume", "exec", "print(marker)")
    assert out.strip() == "1234", out
    # without resume mpremote soft-resets first: a fresh interpreter
    st, out = mpremote(board.device, "exec", "print('marker' in globals())")
    assert st == 0 and out.strip() == "False", out
    assert b"soft reboot" in board.output


def test_filesystem_is_board_dir(board, tmp_path):
    src = tmp_path / "hello.txt"
    src.write_text("hello board\n")
    st, out = mpremote(board.device, "resume", "fs", "cp", str(src), ":hello.txt")
    assert st == 0, out
    assert open(os.path.join(board.dir, "hello.txt")).read() == "hello board\n"
    st, out = mpremote(board.device, "resume", "fs", "ls")
    assert "hello.txt" in out, out
    st, out = mpremote(board.device, "resume", "fs", "cat", "hello.txt")
    assert out.strip() == "hello board", out
    st, out = mpremote(board.device, "resume", "fs", "rm", "hello.txt")
    assert st == 0 and not os.path.exists(os.path.join(board.dir, "hello.txt"))


def test_board_module_and_ram(board):
    st, out = mpremote(board.device, "resume", "exec",
                       "from netdump import board; b = board.load('unix_virtual'); r = b.safe_ranges()[0]; "
                       "print(r[0], r[2], b.MACHINE, b.ELFCLASS)")
    assert out.split() == ["ram", str(256 * 1024), "62", "64"], out


def test_reset_reboots_and_runs_boot_py(board):
    with open(os.path.join(board.dir, "boot.py"), "w") as f:
        f.write("booted = 'yes'\nprint('BOOT.PY RAN')\n")
    boots = board.boots
    mpremote(board.device, "resume", "exec", "import unix_virtual; unix_virtual.reset()")
    end = time.monotonic() + 20
    while board.boots == boots and time.monotonic() < end:
        time.sleep(0.05)
    assert board.boots == boots + 1
    end = time.monotonic() + 20
    while b"BOOT.PY RAN" not in board.output and time.monotonic() < end:
        time.sleep(0.05)
    assert b"BOOT.PY RAN" in board.output


def test_ctrl_c_stops_a_running_program(board):
    st, out = mpremote(board.device, "resume", "exec", "--no-follow",
                       "import time\nwhile True:\n    time.sleep_ms(10)\n")
    assert st == 0, out
    time.sleep(0.3)
    st, out = mpremote(board.device, "resume", "exec", "print('free again')")
    assert st == 0 and "free again" in out, out


def test_cli_prints_device(tmp_path):
    p = subprocess.Popen([os.path.join(os.path.dirname(dumpon.mpremote_exe()), "python"), "-m",
                          "netdump_tools.vboard", "--dir", str(tmp_path / "b"), "--link", str(tmp_path / "tty")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("vboard: serial /dev/pts/"), line
        time.sleep(1.0)
        st, out = mpremote(str(tmp_path / "tty"), "resume", "exec", "print('via link')")
        assert "via link" in out, out
    finally:
        p.terminate()
        p.wait(10)


def test_cli_fails_when_the_board_cannot_start(tmp_path):
    # no micropython to run: one clear line and exit status 1, not a silent 0
    env = dict(os.environ, MICROPYTHON=str(tmp_path / "no-such-micropython"))
    r = subprocess.run([os.path.join(os.path.dirname(dumpon.mpremote_exe()), "python"), "-m",
                        "netdump_tools.vboard", "--dir", str(tmp_path / "b")],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "netdump-vboard: FileNotFoundError" in r.stderr and "no-such-micropython" in r.stderr, r.stderr


def test_cli_gives_up_on_a_board_that_cannot_boot(tmp_path):
    # micropython refuses the heap size at once, every time: no endless restarts
    r = subprocess.run([os.path.join(os.path.dirname(dumpon.mpremote_exe()), "python"), "-m",
                        "netdump_tools.vboard", "--dir", str(tmp_path / "b"), "--heapsize", "bogus"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "the board exits at start" in r.stderr, r.stderr


def test_mip_install_from_package_json(board):
    # the README's install line, against the virtual board: every file package.json
    # names lands under lib/ and is byte-identical to the repository's copy
    import json

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    st, out = mpremote(board.device, "resume", "mip", "install", "--target", "lib",
                       os.path.join(root, "package.json"), timeout=120)
    assert st == 0, out
    with open(os.path.join(root, "package.json")) as f:
        urls = json.load(f)["urls"]
    assert len(urls) > 20
    for dest, src in urls:
        with open(os.path.join(board.dir, "lib", dest), "rb") as a, open(os.path.join(root, src), "rb") as b:
            assert a.read() == b.read(), dest


def test_ctrl_c_during_the_panic_console_then_after_it(tmp_path):
    # While the fault path runs, Ctrl-C is a character (micropython.kbd_intr(-1)): the panic
    # console clears its line and goes on. Afterwards it interrupts a program again. The
    # virtual board forwards Ctrl-C as SIGINT only while the process catches it, as a board's
    # UART raises KeyboardInterrupt only under kbd_intr(3).
    bdir = tmp_path / "board"
    bdir.mkdir()
    (bdir / "main.py").write_text(
        "import netdump.panic as p, netdump.board\n"
        "b = netdump.board.load('unix_virtual')\n"
        "class Ep:\n"
        "    overhead = 28\n"
        "    ack_port = 0\n"
        "    def reset(self): return 0\n"
        "    def send(self, buf, n): return 1\n"
        "    def poll_ack(self, ack): return 0\n"
        "    def adopt_port(self, port): return 0\n"
        "    def wait(self, ms): pass\n"
        "p.arm('127.0.0.1', b.default_regions(), b.MACHINE, b.ELFCLASS, b.ARCH, endpoint=Ep())\n"
        "print('CONSOLE', p.console(60))\n"
        "try:\n"
        "    while True:\n"
        "        pass\n"
        "except KeyboardInterrupt:\n"
        "    print('INTERRUPTED AFTER')\n")
    vb = vboard.VBoard(str(bdir), heapsize="4M", once=True)
    try:
        vb.start()
        end = time.monotonic() + 30
        while b"netdump> " not in vb.output and time.monotonic() < end:
            time.sleep(0.05)
        assert b"netdump> " in vb.output, bytes(vb.output)
        fd = os.open(vb.device, os.O_WRONLY | os.O_NOCTTY)
        try:
            os.write(fd, b"xyz\x03")
            end = time.monotonic() + 10
            while b"^C" not in vb.output and time.monotonic() < end:
                time.sleep(0.05)
            os.write(fd, b"continue\r")
            end = time.monotonic() + 20
            while b"CONSOLE 0" not in vb.output and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.3)
            os.write(fd, b"\x03")
            end = time.monotonic() + 20
            while b"INTERRUPTED AFTER" not in vb.output and time.monotonic() < end:
                time.sleep(0.05)
        finally:
            os.close(fd)
        out = bytes(vb.output).decode(errors="replace")
    finally:
        vb.stop()
    assert "^C" in out and "CONSOLE 0" in out and "KeyboardInterrupt" not in out.split("CONSOLE 0")[0], out
    assert "INTERRUPTED AFTER" in out, out
