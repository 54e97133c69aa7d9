# Arming, arm time only (everything here allocates): arm() builds everything a dump
# needs, arm_config() does it from the dumpon configuration file (netdump.json).
# netdump.panic.arm() and arm_config() load this module; arm_config() forgets it
# afterwards, with the configuration modules (netdump.panic.CONFIG_MODULES): an
# installed board keeps this code out of its heap once armed.
import sys

from netdump import dumper, fault, feed
from netdump.compat import rtc_seconds, uptime_s


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
    computed while sending it (dumper.py), False to save its CPU time and the 4 KiB of
    CRC tables; wdt: a machine.WDT (anything with feed()) the fault path feeds
    (netdump/feed.py); tb_cap: bytes of guard()'s traceback kept (1024: about 20 frames;
    held once, in the core's note)."""
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
    # lwIP sockets queue 4 datagrams (endpoint.py); a frame NIC may hold few frames (ether.py)
    wmax = getattr(endpoint, "window_max", 0)
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
        reset = fault.default_reset
    f = fault.Fault(d, endpoint, tb_cap, fault.ACTIONS[action], console, reset, board)
    from netdump import console as _console

    f.con = _console.Console(f)
    if wdt is not None:
        feed.wdt[0] = wdt
    uptime_s()  # an anchor for the uptime count (compat.uptime_s)
    fault.armed[0] = d
    fault.ctx[0] = f
    fault.why[0] = fault.NOT_ARMED
    if not digest:
        # last, once armed: this dump computes no CRC-32, so the tables (4 KiB, made when
        # fast_viper was imported) go
        from netdump import fast

        fast.drop_crc_tables()
    return d


def arm_config(path):
    """Arm from the dumpon configuration file -> the Dumper, or None after one line
    ("netdump: not armed: ...", also kept in fault.why[0]); netdump.panic.arm_config()."""
    try:
        return _arm_config(path)
    except Exception as e:  # noqa: BLE001 - boot.py must go on, unarmed, with one line
        from netdump import config

        why = str(e) if isinstance(e, config.ConfigError) else "%s: %s" % (type(e).__name__, e)
        fault.why[0] = why
        print("netdump: not armed:", why)
        return None


def forget(before, modules):  # arm-time
    """Drop the modules named in `modules` and the board data modules (top-level modules that
    are not netdump's) loaded since `before` (a list of names): nothing armed refers to them."""
    import netdump

    for name in list(sys.modules):
        if name in before:
            continue
        if name in modules or ("." not in name and name != "netdump" and _is_board_data(sys.modules[name])):
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
            action=conf["action"], console=conf["console"], wdt=wdt, digest=conf["digest"], **opts)
    print("netdump: armed:", conf["iface"], conf["client"], "->", conf["server"], "port", conf["herald_port"])
    return d
