# Fault-path pieces without a network: guard()'s traceback capture, the panic
# console's parser and retargeting, and the watchdog's check, each proven
# allocation-free under micropython.heap_lock() on the MicroPython unix port.
# dual-runtime
import time

from dualtest import MICROPYTHON, locked, micropython_only

from netdump import console, fault, panic, watchdog


class FakeIn:
    """A stdin whose readinto() hands out preset bytes one at a time (allocation-free)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readinto(self, b):
        if self.pos >= len(self.data):
            return 0
        b[0] = self.data[self.pos]
        self.pos += 1
        return 1


class FakeEp:
    """Stands in for SocketEndpoint / EtherEndpoint: a numeric herald_port and set_server()
    (proven allocation-free on the real endpoints in their own tests); records what the
    console asked for."""

    def __init__(self, herald_port=20023):
        self.herald_port = herald_port
        self.ip = bytearray(4)  # what set_server got (runs under heap_lock)
        self.port = 0

    def set_server(self, ip4, port):
        for i in range(4):
            self.ip[i] = ip4[i]
        self.port = port
        return 0


def make_fault(ep=None):
    f = fault.Fault(None, ep, 512, panic.ACT_CONTINUE, 0, None, "test")
    return f


def level2():
    return [][1]


def level1():
    return level2()


def capture_level1(f):
    """guard()'s capture of level1()'s IndexError into f, heap locked."""
    old = fault.ctx[0]
    fault.ctx[0] = f
    try:
        try:
            level1()
        except IndexError as e:
            locked(panic._capture, e)
    finally:
        fault.ctx[0] = old


def test_capture_traceback_locked():
    f = make_fault()
    capture_level1(f)
    text = bytes(f.tb[0:f.tb_n])
    assert text.startswith(b"Traceback (most recent call last):"), text
    assert b"level2" in text and b"level1" in text
    msg = bytes(f.msg[:f.msg_n])
    assert msg.startswith(b"IndexError"), msg
    assert text.rstrip().endswith(msg)


def test_traceback_is_held_once_in_the_core_note():
    # guard()'s capture lands in the ELF core's traceback note itself: the dumper's
    # set_traceback() of that view then finds its text in place (nothing else holds a copy)
    from netdump import elfcore

    class D:
        layout = elfcore.CoreLayout([("r", 4096, 16)], elfcore.EM_ARM, tb_cap=512)

    f = fault.Fault(D, None, 512, panic.ACT_CONTINUE, 0, None, "test")
    capture_level1(f)
    lay = D.layout
    off = lay.traceback_off
    assert bytes(lay.buf[off:off + f.tb_n]) == bytes(f.tb[0:f.tb_n]) and f.tb_n > 40
    locked(lay.set_traceback, f.tb, f.tb_n)
    assert bytes(lay.buf[off:off + 35]) == b"Traceback (most recent call last):\n"
    assert lay.buf[off - 4] == f.tb_n & 255 and lay.buf[off - 3] == f.tb_n >> 8


def test_traceback_capture_holds_no_buffer_of_its_own():
    # arm makes the capture's stream (fault.TracebackSink) without a traceback-sized buffer:
    # the text goes straight into the ELF core's note, so a 4 KiB tb_cap costs the Fault
    # nothing beyond a 64-byte one (an io.BytesIO staging buffer would cost tb_cap bytes)
    micropython_only()
    import gc

    from netdump import elfcore

    def fault_bytes(cap):
        class D:
            layout = elfcore.CoreLayout([("r", 4096, 16)], elfcore.EM_ARM, tb_cap=cap)

        gc.collect()
        free = gc.mem_free()
        f = fault.Fault(D, None, cap, panic.ACT_CONTINUE, 0, None, "test")
        gc.collect()
        used = free - gc.mem_free()
        assert f.tbsink is not None
        return used

    small = fault_bytes(64)
    big = fault_bytes(4096)
    assert big - small < 256, (small, big)


class Loud:
    """An exception argument whose text is built when printed: it allocates."""

    def __str__(self):
        return "loud " * 3


def test_capture_keeps_what_was_written_when_the_text_fails():
    # with the heap locked, printing ValueError(Loud()) fails inside Loud.__str__ (MemoryError on
    # MicroPython): the traceback lines before it are kept and the capture returns, so guard()
    # still dumps
    f = make_fault()
    old = fault.ctx[0]
    fault.ctx[0] = f
    try:
        try:
            raise ValueError(Loud())
        except ValueError as e:
            locked(panic._capture, e)
    finally:
        fault.ctx[0] = old
    text = bytes(f.tb[0:f.tb_n])
    assert text.startswith(b"Traceback (most recent call last):"), text
    assert b"test_capture_keeps_what_was_written" in text, text


def test_capture_truncates_long_traceback():
    f = fault.Fault(None, None, 64, panic.ACT_CONTINUE, 0, None, "test")
    old = fault.ctx[0]
    fault.ctx[0] = f
    try:
        try:
            raise ValueError("x" * 300)
        except ValueError as e:
            locked(panic._capture, e)
    finally:
        fault.ctx[0] = old
    assert f.tb_n == 64
    assert 0 < f.msg_n <= panic.MSG_CAP


def run_console(text, ep=None):
    f = make_fault(ep)
    con = console.Console(f, stdin=FakeIn(text), echo=False)
    f.con = con
    old = fault.ctx[0]
    fault.ctx[0] = f
    try:
        act = locked(con.run, -1, 0)
    finally:
        fault.ctx[0] = old
    return act, f, con


def test_console_actions():
    assert run_console(b"reset\n")[0] == panic.ACT_RESET
    assert run_console(b"  halt  \r\n")[0] == panic.ACT_HALT
    assert run_console(b"help\nshow\nbogus\ncontinue\n")[0] == panic.ACT_CONTINUE
    assert run_console(b"c\n")[0] == panic.ACT_CONTINUE
    # end of input: the default action
    assert run_console(b"help\n")[0] == 0
    # backspace editing: "resex" + BS + "t"
    assert run_console(b"resex\x08t\n")[0] == panic.ACT_RESET


def test_console_retargets_server_in_place():
    ep = FakeEp()
    act, f, con = run_console(b"netdump -s 10.0.1.236:31023\nreset\n", ep)
    assert act == panic.ACT_RESET
    assert bytes(ep.ip) == b"\x0a\x00\x01\xec" and ep.port == 31023, (ep.ip, ep.port)
    # without a port the herald port stays
    ep = FakeEp()
    run_console(b"netdump -s 192.168.5.6\n", ep)
    assert bytes(ep.ip) == b"\xc0\xa8\x05\x06" and ep.port == 20023, (ep.ip, ep.port)


def test_console_keeps_the_endpoints_herald_port():
    ep = FakeEp(31555)
    run_console(b"netdump -s 10.0.2.9\n", ep)
    assert bytes(ep.ip) == b"\x0a\x00\x02\x09" and ep.port == 31555, (ep.ip, ep.port)


def test_console_rejects_bad_servers():
    for bad in (b"netdump -s 10.0.1\n", b"netdump -s 10.0.1.300\n", b"netdump -s 1.2.3.4:0\n",
                b"netdump -s 1.2.3.4:70000\n", b"netdump -s host\n", b"netdump -x 1.2.3.4\n",
                b"netdump -s 1.2.3.4 junk\n"):
        ep = FakeEp()
        run_console(bad, ep)
        assert ep.port == 0, bad


def test_watchdog_fires_once_when_not_fed():
    got = []

    def expire(msg):
        got.append(msg)

    w = watchdog.Watchdog(40, period_ms=10, on_expire=expire)
    assert w.check() == 0  # not started
    w.running = 1  # as start() does, without a timer or thread
    w.feed()
    assert locked(w.feed) is None
    assert locked(w.check) == 0
    time.sleep(0.08)
    assert locked(w.check) == 1
    assert locked(w.check) == 0  # fired already
    # the scheduled expiry runs between bytecodes in the main thread
    n = 0
    while not got and n < 100000:
        n += 1
    assert got == ["watchdog: no heartbeat for 40 ms"]
    assert w.fired == 1 and w.running == 0


def test_watchdog_keeps_watching_when_a_dump_was_running():
    # panic() refused the expiry (ERR_BUSY: a dump already ran): the watchdog
    # must not switch itself off for good
    w = watchdog.Watchdog(40, period_ms=10, on_expire=lambda msg: panic.ERR_BUSY)
    w.running = 1
    w.last = w.last - 1000  # long overdue
    w._fire(0)
    assert w.running == 1 and w.fired == 0
    w2 = watchdog.Watchdog(40, period_ms=10, on_expire=lambda msg: 0)
    w2.running = 1
    w2._fire(0)
    assert w2.running == 0


class NestDumper:
    """A dumper whose dump() is interrupted once by a second fault, as when the
    watchdog's scheduled expiry runs between bytecodes of a long dump."""

    def __init__(self):
        self.err = 0
        self.calls = 0
        self.inner = -1

    def dump(self, msg, tb, tb_len, msg_len=-1):
        self.calls += 1
        if self.calls == 1:
            self.inner = panic.panic("watchdog: no heartbeat")
        return 0


