"""The device modules' import graph has no cycles (docs/modules.md#import-rules),
and a board boots without the modules it does not use.

The graph (tools/modgraph.py) is read statically with ast from
firmware/netdump/ and boards/. Imports inside functions count as much as
top-level ones: a lazy import still ties the two modules together (both must
be installed, and each is written knowing the other), so a cycle through one
is still a cycle. Dynamic imports (__import__ of a board module by name) are
not edges. CPython, and the MicroPython unix port for the boot tests."""
import json
import os
import shutil
import socket
import subprocess

import pytest

from conftest import FIRMWARE, ROOT, micropython_exe
from netdump_tools.modgraph import cycles, import_graph, module_files


def test_device_modules_have_no_import_cycle():
    files = module_files()
    assert "netdump.ether" in files and "netdump.drivers.w5500" in files and "w5500_evb_pico" in files
    graph = import_graph(files)
    assert "netdump.fast" in graph["netdump.inet"]  # the walk sees imports at all
    assert "netdump.ip4" in graph["netdump.ether"]  # function-level ones too
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


# ---- what a board can leave out ----------------------------------------------------

# Not needed to boot and arm an IPv4 board configured from the host: the IPv6
# stack, the dumpon device side, the socket endpoint and the pure-Python twins
# of the viper paths (docs/modules.md#import-rules).
OPTIONAL = ("inet6", "ip6", "ndp", "dumpon", "endpoint", "fast_py")

_BOOT = """
import sys
import netdump.panic
if KEEP:
    netdump.panic.CONFIG_MODULES = ()  # the protection off: arm_config() forgets nothing
d = netdump.panic.arm_config()
print("ARMED", d is not None)
print("MODULES", " ".join(sorted(k for k in sys.modules if k.startswith("netdump"))))
"""


def _boot(tmp_path, leave_out, conf, keep=False):
    """Arm the virtual board at boot from a copy of the package without leave_out -> (stdout, modules)."""
    fw = tmp_path / "firmware"
    shutil.copytree(os.path.join(FIRMWARE, "netdump"), fw / "netdump",
                    ignore=shutil.ignore_patterns("__pycache__", *[m + ".py" for m in leave_out]))
    board = tmp_path / "board"
    board.mkdir()
    (board / "netdump.json").write_text(json.dumps(conf))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where the virtual NIC says hello
    sink.bind(("127.0.0.1", 0))
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(fw), os.path.join(ROOT, "boards")]),
               NETDUMP_VNET_PORT=str(sink.getsockname()[1]))
    try:
        proc = subprocess.run([micropython_exe(), "-X", "heapsize=1M", "-c", "KEEP = %r\n" % keep + _BOOT],
                              cwd=str(board), env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        sink.close()
    out = proc.stdout + proc.stderr
    mods = [ln.split()[1:] for ln in proc.stdout.splitlines() if ln.startswith("MODULES")]
    return out, (mods[0] if mods else None)


_CONF4 = {"board": "unix_virtual", "iface": "vnic", "client": "10.0.2.15", "server": "10.0.2.2", "console": 0}


def test_ipv4_board_boots_and_arms_without_the_optional_modules(tmp_path):
    out, mods = _boot(tmp_path, OPTIONAL, _CONF4)
    assert "ARMED True" in out, out
    assert "netdump.ether" in mods and "netdump.arp" in mods and "netdump.ip4" in mods, mods
    for m in OPTIONAL:
        assert "netdump." + m not in mods, (m, mods)


@pytest.mark.parametrize("keep", [False, True], ids=["forgets", "protection-off"])
def test_arm_config_forgets_the_configuration_modules(tmp_path, keep):
    # the arming code, config, the board reader and the address parser are needed to arm, not to dump:
    # arm_config() drops them (their code is heap on an installed board); with
    # CONFIG_MODULES emptied they stay
    out, mods = _boot(tmp_path, OPTIONAL, _CONF4, keep=keep)
    assert "ARMED True" in out, out
    for m in ("netdump.arming", "netdump.config", "netdump.board", "netdump.addr"):
        assert (m in mods) == keep, (m, mods)


def test_ipv6_board_without_the_ipv6_modules_says_what_is_missing(tmp_path):
    out, mods = _boot(tmp_path, OPTIONAL, dict(_CONF4, client="fd00::2", server="fd00::1", netmask="/64"))
    assert "ARMED False" in out and "netdump: not armed:" in out and "netdump.inet6" in out, out


def test_ipv6_board_arms_with_the_ipv6_modules(tmp_path):
    out, mods = _boot(tmp_path, ("dumpon", "endpoint"), dict(_CONF4, client="fd00::2", server="fd00::1",
                                                               netmask="/64"))
    assert "ARMED True" in out, out
    assert "netdump.ndp" in mods and "netdump.arp" not in mods and "netdump.ip4" not in mods, mods


# ---- the walk and the cycle finder must see what they are there to see -----------

def _tree(tmp_path, modules):
    fw = tmp_path / "firmware"
    for name, text in modules.items():
        p = fw / (name.replace(".", "/") + ".py")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / "boards").mkdir()
    return module_files(str(fw), str(tmp_path / "boards"))


@pytest.mark.parametrize("a_text,b_text,cyclic", [
    ("from netdump import b\n", "from netdump import fast\n", False),
    ("from netdump import b\n", "from netdump import a\n", True),
    ("import netdump.b\n", "def f():\n    from netdump.a import X\n", True),  # a function-level import counts
    ("from netdump.b import thing\n", "class C:\n    def m(self):\n        import netdump.a\n", True),
    ("from . import b\n", "from .a import X\n", True),  # relative imports
    ("x = __import__('netdump.b')\n", "from netdump import a\n", False),  # dynamic: not an edge
])
def test_cycle_finder(tmp_path, a_text, b_text, cyclic):
    files = _tree(tmp_path, {"netdump.__init__": "", "netdump.a": a_text, "netdump.b": b_text,
                             "netdump.fast": ""})
    found = cycles(import_graph(files))
    assert (found == [["netdump.a", "netdump.b"]]) == cyclic, found


def test_cycle_finder_three_modules():
    g = {"p": {"c"}, "c": {"w", "d"}, "w": {"p"}, "d": set()}
    assert cycles(g) == [["c", "p", "w"]]
    assert cycles({"x": {"x"}}) == [["x"]]
