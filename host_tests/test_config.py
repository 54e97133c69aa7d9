# dumpon-style configuration (netdump/config.py): parsing, validation with
# one-line errors, region resolution against a board's safe ranges, and the
# file round trip. Runs on CPython and on the MicroPython unix port.
# dual-runtime
import os
import sys

from dualtest import MICROPYTHON, raises, skip

if MICROPYTHON:
    sys.path.append("../boards")  # cwd is host_tests
else:
    sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "boards"))

from netdump import addr, config, dumpon  # noqa: E402

BASE = {"board": "w5500_evb_pico", "iface": "w5500", "client": "10.0.1.157", "server": "10.0.1.236",
        "gateway": "10.0.1.1"}


def conf(**kw):
    c = dict(BASE)
    for k in kw:
        c[k] = kw[k]
    return c


def err(**kw):
    e = raises(config.ConfigError, config.validate, conf(**kw))
    msg = str(e)
    assert "\n" not in msg
    return msg


def test_ipv4_parse():
    assert addr.parse_ipv4("10.0.1.157") == b"\x0a\x00\x01\x9d"
    for bad in ("10.0.1", "10.0.1.256", "10.0.1.1.1", "a.b.c.d", "10.0.01.1", "", "10..1.1", " 10.0.1.1"):
        assert addr.parse_ipv4(bad) is None, bad


