#!/usr/bin/env python3
"""Benchmark (not a test): the time to dump 4 MiB over the virtual network
(tools/vnet.py, user mode) with 1 ms of delay each way, at 0 %, 1 % and 5 %
frame loss, for our transport (debugnet MODE_WINDOW) and for FreeBSD's
algorithm (MODE_FREEBSD: bursts, then ~1 s of polling before resending what
is unacked), side by side with their ratios.

The board is the MicroPython unix port with netdump.drivers.vnic and
netdump.ether.EtherEndpoint (its own Ethernet/ARP/IPv4/UDP), heap locked for
the dump; the server is the project's netdumpd on 127.0.0.1. The region is
pseudo-random (no zero blocks are skipped). The loss applies to frames in both
directions, decided by a seeded generator (--seed), the same for both modes.
Times are the board's own ticks_ms around panic.dump(), best of --runs.

The last table gives each loss's time as a multiple of the lossless one, per
transport (issue 17: ours at 5 % within 1.5x of ours at 0 %).

Usage: python bench/bench_vnet.py [--mib 4] [--delay-ms 1] [--loss 0,1,5,10,20] [--runs 1] [--seed 1]
       [--modes window,freebsd] [--freebsd-max-loss 5]
No privileges needed. FreeBSD mode at 5 % loss takes a minute or two; above
--freebsd-max-loss it is not run (it would take many minutes)."""
import argparse
import os
import subprocess
import sys
import tempfile

from netdump_tools.netdumpd_harness import free_udp_port, stop_process, wait_for_text
from netdump_tools.vboard import micropython_exe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_TESTS = os.path.join(ROOT, "host_tests")


def wait_text(path, text, proc, timeout=10):
    if not wait_for_text(path, text, proc, timeout):
        raise SystemExit("bench_vnet: %s did not start: %s" % (path, open(path).read()))


def one_run(tmp, mode, loss, args, k):
    crash = os.path.join(tmp, "crash%d" % k)
    os.mkdir(crash)
    hport, cport, nport = free_udp_port(), free_udp_port(), free_udp_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "firmware"), ROOT]))
    ndlog = os.path.join(tmp, "nd%d.log" % k)
    nd = subprocess.Popen([sys.executable, "-m", "netdump_tools.netdumpd", "-D", "-n", "-a", "127.0.0.1", "-d",
                           crash, "-P", os.path.join(tmp, "nd%d.pid" % k), "--herald-port", str(hport),
                           "--client-port", str(cport)], stdout=open(ndlog, "w"), stderr=subprocess.STDOUT,
                          cwd=ROOT, env=env)
    vlog = os.path.join(tmp, "vnet%d.log" % k)
    vn = subprocess.Popen([sys.executable, "-m", "netdump_tools.vnet", "user", "--nic-port", str(nport),
                           "--delay-ms", str(args.delay_ms), "--loss", "%g%%" % loss, "--seed", str(args.seed)],
                          stdout=subprocess.DEVNULL, stderr=open(vlog, "w"), cwd=ROOT, env=env)
    try:
        wait_text(ndlog, "Waiting for clients", nd)
        wait_text(vlog, "vnet: ready", vn)
        menv = dict(os.environ, MICROPYPATH=os.pathsep.join([os.path.join(ROOT, "firmware"), HOST_TESTS]))
        r = subprocess.run([micropython_exe(), "-X", "heapsize=96M", "mp_ether/dump_ether.py", "nic_port=%d" % nport,
                            "mac=02:00:00:00:00:15", "client=10.0.2.15", "server=10.0.2.2", "netmask=24",
                            "hport=%d" % hport, "cport=%d" % cport, "mode=" + mode, "kib=%d" % (args.mib << 10)],
                           cwd=HOST_TESTS, env=menv, capture_output=True, text=True, timeout=1800)
        out = r.stdout + r.stderr
    finally:
        stop_process(vn)
        stop_process(nd)
    completed = "Completed dump from client" in open(ndlog).read()
    ms = [int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("DUMP_MS")]
    stats = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("STATS")]
    if not ms or not completed:
        raise SystemExit("bench_vnet: %s mode at %g%% loss failed:\n%s" % (mode, loss, out))
    ok = "RESULT 0" in out  # else only the FINISHED ack was lost (see host_tests/test_vnet.py)
    retx = int(stats[0][1]) if stats else -1
    return ms[0], retx, ok


