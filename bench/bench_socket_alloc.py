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

3. --rp2: the same sweep on the stock W5500_EVB_PICO firmware (MicroPython
   v1.28.0) on the RP2040 bed (tools/rp2board.py, rp2040js + the W5500
   emulator): the endpoint on lwIP over network.WIZNET5K, 16-byte GC blocks;
   each run fills the firmware's heap (host_tests/mp/heapfill.py) and dumps
   3000 bytes through vnet to the scripted peer.

Usage: python bench/bench_socket_alloc.py [--heapsize 256K] [--max-blocks 8] [--rp2]
No root needed (--rp2: node, socat and RP2_FIRMWARE_DIR as for the RP2040 bed)."""
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


# the server's address (the gateway) is made at run time here and in the runs below, as a
# configuration file gives it: a string literal would intern its text for good (py/qstr.c), and
# recvfrom() returns an interned text without allocating a str object (py/objstr.c mp_obj_new_str)
RP2_UP = ("import network\nn = network.WIZNET5K()\nn.active(True)\ng = '10.0.2.' + '2'\n"
          "n.ifconfig(('10.0.2.15', '255.255.255.0', g, g))\nprint('UP', n.isconnected())\n")


def rp2_sweep(max_blocks):
    """The reserve sweep on the W5500_EVB_PICO firmware (lwIP) -> [(blocks, free after fill, error)]."""
    import tempfile

    from netdump_tools import rp2board
    from netdump_tools.netdumpd_harness import stop_process
    from netdump_tools.rp2board import mpremote_exe

    why = rp2board.missing()
    if why:
        sys.exit("bench_socket_alloc: RP2040 bed: " + why)
    with open(os.path.join(ROOT, "host_tests", "mp", "heapfull_dump.py")) as f:
        script = f.read()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sock-rp2-") as work:
        eth, vnet = rp2board.start_vnet()
        board = rp2board.RP2Board("W5500_EVB_PICO", workdir=work, eth_peer=eth, snapshot_frames=False)
        try:
            dev = board.start()

            def mpr(*args):
                r = subprocess.run([mpremote_exe(), "connect", dev] + list(args), capture_output=True, text=True,
                                   timeout=600)
                if r.returncode != 0 or "Traceback" in r.stdout:
                    sys.exit("bench_socket_alloc: mpremote %s failed:\n%s%s" % (args[0], r.stdout, r.stderr))
                return r.stdout

            st, out = rp2board.install(dev, "py", work=work, socket=True)
            if st:
                sys.exit("bench_socket_alloc: install failed:\n" + out)
            if "UP True" not in mpr("exec", RP2_UP):
                sys.exit("bench_socket_alloc: WIZNET5K did not come up")
            mpr("resume", "fs", "mkdir", ":mp")
            mpr("resume", "fs", "cp", os.path.join(ROOT, "host_tests", "mp", "heapfill.py"), ":mp/heapfill.py")
            for k in range(max_blocks + 1):
                with Peer("127.0.0.1") as p:
                    argv = ["heapfull_dump.py", "", str(p.herald_port), str(20100 + k), str(k * 16)]
                    out = mpr("resume", "exec", "import sys\nsys.argv[:] = %r\nsys.argv[1] = '10.0.2.' + '2'\n"
                              % argv + script)
                    got = dict(ln.split(None, 1) for ln in out.splitlines() if " " in ln)
                    err = int(got["RESULT"].split()[0])
                    ok = err == 0 and p.wait_finished(5)
                    rows.append((k, got["FREE_AFTER_FILL"].strip(), ok, err))
        finally:
            board.stop()
            stop_process(vnet, 5)
    return rows


def print_sweep(rows, default_blocks):
    """The sweep's table and the smallest reserve that dumps."""
    print("reserve   free after fill   dump with the heap full")
    need = None
    for k, free, ok, err in rows:
        print("%2d blocks %15s   %s" % (k, free, "ok" if ok else "fails (error %d)" % err))
        if ok and need is None:
            need = k
    print()
    print("smallest reserve that dumps: %s blocks; default: %d blocks" % (need, default_blocks))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heapsize", default="256K", help="micropython -X heapsize (default 256K)")
    ap.add_argument("--max-blocks", type=int, default=8, help="largest reserve tried, in GC blocks (default 8)")
    ap.add_argument("--rp2", action="store_true",
                    help="also sweep on the stock W5500_EVB_PICO firmware (lwIP) on the RP2040 bed")
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

    rows = []
    for k in range(a.max_blocks + 1):
        with Peer("127.0.0.1") as p:
            r = run_mp("host_tests/mp/heapfull_dump.py", ["127.0.0.1", p.herald_port, free_udp_port(), k * bs],
                       a.heapsize)
            err = int(r["RESULT"][0].split()[0])
            rows.append((k, r["FREE_AFTER_FILL"][0], err == 0 and p.wait_finished(5), err))
    print()
    print_sweep(rows, int(o["RESERVE"][0]) // bs)
    if a.rp2:
        from netdump.endpoint import _RESERVE_BLOCKS, STACKS

        print()
        print("W5500_EVB_PICO firmware v1.28.0 (lwIP over WIZNET5K) on the RP2040 bed, 16-byte GC blocks")
        print_sweep(rp2_sweep(a.max_blocks), _RESERVE_BLOCKS[STACKS.index("lwip")])


if __name__ == "__main__":
    main()
