"""bench/bench_memory.py keeps working: it arms both board configurations on the
unix port and prints its tables. Figures are not checked here (rule: benchmarks
are scripts); only that each table is there and filled. CPython, driving the
MicroPython unix port."""
import os
import re
import subprocess
import sys

from conftest import ROOT, micropython_exe


def test_bench_memory_prints_its_tables():
    micropython_exe()  # counted as a test driving MicroPython
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_memory.py"), "--form", "py",
                           "--config", "w5500", "vnic", "--no-modules"], capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "error" not in out, out
    for cfg in ("w5500 (w5500_evb_pico)", "vnic (unix_virtual)"):
        assert re.search(re.escape(cfg) + r" +\d+\.\d K +\d+\.\d K +\d+\.\d K", out), out
    assert out.count("total kept by arm_config()") == 2, out
    for obj in ("W5500", "VNic", "EtherEndpoint", "  Link", "  Udp4", "  Arp", "Debugnet", "Dumper",
                "  CoreLayout", "Fault", "Console"):  # objects made inside another: indented
        assert re.search(r"\n  %s +\d+ +\d+\n" % obj, out), (obj, out)
