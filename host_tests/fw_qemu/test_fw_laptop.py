"""The firmware from a laptop's point of view: dumpon configures it and
netdump-testdump makes it dump, both over mpremote against the UART's pty,
exactly as a user runs them (the installed console scripts of this venv).
ports/qemu boots without a filesystem, so the board's RAM disk is mounted
first (what a board builder's boot.py would do)."""
import os
import subprocess
import sys

from fw_qemu_fixtures import ram_regions

BIN = os.path.dirname(sys.executable)


def run(*cmd, timeout=300):
    r = subprocess.run([os.path.join(BIN, cmd[0])] + list(cmd[1:]), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def test_dumpon_and_testdump_over_mpremote(bed, firmware):
    st, out = bed.exec("import qemu_mps2_an385 as b\nb.mount_ramdisk()\nprint('RAMDISK ok')\n")
    assert st == 0 and "RAMDISK ok" in out, out
    _name, addr, size = ram_regions(firmware)[0]
    st, out = run("dumpon", "-p", bed.device, "-b", "qemu_mps2_an385", "-c", bed.CLIENT, "-s", bed.GATEWAY,
                  "-m", "/24", "--herald-port", str(bed.herald_port), "--client-port", str(bed.client_port),
                  "--region", "data:0x%x:%d" % (addr, size), "-H", "qemu-bed", "--action", "halt", "lan")
    assert st == 0 and "dumpon: saved netdump.json: lan client 10.0.2.15 server 10.0.2.2" in out, out
    st, out = run("dumpon", "-p", bed.device, "-l")
    assert st == 0 and "lan 10.0.2.15 -> 10.0.2.2:%d" % bed.herald_port in out, out
    st, out = run("netdump-testdump", "-p", bed.device, "--arm", "-v", "-m", "from the laptop")
    assert st == 0 and "netdump finished." in out, out
    assert "mpremote connect %s resume exec" % bed.device in out  # -v shows the plain mpremote line
    cores = sorted(p for p in os.listdir(bed.dumpdir) if p.startswith("vmcore.") and not p.endswith(".last"))
    assert len(cores) == 1, os.listdir(bed.dumpdir)
    st, out = run("netdump-read", os.path.join(bed.dumpdir, cores[0]))
    assert st == 0, out
    assert "board:     qemu_mps2_an385" in out and "panic:     from the laptop" in out, out
    with open(os.path.join(bed.dumpdir, "info.127.0.0.1.0")) as f:
        assert "Hostname: qemu-bed" in f.read()  # dumpon -H reached the kerneldumpheader
    st, out = run("dumpon", "-p", bed.device, "off")
    assert st == 0 and "dumpon: cleared" in out, out
