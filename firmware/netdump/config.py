# dumpon-style configuration (FreeBSD dumpon(8) + rc.conf dumpdev), kept on
# the board's filesystem as JSON in CONFIG_PATH ("netdump.json": relative, so
# it is the filesystem root on a board, whose current directory at boot is
# "/", and the board directory on the virtual board). Set from the host with
# tools/dumpon.py (over mpremote, which runs netdump.dumpon on the board), read
# at boot by netdump.panic.arm_config() through load(), regions() and the
# board's make_endpoint() (netdump.board).
#
# Keys (every value is a str or an int, so the file stays plain JSON):
#   board        board name, one of netdump.board.BOARDS (boards/<name>.py)
#   iface        the board's interface to dump through (board.IFACES)
#   client       this board's address, IPv4 or IPv6
#   netmask      IPv4 dotted mask, or a prefix length "/24" (IPv6: "/64")
#   gateway      "" when the server is on the client's link (an off-link server
#                without one is refused: the board could never reach it)
#   server       netdumpd's address, same family as client
#   herald_port  netdumpd's port for the herald (netdump: 20023)
#   client_port  this board's UDP port (netdump: 20024)
#   path         relative dump path sent in the herald ("" = none)
#   hostname     name in the kerneldumpheader and file names (1..63 chars)
#   regions      list of "name:where:size"; where = an address, or a safe
#                range of the board with an optional +offset ("sram+0x1000");
#                size accepts K/M suffixes. [] = the board's default regions.
#   mode         "window" (sliding window) or "freebsd" (FreeBSD's bursts)
#   action       after a fault dump: "reset" or "halt"
#   console      seconds the panic console waits for input after a fault
#                dump before the action (0 = no console, -1 = wait forever)
#   deadline     seconds a whole dump may take before it is abandoned (0 =
#                scaled to the dump's size and mode, dumper.auto_deadline_ms)
#   wdt          milliseconds: arm_config() starts the hardware watchdog
#                (machine.WDT; the board's make_wdt) with this timeout and the
#                fault path feeds it; the application feeds it with
#                netdump.feed.feed(). 0 = none (an application's own WDT is
#                handed over with netdump.panic.set_wdt()); else at least
#                WDT_MIN_MS, the longest step of the fault path between two
#                feeds (see WDT_MIN_MS)
#   digest       true: each region's CRC-32 is computed while it is sent and
#                the server checks it (the default); false: none, and arming
#                gives the 4 KiB of CRC tables (made at import) back
#
# Errors: ConfigError (a ValueError) with one clear line, e.g.
#   "server: '10.0.1.300' is not an IPv4 or IPv6 address".
#
# This module allocates freely: it runs at boot and from dumpon, never at
# fault time.
from netdump import addr, board as _board
from netdump.board import BOARDS, ConfigError  # noqa: F401 - the configuration's names
from netdump.wire import CLIENT_PORT, HERALD_PORT

CONFIG_PATH = "netdump.json"

KEYS = ("board", "iface", "client", "netmask", "gateway", "server", "herald_port", "client_port",
        "path", "hostname", "regions", "mode", "action", "console", "deadline", "wdt",
        "digest")

MODES = ("window", "freebsd")
ACTIONS = ("reset", "halt")

DEFAULTS = {
    "netmask": "",
    "gateway": "",
    "herald_port": HERALD_PORT,
    "client_port": CLIENT_PORT,
    "path": "",
    "hostname": "micropython",
    "regions": [],
    "mode": "window",
    "action": "reset",
    "console": 10,
    "deadline": 0,
    "wdt": 0,
    "digest": True,
}
_DEADLINE_MAX = 500000  # seconds; in ms below the transport's 2**29 limit
_WDT_MAX_MS = 86400000  # a day: boards' own limits are lower (rp2: 8388) and are checked by machine.WDT
# The shortest hardware watchdog the fault path keeps fed. Its longest step between two
# feeds is network.WIZNET5K.active(True) when the W5500 driver gives the chip back after a
# dump that carries on: 411 ms of delays in one C call (micropython/micropython
# extmod/network_wiznet5k.c wiznet5k_active: RSTn low 1 ms, 160 ms, 250 ms); every other
# wait feeds at least every 100 ms (the console's and halt()'s). docs/ports.md#machinewdt.
WDT_MIN_MS = 1000