def test_fault_during_a_dump_does_not_reenter_or_reset():
    d = NestDumper()
    resets = [0]

    def reset():
        resets[0] += 1

    f = fault.Fault(d, None, 512, panic.ACT_RESET, 0, reset, "test")
    old_d = fault.armed[0]
    old_f = fault.ctx[0]
    fault.armed[0] = d
    fault.ctx[0] = f
    try:
        err = locked(panic.dump, "first fault")
    finally:
        fault.armed[0] = old_d
        fault.ctx[0] = old_f
    assert err == 0
    assert d.calls == 1  # the transport was not re-entered
    assert d.inner == panic.ERR_BUSY
    assert resets[0] == 0  # no reset in the middle of the first dump
    assert fault.busy[0] == 0


class NestConsole:
    """A panic console during which a second fault arrives (the watchdog expiring while it waits)."""

    def __init__(self):
        self.inner = -1

    def run(self, timeout_s, default):
        self.inner = panic.panic("watchdog: no heartbeat")
        return panic.ACT_CONTINUE


class CountDumper:
    def __init__(self):
        self.err = 0
        self.calls = 0

    def dump(self, msg, tb, tb_len, msg_len=-1):
        self.calls += 1
        return 0

    def set_time(self, t):  # fault.stamp(): the RTC at a fault's entry
        pass

    def tick(self):
        pass


