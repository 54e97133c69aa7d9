"""The frozen-int defect on the frozen firmware, and the three install forms.

micropython/micropython tools/mpy-tool.py freezes an int outside -0x2000..0x1FFF that sits in a constant
tuple as a long-int object, whatever its value; arithmetic on it allocates, so
a dump from such a board table failed under heap_lock() (ERR_INTERNAL 101,
MemoryError in dumper._count_kb). Here, on the firmware:
  * the probe module frozen into the test-bed firmware (frozen/fwprobe.py)
    holds long ints exactly where smallint-check's rule frozen-long says;
  * the project's frozen board tables hold small ints;
  * a dump whose regions come from a frozen long-int table (the old RP2040
    table, kept in fwprobe) completes, because the dumper converts region
    values at arm time; with that conversion disabled it fails with 101, as
    before the fix (the protection is what makes it pass);
  * the package installed as .py files, as .mpy files (the same source's
    mpy-cross) and frozen each completes a dump."""
import os
import shutil

import pytest

from fw_qemu_fixtures import PROBE_DIR, compile_mpy, lines_with, ram_regions
from netdump_tools import smallint_check
from netdump_tools.qemu_board import mpremote

# probe name -> the text on the line smallint-check reports for it in fwprobe.py
PROBES = {"tuple": "TUPLE = (", "const_tuple": "CONST_TUPLE = (", "nested": "NESTED = [",
          "named_tuple": "NAMED_TUPLE = (", "list": "LIST = [", "dict": "DICT = {",
          "small_tuple": "SMALL_TUPLE = (", "default": "def default(", "literal": "return 0x4000",
          "old_table_addr": "OLD_RP2040_REGIONS = (", "old_table_size": "OLD_RP2040_REGIONS = ("}

# on the board: is v a long-int object? (v + 1 allocates then; a function, so
# nothing but the sum can allocate while the heap is locked)
IS_LONG = """import micropython
def is_long(v):
    micropython.heap_lock()
    try:
        v + 1
        r = 0
    except MemoryError:
        r = 1
    micropython.heap_unlock()
    return r
"""

# which probe values are long ints
PROBE_CODE = IS_LONG + """import fwprobe
for k, v in sorted(fwprobe.values().items()):
    print('LONG' if is_long(v) else 'SMALL', k)
"""

# every int below 2**30 in the frozen board tables is a small int
TABLES_CODE = IS_LONG + """from netdump import board as b
import qemu_mps2_an385 as q
bad = []
rp2, esp32 = b.chip('rp2040'), b.chip('esp32')
for name, t in (('RP2040_SAFE', rp2[4]), ('RP2040_REGIONS', rp2[5]), ('ESP32_SAFE', esp32[4]),
                ('ESP32_REGIONS', esp32[5]), ('qemu SAFE', q.SAFE), ('qemu REGIONS', q.REGIONS)):
    for r in t:
        for v in r[1:]:
            if v < 0x40000000 and is_long(v):
                bad.append((name, r[0], v))
print('FROZEN', 'no' if b.__file__.startswith('/') else 'yes')
print('LONG_IN_TABLES', bad)
"""


def flagged_probes():
    """The probe names whose constant smallint-check flags (rule frozen-long) in fwprobe.py."""
    path = os.path.join(PROBE_DIR, "fwprobe.py")
    with open(path) as f:
        lines = f.read().splitlines()
    found = {f.line for f in smallint_check.check_file(path) if f.rule == "frozen-long"}
    out = set()
    for name, text in PROBES.items():
        where = [i + 1 for i, ln in enumerate(lines) if ln.strip().startswith(text)]
        assert len(where) == 1, (name, where)
        if where[0] in found:
            out.add(name)
    return out


def test_long_ints_on_the_firmware_are_what_smallint_check_flags(board):
    st, out = mpremote(board.device, "exec", PROBE_CODE)
    assert st == 0, out
    long_ = set(lines_with(out, "LONG "))
    small = set(lines_with(out, "SMALL "))
    assert long_ | small == set(PROBES), out
    # the premise: freezing still makes long ints of tuple constants (else this bed tests nothing)
    assert long_ == {"tuple", "const_tuple", "nested", "old_table_addr", "old_table_size"}, out
    assert long_ == flagged_probes()


