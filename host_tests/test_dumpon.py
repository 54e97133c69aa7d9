"""tools/dumpon and tools/testdump against the virtual board over mpremote:
set, list and clear the configuration; errors found on the host and on the
board; -c auto; arming from boot.py; a test dump triggered from the host."""
import json
import os
import subprocess
import sys

import pytest

from netdump_tools import dumpon, testdump
from test_panic import cores, free_udp_port, start_netdumpd, stop  # noqa: F401
from test_vboard import board, mpremote  # noqa: F401  (fixture)
from netdump_tools import reader


def run_dumpon(capsys, *args):
    st = dumpon.main(list(args))
    out = capsys.readouterr()
    return st, out.out + out.err


def conf_file(board):
    with open(os.path.join(board.dir, "netdump.json")) as f:
        return json.load(f)


def test_set_list_clear(board, capsys):
    dev = board.device
    st, out = run_dumpon(capsys, "-p", dev, "-c", "127.0.0.1", "-s", "127.0.0.1", "-g", "127.0.0.254",
                         "--herald-port", "31000", "--client-port", "31001", "-H", "vb1",
                         "--region", "head:ram:16K", "--region", "tail:ram+0x3c000:16K", "-P", "vb/crash",
                         "--deadline", "900", "udp")
    assert st == 0, out
    assert "dumpon: saved netdump.json: udp client 127.0.0.1 server 127.0.0.1" in out
    # FreeBSD's netdumpd acks to 20024 only: another client port is said
    assert ("dumpon: warning: client port 31001: FreeBSD's netdumpd sends every ack to port 20024, so this board "
            "can dump only to our netdumpd started with --client-port 31001") in out
    c = conf_file(board)
    assert c["deadline"] == 900
    assert c["board"] == "unix_virtual"  # detected on the board
    assert c["herald_port"] == 31000 and c["client_port"] == 31001 and c["gateway"] == "127.0.0.254"
    assert c["regions"] == ["head:ram:16K", "tail:ram+0x3c000:16K"] and c["path"] == "vb/crash"
    st, out = run_dumpon(capsys, "-p", dev, "-l")
    assert st == 0 and out.strip() == "udp 127.0.0.1 -> 127.0.0.1:31000", out
    st, out = run_dumpon(capsys, "-p", dev, "-l", "-v")
    assert "hostname:    vb1" in out and "regions:     head:ram:16K tail:ram+0x3c000:16K" in out, out
    assert "deadline:    900" in out, out
    st, out = run_dumpon(capsys, "-p", dev, "off")
    assert st == 0 and "dumpon: cleared" in out, out
    assert not os.path.exists(os.path.join(board.dir, "netdump.json"))
    st, out = run_dumpon(capsys, "-p", dev, "-l")
    assert "dumpon: none (no configuration" in out, out
    st, out = run_dumpon(capsys, "-p", dev, "--clear")
    assert "nothing to clear" in out, out


def test_host_side_errors_need_no_board(capsys):
    # checked before mpremote runs: a device that does not exist is never opened
    st, out = run_dumpon(capsys, "-p", "/dev/does-not-exist", "-b", "w5500_evb_pico", "-c", "10.0.1.157",
                         "-s", "10.0.1.300", "w5500")
    assert st == 1 and out.strip() == "dumpon: error: server: '10.0.1.300' is not an IPv4 or IPv6 address", out
    st, out = run_dumpon(capsys, "-p", "/dev/does-not-exist", "-b", "w5500_evb_pico", "-c", "10.0.1.157",
                         "-s", "10.0.1.236", "--region", "p:0x40000000:4K", "w5500")
    assert st == 1 and "outside the safe ranges of board w5500_evb_pico" in out, out
    st, out = run_dumpon(capsys, "-p", "/dev/does-not-exist", "-b", "w5500_evb_pico", "-c", "10.0.1.157",
                         "-s", "10.0.1.236", "wlan")
    assert st == 1 and "iface: 'wlan' is not an interface of board w5500_evb_pico" in out, out
    st, out = run_dumpon(capsys, "-p", "/dev/does-not-exist", "-b", "w5500_evb_pico", "-c", "10.0.1.157",
                         "-s", "10.0.1.236", "--deadline", "-3", "w5500")
    assert st == 1 and "deadline: -3 is not a number of seconds" in out, out
    st, out = run_dumpon(capsys, "-n", "-p", "/dev/ttyACM0", "-c", "10.0.1.157", "-s", "10.0.1.236", "w5500")
    assert "warning" not in out  # the default client port says nothing
    with pytest.raises(SystemExit) as e:
        dumpon.main(["-s", "10.0.1.236", "w5500"])
    assert e.value.code == 2


def test_board_side_errors(board, capsys):
    # the virtual board's RAM moves, so only the board can check an absolute address
    st, out = run_dumpon(capsys, "-p", board.device, "-c", "127.0.0.1", "-s", "127.0.0.1",
                         "--region", "x:0x1000:4K", "udp")
    assert st == 1 and "dumpon: error: region x: 0x1000..0x2000 is outside the safe ranges" in out, out
    assert not os.path.exists(os.path.join(board.dir, "netdump.json"))


