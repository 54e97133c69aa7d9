"""qemu_board: run the QEMU mps2-an385 firmware (tools/fwbuild.py) as a board
the host talks to like a real one: its UART on a pty (for mpremote), its
LAN9118 on a `-netdev dgram` socket (one Ethernet frame per UDP datagram,
the NIC side of tools/vnet.py), and QEMU's QMP monitor on a unix socket
(stop, pmemsave, quit).

    with QemuBoard(elf, workdir, net=(qemu_port, vnet_port)) as b:
        b.device                 # /dev/pts/N: mpremote connect <device>
        b.stop(); b.pmemsave(addr, size, path); b.cont()

Options: mac (the LAN9118's address, -net nic,macaddr=), icount (QEMU -icount
shift: with 0 one guest instruction takes 1 ns of virtual time, the bench's
instruction clock), serial_log (everything the UART sent, for test reports).
machine.reset() on the firmware ends QEMU (semihosting exit).

Command line: python -m netdump_tools.qemu_board ELF [--net QPORT:VPORT] runs
the board until ^C and prints its pty.
"""
import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

log = logging.getLogger("qemu_board")

MACHINE = "mps2-an385"
DEFAULT_MAC = "52:54:00:12:34:56"  # QEMU's default NIC address (net/net.c qemu_macaddr_default_if_unset)


class QemuError(Exception):
    """QEMU did not start or its monitor failed; str(e) is one line (plus QEMU's stderr tail)."""


class QemuBoard:
    """One QEMU mps2-an385 run (see the module comment)."""

    def __init__(self, elf, workdir, net=None, mac=DEFAULT_MAC, icount=None, extra=()):
        self.elf = elf
        self.workdir = workdir
        self.net = net
        self.mac = mac
        self.icount = icount
        self.extra = list(extra)
        self.proc = None
        self.device = None
        self.qmp_path = os.path.join(workdir, "qmp.sock")
        self.serial_log = os.path.join(workdir, "serial.log")
        self.stderr_path = os.path.join(workdir, "qemu.stderr")
        self._qmp = None
        self._qbuf = b""

    def command(self):
        """The qemu-system-arm command line."""
        cmd = ["qemu-system-arm", "-machine", MACHINE, "-kernel", self.elf, "-display", "none",
               "-monitor", "none", "-semihosting",
               "-chardev", "pty,id=uart0,logfile=%s" % self.serial_log, "-serial", "chardev:uart0",
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if self.net:
            qport, vport = self.net
            cmd += ["-netdev", "dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port=%d,"
                               "remote.type=inet,remote.host=127.0.0.1,remote.port=%d" % (qport, vport),
                    "-net", "nic,netdev=net0,macaddr=%s" % self.mac]
        else:
            cmd += ["-net", "none"]
        if self.icount is not None:
            cmd += ["-icount", "shift=%d" % self.icount]
        return cmd + self.extra

    def start(self, timeout=20):
        """Start QEMU and wait for its monitor -> self; QemuError if it does not come up."""
        if shutil.which("qemu-system-arm") is None:
            raise QemuError("qemu-system-arm not found (apt-get install qemu-system-arm)")
        os.makedirs(self.workdir, exist_ok=True)
        for p in (self.qmp_path,):
            if os.path.exists(p):
                os.unlink(p)
        err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     start_new_session=True)
        err.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise QemuError("QEMU exited at start (%d): %s" % (self.proc.returncode, self.stderr_tail()))
            if os.path.exists(self.qmp_path):
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.qmp_path)
                    self._qmp = s
                    break
                except OSError:
                    s.close()
            if time.monotonic() > deadline:
                self.close()
                raise QemuError("QEMU monitor did not come up in %d s" % timeout)
            time.sleep(0.05)
        self._qmp.settimeout(timeout)
        self._reply()  # greeting
        self.qmp("qmp_capabilities")
        for dev in self.qmp("query-chardev"):
            if dev.get("label") == "uart0" and dev.get("filename", "").startswith("pty:"):
                self.device = dev["filename"][4:]
        if not self.device:
            self.close()
            raise QemuError("QEMU reported no pty for the UART")
        log.info("QEMU %s up, UART on %s", MACHINE, self.device)
        return self

    # ---- QMP ---------------------------------------------------------------------

    def _reply(self):
        while True:
            while b"\n" not in self._qbuf:
                chunk = self._qmp.recv(65536)
                if not chunk:
                    raise QemuError("QEMU monitor closed: %s" % self.stderr_tail())
                self._qbuf += chunk
            line, _, self._qbuf = self._qbuf.partition(b"\n")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def qmp(self, cmd, **args):
        """Run one QMP command -> its "return" value; QemuError on an error reply."""
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        self._qmp.sendall(json.dumps(req).encode() + b"\n")
        r = self._reply()
        if "error" in r:
            raise QemuError("QMP %s: %s" % (cmd, r["error"].get("desc", r["error"])))
        return r.get("return")

    def stop(self):
        """Pause the guest CPU (its RAM stays as it is)."""
        self.qmp("stop")

    def cont(self):
        """Resume the guest CPU."""
        self.qmp("cont")

    def pmemsave(self, addr, size, path):
        """Write guest physical memory [addr, addr+size) to path (QMP pmemsave)."""
        self.qmp("pmemsave", val=addr, size=size, filename=os.path.abspath(path))
        with open(path, "rb") as f:
            return f.read()

    def running(self):
        """True while QEMU runs."""
        return self.proc is not None and self.proc.poll() is None

    def serial_text(self):
        """Everything the UART has sent so far (decoded, errors replaced)."""
        try:
            with open(self.serial_log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=1500):
        try:
            with open(self.stderr_path) as f:
                return f.read()[-n:].strip()
        except OSError:
            return ""

    def close(self):
        """Quit QEMU (QMP quit, then SIGTERM/SIGKILL of its process group if needed)."""
        if self._qmp is not None:
            try:
                if self.running():
                    self._qmp.settimeout(5)
                    self.qmp("quit")
            except (OSError, QemuError, ValueError):
                pass
            self._qmp.close()
            self._qmp = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def mpremote_exe():
    """mpremote next to this Python (the venv), else on PATH."""
    from netdump_tools.dumpon import mpremote_exe as find

    return find()


