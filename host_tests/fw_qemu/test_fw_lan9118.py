"""The LAN9118 driver on the firmware, against QEMU's model of the chip and a
real peer (the virtual network's gateway answers ARP): the frame NIC interface
with the heap locked (start, send, poll, wait, link), the take-over of a chip
someone else left configured, and the arm-time error for a missing chip."""
from fw_qemu_fixtures import lines_with
from netdump_tools.qemu_board import mpremote

# register words as the other user of the chip (the firmware's own driver, say)
# might leave them: every interrupt enabled with the IRQ pin on, the receiver
# off and promiscuous (DS 5.3 INT_EN / IRQ_CFG, 5.4.1 MAC_CR)
HOSTILE = """import machine
from netdump.drivers import lan9118 as L
B = 0x40200000
def hostile():
    machine.mem32[B + 0x5C] = 0x3FFFFFFF   # INT_EN: everything
    machine.mem32[B + 0x54] = 0x111        # IRQ_CFG: IRQ_EN, push-pull, active high
    L._csr_write(0x4020, 1, 0x0008, 0x0004)  # MAC CSR 1 = MAC_CR: PRMS, TXEN, no RXEN
def state():
    mac_cr = (L._csr_read16(0x4020, 1, 16) << 16) | L._csr_read16(0x4020, 1, 0)
    return (machine.mem32[B + 0x5C], machine.mem32[B + 0x54] & 0x100, mac_cr)
"""


def test_start_takes_over_a_chip_left_configured(bed):
    code = HOSTILE + (
        "nic = L.LAN9118(0x4020)\n"
        "hostile()\n"
        "print('BEFORE', state())\n"  # the control: the checks below see a chip not taken over
        "import micropython\n"
        "def locked_start():\n"
        "    micropython.heap_lock()\n"
        "    e = nic.start() * 10 + nic.start()\n"
        "    micropython.heap_unlock()\n"
        "    return e\n"
        "print('START', locked_start(), repr(nic.why), nic.link())\n"
        "print('AFTER', state())\n")
    st, out = mpremote(bed.device, "exec", code)
    assert st == 0, out
    int_en, irq_en, mac_cr = lines_with(out, "BEFORE ")[0].strip("()").split(", ")
    assert int(int_en) != 0 and irq_en == "256" and int(mac_cr) == 0x00040008, out  # hostile state in place
    assert lines_with(out, "START ")[0] == "0 '' 1", out  # twice 0 (idempotent), allocation-free, link up
    # interrupts masked, pin off, MAC_CR = FDPX | TXEN | RXEN (not promiscuous; IPv4: no multicast)
    assert lines_with(out, "AFTER ")[0] == "(0, 0, %d)" % (0x00100000 | 0x8 | 0x4), out


ARP = """import micropython, time
from netdump import inet
from netdump.drivers import lan9118 as L
nic = L.LAN9118(0x4020)
assert nic.start() == 0, nic.why
tx = bytearray(64)
rx = bytearray(1600)
rxv = memoryview(rx)[2:]  # the endpoint's receive view: not word aligned
me = bytes([10, 0, 2, 15])
gw = bytes([10, 0, 2, 2])
inet.eth_header(tx, 0, b'\\xff' * 6, nic.mac, inet.ETHERTYPE_ARP)
inet.arp_packet(tx, inet.ARP_OFF, inet.ARP_REQUEST, nic.mac, me, b'\\x00' * 6, gw)
txv = memoryview(tx)[0:60]
def exchange():
    ok = nic.send(txv, 60)
    n = 0
    k = 0
    while k < 50 and not n:
        nic.wait(20)
        n = nic.poll(rxv)
        k += 1
    return ok * 10000 + n
nic.idle_us = 0x3FFFFFF0  # wait()'s counter near 2**30: adding to it must not make a long int
micropython.heap_lock()
r = exchange()
micropython.heap_unlock()
print('SENT', r // 10000, 'GOT', r % 10000)
print('IDLE', nic.idle_us < 0x30000000)
print('FRAME', bytes(rxv[12:14]).hex(), bytes(rxv[20:22]).hex(), bytes(rxv[28:32]).hex(), bytes(rxv[38:42]).hex())
print('STATS', nic.stats)
"""


def test_send_poll_wait_with_a_real_peer_heap_locked(bed):
    st, out = mpremote(bed.device, "exec", ARP)
    assert st == 0, out
    sent, got = lines_with(out, "SENT ")[0].split()[0], lines_with(out, "SENT ")[0].split()[2]
    assert sent == "1" and int(got) >= 42, out
    assert lines_with(out, "IDLE ")[0] == "True", out  # wrapped before the sum could reach 2**30
    # an ARP reply (RFC 826: op 2) from the gateway 10.0.2.2 to us 10.0.2.15, FCS stripped
    assert lines_with(out, "FRAME ")[0] == "0806 0002 0a000202 0a00020f", out


def test_no_chip_is_a_clear_arm_time_error(board):
    # 0x40030000: a reserved window QEMU maps as unimplemented (reads 0, no bus fault): no BYTE_TEST
    code = ("from netdump.drivers import lan9118 as L\n"
            "try:\n"
            "    L.LAN9118(0x4003)\n"
            "except OSError as e:\n"
            "    print('ERR', e.args[0], e.args[1])\n")
    st, out = mpremote(board.device, "exec", code, timeout=60)
    assert st == 0, out
    assert lines_with(out, "ERR ")[0] == "19 lan9118: no chip at the base address (BYTE_TEST)", out
