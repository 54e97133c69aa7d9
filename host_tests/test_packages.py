"""The installable units (packages/<unit>/manifest.py, docs/packages.md) and what
`mpremote mip install` of a board puts on it.

  * every package.json is what the manifests say (python -m netdump_tools.packages json);
  * every device module is in exactly one unit; host-only ones are in none, and no
    board's chain, package.json or freeze can hold one;
  * a W5500 board's chain is exactly the list below, and every module it imports is
    in it (the lazy imports of what a board may leave out are listed);
  * that chain alone arms the W5500 configuration on the MicroPython unix port (the
    W5500 emulator behind a stand-in machine.SPI);
  * `mpremote mip install` of the board's package.json (.py and .mpy) onto the virtual
    board writes exactly the chain (the firmware bed: fw_qemu/test_fw_install.py)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIRMWARE, ROOT, micropython_exe
from netdump_tools import modgraph, packages
from test_vboard import board  # noqa: F401  (fixture: the virtual board)

# what installing the W5500-EVB-Pico puts under /lib: the core, dumpon's device side,
# netdump's Ethernet stack for IPv4, the W5500 driver and the board's data
W5500_CHAIN = sorted(
    ["netdump/%s.py" % m for m in ("__init__", "compat", "wire", "kdh", "elfcore", "crc32", "fast", "fast_viper",
                                   "fast_thumb", "feed", "debugnet", "dumper", "fault", "console", "watchdog", "panic",
                                   "arming", "config", "addr", "board", "dumpon", "ether", "inet", "link", "udp", "arp",
                                   "ip4")]
    + ["netdump/drivers/__init__.py", "netdump/drivers/w5500.py", "w5500_evb_pico.py"])

# imports inside functions that reach a module a board may not carry (docs/packages.md):
# the endpoint a configuration asks for, the driver of the board's NIC, the other
# address family, the pure-Python twins where viper is missing
LAZY_OPTIONAL = {
    "netdump.board": {"netdump.endpoint", "netdump.ether", "netdump.link", "netdump.drivers.w5500",
                      "netdump.drivers.lan9118", "netdump.drivers.esp32_emac"},
    "netdump.ether": {"netdump.ip4", "netdump.arp", "netdump.ip6", "netdump.ndp", "netdump.inet6"},
    "netdump.arming": {"netdump.endpoint"},
    "netdump.fast": {"netdump.fast_py"},
}


def _module(target):
    m = target[:-3].replace("/", ".")
    return m[:-len(".__init__")] if m.endswith(".__init__") else m


def test_package_jsons_match_the_manifests():
    for path, doc in packages.unit_jsons().items():
        with open(path) as f:
            have = json.load(f)
        assert have == doc, "%s is stale: run python -m netdump_tools.packages json" % os.path.relpath(path, ROOT)


def test_every_device_module_is_in_one_unit():
    seen = {}
    for name in packages.unit_names():
        if name == packages.BOARD_UNIT:
            continue
        files, _reqs = packages.own_files(name)
        for t, src in files:
            assert t not in seen, "%s in %s and %s" % (t, seen[t], name)
            seen[t] = name
            assert os.path.relpath(src, ROOT) not in packages.HOST_ONLY, src
    device = []
    for d, _dirs, files in os.walk(os.path.join(FIRMWARE, "netdump")):
        device += [os.path.relpath(os.path.join(d, f), FIRMWARE) for f in files if f.endswith(".py")]
    host = [os.path.relpath(p, "firmware") for p in packages.HOST_ONLY if p.startswith("firmware/")]
    assert sorted(seen) == sorted(set(device) - set(host))


def test_w5500_board_chain():
    got = sorted(t for t, _s in packages.chain("w5500_evb_pico"))
    assert got == W5500_CHAIN
    # the alias carries the board it is an alias of
    assert sorted(t for t, _s in packages.chain("pico_w5500")) == sorted(W5500_CHAIN + ["pico_w5500.py"])
    # options: the other address family and the socket interfaces
    assert "netdump/ip6.py" in [t for t, _s in packages.chain("w5500_evb_pico", ip6=True)]
    assert "netdump/endpoint.py" in [t for t, _s in packages.chain("w5500_evb_pico", socket=True)]
    # a Wi-Fi board: the socket endpoint, no Ethernet stack, no driver
    wifi = [t for t, _s in packages.chain("pico_w")]
    assert "netdump/endpoint.py" in wifi and "netdump/ether.py" not in wifi and "netdump/drivers/__init__.py" not in wifi


@pytest.mark.parametrize("board", packages.board_names())
def test_chain_holds_what_its_modules_import(board):
    files = modgraph.module_files()
    graph = modgraph.import_graph(files)
    have = set(_module(t) for t, _s in packages.chain(board, ip6=True, socket=True))
    for m in sorted(have):
        missing = graph[m] - have - LAZY_OPTIONAL.get(m, set())
        assert not missing, "%s (board %s) imports %s, which its chain lacks" % (m, board, sorted(missing))


def test_no_host_only_module_can_reach_a_board(tmp_path):
    with pytest.raises(packages.PackageError, match="host only"):
        packages.chain("unix_virtual")
    with pytest.raises(packages.PackageError, match="host only"):
        packages.write_mip(str(tmp_path), "py", ["unix_virtual"])
    assert "unix_virtual" not in packages.board_names()
    jsons = list(packages.unit_jsons().values())
    jsons += [json.load(open(p)) for p in packages.write_mip(str(tmp_path / "mip"), "py")]
    for doc in jsons:
        for _t, url in doc["urls"]:
            for h in packages.HOST_ONLY:
                assert not url.endswith(h), (url, doc)
    # the guard itself: a chain that would carry a host-only file is refused
    real = packages.unit

    def with_vnic(name, **kw):
        m = real(name, **kw)
        m.files.append(("netdump/drivers/vnic.py", os.path.join(FIRMWARE, "netdump", "drivers", "vnic.py")))
        return m

    packages.unit = with_vnic
    try:
        with pytest.raises(packages.PackageError, match="host only"):
            packages.chain("w5500_evb_pico")
    finally:
        packages.unit = real


def _install_tree(dest, files):
    for t, src in files:
        os.makedirs(os.path.dirname(os.path.join(dest, t)), exist_ok=True)
        shutil.copyfile(src, os.path.join(dest, t))
    return dest


def test_w5500_chain_alone_arms(tmp_path):
    # the chain's files only (no firmware/ on the path): the boot line arms the W5500
    # configuration, and every netdump module it loaded came from there
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import bench_memory

    lib = _install_tree(str(tmp_path / "lib"), packages.chain("w5500_evb_pico"))
    runner = bench_memory.UnixRunner(1024 * 1024, lib, lib)
    runner.path = [lib, bench_memory.SPI_STUB]  # nothing else: not firmware/, not boards/
    tmp = str(tmp_path / "run")
    res = bench_memory.board_configs(runner, ["w5500"], tmp)[0]
    boot = res["boot"]
    assert not boot.errors, boot.errors
    loaded = set(boot.mods)
    assert "netdump.drivers.w5500" in loaded and "netdump.ip4" in loaded
    assert loaded <= set(_module(t) for t in W5500_CHAIN), sorted(loaded)


def _listing(top):
    out = []
    for d, _dirs, files in os.walk(top):
        out += [os.path.relpath(os.path.join(d, f), top).replace(os.sep, "/") for f in files]
    return sorted(out)


@pytest.mark.parametrize("form", ["py", "mpy"])
def test_mip_install_writes_only_the_chain(board, tmp_path, form):  # noqa: F811
    from netdump_tools import dumpon

    micropython_exe()  # counted as a test driving MicroPython
    vboard_dir = board

    arch = "py" if form == "py" else "x64"  # the virtual board is the x64 unix port
    pkg = packages.write_mip(str(tmp_path / "mip"), arch, ["w5500_evb_pico"])[0]
    r = subprocess.run([dumpon.mpremote_exe(), "connect", vboard_dir.device, "mip", "install", pkg],
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Installing: %s/lib/" % vboard_dir.dir in r.stdout, r.stdout  # the default target: <board>/lib
    want = W5500_CHAIN if form == "py" else [t[:-3] + ".mpy" for t in W5500_CHAIN]
    assert _listing(os.path.join(vboard_dir.dir, "lib")) == sorted(want)
    # lib/ comes first on the board's path: the installed files are the ones imported
    code = ("import netdump.drivers.w5500 as w, netdump.ip4 as i, w5500_evb_pico as b\n"
            "print('FROM', w.__file__, i.__file__, b.__file__)")
    r = subprocess.run([dumpon.mpremote_exe(), "connect", vboard_dir.device, "exec", code], capture_output=True,
                       text=True, timeout=60)
    where = r.stdout.split("FROM")[-1].split()
    assert [os.path.relpath(p, vboard_dir.dir) for p in where] == [
        "lib/netdump/drivers/w5500." + form, "lib/netdump/ip4." + form, "lib/w5500_evb_pico." + form], r.stdout
