"""Benchmark netdumpd: N synthetic FreeBSD-style clients dump at once over
loopback; prints server throughput (MB/s, packets/s) and server CPU time per
packet. Not a test: figures depend on the machine.

    .venv/bin/python bench/bench_netdumpd.py --clients 32 --size 8M
"""
import argparse
import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import fakekernel as fk  # noqa: E402
from netdump_tools.netdumpd import parse_size  # noqa: E402
from netdump_tools.netdumpd_harness import NetdumpdProc  # noqa: E402


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16, help="clients dumping at once (default 16, max 250)")
    p.add_argument("--size", type=parse_size, default=4 << 20, help="bytes per client (default 4M)")
    p.add_argument("--mtu", type=int, default=1500, help="client MTU (default 1500: 1448-byte chunks)")
    p.add_argument("--verify", action="store_true", help="check every vmcore byte for byte")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 250:
        p.error("--clients must be 1..250")
    size = (args.size + fk.BLOCK - 1) // fk.BLOCK * fk.BLOCK
    payload = [bytes([i & 0xFF]) * size for i in range(args.clients)] if args.verify else None
    blob = os.urandom(size) if not args.verify else None

    with tempfile.TemporaryDirectory(prefix="bench_netdumpd_") as tmp:
        dumpdir = os.path.join(tmp, "crash")
        os.mkdir(dumpdir)
        srv = NetdumpdProc(tmp, dumpdir, args=["-n", "--max-clients", str(args.clients)], nclients=args.clients + 1)
        srv.start()
        kernels = [fk.FakeKernel("127.0.0.1", srv.herald_port, "127.0.0.%d" % (i + 2), srv.client_port,
                                 mtu=args.mtu, round_timeout=1.0) for i in range(args.clients)]
        errors = []
        go = threading.Event()

        def run(i, k):
            go.wait()
            try:
                k.dump(payload[i] if payload else blob, fk.build_kdh(size))
            except Exception as e:
                errors.append("client %d: %r" % (i, e))

        threads = [threading.Thread(target=run, args=(i, k)) for i, k in enumerate(kernels)]
        for t in threads:
            t.start()
        cpu0 = cpu_seconds(srv.proc.pid)
        t0 = time.perf_counter()
        go.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(srv.proc.pid) - cpu0
        srv.stop()
        for k in kernels:
            k.close()
        if errors:
            print("FAILED:", *errors, sep="\n  ")
            return 1
        if args.verify:
            for i in range(args.clients):
                with open(os.path.join(dumpdir, "vmcore.127.0.0.%d.0" % (i + 2)), "rb") as f:
                    if f.read() != payload[i]:
                        print("FAILED: vmcore of client %d differs" % i)
                        return 1

    packets = sum(k.sent for k in kernels)
    total = size * args.clients
    print("netdumpd benchmark: %d clients x %.1f MiB, MTU %d (%d-byte chunks)%s"
          % (args.clients, size / 1048576, args.mtu, kernels[0].chunk, ", verified" if args.verify else ""))
    print("  wall time         %8.3f s" % wall)
    print("  throughput        %8.2f MB/s  (%.2f MiB/s)" % (total / wall / 1e6, total / wall / 1048576))
    print("  packets           %8d  (%.0f packets/s, %d retransmit rounds)"
          % (packets, packets / wall, sum(k.retransmits for k in kernels)))
    print("  server CPU        %8.3f s  (%.1f us per packet, %.0f%% of one core)"
          % (cpu, cpu / packets * 1e6, 100 * cpu / wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