LOSS5_TARGET = 1.5  # issue 17: ours at 5 % loss in at most 1.5x ours at 0 %


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=4, help="size of the dumped region (default 4 MiB)")
    p.add_argument("--delay-ms", type=float, default=1.0, help="delay each way (default 1 ms)")
    p.add_argument("--loss", default="0,1,5,10,20", help="loss percentages, comma-separated (default 0,1,5,10,20)")
    p.add_argument("--modes", default="window,freebsd", help="transports (default window,freebsd)")
    p.add_argument("--freebsd-max-loss", type=float, default=5.0,
                   help="FreeBSD mode only up to this loss (default 5: each lost packet costs it ~1 s)")
    p.add_argument("--runs", type=int, default=1, help="runs per cell, the best is shown (default 1)")
    p.add_argument("--seed", type=int, default=1, help="fault generator seed (default 1)")
    args = p.parse_args()
    losses = [float(x) for x in args.loss.split(",")]
    tmp = tempfile.mkdtemp(prefix="bench_vnet.")
    k = 0
    rows = []
    print("dump of %d MiB (+ ELF header, KDH) over vnet user mode, delay %g ms each way, seed %d"
          % (args.mib, args.delay_ms, args.seed))
    for loss in losses:
        cell = {}
        for mode in args.modes.split(","):
            if mode == "freebsd" and loss > args.freebsd_max_loss:
                continue
            best = None
            for _ in range(args.runs):
                k += 1
                ms, retx, ok = one_run(tmp, mode, loss, args, k)
                if best is None or ms < best[0]:
                    best = (ms, retx, ok)
            cell[mode] = best
            print("  loss %g%% %-7s %8.2f s  %6.2f MB/s  retransmits %d%s" % (
                loss, mode, best[0] / 1000.0, (args.mib << 20) / 1e6 / max(best[0], 1) * 1000, best[1],
                "" if best[2] else "  (FINISHED ack lost; dump complete)"), flush=True)
        rows.append((loss, cell))
    print()
    print("| loss | window (ours) | x lossless | FreeBSD algorithm | x lossless | FreeBSD / ours |")
    print("|---|---|---|---|---|---|")
    base = {}
    for loss, cell in rows:
        for mode in cell:
            base.setdefault(mode, cell[mode][0])
    for loss, cell in rows:
        out = []
        for mode in ("window", "freebsd"):
            if mode in cell:
                t = cell[mode][0]
                out.append("%.2f s | %.2fx" % (t / 1000.0, t / max(base[mode], 1)))
            else:
                out.append("- | -")
        both = "window" in cell and "freebsd" in cell
        print("| %g %% | %s | %s | %s |" % (loss, out[0], out[1], "%.1fx" % (cell["freebsd"][0] / max(
            cell["window"][0], 1)) if both else "-"))
    # issue 17's targets, for our transport: within 1.5x of the lossless time at 5 %,
    # and a dump that completes at 20 % (a failed dump stops this script with its output)
    print()
    for loss, cell in rows:
        if "window" not in cell:
            continue
        t = cell["window"][0]
        if loss == 5:
            x = t / max(base["window"], 1)
            print("target: ours at 5 %% loss <= %.1fx ours at 0 %%: %.2fx, %s" % (LOSS5_TARGET, x,
                                                                               "met" if x <= LOSS5_TARGET
                                                                               else "NOT met"))
        elif loss == 20:
            print("target: a 20 %% loss dump completes: %.2f s, met" % (t / 1000.0))


if __name__ == "__main__":
    main()
