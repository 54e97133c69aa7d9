# Run on the MicroPython unix port by host_tests/test_endpoint.py and
# bench/bench_socket_alloc.py:
#   micropython mp/heapfull_dump.py SERVER HERALD_PORT CLIENT_PORT RESERVE [STACK [APP]]
# Arms a SocketEndpoint with RESERVE bytes of heap reserve (-1: its default),
# fills the heap to its last GC block (mp/heapfill.py), locks it and dumps
# 3000 bytes (herald, VMCORE, FINISHED), then prints "FREE_AFTER_FILL n",
# "RESERVE n", "WINDOWS n" (times the endpoint unlocked the heap) and
# "RESULT err". APP "sched": during the dump the application has a scheduled
# callback (as a soft Timer or Pin IRQ) that keeps one more GC block each time
# it runs, rescheduling itself; "APP_RUNS n" and "APP_ALLOCS n" say how often
# it ran and how often it got memory. "sched-bytecode": the same with the
# endpoint's window compiled as bytecode (mp/endpoint_bytecode.py, unix port
# only). bench/bench_socket_alloc.py --rp2 also runs it on the stock
# W5500_EVB_PICO firmware (sys.argv set before it, mp/heapfill.py copied).
import gc
import sys

import micropython

from mp import heapfill
from netdump import debugnet, wire

APP = [0, 0, 1, None]  # runs, runs that got memory, keep going, what it keeps


def app_tick(_):
    if not APP[2]:  # the dump is over
        return
    APP[0] += 1
    try:
        APP[3] = (APP[3], 0)  # one GC block more
        APP[1] += 1
    except MemoryError:  # the heap is locked (or full)
        pass
    micropython.schedule(app_tick, 0)


def main():
    server = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    reserve = int(sys.argv[4])
    stack = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    app = sys.argv[6] if len(sys.argv) > 6 else ""
    if app == "sched-bytecode":
        from mp import endpoint_bytecode  # noqa: F401  (patches SocketEndpoint)
    from netdump.endpoint import SocketEndpoint

    ep = SocketEndpoint(server, herald_port=hport, client_port=cport, reserve=reserve, stack=stack)
    dn = debugnet.Debugnet(ep, rto_init_us=50000, retries=3, deadline_ms=5000)
    src = debugnet.BufferSource(bytearray(3000))
    res = [0, 0]
    heapfill.fill()
    micropython.heap_lock()
    if app:
        micropython.schedule(app_tick, 0)
    try:
        res[1] = gc.mem_free()
        e = dn.connect()
        if e == 0:
            e = dn.send(wire.VMCORE, src, 0, 3000)
        if e == 0:
            e = dn.finish()
        res[0] = e
    finally:
        APP[2] = 0
        micropython.heap_unlock()
    APP[3] = None
    heapfill.release()
    print("FREE_AFTER_FILL", res[1])
    print("RESERVE", ep.reserve)
    print("WINDOWS", ep.windows)
    if app:
        print("APP_RUNS", APP[0])
        print("APP_ALLOCS", APP[1])
    print("RESULT", res[0])
    ep.close()


main()