def test_fault_during_the_panic_console_is_ignored():
    d = CountDumper()
    f = fault.Fault(d, None, 512, panic.ACT_CONTINUE, 5, None, "test")
    f.con = NestConsole()
    old_d = fault.armed[0]
    old_f = fault.ctx[0]
    fault.armed[0] = d
    fault.ctx[0] = f
    try:
        err = panic.panic("first fault")
    finally:
        fault.armed[0] = old_d
        fault.ctx[0] = old_f
    assert err == 0
    assert d.calls == 1  # no second dump nested in the first fault's console
    assert f.con.inner == panic.ERR_BUSY
    assert fault.in_fault[0] == 0


class ResultDumper(CountDumper):
    """A dumper whose every dump ends with a given result."""

    def __init__(self, result):
        CountDumper.__init__(self)
        self.result = result

    def dump(self, msg, tb, tb_len, msg_len=-1):
        self.calls += 1
        return self.result


def _console_after(result, text, ep=None):
    # a fault dump that ended with `result`, then the console reading `text`
    from netdump import debugnet

    d = ResultDumper(result)
    f = fault.Fault(d, ep, 512, panic.ACT_CONTINUE, 0, None, "test")
    con = console.Console(f, stdin=FakeIn(text), echo=False)
    f.con = con
    old_d = fault.armed[0]
    old_f = fault.ctx[0]
    fault.armed[0] = d
    fault.ctx[0] = f
    try:
        f.err = locked(fault.fault_dump, "the fault", 0)
        locked(con.run, -1, 0)
    finally:
        fault.armed[0] = old_d
        fault.ctx[0] = old_f
    assert debugnet.delivered(debugnet.FIN_UNCONFIRMED) and not debugnet.delivered(debugnet.ERR_TIMEOUT)
    return d.calls


