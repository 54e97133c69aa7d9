# Run on the MicroPython unix port by host_tests/test_endpoint.py and
# bench/bench_socket_alloc.py:
#   micropython mp/heapfull_dump.py SERVER HERALD_PORT CLIENT_PORT RESERVE [STACK]
# Arms a SocketEndpoint with RESERVE bytes of heap reserve (-1: its default),
# fills the heap to its last GC block (mp/heapfill.py), locks it and dumps
# 3000 bytes (herald, VMCORE, FINISHED), then prints "FREE_AFTER_FILL n",
# "RESERVE n" and "RESULT err".
import gc
import sys

import micropython

from mp import heapfill
from netdump import debugnet, wire
from netdump.endpoint import SocketEndpoint


def main():
    server = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    reserve = int(sys.argv[4])
    stack = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    ep = SocketEndpoint(server, herald_port=hport, client_port=cport, reserve=reserve, stack=stack)
    dn = debugnet.Debugnet(ep, rto_init_us=50000, retries=3, deadline_ms=5000)
    src = debugnet.BufferSource(bytearray(3000))
    res = [0, 0]
    heapfill.fill()
    micropython.heap_lock()
    try:
        res[1] = gc.mem_free()
        e = dn.connect()
        if e == 0:
            e = dn.send(wire.VMCORE, src, 0, 3000)
        if e == 0:
            e = dn.finish()
        res[0] = e
    finally:
        micropython.heap_unlock()
    heapfill.release()
    print("FREE_AFTER_FILL", res[1])
    print("RESERVE", ep.reserve)
    print("RESULT", res[0])


main()
