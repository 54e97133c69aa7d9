# MicroPython side of bench/bench_dump.py. Prints "KEY value" lines.
#   argv: server herald_port client_port mode mib sink_port [phase]
#   phase: all (default), setup (arm only), dump (arm + dump), base (arm + baseline);
#   bench_dump.py --count runs each phase under callgrind and subtracts setup.
#   env: NETDUMP_BENCH_DIGEST=0 (arm without the CRC-32), NETDUMP_BENCH_FILL=zero75
#   (three of every four 4 KiB blocks zero: the dumper skips them)
import os
import socket
import sys

import micropython
import uctypes

from mp import testram  # host_tests/mp/testram.py: bench_dump.py puts host_tests on MICROPYPATH
from netdump import debugnet, elfcore, panic, wire
from netdump.compat import ticks_diff, ticks_us


def baseline(sock, pkt, n):
    # what a send-only loop costs: one header rewrite and one send per datagram
    ln = len(pkt)
    t0 = ticks_us()
    for i in range(n):
        wire.set_seqno(pkt, 0, i + 1)
        sock.write(pkt, 0, ln)
    return ticks_diff(ticks_us(), t0)


def main():
    server, hport, cport, mode, mib, sport = sys.argv[1:7]
    phase = sys.argv[7] if len(sys.argv) > 7 else "all"
    mode = debugnet.MODE_FREEBSD if mode == "freebsd" else debugnet.MODE_WINDOW
    region = bytearray(int(mib) << 20)
    testram.xorshift_fill(region, len(region) // 4, 0x9E3779B9)  # no zero blocks: nothing is skipped
    if os.getenv("NETDUMP_BENCH_FILL", "random") == "zero75":  # bench_dump.py --sparse
        z = bytes(4096)
        for b in range(len(region) // 4096):  # three of every four 4 KiB blocks zero
            if b % 4:
                region[4096 * b:4096 * b + 4096] = z
    digest = os.getenv("NETDUMP_BENCH_DIGEST", "1") != "0"  # bench_dump.py --no-digest
    d = panic.arm(server, [("ram", uctypes.addressof(region), len(region))], elfcore.EM_X86_64, 64, "amd64",
                  mode=mode, herald_port=int(hport), client_port=int(cport), client_ip=server, digest=digest)
    if phase == "setup":
        return
    err = 0
    us = 1
    if phase != "base":
        t0 = ticks_us()
        err = panic.dump("benchmark")
        us = ticks_diff(ticks_us(), t0)
    st = d.net.stats
    npk = d.layout.total_size // d.net.chunk + 1  # data packets of a full dump
    print("ERR", err)
    print("DUMP_US", us)
    print("DUMP_BYTES", d.layout.total_size)
    print("SENT_BYTES", d.sent_bytes)
    print("CHUNK", d.net.chunk)
    print("STATS", " ".join([str(x) for x in st]))
    print("STAT_NAMES", " ".join(debugnet.STAT_NAMES))
    # baseline: the same number of same-size datagrams to a sink, heap locked
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(socket.getaddrinfo(server, int(sport))[0][-1])
    pkt = bytearray(wire.HDR_LEN + d.net.chunk)
    wire.pack_header(pkt, 0, wire.VMCORE, 1, 0, d.net.chunk)
    if phase == "dump":
        return
    micropython.heap_lock()
    try:
        bus = baseline(s, pkt, npk)
    finally:
        micropython.heap_unlock()
    print("BASE_US", bus)
    print("BASE_PKTS", npk)


main()