_HOSTNAME_MAX = 63  # kerneldumpheader hostname[64], NUL-terminated (sys/sys/kerneldump.h)
_PATH_MAX = 255
_REGION_NAME_MAX = 31


# ---- addresses ----------------------------------------------------------------

def prefix_len(netmask, fam):  # arm-time
    """The prefix length of a netmask text ("255.255.255.0" or "/24"), or raise ConfigError."""
    try:
        return addr.prefix_len(netmask, fam)
    except ValueError as e:
        raise ConfigError(str(e))


def _addr(conf, key, required=True):
    s = conf.get(key, "")
    if s in ("", None):
        if required:
            raise ConfigError("%s: missing (give an IPv4 or IPv6 address)" % key)
        return None, 0
    fam = addr.family(s)
    if not fam:
        raise ConfigError("%s: %r is not an IPv4 or IPv6 address" % (key, s))
    b = addr.parse_ipv4(s) if fam == 4 else addr.parse_ipv6(s)
    if fam == 4 and (b[0] == 0 or b[0] >= 224 or b == b"\xff\xff\xff\xff"):
        raise ConfigError("%s: %s is not a unicast address" % (key, s))
    if fam == 6 and (b[0] == 0xFF or b == bytes(16)):
        raise ConfigError("%s: %s is not a unicast address" % (key, s))
    return b, fam


# ---- numbers and regions ------------------------------------------------------

def parse_int(s, what):
    """An int from an int, decimal or 0x-hex text, with an optional K/M suffix."""
    if isinstance(s, int):
        return s
    if not isinstance(s, str) or not s:
        raise ConfigError("%s: %r is not a number" % (what, s))
    t = s.strip()
    mul = 1
    if t[-1:] in ("K", "k"):
        mul = 1024
        t = t[:-1]
    elif t[-1:] in ("M", "m"):
        mul = 1024 * 1024
        t = t[:-1]
    try:
        if t[:2] in ("0x", "0X"):
            v = int(t[2:], 16)
        elif addr.digits(t):
            v = int(t)
        else:
            raise ValueError
    except ValueError:
        raise ConfigError("%s: %r is not a number" % (what, s))
    return v * mul


def _port(conf, key):
    v = conf.get(key)
    if isinstance(v, str) and addr.digits(v):
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 65535:
        raise ConfigError("%s: %r is not a UDP port (1..65535)" % (key, v))
    return v


def split_region(spec):
    """"name:where:size" (or a [name, where, size] list) -> [name, where, size] as given."""
    if isinstance(spec, (list, tuple)):
        if len(spec) != 3:
            raise ConfigError("region: %r: expected name:where:size" % (spec,))
        return [spec[0], spec[1], spec[2]]
    if not isinstance(spec, str) or spec.count(":") != 2:
        raise ConfigError("region: %r: expected name:where:size (e.g. sram:0x20000000:256K)" % (spec,))
    return spec.split(":")


