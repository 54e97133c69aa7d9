# Fault-time entry points. arm() builds everything a dump needs (it may
# allocate); dump() runs the dump with micropython.heap_lock() held for its
# whole run and releases the lock on every exit path.
import sys

from netdump import dumper
from netdump.compat import IS_MICROPYTHON, heap_lock, heap_unlock

# The armed dumper, in a list created at import so dump() never binds a new global.
_armed = [None]


def _version_string():
    impl = sys.implementation
    v = impl.version
    s = "%s %d.%d.%d" % (impl.name, v[0], v[1], v[2])
    m = getattr(impl, "_machine", None)
    if m:
        s += " " + m
    return s + "\n"  # kern_shutdown.c: version strings end with a newline


def _rtc_seconds():
    # seconds since 1970 when the RTC looks set (after 2020-01-01), else 0
    try:
        import time

        t = int(time.time())
        if t < 946684800:  # MicroPython ports with the 2000 epoch
            t += 946684800
        return t if t >= 1577836800 else 0
    except Exception:
        return 0


def arm(server, regions, machine, elfclass, arch, endpoint=None, archver=1, hostname="micropython",
        board="", path=None, mode=None, window=None, skip_zero=True, herald_port=20023, client_port=20024,
        client_ip="", mtu=1500, tb_cap=2048, **transport_opts):  # arm-time
    """Prepare a dump of regions [(name, address, size), ...] to netdumpd at `server`.

    Creates the endpoint (a SocketEndpoint unless one is given), the transport
    and the dumper, and warms up everything the fault path will touch."""
    from netdump import debugnet

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
    if window is not None:
        kw["window"] = window
    net = debugnet.Debugnet(endpoint, mtu=mtu, path=path, **kw)
    freebsd = mode == debugnet.MODE_FREEBSD
    import netdump

    d = dumper.Dumper(net, regions, machine, elfclass, arch, archver=archver, hostname=hostname, board=board,
                      firmware="netdump " + netdump.VERSION + " on " + _version_string().strip(),
                      version=_version_string(), skip_zero=skip_zero,
                      run_limit=dumper.FREEBSD_RUN if freebsd else 0, dumptime=_rtc_seconds(), tb_cap=tb_cap)
    _armed[0] = d
    return d


def disarm():
    """Forget the armed dumper (its sockets stay with the endpoint's owner)."""
    _armed[0] = None


def dump(panic_message, traceback_text=None):
    """Dump the armed regions with the heap locked; returns 0 or an error code."""
    d = _armed[0]
    if d is None:
        print("netdump: not armed")
        return dumper.ERR_NOT_ARMED
    err = dumper.ERR_INTERNAL
    heap_lock()
    try:
        err = d.dump(panic_message, traceback_text)
    except Exception as e:  # never leave the heap locked; report after unlocking
        err = dumper.ERR_INTERNAL
        d.err = err
        if IS_MICROPYTHON:
            sys.print_exception(e)
    finally:
        heap_unlock()
    return err
