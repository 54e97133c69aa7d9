# The static small-int check (tools/smallint_check.py): firmware/ and boards/ are clean,
# known-bad snippets are flagged, known-good ones are not. CPython only.
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import FIRMWARE, ROOT
from netdump_tools import smallint_check


def check(tmp_path, src, name="snippet.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(src))
    return smallint_check.check_file(str(p))


def test_firmware_and_boards_are_clean():
    found = smallint_check.check_paths(smallint_check.default_roots())
    assert found == [], "\n".join(str(f) for f in found)


BAD = [
    ("mask", "def f(x):\n    return x & 0xFFFFFFFF\n", "big-operand"),
    ("add", "def f(x):\n    return x + 0x40000000\n", "big-operand"),
    ("left-literal", "def f(x):\n    return 0x80000000 | x\n", "big-operand"),
    ("nested-mask", "def f(x):\n    return (x << 16) & 0xFFFF0000\n", "big-operand"),
    ("folded-const", "def f(x):\n    return x + (1 << 30)\n", "big-operand"),
    ("negative", "def f(x):\n    return x & -0x80000000\n", "big-operand"),
    ("augassign", "def f(x):\n    x &= 0xFFFFFFFF\n    return x\n", "big-operand"),
    ("shift30", "def f(x):\n    return x << 30\n", "big-shift"),
    ("shift32", "def f(hi, lo):\n    return (hi << 32) | lo\n", "big-shift"),
    ("augshift", "def f(x):\n    x <<= 31\n    return x\n", "big-shift"),
    ("const-name", "from micropython import const\n_MASK = const(0xFFFFFFFF)\n\ndef f(x):\n    return x & _MASK\n",
     "big-operand"),
    ("method", "class A:\n    def f(self, a):\n        return self.base + 0xD0000000 + a\n", "big-operand"),
    ("nested-def", "def outer():\n    def inner(x):\n        return x ^ 0xDEADBEEF\n    return inner\n", "big-operand"),
    ("in-if-block", "import sys\nif sys:\n    def f(x):\n        return x * 0x40000000\n", "big-operand"),
    ("subscript", "def f(mem32, i):\n    return mem32[0xD0000000 + i]\n", "big-operand"),
    ("viper-return", "import micropython\n@micropython.viper\ndef f() -> int:\n    return 0x40000000\n",
     "viper-literal"),
    ("viper-mask", "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x & 0xFFFFFFFF\n",
     "viper-literal"),
    ("viper-const", "import micropython\nfrom micropython import const\n_B = const(0xC0000000)\n"
                    "@micropython.viper\ndef f(x: uint) -> uint:\n    return x | _B\n", "viper-literal"),
    ("viper-folded", "import micropython\n@micropython.viper\ndef f() -> uint:\n    return 0xD000 << 16\n",
     "viper-literal"),
    ("marker-elsewhere", "def f(x):  # not arm time\n    return x & 0xFFFFFFFF\n", "big-operand"),
]


@pytest.mark.parametrize("name,src,rule", BAD, ids=[b[0] for b in BAD])
def test_flags_bad_snippets(tmp_path, name, src, rule):
    found = check(tmp_path, src)
    assert [f.rule for f in found] == [rule], found
    line = found[0].line
    assert src.splitlines()[line - 1].strip().startswith(("return", "x ", "x&", "x<", "x &", "x <"))


GOOD = [
    ("small-mask", "def f(x):\n    return x & 0x3FFFFFFF\n"),
    ("compare", "def f(x):\n    return x < 0xFFFFFFFF or x >= 0x40000000\n"),
    ("literal-arg", "import struct\ndef f(buf):\n    struct.pack_into('>I', buf, 0, 0xC0A80001)\n"),
    ("const-fold", "def f(mem32):\n    return mem32[0xD0000000 + 4]\n"),
    ("module-level", "from micropython import const\n_M = const(0xFFFFFFFF)\nX = 5 + 0x40000000\nY = (1 << 32) - 1\n"),
    ("class-level", "class A:\n    BIG = 0xFFFFFFFF & 0x12345678\n    Z = 3 << 40\n"),
    ("shift29", "def f(x):\n    return x << 29\n"),
    ("small-shift-var", "def f(x, n):\n    return x << n\n"),
    ("arm-time-def", "def f(x):  # arm-time\n    return x & 0xFFFFFFFF\n"),
    ("arm-time-above", "# arm-time: builds the header once\ndef f(x):\n    return (x << 32) | 1\n"),
    ("arm-time-decorated", "import micropython\n@micropython.native  # arm-time\ndef f(x):\n    return x + 0x40000000\n"),
    ("arm-time-multiline-def", "def f(x,\n      y):  # arm-time\n    return x & 0xFFFFFFFF\n"),
    ("arm-time-class", "class A:  # arm-time\n    def f(self, x):\n        return x & 0xFFFFFFFF\n"),
    ("arm-time-line", "def f(x):\n    y = 1\n    return x & 0xFFFFFFFF  # arm-time\n"),
    ("viper-uint", "import micropython\n@micropython.viper\ndef f(x: uint) -> uint:\n"
                   "    return (x & uint(0xFFFFFFFF)) + uint(0xD000) << 16\n"),
    ("viper-native-shift", "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x << 30\n"),
    ("viper-compare-small", "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n"
                            "    if x > 0x3FFFFFFF:\n        return 0\n    return 1\n"),
    ("bool-and-float", "def f(x):\n    return x * 1e12 + True\n"),
]


@pytest.mark.parametrize("name,src", GOOD, ids=[g[0] for g in GOOD])
def test_accepts_good_snippets(tmp_path, name, src):
    assert check(tmp_path, src) == []


# frozen-long: ints outside -0x2000..0x1FFF in tuples the compiler folds into one
# constant (host_tests/fw_qemu/test_fw_frozen.py shows them as long ints on the firmware)
FROZEN_BAD = [
    ("module-table", "T = (('sram', 0x20000000, 0x42000),)\n", [0x20000000, 0x42000]),
    ("edge", "T = (0x2000, -0x2001, 0x1FFF, -0x2000)\n", [0x2000, -0x2001]),
    ("const-name", "from micropython import const\n_B = const(0x4000)\nT = (_B, 1)\n", [0x4000]),
    ("folded", "T = (1 << 14, 2)\n", [0x4000]),
    ("in-list", "L = [('a', 0x4000)]\n", [0x4000]),
    ("in-dict", "D = {'a': (0x4000, 1)}\n", [0x4000]),
    ("default-tuple", "def f(r=(0x4000, 1)):\n    return r\n", [0x4000]),
    ("in-function", "def f():\n    return ('x', 0x4000)\n", [0x4000]),
    ("bare-tuple", "X = 0x4000, 2\n", [0x4000]),
    ("nested", "T = ((1, (2, 0x4000)),)\n", [0x4000]),
]


@pytest.mark.parametrize("name,src,vals", FROZEN_BAD, ids=[b[0] for b in FROZEN_BAD])
def test_flags_frozen_long_ints(tmp_path, name, src, vals):
    found = check(tmp_path, src)
    assert [f.rule for f in found] == ["frozen-long"] * len(vals), found
    assert [f.message.split()[0] for f in found] == [("-0x%X" % -v) if v < 0 else ("0x%X" % v) for v in vals]


FROZEN_GOOD = [
    ("named-values", "SRAM = 0x20000000\nSIZE = 0x42000\nT = (('sram', SRAM, SIZE),)\n"),
    ("list", "L = [0x4000, 5]\n"),
    ("dict", "D = {'port': 20023}\n"),
    ("default-int", "def f(port=20023):\n    return port\n"),
    ("small", "T = (0x1FFF, -0x2000, 'text', b'x', None, True, 1.5)\n"),
    ("runtime-item", "def f(x):\n    return (x, 0x4000)\n"),
    ("arm-time-def", "def f():  # arm-time\n    return (7, 0x4E4405)\n"),
    ("arm-time-line", "T = (7, 0x4E4405)  # arm-time\n"),
]


@pytest.mark.parametrize("name,src", FROZEN_GOOD, ids=[g[0] for g in FROZEN_GOOD])
def test_accepts_tuples_built_at_run_time(tmp_path, name, src):
    assert check(tmp_path, src) == []


def test_arm_time_line_marker_is_per_line(tmp_path):
    src = "def f(x):\n    a = x & 0xFFFFFFFF  # arm-time\n    b = x & 0xFFFFFFFF\n    return a + b\n"
    found = check(tmp_path, src)
    assert [(f.line, f.rule) for f in found] == [(3, "big-operand")]


def test_syntax_error_is_a_finding(tmp_path):
    found = check(tmp_path, "def f(:\n")
    assert [f.rule for f in found] == ["syntax"]


def test_cli(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, FIRMWARE])
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    return x & 0xFFFFFFFF\n")
    good = tmp_path / "good.py"
    good.write_text("def f(x):\n    return x & 0xFFFF\n")
    run = [sys.executable, "-m", "netdump_tools.smallint_check"]
    r = subprocess.run(run + [str(bad), str(good)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [str(bad) + ":2: big-operand: BitAnd with constant 0xFFFFFFFF >= 2**30 "
                                     "builds a big int (mpz) on a board"]
    r = subprocess.run(run + [str(good)], capture_output=True, text=True, env=env, timeout=60)
    assert (r.returncode, r.stdout) == (0, "")
    r = subprocess.run(run + [str(tmp_path / "missing.py")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "no such file" in r.stderr
    assert smallint_check.main([str(good)]) == 0
    assert smallint_check.main([str(bad)]) == 1