def resolve_region(spec, board, check_addresses=True):
    """A region spec -> (name, address, size), checked against the board's safe ranges."""
    name, where, size = split_region(spec)
    if not isinstance(name, str) or not name or len(name) > _REGION_NAME_MAX or "\0" in name:
        raise ConfigError("region: name %r must be 1..%d characters" % (name, _REGION_NAME_MAX))
    size = parse_int(size, "region " + name + " size")
    if size <= 0 or size >= (1 << 30) - 4096:
        raise ConfigError("region %s: size %d is not in 1..2**30-4097" % (name, size))
    ranges = board.safe_ranges()
    base = None
    if isinstance(where, str) and where and not addr.digits(where) and where[:2] not in ("0x", "0X"):
        rname = where
        off = 0
        if "+" in where:
            rname, off = where.split("+", 1)
            off = parse_int(off, "region " + name + " offset")
        for rn, ra, rs in ranges:
            if rn == rname:
                if off < 0 or off + size > rs:
                    raise ConfigError("region %s: %s+%d..+%d is outside safe range %s (%d bytes)"
                                      % (name, rname, off, off + size, rname, rs))
                return (name, ra + off, size)
        raise ConfigError("region %s: %r is not a safe range of board %s (have: %s)"
                          % (name, rname, board.NAME, ", ".join([r[0] for r in ranges])))
    base = parse_int(where, "region " + name + " address")
    if base < 0:
        raise ConfigError("region %s: negative address" % name)
    if check_addresses:
        for rn, ra, rs in ranges:
            if ra <= base and base + size <= ra + rs:
                return (name, base, size)
        raise ConfigError("region %s: 0x%x..0x%x is outside the safe ranges of board %s (%s)"
                          % (name, base, base + size, board.NAME, describe_ranges(ranges)))
    return (name, base, size)


def describe_ranges(ranges):
    """'sram 0x20000000+270336, ...' for messages."""
    return ", ".join(["%s 0x%x+%d" % (r[0], r[1], r[2]) for r in ranges])


# ---- boards -------------------------------------------------------------------

def load_board(name):
    """The board boards/<name>.py, read by netdump.board (ConfigError if unknown or not installed)."""
    return _board.load(name)


# ---- the whole configuration --------------------------------------------------

