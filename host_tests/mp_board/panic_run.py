# MicroPython side of host_tests/test_panic.py: arms a dump of a RAM buffer
# to netdumpd on 127.0.0.1, then runs one fault entry point.
#   argv: scenario herald_port client_port [reserve | stack]
#   scenarios: guard, watchdog, console, test_dump, oom (an application that
#   fills the heap until MemoryError, under guard(); reserve: the socket
#   endpoint's heap reserve in bytes, -1 for its default)
# Every fault path here runs with the heap locked by this script as well
# (an outer micropython.heap_lock()), so any allocation in guard()'s
# handler, the watchdog expiry, the dump or the panic console fails the test.
import sys

import micropython
import uctypes

from mp import heapfill  # host_tests/mp/heapfill.py
from netdump import elfcore, fault, panic

RAM = bytearray(64 * 1024)
for i in range(0, len(RAM), 251):
    RAM[i] = (i // 251) & 0xFF
RAM[0:16] = b"virtual-ram-0123"


def arm(hport, cport, console, action="continue", deadline_ms=20000, endpoint=None):
    panic.arm("127.0.0.1", [("ram", uctypes.addressof(RAM), len(RAM))], elfcore.EM_X86_64, 64, "amd64",
              hostname="panic-test", board="unix_virtual", herald_port=hport, client_port=cport,
              client_ip="127.0.0.1", action=action, console=console, deadline_ms=deadline_ms,
              endpoint=endpoint)


def level3(x):
    return 10 // x


def app():
    RAM[100:104] = b"app!"
    return level3(0)


def guarded():
    try:
        return app()
    except ZeroDivisionError:
        micropython.heap_lock()  # the handler in guard() runs under this lock too
        raise


def hungry():
    RAM[100:104] = b"oom!"
    heapfill.fill()  # the application's data takes the heap to its last block
    return bytearray(64)  # MemoryError


def main():
    scenario = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    if scenario == "guard":
        arm(hport, cport, 0)
        r = panic.guard(guarded)
        micropython.heap_unlock()
        print("RESULT", r)
    elif scenario == "watchdog":
        arm(hport, cport, 0)
        beats = [0]

        def expire(msg):
            micropython.heap_lock()
            try:
                beats[0] = panic.panic(msg)
            finally:
                micropython.heap_unlock()
            print("RESULT", beats[0])

        from netdump import watchdog

        w = watchdog.Watchdog(300, period_ms=50, on_expire=expire)
        how = w.start()
        print("WATCHDOG", how)
        import time

        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < 1000:  # healthy: fed every 20 ms
            w.feed()
            time.sleep_ms(20)
        print("FED", w.fired)
        t0 = time.ticks_ms()
        while not w.fired and time.ticks_diff(time.ticks_ms(), t0) < 10000:  # stalled: no feed
            pass
        while w.running and time.ticks_diff(time.ticks_ms(), t0) < 30000:
            time.sleep_ms(10)
        time.sleep_ms(100)
        print("FIRED", w.fired)
    elif scenario == "console":
        # the first server is silent (nothing listens on hport); the console
        # gets "netdump -s 127.0.0.1:<second>" on stdin. argv[4]: the socket
        # endpoint's stack ("" detects it; "esp32" with host_tests/esp32_standin)
        ep = None
        if len(sys.argv) > 4 and sys.argv[4]:
            from netdump.endpoint import SocketEndpoint

            ep = SocketEndpoint("127.0.0.1", "127.0.0.1", hport, cport, stack=sys.argv[4])
        arm(hport, cport, -1, deadline_ms=2000, endpoint=ep)
        micropython.heap_lock()
        try:
            r = panic.panic("console test")
        finally:
            micropython.heap_unlock()
        print("RESULT", r, fault.ctx[0].err)
    elif scenario == "oom":
        from netdump.endpoint import SocketEndpoint

        ep = SocketEndpoint("127.0.0.1", "127.0.0.1", hport, cport, reserve=int(sys.argv[4]))
        arm(hport, cport, 0, deadline_ms=5000, endpoint=ep)
        r = panic.guard(hungry)
        print("RESULT", r)
    elif scenario == "test_dump":
        arm(hport, cport, 0)
        print("RESULT", panic.test_dump())


main()
