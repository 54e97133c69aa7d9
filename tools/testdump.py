"""netdump-testdump: make a board dump now, from the host; the equivalent of
FreeBSD's `sysctl debug.kdb.panic=1`, without the reboot. It runs one plain
mpremote line on the board, printed by -v:

    mpremote connect /dev/ttyACM0 resume exec "import netdump.panic as p; p.test_dump()"

The board must be armed (boot.py: import netdump.panic; netdump.panic.arm_config());
--arm arms it from its dumpon configuration first if it is not. When it is not
armed, the board says why (the line arm_config() printed at boot) and this tool
says how to arm it. Exit status: 0 the dump finished, 1 it failed or the board
is not armed, 2 usage.
"""
import argparse
import logging
import os
import sys

from netdump_tools.dumpon import run_on_board

TEST_LINE = "import netdump.panic as p; p.test_dump()"
ARM_LINE = "import netdump.panic as p; p.fault.armed[0] or p.arm_config(); p.test_dump()"
NOT_ARMED = "netdump: not armed"
HOW_TO_ARM = ("arm it at boot with this boot.py line: import netdump.panic; netdump.panic.arm_config()  "
              "(configure it first with dumpon), or run netdump-testdump --arm to arm it now")


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="netdump-testdump",
        description="Trigger a test dump on an armed board over mpremote (like sysctl debug.kdb.panic=1, "
                    "but the board carries on afterwards).")
    ap.add_argument("-p", "--device", default=os.environ.get("NETDUMP_DEVICE", "auto"),
                    help="the board's serial device, as for mpremote connect (default: $NETDUMP_DEVICE or auto)")
    ap.add_argument("--arm", action="store_true", help="arm from the board's dumpon configuration first if needed")
    ap.add_argument("-m", "--message", help="panic message recorded in the dump (default: netdump test dump)")
    ap.add_argument("-t", "--timeout", type=int, default=600, help="seconds to wait for the dump (default 600)")
    ap.add_argument("-n", "--dry-run", action="store_true", help="print the mpremote command line only")
    ap.add_argument("--mpremote", help="the mpremote program")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the mpremote command line too")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if (a.verbose and not a.dry_run) else logging.WARNING,
                        format="testdump: %(message)s", stream=sys.stderr)
    code = ARM_LINE if a.arm else TEST_LINE
    if a.message is not None:
        code = code.replace("p.test_dump()", "p.test_dump(%r)" % a.message)
    st, out = run_on_board(a.device, code, a.mpremote, a.dry_run, timeout=a.timeout)
    if a.dry_run:
        return 0
    # "netdump finished." or "netdump finished (the server did not confirm the end)": on the server
    if st == 0 and "netdump finished" in out:
        sys.stdout.write(out)
        return 0
    sys.stderr.write(out)  # mpremote's or the board's reason
    why = [ln.strip() for ln in out.splitlines() if ln.strip().startswith(NOT_ARMED)]
    if why:
        sys.stderr.write("netdump-testdump: the board is not armed (%s)\n" % why[-1][len(NOT_ARMED):].strip(": "))
        sys.stderr.write("netdump-testdump: %s\n" % HOW_TO_ARM)
    return 1


if __name__ == "__main__":
    sys.exit(main())