def mpremote(device, *args, timeout=120):
    """Run mpremote connect <device> ARGS -> (exit status, stdout + stderr); 124 on a timeout."""
    cmd = [mpremote_exe(), "connect", device] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        return 124, out + "\n[mpremote timed out after %d s]" % timeout
    return r.returncode, r.stdout + r.stderr


class Bed:
    """The firmware test bed: the QEMU board, the virtual network (tools/vnet.py in
    user mode: the gateway 10.0.2.2, UDP relayed to 127.0.0.1, optional loss) and
    netdumpd on 127.0.0.1, all on private ports (netdumpd's herald and client ports
    are free ports, never 20023/20024).

        bed = Bed(elf, workdir, loss=0.05).start()
        bed.exec("import netdump.panic as p; ...")     # mpremote, the UART's pty
        bed.arm_code(...)                               # the arm line for these ports
        bed.close()

    The board's address is CLIENT on the gateway's /24; its server is GATEWAY (vnet
    relays to netdumpd on loopback with the board's source port kept)."""

    CLIENT = "10.0.2.15"
    GATEWAY = "10.0.2.2"
    MAC = "02:00:00:00:a3:85"

    def __init__(self, elf, workdir, loss=0.0, seed=1, icount=None, netdumpd=True, netdumpd_args=("-n",)):
        self.elf = elf
        self.workdir = workdir
        self.loss = loss
        self.seed = seed
        self.icount = icount
        self.want_netdumpd = netdumpd
        self.netdumpd_args = tuple(netdumpd_args)
        self.dumpdir = os.path.join(workdir, "crash")
        self.board = None
        self.vnet = None
        self.netdumpd = None
        self.herald_port = self.client_port = None

    def start(self):
        """Start netdumpd, the virtual network and QEMU -> self."""
        from netdump_tools.netdumpd_harness import NetdumpdProc, free_client_port, free_udp_port

        os.makedirs(self.dumpdir, exist_ok=True)
        try:
            if self.want_netdumpd:
                self.netdumpd = NetdumpdProc(self.workdir, self.dumpdir, args=self.netdumpd_args, timeout=120)
                self.netdumpd.start()
                self.herald_port = self.netdumpd.herald_port
                self.client_port = self.netdumpd.client_port
            else:
                self.herald_port = free_udp_port()
                self.client_port = free_client_port()
            qport, vport = free_udp_port(), free_udp_port()
            vlog = os.path.join(self.workdir, "vnet.log")
            self.vnet = subprocess.Popen(
                [sys.executable, "-m", "netdump_tools.vnet", "user", "--nic-port", str(vport),
                 "--nic-peer", "127.0.0.1:%d" % qport, "--no-delimiter", "--ip4", self.GATEWAY + "/24",
                 "--loss", str(self.loss), "--seed", str(self.seed),
                 "--stats", os.path.join(self.workdir, "vnet.json")],
                stdout=subprocess.DEVNULL, stderr=open(vlog, "w"), start_new_session=True)
            from netdump_tools.netdumpd_harness import wait_for_text

            if not wait_for_text(vlog, "vnet: ready", self.vnet, 15):
                raise QemuError("vnet did not start: " + open(vlog).read()[-500:])
            self.board = QemuBoard(self.elf, self.workdir, net=(qport, vport), mac=self.MAC,
                                   icount=self.icount).start()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def device(self):
        return self.board.device

    def mpremote(self, *args, timeout=120):
        """Run mpremote connect <pty> ARGS -> (exit status, stdout + stderr)."""
        return mpremote(self.device, *args, timeout=timeout)

    def exec(self, code, mount=None, resume=True, timeout=120):
        """Run code on the board (mpremote exec; with mount=DIR that folder is the
        board's current directory, mpremote mount) -> (exit status, output)."""
        args = []
        if resume:
            args.append("resume")
        if mount:
            args += ["mount", mount]
        args += ["exec", code]
        return self.mpremote(*args, timeout=timeout)

    def endpoint_code(self, name="ep", nic="nic"):
        """Board-side lines that build the LAN9118 NIC and an EtherEndpoint for this bed."""
        mac = ", ".join("0x" + x for x in self.MAC.split(":"))
        return ("from netdump.drivers.lan9118 import LAN9118\n"
                "from netdump.ether import EtherEndpoint\n"
                "%s = LAN9118(0x4020, mac=bytes([%s]))\n"
                "%s = EtherEndpoint(%s, %r, %r, netmask=24, herald_port=%d, client_port=%d)\n"
                % (nic, mac, name, nic, self.CLIENT, self.GATEWAY, self.herald_port, self.client_port))

    def vnet_stats(self):
        """The virtual network's counters (after close())."""
        try:
            with open(os.path.join(self.workdir, "vnet.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def close(self):
        """Stop QEMU, the virtual network and netdumpd."""
        if self.board is not None:
            self.board.close()
        if self.vnet is not None and self.vnet.poll() is None:
            self.vnet.send_signal(signal.SIGTERM)
            try:
                self.vnet.wait(10)
            except subprocess.TimeoutExpired:
                self.vnet.kill()
                self.vnet.wait()
        if self.netdumpd is not None and self.netdumpd.proc is not None and self.netdumpd.proc.poll() is None:
            self.netdumpd.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m netdump_tools.qemu_board",
                                 description="Run the QEMU mps2-an385 MicroPython firmware with its UART on a pty "
                                             "(for mpremote) until interrupted.")
    ap.add_argument("elf", help="firmware ELF (python -m netdump_tools.fwbuild qemu)")
    ap.add_argument("--net", metavar="QPORT:VPORT",
                    help="LAN9118 on -netdev dgram: QEMU on 127.0.0.1:QPORT, frames to 127.0.0.1:VPORT "
                         "(netdump-vnet --nic-port VPORT --nic-peer 127.0.0.1:QPORT --no-delimiter)")
    ap.add_argument("--mac", default=DEFAULT_MAC, help="the LAN9118's MAC address (default %s)" % DEFAULT_MAC)
    ap.add_argument("--workdir", default=None, help="folder for the monitor socket and logs (default: a temp dir)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="qemu_board: %(message)s", stream=sys.stderr)
    import tempfile

    net = None
    if a.net:
        q, _, v = a.net.partition(":")
        net = (int(q), int(v))
    wd = a.workdir or tempfile.mkdtemp(prefix="qemu_board.")
    try:
        with QemuBoard(a.elf, wd, net=net, mac=a.mac) as b:
            print(b.device, flush=True)
            while b.running():
                time.sleep(0.5)
    except QemuError as e:
        sys.stderr.write("qemu_board: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
