"""`mpremote mip install` of a board's package.json (make mip, docs/packages.md) on the
firmware: what the install writes to the board's filesystem is exactly the board's
chain, and that chain alone (the frozen copy taken off sys.path) arms and dumps.

  * the QEMU board's own chain (armv7m .mpy) on the default firmware: installed into
    /lib on the RAM disk, configured with dumpon's device side from /lib, armed from
    netdump.json and a test dump to netdumpd;
  * the W5500-EVB-Pico's chain (armv6m .mpy, the RP2040's code) on the armv6m firmware:
    installed, listed, and its W5500 configuration armed (a stand-in machine.SPI/Pin,
    board/w5500_standin.py: arming touches no chip), every module from /lib.
Bytecode-only .mpy files (no architecture in their header) and viper ones (armv6m,
armv7m) are loaded by the same firmware here."""
import subprocess

from fw_qemu_fixtures import ROOT, board_code, lines_with, ram_regions
from netdump_tools import packages
from netdump_tools.qemu_board import QemuBoard, mpremote
from test_packages import W5500_CHAIN  # host_tests/ is on sys.path (conftest.py)

# on the board: every file under /lib, as paths relative to it
LIST_LIB = """import os
def walk(d, rel):
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            walk(p, rel + e[0] + '/')
        else:
            print('FILE', rel + e[0])
walk('/lib', '')
"""

# on the board after a soft reset: the RAM disk again, /lib first, nothing frozen; modules
# loaded from files leave garbage between what they keep, and gc.threshold(4096) (the README's
# advice for boot.py on a small heap) collects as it goes
ONLY_LIB = ("import gc, sys, qemu_mps2_an385\ngc.threshold(4096)\nqemu_mps2_an385.mount_ramdisk()\n"
            "sys.path[:] = ['/lib', '']\n")


def _install(device, pkg):
    st, out = mpremote(device, "exec", "import qemu_mps2_an385 as b\nb.mount_ramdisk()\nprint('RAMDISK ok')\n",
                       "mip", "install", "--target", "/lib", pkg, timeout=600)
    assert st == 0 and "RAMDISK ok" in out, out
    st, out = mpremote(device, "resume", "exec", LIST_LIB)
    assert st == 0, out
    return sorted(lines_with(out, "FILE "))


def _mip(tmp_path, arch, board, mpy_cross):
    return packages.write_mip(str(tmp_path / "mip"), arch, [board], mpy_cross=mpy_cross)[0]


def test_qemu_chain_installs_arms_and_dumps(bed, firmware, mpy_cross_128, tmp_path):
    chain = packages.chain("qemu_mps2_an385")
    got = _install(bed.device, _mip(tmp_path, "armv7m", "qemu_mps2_an385", mpy_cross_128))
    assert got == sorted(t[:-3] + ".mpy" for t, _s in chain)
    _name, addr, size = ram_regions(firmware)[0]
    conf = {"board": "qemu_mps2_an385", "iface": "lan", "client": bed.CLIENT, "server": bed.GATEWAY,
            "netmask": "/24", "herald_port": bed.herald_port, "client_port": bed.client_port,
            "regions": ["data:0x%x:%d" % (addr, size)], "console": 0}
    code = (ONLY_LIB + "import netdump.dumpon as d\n"
            "d.configure(%r)\n"
            "import netdump.panic as p, netdump.ether as e, netdump.drivers.lan9118 as l\n"
            "print('FROM', p.__file__, e.__file__, l.__file__)\n"
            "p.arm_config()\n"
            "print('RESULT', p.test_dump())\n" % (conf,))
    st, out = bed.exec(code, resume=False, timeout=300)
    assert st == 0, out
    assert lines_with(out, "FROM ")[0].split() == ["/lib/netdump/panic.mpy", "/lib/netdump/ether.mpy",
                                                   "/lib/netdump/drivers/lan9118.mpy"], out
    assert "dumpon: saved netdump.json" in out and "netdump: armed: lan" in out, out
    assert "RESULT 0" in out and "netdump finished." in out, out


def test_w5500_chain_installs_and_arms_on_armv6m(firmware_armv6m, mpy_cross_128, tmp_path):
    with QemuBoard(firmware_armv6m, str(tmp_path / "qemu")) as b:
        got = _install(b.device, _mip(tmp_path, "armv6m", "w5500_evb_pico", mpy_cross_128))
        assert got == sorted(t[:-3] + ".mpy" for t in W5500_CHAIN)
        conf = {"board": "w5500_evb_pico", "client": "10.0.1.157", "server": "10.0.1.236", "gateway": "10.0.1.1",
                "netmask": "/24", "console": 0}
        code = (ONLY_LIB + board_code("w5500_standin") + "\n"
                "import netdump.dumpon as d\nd.configure(%r)\n"
                "import sys, netdump.panic as p\n"
                "print('ARMED', p.arm_config() is not None)\n"
                "print('MODS', ' '.join(sorted(k for k in sys.modules if k.startswith('netdump'))))\n"
                "print('FROM', ' '.join(sorted(set(m.__file__.rsplit('/', 1)[0] for k, m in sys.modules.items()"
                " if k.startswith('netdump')))))\n" % (conf,))
        st, out = mpremote(b.device, "exec", code, timeout=300)
        assert st == 0, out
        assert "ARMED True" in out and "netdump: armed: w5500 10.0.1.157 -> 10.0.1.236" in out, out
        mods = lines_with(out, "MODS ")[0].split()
        assert "netdump.drivers.w5500" in mods and "netdump.arp" in mods, out
        assert lines_with(out, "FROM ")[0].split() == ["/lib/netdump", "/lib/netdump/drivers"], out


def test_make_mip_writes_a_package_per_board(tmp_path, mpy_cross_128):
    # the Makefile's target, as the README runs it: one json per board and architecture
    r = subprocess.run(["make", "-s", "mip", "MIP_OUT=" + str(tmp_path / "mip")], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for arch, board in (("armv6m", "w5500_evb_pico"), ("armv6m", "pico_w5500"), ("xtensawin", "wt32_eth01"),
                        ("armv7m", "qemu_mps2_an385"), ("py", "w5500_evb_pico")):
        assert (tmp_path / "mip" / arch / (board + ".json")).exists(), (arch, board)
    assert not list((tmp_path / "mip").glob("*/unix_virtual.json"))
    with open(tmp_path / "mip" / "armv6m" / "netdump" / "fast_viper.mpy", "rb") as f:
        head = f.read(4)
    assert head[:2] == b"M\x06" and head[2] >> 2 == 4  # native code for armv6m (py/persistentcode.h)
    with open(tmp_path / "mip" / "armv6m" / "netdump" / "panic.mpy", "rb") as f:
        assert f.read(4)[2] >> 2 == 0  # bytecode only: no architecture