def test_ipv6_parse():
    assert addr.parse_ipv6("::1") == b"\0" * 15 + b"\1"
    assert addr.parse_ipv6("fe80::1:2") == b"\xfe\x80" + b"\0" * 10 + b"\0\x01\0\x02"
    assert addr.parse_ipv6("2001:db8:0:0:0:0:0:1") == b"\x20\x01\x0d\xb8" + b"\0" * 11 + b"\1"
    assert addr.parse_ipv6("::ffff:10.0.1.2") == b"\0" * 10 + b"\xff\xff\x0a\x00\x01\x02"
    for bad in ("1:2:3", "1::2::3", "12345::1", "g::1", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.300", "10.0.0.1"):
        assert addr.parse_ipv6(bad) is None, bad


def test_netmask():
    assert config.prefix_len("255.255.255.0", 4) == 24
    assert config.prefix_len("/16", 4) == 16
    assert config.prefix_len("255.255.255.255", 4) == 32
    assert config.prefix_len("/64", 6) == 64
    assert "contiguous" in str(raises(config.ConfigError, config.prefix_len, "255.0.255.0", 4))
    assert "1..32" in str(raises(config.ConfigError, config.prefix_len, "/33", 4))
    assert "prefix length" in str(raises(config.ConfigError, config.prefix_len, "255.255.0.0", 6))
    # the dotted form network interfaces' ifconfig() takes
    assert [addr.netmask4(m) for m in ("/24", "20", 32, "255.255.128.0", "/1")] == \
        ["255.255.255.0", "255.255.240.0", "255.255.255.255", "255.255.128.0", "128.0.0.0"]


def test_valid_defaults():
    c = config.validate(conf())
    assert c["herald_port"] == 20023 and c["client_port"] == 20024
    assert c["netmask"] == "255.255.255.0"
    assert c["mode"] == "window" and c["action"] == "reset"
    assert c["regions"] == [] and c["deadline"] == 0  # 0: scaled to the dump at arm time
    for k in config.KEYS:
        assert k in c


def test_clear_errors():
    assert "server" in err(server="10.0.1.300") and "not an IPv4 or IPv6" in err(server="10.0.1.300")
    assert "client" in err(client="")
    assert "same address family" in err(server="fd00::1")
    assert "gateway 10.0.2.1 is not on the client's network" in err(gateway="10.0.2.1")
    assert "herald_port" in err(herald_port=70000)
    assert "client_port" in err(client_port=0)
    assert "unknown" in err(board="nosuchboard")
    assert "iface" in err(iface="wlan")
    assert "hostname" in err(hostname="")
    assert "hostname" in err(hostname="x" * 64)
    assert "path" in err(path="/abs")
    assert "mode" in err(mode="fast")
    assert "action" in err(action="explode")
    assert "console" in err(console=-5)
    assert "deadline: -1 is not a number of seconds (0..500000, 0 = scaled to the dump)" == err(deadline=-1)
    assert "deadline" in err(deadline=10 ** 6) and "deadline" in err(deadline="soon")
    assert config.validate(conf(deadline="900"))["deadline"] == 900
    assert "unknown key" in err(colour="red")
    assert "unicast" in err(server="224.0.0.1")


def test_regions():
    c = config.validate(conf(regions=["sram:0x20000000:256K", "tail:sram+0x40000:8K", ["dp", "0x50100000", 4096]]))
    b = config.load_board("w5500_evb_pico")

    rs = config.regions(c, b)
    assert rs == [("sram", 0x20000000, 262144), ("tail", 0x20040000, 8192), ("dp", 0x50100000, 4096)]
    assert "outside the safe ranges" in err(regions=["periph:0x40000000:4K"])
    assert "outside the safe ranges" in err(regions=["big:0x20000000:300K"])
    assert "outside safe range sram" in err(regions=["x:sram+0x41000:8K"])
    assert "not a safe range" in err(regions=["x:flash+0:4K"])
    assert "name used twice" in err(regions=["a:sram:4K", "a:sram+4096:4K"])
    assert "expected name:where:size" in err(regions=["sram+0x1000:4K"])
    assert "not a number" in err(regions=["a:sram:lots"])
    # default regions when none are configured
    assert config.regions(config.validate(conf()), b) == list(b.REGIONS)


def test_ipv6_config():
    c = config.validate(conf(client="fd00::2", server="fd00::1", gateway="", netmask="/64"))
    assert c["netmask"] == "/64"
    assert "not on the client's network" in err(client="fd00::2", server="fd00::1", gateway="fd01::1")


def test_loopback_same_address_allowed():
    c = config.validate({"board": "unix_virtual", "iface": "udp", "client": "127.0.0.1", "server": "127.0.0.1"})
    assert c["iface"] == "udp"
    assert config.validate({"board": "unix_virtual", "client": "10.0.2.15", "server": "10.0.2.2"})["iface"] == "vnic"
    assert "same address" in err(client="10.0.1.236")


def test_save_load_clear():
    path = "_test_netdump_conf.json"
    dumpon.remove(path)
    e = raises(config.ConfigError, config.load, path)
    assert "no configuration" in str(e)
    c = dumpon.save(conf(hostname="pico1", regions=["sram:sram:16K"]), path)
    assert c["hostname"] == "pico1"
    back = config.load(path)
    assert back == c
    lines = dumpon.lines(back)
    assert lines[0].startswith("board:") and "w5500_evb_pico" in lines[0]
    assert dumpon.remove(path) is True
    assert dumpon.remove(path) is False


def test_bad_json_file():
    path = "_test_netdump_bad.json"
    f = open(path, "w")
    f.write("{not json")
    f.close()
    try:
        assert "not valid JSON" in str(raises(config.ConfigError, config.load, path))
    finally:
        dumpon.remove(path)


def test_off_link_server_needs_a_gateway():
    # the board could never reach it: refused (dumpon does not save it; arm would fail)
    e = err(server="10.9.9.9", gateway="")
    assert "10.9.9.9 is not on the client's network 10.0.1.157/24 and no gateway is given (-g)" in e, e
    assert config.validate(conf(server="10.9.9.9"))["gateway"] == "10.0.1.1"
    assert "no gateway" in err(client="fd00::2", server="fd01::1", gateway="", netmask="/64")
    assert config.validate(conf(client="fd00::2", server="fe80::1", gateway="", netmask="/64"))  # on the link


def test_digest_key():
    assert config.validate(conf())["digest"] is True
    assert config.validate(conf(digest=False))["digest"] is False
    assert config.validate(conf(digest="false"))["digest"] is False
    for bad in (0, 1, "no", None):
        assert err(digest=bad) == "digest: %r is not true or false" % (bad,)


def test_wdt_key():
    assert config.validate(conf())["wdt"] == 0
    assert config.validate(conf(wdt=8388))["wdt"] == 8388
    assert config.validate(conf(wdt="5000"))["wdt"] == 5000
    for bad in (-1, "x", True, 10 ** 9):
        assert "wdt" in err(wdt=bad)
    # shorter than the fault path's longest step between two feeds: refused in one line
    assert config.validate(conf(wdt=config.WDT_MIN_MS))["wdt"] == 1000
    e = err(wdt=500)
    assert e == "wdt: 500 ms is shorter than the fault path's longest step between two feeds (use 0 or at least 1000)", e


def test_guess_board():
    g = dumpon.guess_board
    assert g("rp2", "W5500-EVB-Pico with RP2040") == "w5500_evb_pico"
    assert g("rp2", "Raspberry Pi Pico with RP2040") == ""  # a W5500 module or not: cannot tell
    assert g("rp2", "Raspberry Pi Pico W with RP2040") == "pico_w"
    assert g("rp2", "Raspberry Pi Pico2 with RP2350") == ""  # RP2350: another memory map
    assert g("rp2", "W5500-EVB-Pico2 with RP2350") == ""
    assert g("rp2", "W5100S-EVB-Pico with RP2040") == ""  # a W5100S, not a W5500
    assert g("esp32", "WT32-ETH01 with ESP32") == "wt32_eth01"
    assert g("esp32", "Generic ESP32 module with ESP32") == ""
    assert g("linux", "") == "unix_virtual"


def test_arm_config_turns_any_failure_into_one_line():
    if MICROPYTHON and sys.platform not in ("linux", "darwin"):
        skip("unix port only: the virtual board and its machine.WDT")  # 256 KiB of RAM at arm
    from netdump import fault, panic

    path = "_test_netdump_arm.json"
    try:
        # a hardware watchdog longer than the board allows: machine.WDT raises ValueError
        dumpon.save({"board": "unix_virtual", "iface": "vnic", "client": "10.0.2.15", "server": "10.0.2.2",
                     "wdt": 9000}, path)
        assert panic.arm_config(path) is None
        assert fault.why[0] == "ValueError: timeout exceeds 8388", fault.why[0]
        assert panic.test_dump() == 100  # dumper.ERR_NOT_ARMED, after "netdump: not armed: <why>"
        assert panic.arm_config("_no_such_netdump.json") is None
        assert fault.why[0] == "no configuration in _no_such_netdump.json (set one with dumpon)"
    finally:
        dumpon.remove(path)
        fault.why[0] = fault.NOT_ARMED