def validate(conf, board=None, check_addresses=True):
    """Check a configuration dict -> a normalised copy with every key; raises ConfigError."""
    if not isinstance(conf, dict):
        raise ConfigError("configuration is not a JSON object")
    for k in conf:
        if k not in KEYS:
            raise ConfigError("unknown key %r (known: %s)" % (k, ", ".join(KEYS)))
    c = dict(DEFAULTS)
    for k in conf:
        c[k] = conf[k]
    if board is None:
        board = load_board(c.get("board", ""))
    c["board"] = board.NAME
    iface = c.get("iface") or board.DEFAULT_IFACE
    if iface not in board.IFACES:
        raise ConfigError("iface: %r is not an interface of board %s (have: %s)"
                          % (iface, board.NAME, ", ".join(sorted(board.IFACES))))
    c["iface"] = iface
    server, fam = _addr(c, "server")
    client, cfam = _addr(c, "client")
    if cfam != fam:
        raise ConfigError("client %s and server %s are not the same address family" % (c["client"], c["server"]))
    if client == server and not _loopback(client):
        raise ConfigError("client and server are the same address %s" % c["server"])
    nm = c.get("netmask") or ("/64" if fam == 6 else "255.255.255.0")
    plen = prefix_len(nm, fam)
    c["netmask"] = nm
    gw, gfam = _addr(c, "gateway", required=False)
    if gw is not None:
        if gfam != fam:
            raise ConfigError("gateway %s is not the same address family as the server" % c["gateway"])
        if not addr.same_prefix(gw, client, plen):
            raise ConfigError("gateway %s is not on the client's network %s/%d" % (c["gateway"], c["client"], plen))
    else:
        c["gateway"] = ""
        if not addr.same_prefix(server, client, plen) and not (fam == 6 and addr.is_link_local6(server)):
            raise ConfigError("server %s is not on the client's network %s/%d and no gateway is given (-g)"
                              % (c["server"], c["client"], plen))
    c["herald_port"] = _port(c, "herald_port")
    c["client_port"] = _port(c, "client_port")
    p = c["path"]
    if not isinstance(p, str) or len(p) > _PATH_MAX or "\0" in p or p.startswith("/") or ".." in p.split("/"):
        raise ConfigError("path: %r must be a relative path of at most %d characters without '..'" % (p, _PATH_MAX))
    h = c["hostname"]
    if not isinstance(h, str) or not 1 <= len(h) <= _HOSTNAME_MAX or not _printable(h) or "/" in h:
        raise ConfigError("hostname: %r must be 1..%d printable characters without '/'" % (h, _HOSTNAME_MAX))
    regs = c["regions"]
    if not isinstance(regs, (list, tuple)):
        raise ConfigError("regions: expected a list of name:where:size")
    out = []
    names = []
    for spec in regs:
        r = resolve_region(spec, board, check_addresses)
        if r[0] in names:
            raise ConfigError("region %s: name used twice" % r[0])
        names.append(r[0])
        parts = split_region(spec)
        out.append("%s:%s:%s" % (parts[0], parts[1], parts[2]))
    c["regions"] = out
    if c["mode"] not in MODES:
        raise ConfigError("mode: %r is not one of %s" % (c["mode"], ", ".join(MODES)))
    if c["action"] not in ACTIONS:
        raise ConfigError("action: %r is not one of %s" % (c["action"], ", ".join(ACTIONS)))
    con = c["console"]
    if isinstance(con, str) and (addr.digits(con) or (con[:1] == "-" and addr.digits(con[1:]))):
        con = int(con)
    if not isinstance(con, int) or con < -1 or con > 86400:
        raise ConfigError("console: %r is not a number of seconds (0 = none, -1 = forever)" % (con,))
    c["console"] = con
    dl = c["deadline"]
    if isinstance(dl, str) and addr.digits(dl):
        dl = int(dl)
    if not isinstance(dl, int) or isinstance(dl, bool) or not 0 <= dl <= _DEADLINE_MAX:
        raise ConfigError("deadline: %r is not a number of seconds (0..%d, 0 = scaled to the dump)"
                          % (dl, _DEADLINE_MAX))
    c["deadline"] = dl
    w = c["wdt"]
    if isinstance(w, str) and addr.digits(w):
        w = int(w)
    if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= _WDT_MAX_MS:
        raise ConfigError("wdt: %r is not a watchdog timeout in milliseconds (0 = none)" % (w,))
    if 0 < w < WDT_MIN_MS:
        raise ConfigError("wdt: %d ms is shorter than the fault path's longest step between two feeds "
                          "(use 0 or at least %d)" % (w, WDT_MIN_MS))
    c["wdt"] = w
    dg = c["digest"]
    if dg in ("true", "false"):
        dg = dg == "true"
    if not isinstance(dg, bool):
        raise ConfigError("digest: %r is not true or false" % (dg,))
    c["digest"] = dg
    return c


def _loopback(b):
    # 127.0.0.0/8 (RFC 1122 section 3.2.1.3) or ::1 (RFC 4291 section 2.5.3): tests on one host
    if len(b) == 4:
        return b[0] == 127
    return b == b"\0" * 15 + b"\1"


def _printable(s):
    for ch in s.encode():  # bytes: iterating a str interns each character (addr.py)
        if ch < 32 or ch > 126:  # " ".."~"
            return False
    return True


def regions(conf, board):
    """The (name, address, size) list to dump: the configured regions, else the board's defaults."""
    if conf.get("regions"):
        return [resolve_region(s, board) for s in conf["regions"]]
    return list(board.default_regions())


def load(path=CONFIG_PATH):
    """Read and validate the configuration file -> dict; raises ConfigError."""
    import json

    try:
        f = open(path)
    except OSError:
        raise ConfigError("no configuration in %s (set one with dumpon)" % path)
    try:
        try:
            conf = json.load(f)
        except ValueError:
            raise ConfigError("%s is not valid JSON" % path)
    finally:
        f.close()
    return validate(conf)
