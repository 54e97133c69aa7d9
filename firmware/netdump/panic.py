# Fault-time entry points (FreeBSD panic(9), kern_shutdown.c, ddb's `dump`
# and `netdump -s`). arm() builds everything a dump needs (it may allocate;
# its code is netdump/arming.py, loaded only to arm);
# everything after it runs without allocating:
#
#   arm(server, regions, machine, elfclass, arch, ...) -> Dumper
#   arm_config(path="netdump.json") -> Dumper or None   the boot.py line:
#       import netdump.panic; netdump.panic.arm_config()
#       (any failure: one line "netdump: not armed: ...", kept in fault.why)
#   set_wdt(wdt)                              feed this machine.WDT on the
#                                             fault path from now on
#   dump(msg, tb=None, tb_len=-1) -> err      dump now, heap locked; no action
#   panic(msg) -> err                         dump, then the panic console
#                                             (if configured), then reset/halt
#   guard(main) -> main()'s result            run the application; on an
#                                             unhandled exception: traceback
#                                             into a preallocated buffer,
#                                             dump, console, reset/halt
#   test_dump() -> err                        a dump on request, then carry
#                                             on (sysctl debug.kdb.panic=1
#                                             without the reboot)
#   resume()                                  after dump(): give the NIC back
#                                             to the firmware's driver
#   console(timeout_s=-1) -> action           the panic console by hand
#   retarget(ip4, port) -> err                point the armed endpoint at
#                                             another IPv4 server, in place
#   watchdog(timeout_ms, ...) -> Watchdog     hang watchdog (watchdog.py)
#
# Actions after a fault dump: ACT_RESET (board reset; the unix virtual board
# ends its process and tools/vboard.py starts it again), ACT_HALT (idle loop,
# state kept for a debugger), ACT_CONTINUE (return to the caller).
#
# Tracebacks: sys.print_exception(e, stream) needs a stream with a C write
# (a plain Python class with write() does not count). fault.TracebackSink, an
# io.IOBase subclass made at arm, is one: it copies the text straight into the
# ELF core's traceback note, under heap_lock() (the write call's frame then
# goes on the C stack), and drops what does not fit.
#
# Panic message of guard(): the last line of the traceback ("ValueError:
# bad"), copied into a bytearray made at arm; its length travels with it
# (msg_len) down to the ELF note and the kerneldumpheader.
import sys

from netdump import fault, feed
from netdump.compat import IS_MICROPYTHON, heap_lock, heap_unlock

# the public names of the fault state, used by applications as netdump.panic.*
from netdump.fault import (ACT_CONTINUE, ACT_HALT, ACT_RESET, ERR_BUSY, ERR_NO_RETARGET,  # noqa: F401
                           MSG_CAP, dump, halt, resume, retarget, retry)


def arm(server, regions, machine, elfclass, arch, **options):  # arm-time
    """Prepare a dump of regions [(name, address, size), ...] to netdumpd at `server` -> the
    Dumper (the options: netdump/arming.py arm())."""
    from netdump import arming

    return arming.arm(server, regions, machine, elfclass, arch, **options)


def arm_config(path=None):
    """Arm from the dumpon configuration file -> the Dumper; on any failure one line
    ("netdump: not armed: ...", also kept in fault.why[0]) and None. The modules only
    arming needs (CONFIG_MODULES, the board's data), when this call loaded them, are
    forgotten afterwards: an installed board keeps their code out of its heap."""
    before = list(sys.modules)
    from netdump import arming

    try:
        return arming.arm_config(path)
    finally:
        arming.forget(before, CONFIG_MODULES)


# what arm_config() loads only to arm: the arming code (netdump.arming), the configuration, the
# board reader (netdump.board), the address parser (netdump.addr: the endpoints import it inside
# their constructors)
CONFIG_MODULES = ("netdump.arming", "netdump.config", "netdump.board", "netdump.addr")


def set_wdt(wdt):
    """Feed this hardware watchdog (a machine.WDT) on the fault path from now on (None: none)."""
    feed.wdt[0] = wdt


def disarm():
    """Forget the armed dumper (its sockets stay with the endpoint's owner)."""
    fault.armed[0] = None
    fault.ctx[0] = None


