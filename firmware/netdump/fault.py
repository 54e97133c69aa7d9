# The armed fault state and what every fault path shares (FreeBSD's
# kern_shutdown.c: one dump at a time, then the console, then the action).
# panic.py builds the state at arm time and holds the entry points (panic,
# guard, test_dump); console.py and watchdog.py use what is here, so none of
# them needs another's module.
#
#   Fault(...)                  everything a fault path touches, made at arm
#   armed[0], ctx[0]            the armed Dumper and its Fault (None: not armed)
#   dump(msg, tb, tb_len, msg_len) -> err    dump now, heap locked, no action
#   fault_dump(msg, with_tb, msg_len) -> err  the same for a fault, remembered
#   retry() -> err              dump the last fault again (console `netdump`)
#   retarget(ip4, port) -> err  point the armed endpoint at another IPv4 server
#   after(err) -> err           console (if configured), then reset/halt;
#                               continuing: resume()
#   resume()                    give the endpoint's NIC back to the firmware
#                               (EtherEndpoint.release -> nic.stop) before the
#                               application goes on
#   halt()                      idle for good (feeding the hardware watchdog)
#   stamp()                     at a fault's entry, heap unlocked: the RTC into
#                               the armed dump's time (it may allocate)
#   tick()                      fold the seconds since the last call into the
#                               dump time and the uptime (the hang watchdog's
#                               every check): ticks_ms() wraps at 2**30 ms
#   why[0]                      why the board is not armed (one line)
#
# While a dump runs, Ctrl-C is an ordinary character (micropython.kbd_intr(-1)):
# mpremote sends one when it connects, and a KeyboardInterrupt inside the dump
# would end it half way; it is an interrupt again (kbd_intr(3)) afterwards.
# kbd_off()/kbd_on() nest (the console's `netdump` dumps inside the console).
#
# Everything after arm allocates nothing.
import sys
import time

from netdump import dumper, fast
from netdump.compat import CTRL_C, IS_MICROPYTHON, heap_lock, heap_unlock, kbd_intr, rtc_seconds, uptime_s
from netdump.feed import feed

ACT_CONTINUE = 0
ACT_RESET = 1
ACT_HALT = 2
ACTIONS = {"continue": ACT_CONTINUE, "reset": ACT_RESET, "halt": ACT_HALT}

if IS_MICROPYTHON:
    _sleep_ms = time.sleep_ms
else:

    def _sleep_ms(ms):
        time.sleep(ms / 1000)


ERR_NO_RETARGET = 102  # the endpoint cannot change its server
ERR_BUSY = 103  # a dump is already running (a fault inside it does not start another)
MSG_CAP = 128  # longest panic message built by guard()
_HALT_FEED_MS = 100  # halt() feeds the hardware watchdog this often (config.WDT_MIN_MS)

# The armed dumper and fault state, in lists created at import so no fault
# path ever binds a new global: armed[0] the Dumper, ctx[0] the Fault.
armed = [None]
ctx = [None]
# 1 while dump() runs: scheduled callbacks (the watchdog's expiry) still run
# between bytecodes under heap_lock(), and must not re-enter the transport
busy = [0]
# 1 from a fault's dump through its console and action: a second fault then
# (the watchdog expiring while the console waits) is ignored, not nested
in_fault = [0]
# why the board is not armed: set by netdump.panic.arm_config() when arming failed
NOT_ARMED = "arm_config() was not run (boot.py: import netdump.panic; netdump.panic.arm_config())"
why = [NOT_ARMED]
_kbd = [0]  # kbd_off() depth


def default_reset():
    """Reboot the board (machine.reset; the unix port: the process ends)."""
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        pass
    sys.exit(0)  # the unix port: the process ends


def kbd_off():
    """Ctrl-C becomes a character (nests with kbd_on)."""
    if not _kbd[0]:
        kbd_intr(-1)
    _kbd[0] += 1


def kbd_on():
    """Undo one kbd_off(); the outermost makes Ctrl-C an interrupt again."""
    _kbd[0] -= 1
    if not _kbd[0]:
        kbd_intr(CTRL_C)


class Fault:
    """Everything the fault paths touch, made at arm time."""

    def __init__(self, d, endpoint, tb_cap, action, console_s, reset_fn, board):
        self.d = d
        self.ep = endpoint
        self.action = action
        self.console_s = console_s
        self.reset_fn = reset_fn
        self.board = board if isinstance(board, str) else getattr(board, "NAME", "")
        # the traceback is held once: guard() prints it through tbsink straight into the ELF
        # core's traceback note (elfcore.CoreLayout.traceback_view)
        lay = getattr(d, "layout", None)
        if lay is not None and lay.tb_cap == tb_cap:
            self.tb = lay.traceback_view()
        else:
            self.tb = bytearray(tb_cap)
        self.tb_n = 0
        self.tbsink = TracebackSink(self.tb) if IS_MICROPYTHON else None
        self.msg = bytearray(MSG_CAP)  # guard()'s panic message: its first msg_n bytes
        self.msg_n = 0
        self.last_msg = "netdump"  # message of the last fault dump, for console retries
        self.last_msg_n = -1  # its length (-1: all of it)
        self.last_tb = 0  # 1 when tb holds the last fault's traceback
        self.err = 0
        self.ip4 = bytearray(4)  # console scratch: a parsed server address
        self.con = None
        self.release = getattr(endpoint, "release", None)


