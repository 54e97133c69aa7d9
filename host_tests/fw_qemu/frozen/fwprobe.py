# Frozen into the QEMU test-bed firmware only (tools/fwbuild.py BOARD_MANIFEST),
# never shipped: int constants in the forms a board module may hold them.
# host_tests/fw_qemu/test_fw_frozen.py checks, on the firmware, which of
# VALUES are long-int objects, and that they are exactly the ones
# tools/smallint_check.py flags (rule frozen-long) in this file.
from micropython import const

_C = const(0x4000)
NAMED = 0x4000

TUPLE = (0x4000, 5)  # a constant tuple: frozen by mpy-tool.py as one object
CONST_TUPLE = (_C, 5)  # const() names are folded into it too
NESTED = [("a", 0x4000)]  # the inner tuple is constant
NAMED_TUPLE = (NAMED, 5)  # a global name: the tuple is built at run time
LIST = [0x4000, 5]
DICT = {"a": 0x4000}
SMALL_TUPLE = (0x1FFF, -0x2000)  # the edge of what a frozen object holds as small ints

# netdump/board.py's RP2040 table as it was before the fix (a constant tuple)
OLD_RP2040_REGIONS = (("sram", 0x20000000, 0x42000),)


def default(p=0x4000):
    return p


def literal():
    return 0x4000


def values():
    """name -> the int to probe (arm time; allocates)."""
    return {
        "tuple": TUPLE[0],
        "const_tuple": CONST_TUPLE[0],
        "nested": NESTED[0][1],
        "named_tuple": NAMED_TUPLE[0],
        "list": LIST[0],
        "dict": DICT["a"],
        "small_tuple": SMALL_TUPLE[0],
        "default": default(),
        "literal": literal(),
        "old_table_addr": OLD_RP2040_REGIONS[0][1],
        "old_table_size": OLD_RP2040_REGIONS[0][2],
    }