def test_console_offers_no_second_dump_when_only_the_end_was_unconfirmed():
    from netdump import debugnet

    unconfirmed = debugnet.FIN_UNCONFIRMED
    assert _console_after(unconfirmed, b"show\nnetdump\ndump\n") == 1  # the server has it: not sent again
    assert _console_after(unconfirmed, b"netdump -f\n") == 2  # unless forced
    assert _console_after(unconfirmed, b"netdump -s 10.0.1.9\n", FakeEp()) == 2  # or to another server
    assert _console_after(unconfirmed, b"netdump -f -s 10.0.1.9:2000\n", FakeEp()) == 2
    assert _console_after(debugnet.ERR_TIMEOUT, b"netdump\n") == 2  # a failed dump is retried as before
    assert _console_after(0, b"netdump\n") == 2
    assert _console_after(unconfirmed, b"netdump -s 10.0.1.9 -s 10.0.1.8\n", FakeEp()) == 1  # usage


class Recorder:
    """Stands in for micropython.kbd_intr / a machine.WDT: records the calls (preallocated list)."""

    def __init__(self):
        self.calls = []

    def __call__(self, c):
        self.calls.append(c)

    def feed(self):
        self.calls.append("feed")


class ReleaseEp:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


def test_ctrl_c_is_a_character_during_the_dump_and_the_console():
    # mpremote sends Ctrl-C when it connects: a KeyboardInterrupt would end the dump half way
    rec = Recorder()
    old = (fault.kbd_intr, fault.armed[0], fault.ctx[0])
    fault.kbd_intr = rec
    d = CountDumper()
    ep = ReleaseEp()
    f = fault.Fault(d, ep, 512, panic.ACT_CONTINUE, 0, None, "test")
    f.con = console.Console(f, stdin=FakeIn(b"xy\x03continue\n"), echo=False)
    fault.armed[0] = d
    fault.ctx[0] = f
    try:
        assert panic.test_dump() == 0
        assert rec.calls == [-1, 3] and d.calls == 1
        assert ep.released == 1  # test_dump carries on: the NIC goes back to the firmware
        assert panic.console(5) == panic.ACT_CONTINUE
        assert rec.calls == [-1, 3, -1, 3] and ep.released == 2
        # the console's `netdump` dumps inside the console: Ctrl-C stays a character until it ends
        f.con = console.Console(f, stdin=FakeIn(b"netdump\n\x03continue\n"), echo=False)
        assert panic.console(5) == panic.ACT_CONTINUE and d.calls == 2
        assert rec.calls == [-1, 3, -1, 3, -1, 3]
    finally:
        fault.kbd_intr, fault.armed[0], fault.ctx[0] = old


def test_traceback_printed_locked():
    # guard() prints the traceback on the console too, with the heap locked
    try:
        level1()
    except IndexError as e:
        assert locked(panic._print_tb, e) is None


def test_fault_path_feeds_the_hardware_watchdog():
    from netdump import feed

    w = Recorder()
    old = feed.wdt[0]
    feed.wdt[0] = w
    try:
        assert locked(feed.feed) is None and w.calls == ["feed"]
        f = make_fault()
        f.con = console.Console(f, stdin=FakeIn(b"show\nshow\ncontinue\n"), echo=False)
        f.con.run(5, panic.ACT_RESET)
        assert len(w.calls) >= 4  # at every wait of the console's input loop
    finally:
        feed.wdt[0] = old


