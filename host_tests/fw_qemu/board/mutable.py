# Sent to the board with mpremote exec (after arming): prints the RAM a dump may
# write while it runs, as "MUT <what> <address> <size>" lines, by walking the
# objects the armed dump reaches from the netdump modules' globals (the armed
# state in netdump.fault, the watchdog feed, ...): every bytearray, array and
# memoryview (buffers), the item array of every list, the table of every dict,
# and the attribute table of every instance (where counters and state live).
# Layouts (MicroPython v1.28.0, 32-bit): mp_obj_list_t {base, alloc, len,
# items*}; mp_obj_dict_t and mp_obj_instance_t {base, mp_map_t {flags|used,
# alloc, table*}}; a map table entry is a key and a value (8 bytes).
import machine
import uctypes

import sys


def _walk(roots):
    seen = set()
    todo = list(roots)
    out = []
    while todo:
        o = todo.pop()
        if o is None or isinstance(o, (int, str, bytes, bool, float)) or id(o) in seen:
            continue
        seen.add(id(o))
        t = type(o)
        a = id(o)
        if t is bytearray or t is memoryview:
            out.append(("buf", uctypes.addressof(o), len(o)))
        elif t.__name__ == "array":  # array.array: its items, len(bytearray(o)) bytes
            out.append(("buf", uctypes.addressof(o), len(bytearray(o))))
        elif t is list:
            out.append(("list", machine.mem32[a + 12], machine.mem32[a + 4] * 4))
            todo.extend(o)
        elif t is tuple:
            todo.extend(o)
        elif t is dict:
            out.append(("dict", machine.mem32[a + 12], machine.mem32[a + 8] * 8))
            todo.extend(o.values())
        elif type(o) is type(sys):  # a module: the globals of netdump's own, not of the others
            if o.__name__ == "netdump" or o.__name__.startswith("netdump."):
                todo.extend(o.__dict__.values())
        elif hasattr(o, "__dict__") and not hasattr(o, "__name__"):  # an instance, not a module/class/function
            out.append((t.__name__, machine.mem32[a + 12], machine.mem32[a + 8] * 8))
            todo.extend(o.__dict__.values())
    return out


for _w, _a, _n in _walk([m for k, m in sys.modules.items() if k == "netdump" or k.startswith("netdump.")]):
    print("MUT", _w, _a, _n)