def panic(msg):
    """Dump with this message, then the panic console and the configured action."""
    if fault.busy[0] or fault.in_fault[0]:  # a fault inside fault handling (the watchdog's expiry)
        print("panic:", msg, "(during fault handling; ignored)")
        return ERR_BUSY
    fault.in_fault[0] = 1
    try:
        fault.stamp()
        heap_lock()
        try:
            print("panic:", msg)
            err = fault.fault_dump(msg, 0)
        finally:
            heap_unlock()
        return fault.after(err)
    finally:
        fault.in_fault[0] = 0


def test_dump(msg="netdump test dump"):
    """Dump now on request and carry on (no console, no reset) -> err."""
    print("netdump: test dump")
    fault.stamp()
    err = dump(msg)
    resume()
    return err


def _capture(e):
    # traceback text of e into f.tb (f.tb_n bytes), last line into f.msg
    f = fault.ctx[0]
    n = 0
    if IS_MICROPYTHON:
        sink = f.tbsink
        sink.n = 0
        try:
            sys.print_exception(e, sink)
        except BaseException:  # noqa: B036 - e's text failed part way (its __str__ allocates, a
            pass  # KeyboardInterrupt): what was written is kept, and the dump goes on
        n = sink.n
    else:  # CPython (tests): allocation is fine here
        import traceback

        t = "".join(traceback.format_exception(type(e), e, e.__traceback__)).encode()
        n = min(len(t), len(f.tb))
        f.tb[0:n] = t[:n]
    f.tb_n = n
    # the last non-empty line of the traceback
    tb = f.tb
    end = n
    while end > 0 and (tb[end - 1] == 10 or tb[end - 1] == 13):
        end -= 1
    start = end
    while start > 0 and tb[start - 1] != 10:
        start -= 1
    m = f.msg
    if end - start > fault.MSG_CAP:
        end = start + fault.MSG_CAP
    k = 0
    while start < end:
        m[k] = tb[start]
        k += 1
        start += 1
    f.msg_n = k


def _print_tb(e):
    # the traceback on the console too (print_exception to sys.stdout does not allocate)
    if IS_MICROPYTHON:
        try:
            sys.print_exception(e)
        except BaseException:  # noqa: B036 - as in _capture: the dump goes on
            pass
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stdout)


def guard(main):
    """Run main(); on an unhandled exception dump with its traceback, then console and reset/halt."""
    try:
        return main()
    except KeyboardInterrupt:  # separate clauses: a tuple here would be built at run time
        raise
    except SystemExit:
        raise
    except BaseException as e:  # noqa: B036 - this is the fault handler
        f = fault.ctx[0]
        if f is None:
            print("netdump: not armed")
            raise
        fault.in_fault[0] = 1
        try:
            # e's text first: after a full (or locked) heap, e is MicroPython's one emergency
            # exception object (py/objexcept.c, mp_emergency_exception_obj), and the MemoryError
            # that stamp() may catch is that same object, its traceback replaced
            heap_lock()
            try:
                _capture(e)
                print("panic: unhandled exception")
                _print_tb(e)
            finally:
                heap_unlock()
            fault.stamp()  # the RTC (a long int on a board); a full heap falls back to ticks
            heap_lock()
            try:
                err = fault.fault_dump(f.msg, 1, f.msg_n)
            finally:
                heap_unlock()
            return fault.after(err)
        finally:
            fault.in_fault[0] = 0


def console(timeout_s=-1):
    """Run the panic console by hand -> the action chosen (ACT_*); reset/halt are carried out."""
    f = fault.ctx[0]
    if f is None:
        print("netdump: not armed")
        return ACT_CONTINUE
    act = f.con.run(timeout_s, ACT_CONTINUE)
    if act == ACT_RESET:
        f.reset_fn()
    elif act == ACT_HALT:
        halt()
    resume()
    return act


def watchdog(timeout_ms, period_ms=0, timer_id=None, start=True):
    """A hang watchdog whose expiry calls panic(); feed() it from the application loop."""
    from netdump import watchdog as _wd

    w = _wd.Watchdog(timeout_ms, period_ms=period_ms, timer_id=timer_id, on_expire=panic)
    if start:
        w.start()
    return w
