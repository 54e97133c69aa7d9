# The device side of bench/bench_memory.py: measures GC heap use on MicroPython
# (the unix port now; a board or an emulated board over mpremote later). The
# host runs it with a first line "ARGS = {...}" prepended and reads the lines
# it prints:
#   @@MEM <what> <name> <bytes>       one measurement
#   @@MODS <module> <module> ...      the modules the boot line loaded
#   @@QSTR <tag>, then micropython.qstr_info()'s line: the interned strings
#                                     (qstrs) at that point
#   @@ERR <text>                      the case could not run
#
# Method: gc.mem_free() after gc.collect(), before and after a step; the
# difference is what the step keeps (its garbage is collected before the
# second reading). The GC hands out blocks of 4 words (16 bytes on 32-bit
# ports, 32 on 64-bit ones), so figures are multiples of a block. The GC scans
# the C stack conservatively: a stale pointer there keeps garbage alive (a
# compiler's parse tree, for a .py import), so the stack is overwritten by a
# short recursion before each reading; what remains is noise of a few blocks.
#
# Cases (ARGS["case"]):
#   "import"  import ARGS["modules"] one after the other: per module, what its
#             import adds to what the earlier ones loaded
#   "boot"    the boot.py line: import netdump.panic, then arm_config() with the
#             netdump.json in the current directory; also the modules loaded
#   "armed"   import ARGS["preload"] first, then arm_config() with the
#             constructors of the armed objects wrapped to measure each one:
#             "@@MEM obj <depth>:<class> <bytes>" in construction order,
#             inclusive of the objects made inside
# ARGS["w5500_spi"]: on the unix port, a path to the W5500 emulator's SPI
# link; a stand-in machine module (SPI, Pin) then reaches it (what a board's
# firmware has built in, so it is set up before measuring).
# ARGS["setup"]: code run before anything is measured (on the firmware bed: mount
# the RAM disk, write netdump.json, set sys.path for the install form, a stand-in
# machine module for a W5500 configuration).
import gc
import sys


def _scrub(n):
    # overwrite the C stack below us, so stale pointers there keep no garbage alive
    a = b = c = d = e = f = g = h = 0
    if n:
        _scrub(n - 1)
    return a + b + c + d + e + f + g + h


def free():
    try:
        _scrub(30)
    except RuntimeError:  # a small C stack (rp2), deep inside arm(): scrub what fits
        try:
            _scrub(6)
        except RuntimeError:
            pass
    gc.collect()
    gc.collect()
    return gc.mem_free()


def fake_machine(spi_path, cs_pin):
    """A machine module whose SPI and Pin reach the W5500 emulator (unix port only)."""
    from spi_stub import LinkPin, LinkSPI

    class Dummy:  # any other pin (RST, SCK, ...): keeps its level
        def __init__(self):
            self.v = 1

        def value(self, v=None):
            if v is None:
                return self.v
            self.v = v
            return None

        def __call__(self, v=None):
            return self.value(v)

        def irq(self):  # the INTn pin: its irq object, whose trigger() the driver uses
            return self

        def trigger(self, t=None):
            return 0

    # made now, not when the board module asks for them: on a board these are
    # small objects of the firmware, not 4 KiB link buffers
    spi = LinkSPI(spi_path)
    cs = LinkPin(spi)
    other = Dummy()

    class Pin:  # machine.Pin(id, mode): the chip-select pin talks to the link
        OUT = 1
        IN = 0

        def __call__(self, pid=None, *a, **kw):
            return cs if pid == cs_pin else other

    class Machine:
        def __init__(self):
            self.Pin = Pin()

        def SPI(self, *a, **kw):  # noqa: N802 - machine.SPI is a class on boards
            return spi

        def reset(self):
            sys.exit(0)

    sys.modules["machine"] = Machine()


def qstrs(tag):
    print("@@QSTR", tag)
    try:
        import micropython

        micropython.qstr_info()
    except (ImportError, AttributeError):
        pass


def case_import(modules):
    for m in modules:
        f0 = free()
        qstrs("before " + m)
        try:
            __import__(m)
        except SyntaxError:  # netdump.fast_thumb: a port without the inline Thumb assembler
            print("@@SKIP", m)
            qstrs("after " + m)
            continue
        f1 = free()
        qstrs("after " + m)
        print("@@MEM import", m, f0 - f1)


def case_boot():
    before = list(sys.modules)
    f0 = free()
    qstrs("start")
    import netdump.panic

    f1 = free()
    qstrs("imported")
    d = netdump.panic.arm_config()
    f2 = free()
    qstrs("armed")
    if d is None:
        print("@@ERR not armed")
        return
    print("@@MEM boot import_panic", f0 - f1)
    print("@@MEM boot arm_config", f1 - f2)
    print("@@MEM boot total", f0 - f2)
    print("@@MODS", " ".join(sorted([k for k in sys.modules if k not in before])))


# the classes whose objects arm() keeps, by module
WRAP = (
    ("netdump.drivers.w5500", "W5500"), ("netdump.drivers.vnic", "VNic"), ("netdump.ether", "EtherEndpoint"),
    ("netdump.link", "Link"), ("netdump.ip4", "Udp4"), ("netdump.ip6", "Udp6"), ("netdump.arp", "Arp"),
    ("netdump.ndp", "Ndp"), ("netdump.endpoint", "SocketEndpoint"), ("netdump.debugnet", "Debugnet"),
    ("netdump.dumper", "Dumper"), ("netdump.elfcore", "CoreLayout"), ("netdump.debugnet", "BufferSource"),
    ("netdump.dumper", "MemSource"), ("netdump.dumper", "KdhSource"), ("netdump.fault", "Fault"),
    ("netdump.console", "Console"),
)


def _wrap(cls, name, depth):
    orig = cls.__init__

    def init(self, *a, **kw):
        f0 = free()
        depth[0] += 1
        try:
            orig(self, *a, **kw)
        finally:
            depth[0] -= 1
        print("@@MEM obj %d:%s %d" % (depth[0], name, f0 - free()))

    cls.__init__ = init


def case_armed(preload):
    for m in preload:
        gc.collect()  # each import's compile garbage gone before the next: no needless fragments
        __import__(m)
    depth = [0]
    for mod, name in WRAP:
        m = sys.modules.get(mod)
        if m is not None:
            _wrap(getattr(m, name), name, depth)
    import netdump.panic

    f0 = free()
    d = netdump.panic.arm_config()
    f1 = free()
    if d is None:
        print("@@ERR not armed")
        return
    print("@@MEM armed total", f0 - f1)


def main(args):
    if args.get("setup"):
        exec(args["setup"], {})
    if args.get("w5500_spi"):
        fake_machine(args["w5500_spi"], args.get("cs", 17))
    case = args["case"]
    if case == "import":
        case_import(args["modules"])
    elif case == "boot":
        case_boot()
    elif case == "armed":
        case_armed(args["preload"])
    else:
        print("@@ERR unknown case", case)


main(ARGS)  # noqa: F821 - prepended by bench/bench_memory.py
