# MicroPython side of bench/bench_socket_alloc.py ("ops"; the "fill" runs use
# host_tests/mp/heapfull_dump.py). Prints "KEY value" lines.
#   argv: SERVER HPORT CPORT   what each SocketEndpoint operation allocates,
#                              with an in-process server on SERVER:HPORT
import gc
import socket
import sys

import micropython

import dualtest  # host_tests/dualtest.py
from netdump import wire
from netdump.endpoint import SocketEndpoint, _block_size


def sa(host, port):
    return socket.getaddrinfo(host, port)[0][-1]


def locked(fn, *args):
    # fn(*args) with the heap locked (dualtest.locked) -> its result, or "MemoryError"
    try:
        return dualtest.locked(fn, *args)
    except MemoryError:
        return "MemoryError"


def ops(server, hport, cport):
    bs = _block_size()
    print("BLOCK", bs)
    gc.collect()
    a0 = gc.mem_alloc()
    ep = SocketEndpoint(server, herald_port=hport, client_port=cport)
    gc.collect()
    print("ARM_BYTES", gc.mem_alloc() - a0)
    print("RESERVE", ep.reserve)
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # netdumpd's herald socket
    srv.bind(sa(server, hport))
    ses = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # its session socket, a new port
    ses.bind(sa(server, 0))
    herald = bytearray(wire.HDR_LEN)
    wire.pack_header(herald, 0, wire.HERALD, 1, 0, 0)
    ack = bytearray(4)
    names = []
    results = []

    def check(name, r):
        names.append(name)
        results.append(r)

    check("reset", locked(ep.reset))
    check("send_herald", locked(ep.send, herald, len(herald)))
    data, client = srv.recvfrom(64)
    ses.sendto(wire.encode_ack(1), client)
    # the bare call the herald state makes once: recvfrom(5) of a 4-byte datagram
    import time

    time.sleep_ms(20)
    gc.collect()
    t0 = micropython.mem_total()
    a0 = gc.mem_alloc()
    got = ep._recvfrom(5)
    t1 = micropython.mem_total()
    a1 = gc.mem_alloc()
    print("RECVFROM_REQUESTED", t1 - t0)
    print("RECVFROM_HELD", a1 - a0)
    print("RECVFROM_DATA", len(got[0]), "ADDR", len(got[1]))
    got = None
    # the same through the endpoint, heap locked: the window opens and closes
    ses.sendto(wire.encode_ack(1), client)
    time.sleep_ms(20)
    check("poll_ack_herald", locked(ep.poll_ack, ack))
    print("ACK_PORT", ep.ack_port)
    check("adopt_port", locked(ep.adopt_port, ep.ack_port))
    ses.sendto(wire.encode_ack(2), client)
    time.sleep_ms(20)
    check("poll_ack_session", locked(ep.poll_ack, ack))
    check("send_session", locked(ep.send, herald, len(herald)))
    check("wait", locked(ep.wait, 0))
    check("set_server", locked(ep.set_server, b"\x7f\x00\x00\x01", hport))
    for i in range(len(names)):
        print("LOCKED", names[i], results[i])
    ep.close()
    srv.close()
    ses.close()


ops(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