def test_client_from_interface(board, capsys):
    st, out = run_dumpon(capsys, "-p", board.device, "-c", "auto", "-s", "127.0.0.1", "udp")
    assert st == 0, out
    c = conf_file(board)
    assert c["client"] == "127.0.0.1" and c["netmask"] == "255.0.0.0"
    # vnic has no address unless the board was given one
    st, out = run_dumpon(capsys, "-p", board.device, "--client-from-iface", "-s", "127.0.0.1", "vnic")
    assert st == 1 and "interface vnic of board unix_virtual has no active address" in out, out


def test_dry_run_prints_plain_command(capsys):
    st, out = run_dumpon(capsys, "-n", "-p", "/dev/ttyACM0", "-c", "10.0.1.157", "-s", "10.0.1.236", "-g", "10.0.1.1",
                         "w5500")
    assert st == 0
    assert out.startswith(dumpon.mpremote_exe() + " connect /dev/ttyACM0 resume exec 'import netdump.dumpon as d; "
                                                  "d.configure({"), out
    st, out = run_dumpon(capsys, "-n", "-p", "/dev/ttyACM0", "-l")
    assert "resume exec 'import netdump.dumpon as d; d.show(verbose=False)'" in out
    st = testdump.main(["-n", "-p", "/dev/ttyACM0"])
    out = capsys.readouterr().out
    assert st == 0 and out.strip().endswith("resume exec 'import netdump.panic as p; p.test_dump()'"), out


def test_failures_go_to_stderr(capsys, tmp_path):
    # mpremote missing, or failing on a device that does not exist: exit 1, the reason on stderr only
    dev = str(tmp_path / "no-such-tty")
    for args in (["--mpremote", str(tmp_path / "no-mpremote"), "-p", dev, "-l"], ["-p", dev, "-l"],
                 ["-p", dev, "off"]):
        st = dumpon.main(args)
        out = capsys.readouterr()
        assert st == 1 and out.out == "" and len(out.err.strip().splitlines()) == 1, (args, out)
    for args in (["--mpremote", str(tmp_path / "no-mpremote"), "-p", dev], ["-p", dev, "-t", "30"]):
        st = testdump.main(args)
        out = capsys.readouterr()
        assert st == 1 and out.out == "" and len(out.err.strip().splitlines()) == 1, (args, out)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (SOCK_RAW to learn the session port)")
def test_test_dump_over_mpremote(board, capsys, tmp_path):
    hport, cport = free_udp_port(), free_udp_port()
    srv = start_netdumpd(tmp_path / "crash", hport, cport)
    try:
        st, out = run_dumpon(capsys, "-p", board.device, "-c", "127.0.0.1", "-s", "127.0.0.1",
                             "--herald-port", str(hport), "--client-port", str(cport), "-H", "vboard",
                             "--region", "ram:ram:64K", "udp")
        assert st == 0, out
        # not armed yet: the test dump says so and fails
        st = testdump.main(["-p", board.device])
        cap = capsys.readouterr()
        assert st == 1 and "netdump: not armed" in cap.err and cap.out == "", cap  # failures on stderr
        # the documented boot.py line arms at boot; a soft reset runs boot.py
        boot = tmp_path / "boot.py"
        boot.write_text("import netdump.panic; netdump.panic.arm_config()\n")
        st, out = mpremote(board.device, "resume", "fs", "cp", str(boot), ":boot.py")
        assert st == 0, out
        st, out = mpremote(board.device, "exec", "import unix_virtual as b; b.RAM[0:8] = b'TESTDUMP'")
        assert st == 0, out
        assert b"netdump: armed: udp 127.0.0.1 -> 127.0.0.1 port %d" % hport in board.output
        st = testdump.main(["-p", board.device, "-m", "dump requested by the test"])
        out = capsys.readouterr().out
        assert st == 0 and "netdump finished." in out, out
        (core_path,) = cores(tmp_path / "crash")
        core = reader.Vmcore.open(str(core_path))
        assert core.panic == "dump requested by the test"
        assert core.board == "unix_virtual"
        data = core.read_region("ram")
        assert data[0:8] == b"TESTDUMP" and len(data) == 65536
        # the plain mpremote line from the docstring works as well
        r = subprocess.run([dumpon.mpremote_exe(), "connect", board.device, "resume", "exec", testdump.TEST_LINE],
                           capture_output=True, text=True, timeout=120)
        assert "netdump finished." in r.stdout, r.stdout + r.stderr
        assert len(cores(tmp_path / "crash")) == 2
    finally:
        stop(srv)


