"""SPI cost of the W5500 MACRAW driver per netdump data packet, and the dump times it implies.

Not a test. Runs firmware/netdump/drivers/w5500.py against the register-level
emulator (tools/w5500_emu.py) in this process and counts SPI transactions
(chip-select low..high) and bytes clocked, per:
  * data packet sent: a 1514-byte frame = Ethernet 14 + IPv4 20 + UDP 8 +
    netdump header 24 + 1448 payload bytes (1500-byte MTU);
  * ACK received: a 60-byte frame (minimum Ethernet frame, no FCS);
  * idle poll: a poll() that finds nothing (the dump loop polls while it waits).
Acks come in groups of --batch (debugnet looks for acks after every poll_after
datagrams, 8 by default): the frames are sent, their acks queued, then polled
for until a poll finds nothing (--idle-polls of those per group).
The counts do not depend on the runtime (same driver code on MicroPython).

Implied time per packet = SPI bytes * 8 / f_SCLK + transactions * overhead,
where overhead is the per-transaction cost outside the clocked bytes
(CS toggling, the Python call into machine.SPI, the driver's bytecode);
--txn-overhead-us sets it (default 0 = wire time only, plus one row set at
the given estimate). Ethernet wire time (about 123 us per 1514-byte frame at
100 Mb/s) overlaps with the next frame's SPI transfer and is not added.
Usage: python bench/bench_w5500.py [--packets N] [--batch B] [--idle-polls K] [--txn-overhead-us US]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from netdump.drivers.w5500 import W5500  # noqa: E402
from tools import spi_link, w5500_emu  # noqa: E402

PAYLOAD = 1448  # 1500 - IPv4 20 - UDP 8 - netdump header 24
FRAME = 14 + 20 + 8 + 24 + PAYLOAD  # 1514
ACK = 60
CLOCKS_MHZ = (20.0, 33.0, 62.5)
SIZES = (("RP2040 SRAM", 264 * 1024), ("ESP32 DRAM", 320 * 1024))


def measure(packets, idle_polls, batch=1, cpu_us=200):
    """Transactions and bytes per packet for send, ACK poll and idle poll (averaged)."""
    # chip time advances with the SPI traffic (20 MHz, 10 us per transaction) and cpu_us
    # before each frame (the client building it): a SEND's wire time is over before the
    # next frame is written, as on a board at that clock
    clock = w5500_emu.SimClock(20000000, 10000)
    chip = w5500_emu.W5500(transmit=lambda f: None, clock=clock)
    spi = spi_link.DirectSPI(chip)
    nic = W5500(spi, spi_link.DirectPin(spi), mac=b"\x02\x00\x00\x00\x00\x01", atomic=None)
    assert nic.start() == 0, nic.why
    frame = bytearray(FRAME)
    frame[0:6] = b"\x02\x00\x00\x00\x00\x02"
    ack = bytes(nic.mac) + b"\x02\x00\x00\x00\x00\x02\x08\x00" + bytes(ACK - 14)
    rx = bytearray(1514)
    parts = {"send": [0, 0], "ack": [0, 0], "idle": [0, 0]}

    def count(key, fn, *a):
        t, b = chip.stats["transactions"], chip.stats["bytes"]
        fn(*a)
        parts[key][0] += chip.stats["transactions"] - t
        parts[key][1] += chip.stats["bytes"] - b

    packets -= packets % batch
    for i in range(0, packets, batch):
        for j in range(batch):
            frame[20] = (i + j) & 255
            clock.advance(cpu_us * 1000)
            count("send", nic.send, frame, FRAME)
        for j in range(batch):
            chip.receive_frame(ack)
        for j in range(batch):
            count("ack", nic.poll, rx)
        for _ in range(idle_polls):
            count("idle", nic.poll, rx)
    assert chip.stats["frames_tx"] == packets and nic.tx_timeouts == 0 and nic.rx_errors == 0
    return {k: (v[0] / packets, v[1] / packets) for k, v in parts.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=200, help="data packets to send (default 200)")
    ap.add_argument("--batch", type=int, default=8, help="acks queued before a look for them (default 8)")
    ap.add_argument("--idle-polls", type=int, default=1, help="polls that find nothing per look (default 1)")
    ap.add_argument("--cpu-us", type=float, default=200.0,
                    help="chip time that passes before each frame is sent: the client's own work (default 200)")
    ap.add_argument("--txn-overhead-us", type=float, default=10.0,
                    help="estimated cost per SPI transaction besides clocking, us (default 10)")
    args = ap.parse_args(argv)
    p = measure(args.packets, args.idle_polls, args.batch, args.cpu_us)
    t = sum(v[0] for v in p.values())
    b = sum(v[1] for v in p.values())
    print("W5500 MACRAW driver, SPI per netdump data packet (%d-byte frame, %d-byte payload)" % (FRAME, PAYLOAD))
    print("%-28s %8s %8s" % ("", "transact", "bytes"))
    for k, label in (("send", "send data frame"), ("ack", "poll: receive %d-byte ACK" % ACK),
                     ("idle", "poll: nothing (x%d per %d)" % (args.idle_polls, args.batch))):
        print("%-28s %8.1f %8.1f" % (label, p[k][0], p[k][1]))
    print("%-28s %8.1f %8.1f   (%.3f SPI bytes per frame byte)" % ("total per packet", t, b, b / FRAME))
    print()
    print("Implied dump time (payload only, 1 ACK per packet; overhead per transaction as stated)")
    print("%-12s %9s %8s %11s %11s %11s" % ("memory", "size", "packets", "SCLK MHz", "wire only", "+%gus/txn" % args.txn_overhead_us))
    for name, size in SIZES:
        npk = -(-size // PAYLOAD)
        for mhz in CLOCKS_MHZ:
            wire_s = npk * b * 8 / (mhz * 1e6)
            over_s = wire_s + npk * t * args.txn_overhead_us * 1e-6
            print("%-12s %6d KiB %8d %11.1f %9.3f s %9.3f s" % (name, size // 1024, npk, mhz, wire_s, over_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
