#!/usr/bin/env python3
"""Benchmark (not a test): the ESP32 EMAC driver beside the W5500 driver, each on the
MicroPython unix port against its emulator, and the wire time of a dump at 100 Mb/s.

Per packet the board sends a 1514-byte data frame (Ethernet 14 + IPv4 20 + UDP 8 +
netdump header 24 + 1448 payload bytes) and polls until a 60-byte ack comes back
(a reflector in this process answers every frame), heap locked:

* frames/s: the loop timed on the unix port, spinning on poll() (bounded by the
  emulator and the reflector, Python threads in this process, as much as by the
  driver);
* instructions per packet: user-space x86-64 instructions of the MicroPython
  process under valgrind's callgrind, one send and one successful poll per
  packet (the loop sleeps 1 ms before each poll, so how long the emulator takes
  does not change the count); a run of --packets minus a run of a third as many,
  divided by the difference, so start-up and arm time cancel out;
* register / SPI operations per packet, counted by the emulators;
* a row with a null NIC (send and poll return at once) for the loop's own cost
  (the frame counter, the 1 ms sleep, the calls), taken out of the driver figures.

EMAC: descriptors are memory the emulated DMA reads and writes in the MicroPython
process; each register access is one message on the register link (a write costs
no round trip). W5500: every SPI transaction goes over the SPI link (reads wait for
the reply). Wire time: a 1514-byte frame occupies 1538 byte times on the cable
(preamble 8, FCS 4, inter-frame gap 12); a 60-byte ack 84.

Usage: python bench/bench_emac.py [--packets 600] [--no-count]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from tools import esp32_emac_emu, w5500_emu  # noqa: E402
from tools.vboard import micropython_exe  # noqa: E402

PAYLOAD = 1448
FRAME = 1514
ACK = 60
DRAM = 0x52000  # the ESP32's DRAM region, 328 KiB (netdump/board.py chip("esp32"))
REFLECTOR_MAC = b"\x02\x00\x00\x00\x00\x02"


class Reflector:
    """The far end of the emulated cable: answers every frame with a 60-byte frame to its sender's MAC."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.emu_addr = None
        self.frames = 0
        self._stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                f, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(f) < 14:
                continue
            self.frames += 1
            ack = f[6:12] + REFLECTOR_MAC + b"\x88\xb5" + bytes(ACK - 14)
            self.sock.sendto(ack, self.emu_addr or src)

    def close(self):
        self._stop = True
        self.t.join(2)
        self.sock.close()


class Rig:
    """One emulator (EMAC or W5500) served in this process, wired to a Reflector
    (driver "null": no emulator, the loop alone)."""

    def __init__(self, driver, tmp):
        self.driver = driver
        self.refl = Reflector()
        self.path = os.path.join(tmp, driver + ".sock")
        peer = "127.0.0.1:%d" % self.refl.addr[1]
        self.chip = self.srv = None
        if driver == "null":
            pass
        elif driver == "emac":
            self.chip, _ = esp32_emac_emu.build(idf=False)
            self.srv = esp32_emac_emu.EmacServer(self.chip, self.path, "127.0.0.1:0", peer).start()
        else:
            self.chip = w5500_emu.W5500()
            self.srv = w5500_emu.EmulatorServer(self.chip, self.path, "127.0.0.1:0", peer).start()
        if self.srv is not None:
            self.refl.emu_addr = self.srv.eth_address

    def ops(self):
        """(0, register writes) for the EMAC, (SPI transactions, SPI bytes) for the W5500."""
        if self.driver == "emac":
            st = self.chip.stats
            return 0, st["tx_polls"] + st["rx_polls"]
        if self.driver == "w5500":
            return self.chip.stats["transactions"], self.chip.stats["bytes"]
        return 0, 0

    def run(self, packets, how, wrap=()):
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([
            os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host_tests"), os.path.join(ROOT, "host_tests", "mp_emac"),
            os.path.join(ROOT, "host_tests", "mp_w5500")]))
        r = subprocess.run(list(wrap) + [micropython_exe(), "-X", "heapsize=8M",
                                         os.path.join(ROOT, "bench", "mp_nic_bench.py"), self.driver, self.path,
                                         str(packets), how],
                           env=env, capture_output=True, text=True, timeout=3600)
        vals = {}
        for ln in r.stdout.splitlines():
            parts = ln.split(None, 1)
            if len(parts) == 2 and parts[0].isupper():
                vals[parts[0]] = parts[1]
        if r.returncode != 0 or "US" not in vals or vals.get("LOST") != "0":
            raise SystemExit("%s run failed:\n%s%s" % (self.driver, r.stdout, r.stderr[-3000:]))
        return vals

    def close(self):
        if self.srv is not None:
            self.srv.stop()
        self.refl.close()


