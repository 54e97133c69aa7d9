# Hang watchdog: a periodic check plus a heartbeat the application feeds.
# When the heartbeat has not been fed for timeout_ms, the check does not dump
# by itself (a timer callback may be a hard interrupt, and dumping there is
# not safe); it sets `fired` and micropython.schedule()s the expiry function,
# which then runs in the main thread between two bytecodes: a context where
# dumping is safe. netdump.panic.watchdog() makes one whose expiry is
# netdump.panic.panic(msg).
#
#   w = Watchdog(timeout_ms, on_expire, period_ms=0, timer_id=None)
#   w.start()   the periodic check: machine.Timer on boards (timer_id, else the
#               form that port and release take: timer_ids()); on ports without
#               machine.Timer (unix) a _thread that sleeps period_ms between
#               checks; with neither, call w.check() from the application
#   w.feed()    the heartbeat (allocation-free)
#   w.check()   one check (allocation-free; what the timer runs)
#   w.stop()
#
# Limits: the scheduled expiry runs only when the main thread executes
# bytecode or waits in MicroPython (sleep_ms, select): a hang inside one C
# call is not seen. machine.WDT remains the backstop for that.
from netdump.compat import const, ticks_diff, ticks_ms
from netdump.fault import ERR_BUSY, tick

try:
    from micropython import schedule as _schedule
except ImportError:  # CPython (tests): run the expiry at once
    _schedule = None

_MIN_PERIOD_MS = const(10)


def timer_ids(platform=None, machine=None):
    """The machine.Timer ids to try for the periodic check, in order (docs/ports.md#machinetimer).

    rp2 has only the soft timer -1 (ports/rp2/machine_timer.c: any other id raises "Timer
    doesn't exist"). esp32 has hardware timers only: 1.22-1.24 took any id, -1 silently as
    timer 3 ((id >> 1) & 1 group, id & 1 index); 1.25-1.28 raise ValueError("invalid Timer
    number") outside 0..SOC_TIMER_GROUP_TOTAL_TIMERS-1 (ports/esp32/machine_timer.c
    machine_timer_make_new): 4 timers on ESP32/S2/S3, 2 on C3/C6/H2, 1 on C2; timer 3 on a
    C3 crashed releases before 1.24. The highest existing id is taken, to stay clear of an
    application's Timer(0). Other ports: the soft timer -1."""
    import sys

    p = sys.platform if platform is None else platform
    if p != "esp32":
        return (-1,)
    m = getattr(sys.implementation, "_machine", "") if machine is None else machine
    m = m.upper().replace("-", "")
    if "ESP32C2" in m:
        return (0,)
    if "ESP32C3" in m or "ESP32C6" in m or "ESP32H2" in m:
        return (1, 0)
    return (3, 2, 1, 0)


class Watchdog:
    """Heartbeat watchdog (see the module comment)."""

    def __init__(self, timeout_ms, on_expire, period_ms=0, timer_id=None):  # arm-time
        if timeout_ms <= 0 or timeout_ms >= 1 << 29:
            raise ValueError("timeout_ms must be 1..2**29-1")
        if not period_ms:
            period_ms = timeout_ms // 4
        if period_ms < _MIN_PERIOD_MS:
            period_ms = _MIN_PERIOD_MS
        self.timeout_ms = timeout_ms
        self.period_ms = period_ms
        self.timer_id = timer_id
        self.msg = "watchdog: no heartbeat for " + str(timeout_ms) + " ms"
        self._on_expire = on_expire
        self.last = ticks_ms()
        self.fired = 0
        self.running = 0
        self._timer = None
        self._fire_cb = self._fire  # bound methods made now, not in the callback
        self._tick_cb = self._tick

    def feed(self):
        """The heartbeat: the application is alive."""
        self.last = ticks_ms()

    def check(self):
        """Schedule the expiry if the heartbeat is late -> 1 if it fired now."""
        tick()  # the dump time and the uptime, anchored again before ticks_ms() wraps
        if not self.running or self.fired:
            return 0
        if ticks_diff(ticks_ms(), self.last) <= self.timeout_ms:
            return 0
        self.fired = 1
        if _schedule is None:
            self._fire(0)
        else:
            try:
                _schedule(self._fire_cb, 0)
            except RuntimeError:  # schedule queue full: try again next period
                self.fired = 0
                return 0
        return 1

    def _tick(self, _timer):
        self.check()

    def _fire(self, _arg):
        self.running = 0
        if self._on_expire(self.msg) == ERR_BUSY:
            # a dump was already running (panic refused a nested one): keep watching
            self.last = ticks_ms()
            self.fired = 0
            self.running = 1

    def start(self):
        """Start the periodic check (machine.Timer, else a thread, else manual check())."""
        self.last = ticks_ms()
        self.fired = 0
        self.running = 1
        try:
            import machine

            Timer = machine.Timer
        except (ImportError, AttributeError):
            Timer = None
        if Timer is not None:
            ids = (self.timer_id,) if self.timer_id is not None else timer_ids()
            err = None
            for tid in ids:
                try:
                    self._timer = Timer(tid, mode=Timer.PERIODIC, period=self.period_ms, callback=self._tick_cb)
                    self.timer_id = tid
                    return "timer"
                except ValueError as e:  # this id does not exist on this chip or release
                    err = e
            raise err
        try:
            import _thread
        except ImportError:
            return "manual"
        _thread.start_new_thread(self._thread, ())
        return "thread"

    def _thread(self):
        try:
            from time import sleep_ms
        except ImportError:
            import time

            def sleep_ms(ms):
                time.sleep(ms / 1000)

        while self.running:
            sleep_ms(self.period_ms)
            self.check()

    def stop(self):
        """Stop checking."""
        self.running = 0
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None
