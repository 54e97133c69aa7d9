"""Run netdumpd as a subprocess on loopback (for the tests and the benchmark)."""
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_udp_port(host="127.0.0.1"):
    """A UDP port that is free on host right now."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_client_port(count=1):
    """A UDP port free on 127.0.0.1 .. 127.0.0.<count+1> (fake clients bind it)."""
    for _ in range(50):
        port = free_udp_port()
        socks = []
        try:
            for i in range(1, count + 2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.%d" % i, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free client port")


def wait_for_text(path, text, proc, timeout=10.0):
    """Wait until text appears in the file at path -> True; False once proc has ended or timeout passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                if text in f.read():
                    return True
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    return False


def stop_process(proc, timeout=10):
    """SIGTERM a subprocess if it still runs and wait for it; kill it if it does not end in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class NetdumpdProc:
    """netdumpd -D in a subprocess; logs go to files in tmpdir."""

    def __init__(self, tmpdir, dumpdir, args=(), addr="127.0.0.1", herald_port=None, client_port=None,
                 timeout=30, nclients=1, preexec_fn=None):
        self.tmpdir = str(tmpdir)
        self.dumpdir = str(dumpdir)
        self.addr = addr
        self.herald_port = herald_port or free_udp_port(addr if addr not in ("::", "0.0.0.0") else "127.0.0.1")
        self.client_port = client_port or free_client_port(nclients)
        self.pidfile = os.path.join(self.tmpdir, "netdumpd.pid")
        self.out_path = os.path.join(self.tmpdir, "netdumpd.out")
        self.err_path = os.path.join(self.tmpdir, "netdumpd.err")
        self.argv = [sys.executable, "-m", "netdump_tools.netdumpd", "-D", "-d", self.dumpdir, "-a", addr,
                     "--herald-port", str(self.herald_port), "--client-port", str(self.client_port),
                     "-P", self.pidfile, "--timeout", str(timeout)] + list(args)
        self.proc = None
        self.preexec_fn = preexec_fn

    def start(self, wait=True):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "firmware"), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(self.argv, stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"),
                                     env=env, cwd=self.tmpdir, preexec_fn=self.preexec_fn)
        if wait:
            self.wait_log("Waiting for clients.", 10)
        return self

    def out(self):
        with open(self.out_path) as f:
            return f.read()

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def wait_log(self, text, timeout=10.0, stream="out"):
        """Wait until text appears in the stdout (or stderr) log; AssertionError on timeout."""
        if wait_for_text(self.out_path if stream == "out" else self.err_path, text, self.proc, timeout):
            return self.out() if stream == "out" else self.err()
        raise AssertionError("%r not logged; stdout:\n%s\nstderr:\n%s" % (text, self.out(), self.err()))

    def stop(self, timeout=10):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
