"""dumpon: set, list and clear a board's netdump configuration over mpremote,
with FreeBSD dumpon(8)-like arguments.

    dumpon -p /dev/ttyACM0 -c 10.0.1.157 -s 10.0.1.236 -g 10.0.1.1 w5500
    dumpon -p /dev/ttyACM0 -c auto -s 10.0.1.236 lan     # client address from the active interface
    dumpon -p /dev/ttyACM0 -l          # the configured interface (-lv: every key)
    dumpon -p /dev/ttyACM0 off         # clear

The configuration is the JSON file netdump.json in the board's filesystem root
(netdump/config.py lists the keys). It is checked here, then written by the
board itself (netdump.dumpon.configure), which knows its real memory map.
Each action is one plain mpremote command line; -v prints it, -n prints it
without running it. To arm at boot, put this line in the board's boot.py:

    import netdump.panic; netdump.panic.arm_config()

Exit status: 0 done, 1 the board or the configuration said no, 2 usage.
"""
import argparse
import json
import logging
import os
import shlex
import subprocess
import sys

from netdump.wire import CLIENT_PORT

log = logging.getLogger("dumpon")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS_DIR = os.path.join(ROOT, "boards")


def mpremote_exe():
    """mpremote next to this Python (the venv), else on PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "mpremote")
    if os.path.exists(cand):
        return cand
    return "mpremote"


def mpremote_cmd(device, code, mpremote=None):
    """The mpremote command line that runs `code` on the board without resetting it."""
    return [mpremote or mpremote_exe(), "connect", device, "resume", "exec", code]


def run_on_board(device, code, mpremote=None, dry_run=False, timeout=120):
    """Run code on the board over mpremote -> (exit status, output text)."""
    cmd = mpremote_cmd(device, code, mpremote)
    log.info("%s", shlex.join(cmd))
    if dry_run:
        print(shlex.join(cmd))
        return 0, ""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return 1, "mpremote not found (pip install mpremote)"
    except subprocess.TimeoutExpired:
        return 1, "mpremote timed out after %d s" % timeout
    out = r.stdout + r.stderr
    return r.returncode, out


def host_check(conf):
    """Check conf on the host when the board and client are known -> None, or the error line."""
    if not conf.get("board") or conf.get("client") == "auto":
        return None  # the board fills these in, then checks
    if BOARDS_DIR not in sys.path:
        sys.path.insert(0, BOARDS_DIR)
    from netdump import config

    try:
        board = config.load_board(conf["board"])
        # boards whose RAM moves (the virtual board) check absolute addresses themselves
        config.validate(conf, board, check_addresses=not getattr(board, "DYNAMIC_RANGES", False))
    except config.ConfigError as e:
        return str(e)
    return None


def build_conf(a):
    """The configuration dict from parsed arguments (only what was given)."""
    conf = {"iface": a.iface, "server": a.server, "client": a.client}
    for key, val in (("board", a.board), ("gateway", a.gateway), ("netmask", a.netmask),
                     ("herald_port", a.herald_port), ("client_port", a.client_port), ("path", a.path),
                     ("hostname", a.hostname), ("mode", a.mode), ("action", a.action), ("console", a.console),
                     ("deadline", a.deadline), ("wdt", a.wdt), ("digest", a.digest)):
        if val is not None:
            conf[key] = val
    if a.region:
        conf["regions"] = list(a.region)
    return conf


def _literal(v):
    """A configuration (or one of its values) as a Python literal for the board: JSON's, which
    reads better than repr, except for booleans (JSON's true/false are not Python's)."""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, list):
        return "[%s]" % ", ".join(_literal(x) for x in v)
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s: %s" % (_literal(k), _literal(x)) for k, x in v.items())
    return json.dumps(v, ensure_ascii=False)  # not \ud83d-style surrogate pairs, which Python reads as two


def _result(status, out, ok_prefix):
    # print the board's lines (to stderr on failure); 0 when the expected line is there
    lines = [ln for ln in out.splitlines() if ln.strip()]
    failed = (status != 0
              or any(ln.startswith("dumpon: error:") or ln.startswith("Traceback") for ln in lines)
              or (ok_prefix and not any(ln.startswith(ok_prefix) for ln in lines)))
    for ln in lines:
        print(ln, file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="dumpon",
        description="Configure netdump on a MicroPython board over mpremote, like FreeBSD's dumpon(8): "
                    "where the board sends its RAM after a fault (netdumpd's address), from which "
                    "address and interface.",
        epilog="examples:  dumpon -p /dev/ttyACM0 -c 10.0.1.157 -s 10.0.1.236 -g 10.0.1.1 w5500 | "
               "dumpon -p /dev/ttyACM0 -l | dumpon -p /dev/ttyACM0 off.  "
               "Arm at boot with this boot.py line: import netdump.panic; netdump.panic.arm_config()")
    p.add_argument("-p", "--device", default=os.environ.get("NETDUMP_DEVICE", "auto"),
                   help="the board's serial device, as for mpremote connect (default: $NETDUMP_DEVICE or auto)")
    p.add_argument("-l", "--list", action="store_true", help="list the configuration (with -v: every key)")
    p.add_argument("-v", "--verbose", action="store_true", help="more output; print the mpremote command lines")
    p.add_argument("-n", "--dry-run", action="store_true", help="print the mpremote command line, do not run it")
    p.add_argument("--clear", action="store_true", help="clear the configuration (same as iface 'off')")
    p.add_argument("-s", "--server", help="netdumpd's IPv4 or IPv6 address")
    p.add_argument("-c", "--client", help="this board's address, or 'auto' to take it from the active interface")
    p.add_argument("--client-from-iface", action="store_true", help="same as -c auto")
    p.add_argument("-g", "--gateway", help="the first hop when the server is not on the client's link")
    p.add_argument("-m", "--netmask", help="the client's netmask (255.255.255.0 or /24; IPv6: /64)")
    p.add_argument("--herald-port", type=int, help="netdumpd's herald port (default 20023)")
    p.add_argument("--client-port", type=int,
                   help="the board's UDP port (default 20024; FreeBSD's netdumpd always acks to 20024, so "
                        "another port works only with our netdumpd --client-port)")
    p.add_argument("-P", "--path", help="relative path for the dump on the server (sent in the herald)")
    p.add_argument("-H", "--hostname", help="the board's name in the dump header (default micropython)")
    p.add_argument("-b", "--board", help="board module (boards/<name>.py); default: the configured or detected one")
    p.add_argument("--region", action="append", metavar="NAME:WHERE:SIZE",
                   help="a region to dump, e.g. sram:0x20000000:264K or ram+0x1000:4K; repeat; "
                        "default: the board's RAM")
    p.add_argument("--mode", choices=("window", "freebsd"), help="transport: sliding window or FreeBSD bursts")
    p.add_argument("--action", choices=("reset", "halt"), help="after a fault dump (default reset)")
    p.add_argument("--console", type=int, metavar="SECONDS",
                   help="panic console wait after a fault dump (0 none, -1 forever; default 10)")
    p.add_argument("--deadline", type=int, metavar="SECONDS",
                   help="abandon a dump that takes longer than this (default 0: scaled to the dump's size and "
                        "mode, at least 300 s, plus 10 s/MiB in window mode or 30 s/MiB in FreeBSD mode)")
    p.add_argument("--wdt", type=int, metavar="MS",
                   help="start the hardware watchdog (machine.WDT) at arm with this timeout; the fault path "
                        "feeds it, the application feeds it with netdump.feed.feed() (0 none, the default; "
                        "else at least 1000; rp2: at most 8388)")
    p.add_argument("--digest", action=argparse.BooleanOptionalAction,
                   help="compute each region's CRC-32 on the board while sending, for the server to check "
                        "(default on; --no-digest saves the CRC's CPU time and 4 KiB of the board's heap)")
    p.add_argument("--mpremote", help="the mpremote program (default: next to this Python, or on PATH)")
    p.add_argument("iface", nargs="?", help="the board interface to dump through (w5500, lan, wlan, udp, vnic), or 'off'")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if (a.verbose and not a.dry_run) else logging.WARNING,
                        format="dumpon: %(message)s", stream=sys.stderr)

    if a.list:
        if a.iface or a.server or a.client:
            p.error("-l takes no interface or addresses")
        code = "import netdump.dumpon as d; d.show(verbose=%s)" % bool(a.verbose)
        st, out = run_on_board(a.device, code, a.mpremote, a.dry_run)
        return 0 if a.dry_run else _result(st, out, "")
    if a.clear or a.iface == "off":
        st, out = run_on_board(a.device, "import netdump.dumpon as d; d.off()", a.mpremote, a.dry_run)
        return 0 if a.dry_run else _result(st, out, "dumpon: ")
    if not a.iface:
        p.error("give an interface (or -l, or off)")
    if a.client_from_iface:
        a.client = "auto"
    if not a.server:
        p.error("-s server is required")
    if not a.client:
        p.error("-c client is required (or -c auto)")
    conf = build_conf(a)
    if a.client_port is not None and a.client_port != CLIENT_PORT:
        # netdumpd.c (cap_herald.c) connects each dump's socket to <client>:20024 whatever the herald's source
        print("dumpon: warning: client port %d: FreeBSD's netdumpd sends every ack to port %d, so this board "
              "can dump only to our netdumpd started with --client-port %d" % (a.client_port, CLIENT_PORT,
                                                                              a.client_port), file=sys.stderr)
    err = host_check(conf)
    if err:
        print("dumpon: error: %s" % err, file=sys.stderr)
        return 1
    code = "import netdump.dumpon as d; d.configure(%s)" % _literal(conf)
    st, out = run_on_board(a.device, code, a.mpremote, a.dry_run)
    return 0 if a.dry_run else _result(st, out, "dumpon: saved")


if __name__ == "__main__":
    sys.exit(main())