def callgrind_ir(rig, packets, tmp):
    out = os.path.join(tmp, "cg.%s.%d" % (rig.driver, packets))
    rig.run(packets, "sleep", wrap=("valgrind", "--tool=callgrind", "--callgrind-out-file=" + out))
    with open(out) as f:
        for ln in f:
            if ln.startswith("summary:") or ln.startswith("totals:"):
                return int(ln.split()[1])
    raise SystemExit("no callgrind summary in " + out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=600, help="packets per timed/counted run (default 600)")
    ap.add_argument("--no-count", action="store_true", help="skip the callgrind instruction counts")
    args = ap.parse_args(argv)
    count = not args.no_count and shutil.which("valgrind") is not None
    tmp = tempfile.mkdtemp(prefix="bench_emac.")
    rows = []
    try:
        for driver in ("null", "emac", "w5500"):
            rig = Rig(driver, tmp)
            try:
                o0 = rig.ops()
                v = rig.run(args.packets, "spin")
                o1 = rig.ops()
                fps = args.packets / (int(v["US"]) / 1e6)
                ipp = None
                if count:
                    small = max(1, args.packets // 3)
                    ipp = (callgrind_ir(rig, args.packets, tmp) - callgrind_ir(rig, small, tmp)) / (args.packets - small)
                rows.append((driver, fps, ipp, [(b - a) / args.packets for a, b in zip(o0, o1)]))
            finally:
                rig.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("frame NIC drivers on the MicroPython unix port against their emulators, heap locked:")
    print("one %d-byte data frame out, one %d-byte ack back per packet" % (FRAME, ACK))
    print("%-12s %10s %14s   %s" % ("driver", "frames/s", "instr/packet", "bus operations per packet"))
    names = {"null": "(loop only)", "emac": "esp32_emac", "w5500": "w5500"}
    for driver, fps, ipp, ops in rows:
        if driver == "emac":
            what = "%.1f register writes (poll demands), descriptors in memory" % ops[1]
        elif driver == "w5500":
            what = "%.1f SPI transactions, %.0f SPI bytes" % (ops[0], ops[1])
        else:
            what = "send/poll return at once, no emulator"
        print("%-12s %10.0f %14s   %s" % (names[driver], fps, "%.0f" % ipp if ipp is not None else "-", what))
    ipp = dict((r[0], r[2]) for r in rows)
    if all(ipp.get(k) for k in ("null", "emac", "w5500")):
        e, w = ipp["emac"] - ipp["null"], ipp["w5500"] - ipp["null"]
        print("driver instructions per packet (less the loop): esp32_emac %.0f, w5500 %.0f, ratio %.1f"
              % (e, w, w / e))
    npk = -(-DRAM // PAYLOAD)
    print()
    print("wire time of the data frames of a dump of the ESP32's %d KiB DRAM (%d packets of %d bytes):"
          % (DRAM // 1024, npk, PAYLOAD))
    for mbps in (100, 10):
        data = (FRAME + 24) * 8 / (mbps * 1e6)
        ack = (ACK + 24) * 8 / (mbps * 1e6)
        print("  %3d Mb/s: %6.1f us per data frame (+%4.1f us per ack on the other direction): %6.1f ms"
              % (mbps, data * 1e6, ack * 1e6, npk * data * 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
