# The device side of tools/dumpon.py (FreeBSD dumpon(8)): write, show and
# remove the configuration file that netdump.config reads at boot. The host
# runs these over mpremote, e.g.
#     import netdump.dumpon as d; d.configure({...})
# and each prints one result line. A board configured from the host need not
# import this module at boot (netdump.panic.arm_config uses netdump.config).
#
#   configure(conf, path) -> dict or None   `dumpon ... iface`: fill in the
#                             board and "auto" fields, validate, save
#   show(path, verbose) -> dict or None     `dumpon -l` / `dumpon -lv`
#   off(path)                               `dumpon off`
#
# This module allocates freely: it never runs at fault time.
from netdump import config


def save(conf, path=config.CONFIG_PATH):
    """Validate conf, then write it -> the normalised dict; raises config.ConfigError."""
    import json

    c = config.validate(conf)
    tmp = path + ".tmp"
    f = open(tmp, "w")
    try:
        f.write(_dumps(c, json))
    finally:
        f.close()
    import os

    try:
        os.remove(path)
    except OSError:
        pass
    os.rename(tmp, path)
    return c


def _dumps(c, json):
    # one key per line, in config.KEYS order (dicts need not keep order on MicroPython)
    return "{\n" + ",\n".join(['  "%s": %s' % (k, json.dumps(c[k])) for k in config.KEYS]) + "\n}\n"


def remove(path=config.CONFIG_PATH):
    """Remove the configuration file -> True if there was one."""
    import os

    try:
        os.remove(path)
        return True
    except OSError:
        return False


def lines(conf):
    """The configuration as 'key: value' lines, in config.KEYS order (dumpon -lv)."""
    out = []
    for k in config.KEYS:
        v = conf.get(k, "")
        if k == "regions":
            v = " ".join(v) if v else "(board default)"
        out.append("%-12s %s" % (k + ":", v))
    return out


def client_from_iface(board, iface):
    """The active address of the board's interface -> (address, netmask, gateway); ConfigError if down."""
    r = board.iface_address(iface)
    if not r or not r[0] or r[0] in ("0.0.0.0", "::"):
        raise config.ConfigError("client: interface %s of board %s has no active address" % (iface, board.NAME))
    return r


def guess_board(platform=None, machine=None):
    """The board module this firmware runs on when its name says so, else "" (then give -b).

    sys.implementation._machine is "<board> with <chip>" (py/mpconfig.h MICROPY_BANNER_MACHINE;
    ports/rp2/mpconfigport.h MICROPY_HW_MCU_NAME "RP2040", "RP2350", "RP2350-RISCV"). An RP2350
    (Pico 2, W5500-EVB-Pico2) has no board module yet; a plain Pico may or may not carry a W5500
    module; ESP32 boards look alike unless named."""
    import sys

    p = sys.platform if platform is None else platform
    m = getattr(sys.implementation, "_machine", "") if machine is None else machine
    if p in ("linux", "darwin"):
        return "unix_virtual"
    u = m.upper()
    if p == "rp2":
        if not u.endswith("WITH RP2040"):
            return ""  # RP2350: other memory map, no board module
        if "W5500-EVB-PICO" in u:
            return "w5500_evb_pico"
        return "pico_w" if "Pico W " in m else ""  # a plain Pico: a W5500 module or not, cannot tell
    if p == "qemu" and "mps2-an385" in m:
        return "qemu_mps2_an385"
    if p == "esp32":
        if "WT32" in u:
            return "wt32_eth01"
        if "POE" in u:
            return "olimex_esp32_poe"
    return ""


def configure(conf, path=config.CONFIG_PATH):
    """Device side of `dumpon ... iface`: fill board and "auto" fields, validate, save, print one line."""
    try:
        conf = dict(conf)
        if not conf.get("board"):
            try:
                conf["board"] = config.load(path)["board"]  # keep the board already configured
            except config.ConfigError:
                conf["board"] = guess_board()
            if not conf["board"]:
                import sys

                raise config.ConfigError("board: cannot tell which board this is (%s); give -b (%s)"
                                         % (getattr(sys.implementation, "_machine", sys.platform),
                                            ", ".join(config.BOARDS)))
        if conf.get("client") == "auto":
            board = config.load_board(conf.get("board", ""))
            ip, nm, gw = client_from_iface(board, conf.get("iface") or board.DEFAULT_IFACE)
            conf["client"] = ip
            if not conf.get("netmask"):
                conf["netmask"] = nm
            if not conf.get("gateway") and gw and gw != ip:
                conf["gateway"] = gw
        c = save(conf, path)
    except config.ConfigError as e:
        print("dumpon: error:", e)
        return None
    print("dumpon: saved", path + ":", c["iface"], "client", c["client"], "server", c["server"])
    return c


def show(path=config.CONFIG_PATH, verbose=False):
    """Device side of `dumpon -l`: the interface (dumpon -l), or every key (-lv)."""
    try:
        c = config.load(path)
    except config.ConfigError as e:
        print("dumpon: none (" + str(e) + ")")
        return None
    if verbose:
        for ln in lines(c):
            print(ln)
    else:
        print(c["iface"], c["client"], "->", c["server"] + ":" + str(c["herald_port"]))
    return c


def off(path=config.CONFIG_PATH):
    """Device side of `dumpon off`."""
    print("dumpon: cleared" if remove(path) else "dumpon: nothing to clear")