if IS_MICROPYTHON:
    import io

    class TracebackSink(io.IOBase):
        """The stream guard() prints a traceback into: its text lands in buf (the ELF core's
        traceback note) and what does not fit is dropped. sys.print_exception() needs a stream
        with a C write; io.IOBase gives a Python class one, calling write() with the text in a
        bytearray that lives on the C stack (py/modio.c), so no copy is held anywhere else."""

        def __init__(self, buf):  # arm-time
            self.buf = buf
            self.n = 0  # bytes in buf

        def write(self, b):
            n = self.n
            k = len(self.buf) - n
            if k > len(b):
                k = len(b)
            if k > 0:
                _copy(self.buf, n, b, 0, k)
                self.n = n + k
            return len(b)  # all of it taken: the stream does not ask again

    _copy = fast.copy
    del io


def stamp():
    """At a fault's entry, before the heap is locked: read the RTC into the armed dump's time.
    Reading it makes a long int on a board; when that fails (a full heap), the seconds since
    the last anchor are folded in from ticks_ms() instead (allocation-free)."""
    d = armed[0]
    if d is None:
        return
    try:
        t = rtc_seconds()
        if t > 0:
            d.set_time(t)
            return
    except MemoryError:
        pass
    d.tick()


# ---- fault time: nothing below allocates -------------------------------------

def tick():
    """Fold the time since the last call into the dump time and the uptime, so that neither
    wraps with ticks_ms() however long the board runs (the hang watchdog calls it each check)."""
    if busy[0] or in_fault[0]:
        return  # a dump folds them itself; a callback between its bytecodes must not
    uptime_s()
    d = armed[0]
    if d is not None:
        d.tick()


def dump(panic_message, traceback_text=None, tb_len=-1, msg_len=-1):
    """Dump the armed regions with the heap locked; returns 0 or an error code."""
    d = armed[0]
    if d is None:
        print("netdump: not armed:", why[0])
        return dumper.ERR_NOT_ARMED
    if busy[0]:
        print("netdump: a dump is already running")
        return ERR_BUSY
    busy[0] = 1
    f = ctx[0]
    if f is not None and traceback_text is None:
        f.last_tb = 0  # this dump clears the traceback note that f.tb views
    err = dumper.ERR_INTERNAL
    kbd_off()
    heap_lock()
    try:
        err = d.dump(panic_message, traceback_text, tb_len, msg_len)
    except Exception as e:  # never leave the heap locked; report after unlocking
        err = dumper.ERR_INTERNAL
        d.err = err
        if IS_MICROPYTHON:
            sys.print_exception(e)
    finally:
        heap_unlock()
        kbd_on()
        busy[0] = 0
    if f is not None:
        f.err = err
    return err


def fault_dump(msg, with_tb, msg_len=-1):
    """Dump for a fault (with the traceback captured in ctx[0].tb when with_tb), remembered for retry()."""
    f = ctx[0]
    if f is None:
        return dump(msg, None, -1, msg_len)
    f.last_msg = msg
    f.last_msg_n = msg_len
    f.last_tb = with_tb
    if with_tb:
        return dump(msg, f.tb, f.tb_n, msg_len)
    return dump(msg, None, -1, msg_len)


def retry():
    """Dump the last fault again (the console's `netdump`) -> err."""
    f = ctx[0]
    if f is None:
        return dump("netdump")
    if f.last_tb:
        return dump(f.last_msg, f.tb, f.tb_n, f.last_msg_n)
    return dump(f.last_msg, None, -1, f.last_msg_n)


def after(err):
    """After a fault dump: the panic console (if configured), then the action -> err when continuing."""
    f = ctx[0]
    if f is None:
        return err
    act = f.action
    if f.console_s != 0:
        act = f.con.run(f.console_s, act)
        err = f.err
    if act == ACT_RESET:
        print("netdump: resetting")
        f.reset_fn()
    elif act == ACT_HALT:
        halt()
    resume()
    return err


def resume():
    """Before the application goes on after a dump: give the NIC back to the firmware's driver."""
    f = ctx[0]
    if f is not None and f.release is not None:
        f.release()


def halt():
    """Stop here for good, idling (state kept for a debugger; the hardware watchdog fed)."""
    print("netdump: halted")
    while True:
        feed()
        _sleep_ms(_HALT_FEED_MS)


def retarget(ip4, port):
    """Point the armed endpoint at IPv4 server ip4 (4 bytes), herald port `port` -> 0 or err."""
    f = ctx[0]
    if f is None:
        return dumper.ERR_NOT_ARMED
    ep = f.ep
    if hasattr(ep, "set_server"):  # SocketEndpoint, EtherEndpoint: in place, without allocating
        return ep.set_server(ip4, port)
    return ERR_NO_RETARGET