def test_frozen_board_tables_hold_small_ints(board):
    st, out = mpremote(board.device, "exec", TABLES_CODE)
    assert st == 0, out
    assert "FROZEN yes" in out and "LONG_IN_TABLES []" in out, out


def _arm_dump(bed, regions_expr, pre=""):
    return (pre + bed.endpoint_code() +
            "import netdump.panic as p\n"
            "from netdump.elfcore import EM_ARM\n"
            "d = p.arm(%r, %s, EM_ARM, 32, 'arm', endpoint=ep, board='qemu_mps2_an385')\n"
            "print('RESULT', p.test_dump())\n" % (bed.GATEWAY, regions_expr))


def test_dump_from_a_frozen_long_int_table(bed):
    # protection disabled: the dumper keeps the table's long ints -> MemoryError under the lock
    st, out = bed.exec(_arm_dump(bed, "fwprobe.OLD_RP2040_REGIONS",
                                 "import fwprobe\nimport netdump.dumper as dm\nsmall = dm.small\n"
                                 "dm.small = lambda v: v\n"))
    assert st == 0, out
    assert "RESULT 101" in out and "MemoryError" in out, out
    # as shipped: converted at arm time, the same table dumps
    st, out = bed.exec("dm.small = small\n" + _arm_dump(bed, "fwprobe.OLD_RP2040_REGIONS"))
    assert st == 0, out
    assert "RESULT 0" in out and "netdump finished." in out, out


def _install(tmp, form, mpy_cross):
    """A folder holding the QEMU board's chain (docs/packages.md) as .py or .mpy files -> its path."""
    from netdump_tools import packages

    lib = os.path.join(tmp, "lib-" + form)
    for target, src in packages.chain("qemu_mps2_an385"):
        dst = os.path.join(lib, target)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if form == "py":
            shutil.copyfile(src, dst)
        else:
            compile_mpy(mpy_cross, src, dst[:-3] + ".mpy")
    return lib


@pytest.mark.parametrize("form", ["py", "mpy", "frozen"])
def test_each_install_form_dumps(bed, firmware, mpy_cross_128, form, tmp_path):
    data = ram_regions(firmware)[0]
    # installed forms: imports may not fall back to the frozen copy. Loading
    # modules from files (compiling .py ones) leaves garbage between the code it
    # keeps; gc.threshold(4096) (the README's advice for small heaps) collects as
    # it goes, so the 140 KiB heap keeps pieces big enough for arm()'s buffers
    # (1.5 KiB frame buffers). Frozen code lives in flash and needs none of it.
    pre = "" if form == "frozen" else "import sys, gc\nsys.path.remove('.frozen')\ngc.threshold(4096)\n"
    code = (pre + "import sys, netdump, qemu_mps2_an385, gc\n"
            "print('FROM', netdump.__file__, qemu_mps2_an385.__file__, '.frozen' in sys.path)\n"
            "from netdump import config, debugnet\n"
            "board = config.load_board('qemu_mps2_an385')\n"
            "import netdump.panic as p\n"
            "conf = config.validate({'board': 'qemu_mps2_an385', 'client': %r, 'server': %r, 'netmask': '/24',"
            " 'herald_port': %d, 'client_port': %d, 'regions': ['data:0x%x:%d']}, board)\n"
            "d = p.arm(conf['server'], config.regions(conf, board), board.MACHINE, board.ELFCLASS, board.ARCH,"
            " endpoint=board.make_endpoint(conf), board=board)\n"
            "gc.collect()\n"
            "print('FREE', gc.mem_free())\n"
            "print('RESULT', p.test_dump())\n"
            % (bed.CLIENT, bed.GATEWAY, bed.herald_port, bed.client_port, data[1], data[2]))
    mount = None if form == "frozen" else _install(str(tmp_path), form, mpy_cross_128)
    st, out = bed.exec(code, mount=mount, resume=False, timeout=300)
    assert st == 0, out
    where = lines_with(out, "FROM ")[0].split()
    if form == "frozen":
        assert where == ["netdump/__init__.py", "qemu_mps2_an385.py", "True"], out
    else:  # the mounted folder is the current directory; nothing frozen can be imported
        assert where == ["netdump/__init__." + form, "qemu_mps2_an385." + form, "False"], out
    assert "RESULT 0" in out and "netdump finished." in out, out
    print("[install] %s: dump finished, %s bytes of heap free after arming" % (form, lines_with(out, "FREE ")[0]))