class FakeTimer:
    """machine.Timer as a port has it: ids is the set of ids that exist."""

    PERIODIC = 1
    ids = ()
    made = []

    def __init__(self, tid, mode=0, period=0, callback=None):
        if tid not in FakeTimer.ids:
            raise ValueError("invalid Timer number")
        FakeTimer.made.append(tid)

    def deinit(self):
        pass


class FakeMachineTimer:
    Timer = FakeTimer


def test_watchdog_timer_per_port_and_release():
    ids = watchdog.timer_ids
    assert ids("rp2", "Raspberry Pi Pico with RP2040") == (-1,)
    assert ids("esp32", "Generic ESP32 module with ESP32") == (3, 2, 1, 0)
    assert ids("esp32", "Generic ESP32S3 module with ESP32S3") == (3, 2, 1, 0)
    assert ids("esp32", "ESP32C3 module with ESP32C3") == (1, 0)
    assert ids("esp32", "Generic ESP32C2 module with ESP32C2") == (0,)
    import sys

    old_machine = sys.modules.get("machine")
    old_ids = watchdog.timer_ids
    sys.modules["machine"] = FakeMachineTimer
    try:
        # esp32 1.25-1.28 on a C3: Timer(-1) and Timer(3) raise ValueError; the check still starts
        FakeTimer.ids = (0, 1)
        FakeTimer.made = []
        watchdog.timer_ids = lambda: (3, 2, 1, 0)
        w = watchdog.Watchdog(1000, on_expire=lambda m: 0)
        assert w.start() == "timer" and FakeTimer.made == [1] and w.timer_id == 1
        # rp2: only -1
        FakeTimer.ids = (-1,)
        FakeTimer.made = []
        watchdog.timer_ids = lambda: (-1,)
        w = watchdog.Watchdog(1000, on_expire=lambda m: 0)
        assert w.start() == "timer" and FakeTimer.made == [-1]
    finally:
        watchdog.timer_ids = old_ids
        if old_machine is None:
            del sys.modules["machine"]
        else:
            sys.modules["machine"] = old_machine


class _Halted(Exception):
    pass


def test_halt_feeds_the_hardware_watchdog_every_100_ms():
    # halt() idles for good: it must feed a short hardware watchdog (config.WDT_MIN_MS is
    # 1000) at least every 100 ms. Its sleeps are counted through a stand-in, not timed.
    from netdump import config, feed

    wdt = Recorder()
    sleeps = []

    def sleep_ms(ms):
        sleeps.append(ms)
        wdt.calls.append(ms)
        if len(sleeps) == 5:
            raise _Halted()

    old = (fault._sleep_ms, feed.wdt[0])
    fault._sleep_ms = sleep_ms
    feed.wdt[0] = wdt
    try:
        try:
            fault.halt()
        except _Halted:
            pass
    finally:
        fault._sleep_ms, feed.wdt[0] = old
    assert wdt.calls == ["feed", 100] * 5, wdt.calls
    assert max(sleeps) * 10 <= config.WDT_MIN_MS


def test_stamp_reads_the_rtc_or_falls_back_to_ticks():
    # a fault's entry: the RTC into the dump time; a full heap (MemoryError making its long
    # int) or an unset RTC leave the arm-time RTC plus ticks (Dumper.tick, allocation-free)
    class ClockDumper(CountDumper):
        def __init__(self):
            CountDumper.__init__(self)
            self.seen = []

        def set_time(self, t):
            self.seen.append(t)

        def tick(self):
            self.seen.append("tick")

    def full_heap():
        raise MemoryError()

    d = ClockDumper()
    old = (fault.rtc_seconds, fault.armed[0])
    fault.armed[0] = d
    try:
        for rtc in (lambda: 1700000000, full_heap, lambda: 0):
            fault.rtc_seconds = rtc
            fault.stamp()
    finally:
        fault.rtc_seconds, fault.armed[0] = old
    assert d.seen == [1700000000, "tick", "tick"], d.seen
