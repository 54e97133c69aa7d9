# Fault-time entry points (FreeBSD panic(9), kern_shutdown.c, ddb's `dump`
# and `netdump -s`). arm() builds everything a dump needs (it may allocate);
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
# Tracebacks: sys.print_exception(e, stream) needs a real stream object (a
# Python class with write() does not count, and io.IOBase subclasses allocate
# per write), so arm() makes an io.BytesIO with its capacity preallocated;
# printing into it under heap_lock() allocates nothing while the text fits.
# A longer traceback stops with a MemoryError and is kept as far as it got.
#
# Panic message of guard(): the last line of the traceback ("ValueError:
# bad"), copied into a bytearray made at arm; its length travels with it
# (msg_len) down to the ELF note and the kerneldumpheader.
import sys

from netdump import dumper, fault, feed
from netdump.compat import IS_MICROPYTHON, heap_lock, heap_unlock, rtc_seconds, uptime_s

# the public names of the fault state, used by applications as netdump.panic.*
from netdump.fault import (ACT_CONTINUE, ACT_HALT, ACT_RESET, ERR_BUSY, ERR_NO_RETARGET,  # noqa: F401
                           MSG_CAP, dump, halt, resume, retarget, retry)


def _version_string():
    impl = sys.implementation
    v = impl.version
    s = "%s %d.%d.%d" % (impl.name, v[0], v[1], v[2])
    m = getattr(impl, "_machine", None)
    if m:
        s += " " + m
    return s + "\n"  # kern_shutdown.c: version strings end with a newline


def arm(server, regions, machine, elfclass, arch, endpoint=None, archver=1, hostname="micropython",
        board="", path=None, mode=None, window=None, skip_zero=True, herald_port=20023, client_port=20024,
        client_ip="", mtu=1500, tb_cap=1024, action="reset", console=0, reset=None, digest=True, wdt=None,
        **transport_opts):  # arm-time
    """Prepare a dump of regions [(name, address, size), ...] to netdumpd at `server`.

    Creates the endpoint (a SocketEndpoint unless one is given), the transport,
    the dumper and the fault state, and warms up everything the fault path will
    touch. The dump's deadline is deadline_ms if given (a transport option),
    else scaled to its size and mode (dumper.auto_deadline_ms). action: what
    panic()/guard()/the watchdog do after the dump ("reset",
    "halt" or "continue"); console: seconds the panic console waits first (0 =
    no console, -1 = forever); reset: a function that reboots (default
    machine.reset, or sys.exit on the unix port); digest: each region's CRC-32
    computed while sending it (dumper.py), False to save its CPU time; wdt: a
    machine.WDT (anything with feed()) the fault path feeds (netdump/feed.py); tb_cap: bytes of
    guard()'s traceback kept (1024: about 20 frames; held twice, in the printing buffer and in
    the core's note, so every KiB more costs two of the armed state)."""
    from netdump import debugnet

    if action not in fault.ACTIONS:
        raise ValueError("action must be one of reset, halt, continue")
    try:
        import micropython

        micropython.alloc_emergency_exception_buf(128)
    except (ImportError, AttributeError):
        pass
    if endpoint is None:
        from netdump.endpoint import SocketEndpoint

        endpoint = SocketEndpoint(server, client_ip=client_ip, herald_port=herald_port,
                                  client_port=client_port)
    kw = dict(transport_opts)
    if mode is not None:
        kw["mode"] = mode
    wmax = getattr(endpoint, "window_max", 0)  # lwIP sockets queue 4 datagrams (endpoint.py)
    if wmax and (window is None or window > wmax):
        window = wmax
    if window is not None:
        kw["window"] = window
    net = debugnet.Debugnet(endpoint, mtu=mtu, path=path, **kw)
    freebsd = mode == debugnet.MODE_FREEBSD
    import netdump

    bname = board if isinstance(board, str) else board.NAME
    d = dumper.Dumper(net, regions, machine, elfclass, arch, archver=archver, hostname=hostname, board=bname,
                      firmware="netdump " + netdump.VERSION + " on " + _version_string().strip(),
                      version=_version_string(), skip_zero=skip_zero,
                      run_limit=dumper.FREEBSD_RUN if freebsd else 0, dumptime=rtc_seconds(), tb_cap=tb_cap,
                      digest=digest)
    if "deadline_ms" not in kw:  # scaled to the dump's size and the transport mode
        net.set_deadline(dumper.auto_deadline_ms(d.layout.total_size, freebsd))
    if reset is None and not isinstance(board, str):
        # a board's own reset (the virtual board's); netdump.board's Board has reset_hook, so the
        # armed state keeps no reference to the board reader (arm_config() forgets it)
        reset = getattr(board, "reset_hook", None) if hasattr(board, "reset_hook") else getattr(board, "reset", None)
    if reset is None:
        reset = _default_reset
    f = fault.Fault(d, endpoint, tb_cap, fault.ACTIONS[action], console, reset, board)
    from netdump import console as _console

    f.con = _console.Console(f)
    if wdt is not None:
        feed.wdt[0] = wdt
    uptime_s()  # an anchor for the uptime count (compat.uptime_s)
    fault.armed[0] = d
    fault.ctx[0] = f
    fault.why[0] = fault.NOT_ARMED
    return d


