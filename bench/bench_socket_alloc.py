#!/usr/bin/env python3
"""Benchmark (not a test): what the socket endpoint allocates on the
MicroPython unix port, and the smallest heap reserve with which its one
recvfrom() per herald still works when the heap is full.

1. "ops": an in-process netdumpd stand-in on loopback answers a herald from
   a new port; the script measures the bare recvfrom(5) of that 4-byte ack
   (bytes requested, micropython.mem_total(); bytes held, gc.mem_alloc()),
   what arming costs, and runs every other endpoint operation with the heap
   locked (a MemoryError would show in the LOCKED lines).
2. host_tests/mp/heapfull_dump.py: for each reserve size (in GC blocks) a fresh process arms the
   endpoint with that reserve, fills the heap to its last block
   (host_tests/mp/heapfill.py), locks it and dumps 3000 bytes to a scripted
   peer that acks the herald from a new port. The smallest reserve that
   dumps is the measured need; the default reserve (endpoint.py
   _RESERVE_BLOCKS) must equal it.

Usage: python bench/bench_socket_alloc.py [--heapsize 256K] [--max-blocks 8]
No root needed."""
import argparse
import os
import subprocess
import sys

from netdump_tools.netdumpd_harness import free_udp_port
from netdump_tools.vboard import micropython_exe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
from peer import Peer  # noqa: E402  (host_tests/peer.py)


def run_mp(script, args, heapsize):
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([os.path.join(ROOT, "firmware"),
                                                        os.path.join(ROOT, "host_tests")]))
    p = subprocess.run([micropython_exe(), "-X", "heapsize=" + heapsize, os.path.join(ROOT, script)]
                       + [str(a) for a in args], env=env, capture_output=True, text=True, timeout=120)
    out = {}
    for ln in p.stdout.splitlines():
        k, _, v = ln.partition(" ")
        out.setdefault(k, []).append(v)
    if p.returncode != 0 and "RESULT" not in out:
        sys.exit("micropython failed:\n" + p.stdout + p.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heapsize", default="256K", help="micropython -X heapsize (default 256K)")
    ap.add_argument("--max-blocks", type=int, default=8, help="largest reserve tried, in GC blocks (default 8)")
    a = ap.parse_args()

    o = run_mp("bench/mp_socket_alloc.py", ["127.0.0.1", free_udp_port(), free_udp_port()], a.heapsize)
    bs = int(o["BLOCK"][0])
    print("MicroPython unix port, %d-byte GC blocks, -X heapsize=%s" % (bs, a.heapsize))
    print("arm (sockets, polls, addresses, reserve)   %6s bytes held" % o["ARM_BYTES"][0])
    print("default reserve                            %6s bytes" % o["RESERVE"][0])
    print("recvfrom(5) of a 4-byte ack: requested     %6s bytes" % o["RECVFROM_REQUESTED"][0])
    print("recvfrom(5) of a 4-byte ack: held          %6s bytes (%d blocks)"
          % (o["RECVFROM_HELD"][0], int(o["RECVFROM_HELD"][0]) // bs))
    for ln in o["LOCKED"]:
        name, res = ln.split()
        print("heap locked: %-18s -> %s" % (name, res))

    print()
    print("reserve   free after fill   dump with the heap full")
    need = None
    for k in range(a.max_blocks + 1):
        with Peer("127.0.0.1") as p:
            r = run_mp("host_tests/mp/heapfull_dump.py", ["127.0.0.1", p.herald_port, free_udp_port(), k * bs],
                       a.heapsize)
            err = int(r["RESULT"][0].split()[0])
            ok = err == 0 and p.wait_finished(5)
        print("%2d blocks %15s   %s" % (k, r["FREE_AFTER_FILL"][0], "ok" if ok else "fails (error %d)" % err))
        if ok and need is None:
            need = k
    print()
    print("smallest reserve that dumps: %s blocks; default: %d blocks"
          % (need, int(o["RESERVE"][0]) // bs))


if __name__ == "__main__":
    main()
