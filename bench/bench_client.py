#!/usr/bin/env python3
"""Benchmark (not a test): what one data packet of a dump costs the client, in
x86-64 instructions of the MicroPython unix port under callgrind, with the
server inside the same process (bench/mp_client_cost.py), so the count does not
depend on timing: no packet is lost, every ack is there at the next look.

Two endpoints: "ether" is EtherEndpoint (netdump's own Ethernet/ARP/IPv4/UDP)
over LoopNic, a frame NIC that answers ARP and acks every datagram with a
prebuilt frame; "socket" is an endpoint shaped like SocketEndpoint (the
datagram built in its buffer, handed over in one call). Each dump runs with a
KIB-sized and a 3*KIB-sized region and the difference in instructions (less
the same difference of arm time alone) is divided by the difference in data
packets, so the herald, ARP, the ELF header, the KDH and FINISHED cancel out.
For "ether" the NIC's own share (LoopNic sending a frame and being polled twice
per packet, measured the same way) is shown apart and taken out: "client" is
netdump's own work per packet.

Usage: python bench/bench_client.py [--kib 512] [--endpoint ether,socket]
       [--mode window,freebsd] [--fill random] [--no-digest]
Needs valgrind. No root needed."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from netdump_tools.vboard import micropython_exe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, tmp, tag):
    """One run of mp_client_cost.py under callgrind -> (instructions, KEY values)."""
    out = os.path.join(tmp, "cg." + tag)
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([os.path.join(ROOT, "firmware"),
                                                        os.path.join(ROOT, "host_tests")]))
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, micropython_exe(),
                        "-X", "heapsize=64M", os.path.join(ROOT, "bench", "mp_client_cost.py")] + [str(a) for a in args],
                       env=env, capture_output=True, text=True, timeout=1800)
    vals = {}
    for ln in r.stdout.splitlines():
        parts = ln.split(None, 1)
        if len(parts) == 2 and parts[0].isupper():
            vals[parts[0]] = parts[1]
    if vals.get("ERR") != "0":
        raise SystemExit("bench_client: run %s failed:\n%s%s" % (tag, r.stdout, r.stderr))
    with open(out) as f:
        for ln in f:
            if ln.startswith("summary:") or ln.startswith("totals:"):
                return int(ln.split()[1]), vals
    raise SystemExit("bench_client: no callgrind summary in " + out)


def per_packet(endpoint, mode, fill, digest, kib, tmp):
    """-> (instructions per data packet of the dump, of the NIC alone or None)."""
    small, big = kib, 3 * kib
    s1, _ = run((endpoint, mode, small, fill, digest, "setup"), tmp, "s1")
    s3, _ = run((endpoint, mode, big, fill, digest, "setup"), tmp, "s3")
    d1, v1 = run((endpoint, mode, small, fill, digest, "dump"), tmp, "d1")
    d3, v3 = run((endpoint, mode, big, fill, digest, "dump"), tmp, "d3")
    pk = int(v3["PKTS"]) - int(v1["PKTS"])
    dump = (d3 - d1 - (s3 - s1)) / pk
    nic = None
    if endpoint == "ether":
        n1, w1 = run((endpoint, mode, small, fill, digest, "nic"), tmp, "n1")
        n3, w3 = run((endpoint, mode, big, fill, digest, "nic"), tmp, "n3")
        nic = (n3 - n1 - (s3 - s1)) / (int(w3["PKTS"]) - int(w1["PKTS"]))
    return dump, nic


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kib", type=int, default=512, help="the smaller region, KiB (default 512; the other is 3x)")
    ap.add_argument("--endpoint", default="ether,socket", help="ether, socket or both (default)")
    ap.add_argument("--mode", default="window,freebsd", help="window, freebsd or both (default)")
    ap.add_argument("--fill", default="random", choices=("random", "zero75"), help="region contents")
    ap.add_argument("--no-digest", action="store_true", help="arm without the per-region CRC-32")
    args = ap.parse_args(argv)
    if not shutil.which("valgrind"):
        print("bench_client: needs valgrind", file=sys.stderr)
        return 1
    digest = "0" if args.no_digest else "1"
    tmp = tempfile.mkdtemp(prefix="bench_client.")
    rows = []
    try:
        for endpoint in args.endpoint.split(","):
            for mode in args.mode.split(","):
                rows.append((endpoint, mode) + per_packet(endpoint, mode, args.fill, digest, args.kib, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("x86-64 instructions per data packet, MicroPython unix port, in-process server, %s region, "
          "digest %s (callgrind, %d KiB run minus %d KiB run)" % (args.fill, "on" if digest == "1" else "off",
                                                                 3 * args.kib, args.kib))
    print("%-8s %-8s %10s %10s %10s" % ("endpoint", "mode", "dump", "NIC alone", "client"))
    for endpoint, mode, dump, nic in rows:
        if nic is None:
            print("%-8s %-8s %10.0f %10s %10.0f" % (endpoint, mode, dump, "-", dump))
        else:
            print("%-8s %-8s %10.0f %10.0f %10.0f" % (endpoint, mode, dump, nic, dump - nic))
    return 0


if __name__ == "__main__":
    sys.exit(main())
