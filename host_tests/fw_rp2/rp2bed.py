"""Helpers of the RP2040 firmware tests: the board's network (vnet in user
mode + netdumpd on loopback), the user's commands (mpremote, dumpon,
netdump-testdump, as subprocesses), the firmware's symbols, and the SRAM
comparison between a dump and the emulator's snapshots. The fixtures are in
fw_rp2_fixtures.py."""
import os
import shlex
import struct
import subprocess
import sys
import time

from netdump_tools import rp2board
from netdump_tools.netdumpd_harness import NetdumpdProc, stop_process

GATEWAY = "10.0.2.2"  # vnet user mode's gateway, where netdumpd is reached
CLIENT = "10.0.2.15"
BIN = os.path.dirname(sys.executable)  # the venv: mpremote, dumpon, netdump-testdump
T_CMD = 300  # s: one command against the emulated board (its time runs ~1000x slower than the unix port)


def why_not():
    """Why the RP2040 bed cannot run here, or None."""
    return rp2board.missing()


def log(*a):
    print("[rp2]", *a, flush=True)


class Net:
    """vnet (user mode) + netdumpd on 127.0.0.1 with free ports, in workdir."""

    def __init__(self, workdir):
        self.work = str(workdir)
        self.dumpdir = os.path.join(self.work, "crash")
        os.makedirs(self.dumpdir, exist_ok=True)
        self.eth_peer, self.vnet = rp2board.start_vnet()
        self.nd = NetdumpdProc(self.work, self.dumpdir, timeout=600).start()

    def dumpon_args(self, board):
        """dumpon's arguments for this network (console off: a fault resets at once)."""
        return ["-c", CLIENT, "-s", GATEWAY, "-m", "/24", "-b", board, "--herald-port", str(self.nd.herald_port),
                "--client-port", str(self.nd.client_port), "--console", "0", "w5500"]

    def cores(self):
        """The vmcores netdumpd saved so far (not the .last links), oldest first."""
        return sorted((os.path.join(self.dumpdir, p) for p in os.listdir(self.dumpdir)
                       if p.startswith("vmcore.") and not p.endswith(".last")), key=os.path.getmtime)

    def wait_cores(self, n, timeout=120):
        """Wait until netdumpd has completed n dumps -> the core paths."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.nd.out().count("Completed dump") >= n:
                return self.cores()
            time.sleep(0.1)
        raise AssertionError("netdumpd completed %d dumps, not %d:\n%s"
                             % (self.nd.out().count("Completed dump"), n, self.nd.out()[-2000:]))

    def stop(self):
        self.nd.stop()
        stop_process(self.vnet, 5)


def start_board(name, net, tmp_path_factory, **kw):
    """An RP2Board on net's vnet, its work directory under pytest's tmp; started."""
    work = str(tmp_path_factory.mktemp("rp2-" + name.lower()))
    kw.setdefault("eth_peer", net.eth_peer)
    b = rp2board.RP2Board(name, workdir=work, **kw)
    b.start()
    log("%s board on %s (work %s)" % (name, b.link, work))
    return b


def run(cmd, timeout=T_CMD):
    """Run a user's command -> (status, stdout + stderr); logged with -s."""
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    log("%s -> %d (%.1f s)" % (shlex.join([os.path.basename(cmd[0])] + cmd[1:])[:160], r.returncode,
                              time.monotonic() - t))
    return r.returncode, r.stdout + r.stderr


def mpremote(dev, *args, timeout=T_CMD):
    return run([os.path.join(BIN, "mpremote"), "connect", dev] + list(args), timeout)


def tool(name, *args, timeout=T_CMD):
    return run([os.path.join(BIN, name)] + list(args), timeout)


def board_exec(dev, code, timeout=T_CMD):
    """mpremote resume exec code -> its output; AssertionError unless it succeeded."""
    st, out = mpremote(dev, "resume", "exec", code, timeout=timeout)
    assert st == 0 and "Traceback" not in out, out
    return out


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("no %s within %d s" % (what, timeout))
        time.sleep(0.1)


# ---- the firmware's symbols (ELF32 little-endian .symtab) ---------------------------

def elf_symbols(path):
    """{name: (address, size)} of the ELF's symbol table (System V gABI, ELF32 LE)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 1 and data[5] == 1, path
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    secs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    out = {}
    for s in secs:
        if s[1] != 2:  # SHT_SYMTAB
            continue
        strtab = secs[s[6]]  # sh_link
        stroff = strtab[4]
        for off in range(s[4], s[4] + s[5], 16):
            name, value, size = struct.unpack_from("<III", data, off)
            end = data.index(b"\0", stroff + name)
            out[data[stroff + name:end].decode()] = (value, size)
    return out


# ---- dump vs snapshot ---------------------------------------------------------------

def diff_ranges(a, b):
    """[(start, end), ...] of the byte runs where a and b differ."""
    out = []
    i, n = 0, min(len(a), len(b))
    while i < n:
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


# The firmware's statics any dump writes while it runs: the interpreter state and TinyUSB's
# CDC state (console output while dumping)
CONSOLE_STATICS = ("mp_state_ctx", "_cdcd_itf", "_cdcd_epbuf", "_cdcd_fifo", "_usbd_qdef", "_usbd_qdef_buf",
                   "_usbd_dev")


def sram_areas(elf, statics):
    """[(name, lo, hi), ...]: the C stack, the GC heap and each named static of the firmware ELF
    (the areas a dump may legitimately differ from SRAM at its HERALD)."""
    sym = elf_symbols(elf)
    areas = [("C stack", sym["__scratch_x_start__"][0], sym["__StackTop"][0]),
             ("GC heap", sym["__GcHeapStart"][0], sym["__GcHeapEnd"][0])]
    for name in statics:
        if name in sym and sym[name][1]:
            areas.append((name, sym[name][0], sym[name][0] + sym[name][1]))
    return areas


def symbol_at(elf, addr):
    """The name of the ELF symbol whose extent holds addr, or its address in hex."""
    for name, (lo, size) in elf_symbols(elf).items():
        if size and lo <= addr < lo + size:
            return name
    return hex(addr)


def classify(ranges, areas, base=rp2board.SRAM_BASE):
    """Differing bytes per named area -> ({area: bytes}, [(start, end) outside every area])."""
    per = {}
    stray = []
    for s, e in ranges:
        for a in range(base + s, base + e):
            for name, lo, hi in areas:
                if lo <= a < hi:
                    per[name] = per.get(name, 0) + 1
                    break
            else:
                if stray and stray[-1][1] == a:
                    stray[-1] = (stray[-1][0], a + 1)
                else:
                    stray.append((a, a + 1))
    return per, stray
