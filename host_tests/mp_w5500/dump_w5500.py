# A board with a W5500 (the emulator, over the SPI link) and its own
# Ethernet/IP stack (netdump.ether.EtherEndpoint) dumps three regions of this
# process's memory to netdumpd through tools/vnet.py, heap locked for the dump.
# Run by host_tests/test_w5500_driver.py and test_w5500_takeover.py:
#   micropython mp_w5500/dump_w5500.py SPI_PATH SERVER CLIENT PREFIX HPORT CPORT KIB [FW_MAC TAKEOVER]
# With FW_MAC the emulator runs a model of MicroPython's WIZNET5K on the chip
# (tools/fw_wiznet5k.py): the board arms with its stand-in (spi_stub.FakeWiznet5k,
# the INTn pin, interrupt masking over the link) and TAKEOVER 1/0 turns the
# driver's takeover on or off. After the dump the NIC is given back (resume()).
import sys

import uctypes

from netdump import debugnet, elfcore, panic
from netdump.drivers.w5500 import W5500
from netdump.ether import EtherEndpoint
from spi_stub import FakeWiznet5k, IntnPin, LinkPin, LinkSPI

BOARD_MAC = b"\x02\x00\x00\x00\x00\x15"


def main():
    path, server, client, prefix, hport, cport, kib = sys.argv[1:8]
    spi = LinkSPI(path)
    fw = None
    if len(sys.argv) > 8:
        fw = FakeWiznet5k(spi, bytes.fromhex(sys.argv[8]))
        takeover = sys.argv[9] == "1"
        nic = W5500(spi, LinkPin(spi), nic=fw, intn=IntnPin(spi), takeover=takeover,
                    atomic=(spi.irq_off, spi.irq_on) if takeover else None)
    else:
        nic = W5500(spi, LinkPin(spi), mac=BOARD_MAC)
    ep = EtherEndpoint(nic, client, server, netmask=int(prefix), herald_port=int(hport),
                       client_port=int(cport), mtu=1500, arp_timeout_ms=1000)
    big = bytearray(int(kib) << 10)
    i = 0
    while i < len(big):
        big[i] = (i * 7 + (i >> 8)) & 255
        i += 1
    sparse = bytearray(64 * 1024)
    sparse[5] = 0xA5
    small = bytearray(b"w5500 small region 0123456789")
    regions = [
        ("big", uctypes.addressof(big), len(big)),
        ("sparse", uctypes.addressof(sparse), len(sparse)),
        ("small", uctypes.addressof(small), len(small)),
    ]
    panic.arm(server, regions, elfcore.EM_X86_64, 64, "amd64", endpoint=ep, hostname="w5500-board",
              board="unix-w5500-emu", mode=debugnet.MODE_WINDOW, mtu=1500, retries=4)
    err = panic.dump("test panic: w5500", "Traceback (most recent call last):\nOSError: w5500 test\n")
    print("RESULT", err)
    print("NIC tx_timeouts", nic.tx_timeouts, "rx_errors", nic.rx_errors, "resets", nic.resets,
          "cmd_timeouts", nic.cmd_timeouts)
    if fw is not None:
        print("FW during", int(fw.up))
        panic.resume()
        print("FW after", int(fw.up))


main()
