"""netdump-rp2board by hand, as the README shows it: the virtual board starts,
says where its serial device is, answers mpremote, keeps its flash in a file
across runs, and leaves nothing behind when stopped."""
import os
import signal
import subprocess
import time

import pytest

import rp2bed

pytestmark = pytest.mark.usefixtures("rp2_bed")


def _start(tmp_path, *args):
    exe = os.path.join(rp2bed.BIN, "netdump-rp2board")
    p = subprocess.Popen([exe, "--board", "RPI_PICO", "--link", str(tmp_path / "pico"), "--log",
                          str(tmp_path / "rp2sim.log")] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.strip() == "rp2board: serial %s" % (tmp_path / "pico"), (line, p.stderr.read() if p.poll() else "")
    return p


def _stop(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait(60) == 0, p.stderr.read()


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_cli_board_mpremote_flash_file_and_cleanup(tmp_path):
    flash = tmp_path / "flash.bin"
    p = _start(tmp_path, "--flash", str(flash))
    kids = _children(p.pid)
    try:
        assert len(kids) >= 2  # node and socat
        out = rp2bed.board_exec(str(tmp_path / "pico"), "f = open('kept.txt', 'w'); f.write('across runs'); f.close()\n"
                                                        "print('ID', __import__('machine').unique_id().hex())")
        assert "ID 4e44525032000001" in out, out
    finally:
        _stop(p)
    assert not os.path.exists(tmp_path / "pico")
    time.sleep(0.5)
    assert not [k for k in kids if os.path.exists("/proc/%d" % k)], "children left running"
    assert flash.stat().st_size == 2 * 1024 * 1024
    # the same flash file again, and another unique ID: the filesystem is kept
    p = _start(tmp_path, "--flash", str(flash), "--uid", "0102030405060708")
    try:
        out = rp2bed.board_exec(str(tmp_path / "pico"), "import machine\nprint(open('kept.txt').read(), "
                                                        "machine.unique_id().hex())")
        assert "across runs 0102030405060708" in out, out
    finally:
        _stop(p)


def test_cli_without_firmware_says_why(tmp_path):
    r = subprocess.run([os.path.join(rp2bed.BIN, "netdump-rp2board"), "--firmware-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, RP2_FIRMWARE_DIR=""))
    assert r.returncode == 1 and r.stderr.startswith("rp2board: missing "), r.stderr
