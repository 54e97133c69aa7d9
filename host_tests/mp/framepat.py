# The frame patterns the NIC driver tests send and expect (MicroPython side of
# host_tests/test_w5500_driver.py and test_esp32_emac.py, which build the same
# frames on the host): tx frame i is broadcast from the NIC, rx frame i comes to
# it from PEER_MAC; both carry the local experimental EtherType 0x88B5.
import sys
import time

import micropython

PEER_MAC = b"\x02\x00\x00\x00\x00\x09"


def tx_len(i):
    return 1514 if i % 5 == 4 else 60 + (i * 331) % 1455


def rx_len(i):
    return 60 + (i * 577) % 1455


def fill_tx(buf, i, n, mac):
    """Transmit frame i (n bytes) from mac into buf."""
    j = 0
    while j < 6:
        buf[j] = 0xFF
        buf[6 + j] = mac[j]
        j += 1
    buf[12] = 0x88  # IEEE 802 local experimental EtherType 0x88B5
    buf[13] = 0xB5
    j = 14
    while j < n:
        buf[j] = (j * 7 + i) & 255
        j += 1


def check_rx(buf, i, n, mac):
    """0 when buf[0:n] is received frame i for mac, else the number of wrong bytes."""
    bad = 0
    j = 0
    while j < 6:
        if buf[j] != mac[j] or buf[6 + j] != PEER_MAC[j]:
            bad += 1
        j += 1
    if buf[12] != 0x88 or buf[13] != 0xB5:
        bad += 1
    j = 14
    while j < n:
        if buf[j] != (j * 5 + i * 3) & 255:
            bad += 1
        j += 1
    return bad


def locked(fn, a, b, c, d):
    """fn(a, b, c, d) under micropython.heap_lock(); prints RESULT memoryerror=1 if it allocated."""
    micropython.heap_lock()
    err = None
    try:
        fn(a, b, c, d)
    except MemoryError as e:
        err = e
    micropython.heap_unlock()
    if err is not None:
        print("RESULT memoryerror=1")
        sys.print_exception(err)



TXB = bytearray(1514)
RXB = bytearray(1514)


def frames(nic, ntx, nrx, res):
    """Send tx frames 0..ntx-1, then poll for rx frames 0..nrx-1 (60 s at most) and check
    them: res = [send failures, frames received, wrong bytes, bytes received]."""
    tx = TXB
    rx = RXB
    i = 0
    while i < ntx:
        n = tx_len(i)
        fill_tx(tx, i, n, nic.mac)
        if nic.send(tx, n) != 1:
            res[0] += 1
        i += 1
    got = 0
    t0 = time.ticks_ms()
    while got < nrx and time.ticks_diff(time.ticks_ms(), t0) < 60000:
        n = nic.poll(rx)
        if n == 0:
            continue
        if n != rx_len(got):
            res[2] += 1
        else:
            res[2] += check_rx(rx, got, n, nic.mac)
        res[3] += n
        got += 1
    res[1] = got