def arm_config(path=None):
    """Arm from the dumpon configuration file -> the Dumper; on any failure one line
    ("netdump: not armed: ...", also kept in fault.why[0]) and None. The modules only
    arming needs (CONFIG_MODULES, the board's data), when this call loaded them, are
    forgotten afterwards: an installed board keeps their code out of its heap."""
    before = list(sys.modules)
    try:
        return _arm_config(path)
    except Exception as e:  # noqa: BLE001 - boot.py must go on, unarmed, with one line
        from netdump import config

        why = str(e) if isinstance(e, config.ConfigError) else "%s: %s" % (type(e).__name__, e)
        fault.why[0] = why
        print("netdump: not armed:", why)
        return None
    finally:
        _forget(before)


# what arm_config() loads only to arm: the configuration, the board reader (netdump.board),
# the address parser (netdump.addr: the endpoints import it inside their constructors)
CONFIG_MODULES = ("netdump.config", "netdump.board", "netdump.addr")


def _forget(before):  # arm-time
    # drop the configuration modules (and the board data modules, top-level modules that are
    # not netdump's) that arm_config() loaded: nothing armed refers to them
    import netdump

    for name in list(sys.modules):
        if name in before:
            continue
        if name in CONFIG_MODULES or ("." not in name and name != "netdump" and _is_board_data(sys.modules[name])):
            del sys.modules[name]
            if name.startswith("netdump.") and hasattr(netdump, name[8:]):
                delattr(netdump, name[8:])
    import gc

    gc.collect()


def _is_board_data(mod):
    # a board data module (boards/*.py): NAME and CHIP, or an alias (LIKE); never one with a
    # reset or watchdog of its own (the virtual board's), which the armed state may hold
    return (hasattr(mod, "LIKE") or (hasattr(mod, "NAME") and hasattr(mod, "CHIP"))) and \
        not hasattr(mod, "reset") and not hasattr(mod, "make_wdt")


def _arm_config(path):  # arm-time
    from netdump import config, debugnet

    conf = config.load(path or config.CONFIG_PATH)
    board = config.load_board(conf["board"])
    regions = config.regions(conf, board)
    wdt = board.make_wdt(conf["wdt"]) if conf["wdt"] else None
    ep = board.make_endpoint(conf)
    opts = {}
    if conf["deadline"] > 0:  # else arm() scales it to the dump
        opts["deadline_ms"] = conf["deadline"] * 1000
    d = arm(conf["server"], regions, board.MACHINE, board.ELFCLASS, board.ARCH, endpoint=ep,
            hostname=conf["hostname"], board=board, path=conf["path"] or None,
            mode=debugnet.MODE_FREEBSD if conf["mode"] == "freebsd" else debugnet.MODE_WINDOW,
            action=conf["action"], console=conf["console"], wdt=wdt, **opts)
    print("netdump: armed:", conf["iface"], conf["client"], "->", conf["server"], "port", conf["herald_port"])
    return d


def set_wdt(wdt):
    """Feed this hardware watchdog (a machine.WDT) on the fault path from now on (None: none)."""
    feed.wdt[0] = wdt


def disarm():
    """Forget the armed dumper (its sockets stay with the endpoint's owner)."""
    fault.armed[0] = None
    fault.ctx[0] = None


def _default_reset():
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        pass
    sys.exit(0)  # the unix port: the process ends


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
        bio = f.tbio
        bio.seek(0)
        try:
            sys.print_exception(e, bio)
        except MemoryError:  # longer than the buffer: keep what was written
            pass
        n = bio.tell()
        bio.seek(0)
        k = bio.readinto(f.tb)
        if k is None:
            k = 0
        if n > k:
            n = k
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
        sys.print_exception(e)
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
            fault.stamp()  # the RTC (a long int on a board); a full heap falls back to ticks
            heap_lock()
            try:
                _capture(e)
                print("panic: unhandled exception")
                _print_tb(e)
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
