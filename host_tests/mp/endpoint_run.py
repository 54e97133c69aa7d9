# Run on the MicroPython unix port by host_tests/test_endpoint.py:
#   micropython mp/endpoint_run.py SERVER HERALD_PORT CLIENT_PORT MODE SIZE [PATH [REPEAT [STACK]]]
# Sends a herald, SIZE bytes of a byte pattern as VMCORE at offset 0, a 512-byte
# KDH and FINISHED over a SocketEndpoint (REPEAT times, default 1, on the same
# endpoint), with the heap locked from the first connect() to the end, then
# prints one "RESULT" line and the stats. STACK is SocketEndpoint's stack
# ("esp32" with host_tests/esp32_standin first on MICROPYPATH); "" detects it.
import sys

import micropython

from netdump import debugnet, wire
from netdump.endpoint import SocketEndpoint


def pattern(n, k):
    b = bytearray(n)
    i = 0
    while i < n:
        b[i] = (i * 7 + k) & 255
        i += 1
    return b


def run(dn, vsrc, size, ksrc, res):
    # everything from here to the end of the dump runs with the heap locked
    e = dn.connect()
    if e:
        res[0] = e
        return
    e = dn.send(wire.VMCORE, vsrc, 0, size)
    if e:
        res[0] = e
        return
    e = dn.send(wire.KDH, ksrc, 0, 512)
    if e:
        res[0] = e
        return
    res[0] = dn.finish()


def main():
    server = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    mode = debugnet.MODE_FREEBSD if sys.argv[4] == "freebsd" else debugnet.MODE_WINDOW
    size = int(sys.argv[5])
    path = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None
    repeat = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    stack = sys.argv[8] if len(sys.argv) > 8 and sys.argv[8] else None
    ep = SocketEndpoint(server, herald_port=hport, client_port=cport, stack=stack)
    print("STACK", ep.stack)
    dn = debugnet.Debugnet(ep, mode=mode, path=path, rto_init_us=50000, deadline_ms=20000)
    vsrc = debugnet.BufferSource(pattern(size, 3))
    ksrc = debugnet.BufferSource(pattern(512, 100))
    res = [0]
    micropython.heap_lock()
    try:
        k = 0
        while k < repeat and res[0] == 0:
            run(dn, vsrc, size, ksrc, res)
            k += 1
    finally:
        micropython.heap_unlock()
    print("RESULT", res[0], debugnet.message(res[0]))
    i = 0
    while i < len(debugnet.STAT_NAMES):
        print("STAT", debugnet.STAT_NAMES[i], dn.stats[i])
        i += 1
    ep.close()


main()