def test_vnic_test_dump_without_root(tmp_path, capsys):
    """The no-root path: the virtual board's vnic + netdump's own Ethernet stack,
    through tools/vnet.py in user mode, to netdumpd on loopback."""
    from test_vboard import mpremote as mpr
    from netdump_tools import vboard

    nic_port, hport, cport = free_udp_port(), free_udp_port(), free_udp_port()
    vnet = subprocess.Popen([sys.executable, "-m", "netdump_tools.vnet", "user", "--nic-port", str(nic_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    srv = start_netdumpd(tmp_path / "crash", hport, cport)
    vb = vboard.VBoard(str(tmp_path / "board"), heapsize="4M",
                       env={"NETDUMP_VNET_PORT": str(nic_port), "NETDUMP_VNIC_ADDR": "10.0.2.15"})
    try:
        vb.start()
        assert vb.wait_ready(20)
        st, out = run_dumpon(capsys, "-p", vb.device, "-c", "auto", "-s", "10.0.2.2", "--herald-port", str(hport),
                             "--client-port", str(cport), "-H", "vnicboard", "vnic")
        assert st == 0 and "client 10.0.2.15 server 10.0.2.2" in out, out
        st, out = mpr(vb.device, "resume", "exec", "import unix_virtual as b; b.RAM[4096:4100] = b'VNIC'")
        assert st == 0, out
        # no boot.py: not armed; testdump says why and how
        st = testdump.main(["-p", vb.device])
        cap = capsys.readouterr()
        assert st == 1 and "netdump-testdump: the board is not armed (arm_config() was not run" in cap.err, cap
        assert "run netdump-testdump --arm" in cap.err, cap
        st = testdump.main(["-p", vb.device, "--arm"])  # arms from the configuration first
        out = capsys.readouterr().out
        assert st == 0 and "netdumping to 10.0.2.2" in out and "netdump finished." in out, out
        (core_path,) = cores(tmp_path / "crash")
        core = reader.Vmcore.open(str(core_path))
        assert core.panic == "netdump test dump"
        assert core.read_region("ram")[4096:4100] == b"VNIC"
    finally:
        vb.stop()
        stop(srv)
        vnet.terminate()
        vnet.wait(10)


def test_configuration_that_cannot_arm(board, capsys, tmp_path):
    # refused before it is saved: an off-link server without a gateway (found on the host when
    # the board is named, else on the board)
    for extra in (["-b", "unix_virtual"], []):
        st, out = run_dumpon(capsys, "-p", board.device, "-c", "10.0.2.15", "-s", "10.9.9.9", *extra, "vnic")
        assert st == 1 and "10.9.9.9 is not on the client's network 10.0.2.15/24 and no gateway is given (-g)" \
            in out, out
        assert not os.path.exists(os.path.join(board.dir, "netdump.json"))
    # one the board cannot arm at boot (a watchdog longer than rp2 allows): boot.py's arm_config()
    # prints one line and the board runs unarmed; netdump-testdump repeats it and says how to arm
    st, out = run_dumpon(capsys, "-p", board.device, "-c", "10.0.2.15", "-s", "10.0.2.2", "--wdt", "9000", "vnic")
    assert st == 0 and conf_file(board)["wdt"] == 9000, out
    boot = tmp_path / "boot.py"
    boot.write_text("import netdump.panic; netdump.panic.arm_config()\n")
    assert mpremote(board.device, "resume", "fs", "cp", str(boot), ":boot.py")[0] == 0
    st, out = mpremote(board.device, "exec", "print('rebooted')")  # soft reset: boot.py runs
    assert st == 0 and "rebooted" in out, out
    boot_out = bytes(board.output[board.output.rfind(b"soft reboot"):])
    assert b"netdump: not armed: ValueError: timeout exceeds 8388" in boot_out, boot_out
    assert b"Traceback" not in boot_out, boot_out  # one line, no traceback in boot.py
    st = testdump.main(["-p", board.device])
    cap = capsys.readouterr()
    assert st == 1 and "the board is not armed (ValueError: timeout exceeds 8388)" in cap.err, cap
    assert "boot.py line: import netdump.panic; netdump.panic.arm_config()" in cap.err, cap


def test_no_digest_arms_without_the_crc_tables(board, capsys):
    # --no-digest: arming gives the CRC-32 tables (4 KiB of the board's heap, made at import)
    # back; --digest (the default) keeps them
    probe = ("import netdump.panic as p\np.arm_config()\nfrom netdump import fast_viper\n"
             "print('CRC tables', len(fast_viper._CRC_TABLE or b''))")
    for flag, digest, tables in (("--no-digest", False, 0), ("--digest", True, 4096)):
        st, out = run_dumpon(capsys, "-p", board.device, "-c", "10.0.2.15", "-s", "10.0.2.2", flag, "vnic")
        assert st == 0 and conf_file(board)["digest"] is digest, out
        st, out = mpremote(board.device, "exec", probe)  # a soft reset first: a fresh interpreter
        assert st == 0 and "netdump: armed" in out and "CRC tables %d" % tables in out, out
