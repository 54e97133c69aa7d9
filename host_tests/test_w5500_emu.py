"""The W5500 emulator (tools/w5500_emu.py) against the datasheet, driven by raw
SPI frames (no driver), plus its SPI-link server and command line."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ROOT

sys.path.insert(0, ROOT)
from tools import spi_link  # noqa: E402
from tools import w5500_emu as emu  # noqa: E402

MAC = b"\x02\x11\x22\x33\x44\x55"


def frame_io(chip, addr, ctl, data=b"", nread=0):
    """One VDM SPI frame (DS 2.2): address, control byte, data; returns the data-phase MISO."""
    chip.begin()
    miso = chip.transfer(bytes([addr >> 8, addr & 0xFF, ctl]) + bytes(data) + bytes(nread))
    chip.end()
    return bytes(miso[3 + len(data):])


def creg(n, write):  # control byte: socket n register block
    return ((4 * n + 1) << 3) | (4 if write else 0)


def wr(chip, bsb, addr, data):
    return frame_io(chip, addr, (bsb << 3) | 4, data)


def rd(chip, bsb, addr, n):
    return frame_io(chip, addr, bsb << 3, nread=n)


def rd16(chip, n, off):
    return struct.unpack("!H", rd(chip, 4 * n + 1, off, 2))[0]


def wr16(chip, n, off, v):
    wr(chip, 4 * n + 1, off, struct.pack("!H", v))


def cmd(chip, n, c):
    wr(chip, 4 * n + 1, emu.SN_CR, bytes([c]))


def open_macraw(chip, mr=0x84, rx=16, tx=16):
    wr(chip, 0, emu.SHAR, MAC)
    for n in range(1, 8):
        wr(chip, 4 * n + 1, emu.SN_RXBUF_SIZE, b"\x00\x00")
    wr(chip, 1, emu.SN_RXBUF_SIZE, bytes([rx, tx]))
    wr(chip, 1, emu.SN_MR, bytes([mr]))
    cmd(chip, 0, emu.CR_OPEN)


def frozen(**kw):
    """A chip whose clock stands still unless the test advances it (SPI takes no time)."""
    clock = emu.SimClock(sclk_hz=10**15, txn_ns=0)
    return emu.W5500(clock=clock, **kw), clock


def raw_frame(dst=MAC, n=100, et=b"\x88\xb5", k=0):
    return dst + b"\x02\x00\x00\x00\x00\x09" + et + bytes((j + k) & 255 for j in range(n - 14))


# ---- registers ----


def test_reset_values():
    c = emu.W5500()
    assert rd(c, 0, emu.VERSIONR, 1) == b"\x04"
    assert rd(c, 0, emu.PHYCFGR, 1)[0] == 0xB8 | 0x07  # RST, OPMDC=111, link/100M/full
    assert rd(c, 0, 0x19, 3) == b"\x07\xd0\x08"  # RTR = 2000, RCR = 8
    for n in range(8):
        assert rd(c, 4 * n + 1, emu.SN_RXBUF_SIZE, 2) == b"\x02\x02"
        assert rd16(c, n, emu.SN_TX_FSR) == 0x0800
        assert rd(c, 4 * n + 1, emu.SN_DHAR, 6) == b"\xff" * 6
        assert rd(c, 4 * n + 1, emu.SN_TTL, 1) == b"\x80"
        assert rd(c, 4 * n + 1, emu.SN_IMR, 1) == b"\xff"
        assert rd(c, 4 * n + 1, emu.SN_SR, 1) == b"\x00"


def test_read_only_registers_ignore_writes():
    c = emu.W5500()
    wr(c, 0, emu.VERSIONR, b"\x99")
    wr(c, 1, emu.SN_SR, b"\x42")
    wr(c, 1, emu.SN_TX_FSR, b"\x00\x00")
    wr(c, 1, emu.SN_RX_WR, b"\x12\x34")
    assert rd(c, 0, emu.VERSIONR, 1) == b"\x04"
    assert rd(c, 1, emu.SN_SR, 1) == b"\x00"
    assert rd16(c, 0, emu.SN_TX_FSR) == 0x0800 and rd16(c, 0, emu.SN_RX_WR) == 0


def test_auto_increment_spans_registers():
    c = emu.W5500()
    wr(c, 0, 0x0001, bytes(range(1, 19)))  # GAR, SUBR, SHAR, SIPR in one frame
    assert rd(c, 0, emu.SHAR, 6) == bytes(range(9, 15))
    assert rd(c, 0, 0x0001, 18) == bytes(range(1, 19))


def test_fdm_fixed_length_frames_in_one_select():
    c = emu.W5500()
    c.begin()
    # OM=01 (1 byte), then OM=10 (2 bytes), then OM=11 (4 bytes), CS held low
    c.transfer(b"\x00\x09\x05" + b"\xaa" + b"\x00\x0a\x06" + b"\xbb\xcc" + b"\x00\x0c\x07" + b"\xdd\xee\x01\x02")
    miso = c.transfer(b"\x00\x39\x01\x00")
    c.end()
    assert miso[3] == 0x04
    assert rd(c, 0, emu.SHAR, 7) == b"\xaa\xbb\xcc\xdd\xee\x01\x02"


def test_mr_rst_resets_and_self_clears():
    c = emu.W5500()
    wr(c, 0, emu.SHAR, MAC)
    wr(c, 1, emu.SN_RXBUF_SIZE, b"\x10\x10")
    wr(c, 0, emu.MR, b"\x80")
    assert rd(c, 0, emu.MR, 1) == b"\x00"
    assert rd(c, 0, emu.SHAR, 6) == bytes(6)
    assert rd(c, 1, emu.SN_RXBUF_SIZE, 2) == b"\x02\x02"
    assert c.stats["resets"] == 1


def test_phycfgr_link_bits_follow_cable_and_are_read_only():
    c = emu.W5500()
    assert rd(c, 0, emu.PHYCFGR, 1)[0] & 1 == 1
    c.link = False
    assert rd(c, 0, emu.PHYCFGR, 1)[0] & 7 == 0
    wr(c, 0, emu.PHYCFGR, b"\xff")
    assert rd(c, 0, emu.PHYCFGR, 1)[0] == 0xF8
    c.link = True
    wr(c, 0, emu.PHYCFGR, b"\x78")  # RST = 0: PHY held in reset, no link
    assert rd(c, 0, emu.PHYCFGR, 1)[0] & 1 == 0


def test_reserved_block_reads_zero():
    c = emu.W5500()
    assert frame_io(c, 0x0000, 4 << 3, nread=4) == bytes(4)
    assert c.stats["reserved_block"] == 1


# ---- memory, pointers ----


def test_default_layout_and_wrap_inside_socket_block():
    c = emu.W5500()
    # socket 3 TX block is the 4th 2 KiB block; a burst at 0x07FE wraps to its start
    wr(c, 4 * 3 + 2, 0x07FE, b"ABCD")
    assert c.tx_mem[3 * 2048 + 2046 : 3 * 2048 + 2048] == b"AB"
    assert c.tx_mem[3 * 2048 : 3 * 2048 + 2] == b"CD"
    assert c.tx_mem[4 * 2048 : 4 * 2048 + 2] == b"\0\0"  # socket 4 untouched
    # the full 16-bit offset is accepted and reduced modulo the block size
    assert rd(c, 4 * 3 + 2, 0xF7FE, 4) == b"ABCD"


def test_custom_layout_sequential_from_socket_0():
    c = emu.W5500()
    sizes = [4, 1, 8, 0, 1, 1, 1, 0]
    for n, s in enumerate(sizes):
        wr(c, 4 * n + 1, emu.SN_RXBUF_SIZE, bytes([s, s]))
    assert c.stats["bufsize_errors"] > 0  # intermediate sums passed 16 while being set
    base = 0
    for n, s in enumerate(sizes):
        assert c.block(n, False) == (base, s * 1024)
        base += s * 1024


@pytest.mark.parametrize("bad", [3, 5, 32, 255])
def test_illegal_buffer_size_gives_no_memory(bad):
    c = emu.W5500()
    open_macraw(c)
    wr(c, 1, emu.SN_RXBUF_SIZE, bytes([bad, bad]))
    assert c.block(0, False) == (0, 0) and c.block(0, True) == (0, 0)
    assert rd16(c, 0, emu.SN_TX_FSR) == 0
    assert c.receive_frame(raw_frame()) == -1
    assert c.stats["bufsize_errors"] >= 2


def test_sum_over_16_kib_starves_later_sockets():
    c = emu.W5500()
    wr(c, 1, emu.SN_RXBUF_SIZE, b"\x10\x10")  # socket 0: 16, sockets 1..7 still 2
    assert c.block(0, False) == (0, 16384)
    assert c.block(1, False) == (16384, 0)


def test_tx_fsr_accounting_and_send():
    out = []
    c, clock = frozen(transmit=out.append)
    open_macraw(c)
    assert rd16(c, 0, emu.SN_TX_FSR) == 16384
    f = raw_frame(n=100)
    wr(c, 2, 0, f)
    wr16(c, 0, emu.SN_TX_WR, 100)
    assert rd16(c, 0, emu.SN_TX_FSR) == 16384 - 100  # before SEND: WR - RD counts as used
    cmd(c, 0, emu.CR_SEND)
    assert rd(c, 1, emu.SN_CR, 1) == b"\x00"
    assert out == [f]
    assert rd16(c, 0, emu.SN_TX_RD) == 0 and rd16(c, 0, emu.SN_TX_FSR) == 16384 - 100  # on the wire
    clock.advance(c.wire_ns(100))
    assert rd16(c, 0, emu.SN_TX_RD) == 100 and rd16(c, 0, emu.SN_TX_FSR) == 16384
    assert rd(c, 1, emu.SN_IR, 1)[0] & emu.IR_SEND_OK
    wr(c, 1, emu.SN_IR, bytes([emu.IR_SEND_OK]))  # write 1 to clear
    assert rd(c, 1, emu.SN_IR, 1)[0] & emu.IR_SEND_OK == 0
    assert rd(c, 0, emu.SIR, 1) == b"\x00"


def test_free_running_pointers_wrap_at_16_bits():
    out = []
    c, clock = frozen(transmit=out.append, ptr_init=0xFFF0)
    open_macraw(c)
    assert rd16(c, 0, emu.SN_TX_WR) == 0xFFF0 and rd16(c, 0, emu.SN_RX_RD) == 0xFFF0
    f = raw_frame(n=200, k=7)
    wr(c, 2, 0xFFF0, f)  # auto-increment wraps past 0xFFFF inside the block
    wr16(c, 0, emu.SN_TX_WR, (0xFFF0 + 200) & 0xFFFF)
    cmd(c, 0, emu.CR_SEND)
    clock.advance(c.wire_ns(200))
    assert out == [f] and rd16(c, 0, emu.SN_TX_RD) == 200 - 16
    g = raw_frame(n=300, k=3)
    assert c.receive_frame(g) == 0
    assert rd16(c, 0, emu.SN_RX_WR) == (0xFFF0 + 302) & 0xFFFF
    assert rd16(c, 0, emu.SN_RX_RSR) == 302
    assert rd(c, 3, 0xFFF0, 302) == struct.pack("!H", 302) + g


def test_rx_rsr_accounting_and_recv():
    c = emu.W5500()
    open_macraw(c)
    f1, f2 = raw_frame(n=60), raw_frame(n=1514, k=1)
    c.receive_frame(f1)
    c.receive_frame(f2)
    assert rd16(c, 0, emu.SN_RX_RSR) == 62 + 1516
    assert rd(c, 1, emu.SN_IR, 1)[0] & emu.IR_RECV
    # MACRAW record: 2-byte length that counts itself (docs/w5500.md#macraw-framing)
    assert rd(c, 3, 0, 2) == b"\x00\x3e"
    wr16(c, 0, emu.SN_RX_RD, 62)
    assert rd16(c, 0, emu.SN_RX_RSR) == 62 + 1516  # not before RECV
    assert rd16(c, 0, emu.SN_RX_RD) == 62
    cmd(c, 0, emu.CR_RECV)
    assert rd16(c, 0, emu.SN_RX_RSR) == 1516
    assert rd(c, 3, 62, 1516) == struct.pack("!H", 1516) + f2
    # RX_RD may be advanced in several steps (IOLIB reads header, RECV, then payload)
    wr16(c, 0, emu.SN_RX_RD, 64)
    cmd(c, 0, emu.CR_RECV)
    wr16(c, 0, emu.SN_RX_RD, 62 + 1516)
    cmd(c, 0, emu.CR_RECV)
    assert rd16(c, 0, emu.SN_RX_RSR) == 0 and c.stats["rx_rd_errors"] == 0


def test_rx_full_drops_and_runts_are_padded():
    c = emu.W5500()
    open_macraw(c, rx=1, tx=1)
    assert c.block(0, False) == (0, 1024)
    assert c.receive_frame(raw_frame(n=1000)) == 0
    assert c.receive_frame(raw_frame(n=100)) == -1  # 1002 + 102 > 1024
    assert c.stats["rx_dropped_full"] == 1
    wr16(c, 0, emu.SN_RX_RD, 1002)
    cmd(c, 0, emu.CR_RECV)
    assert c.receive_frame(raw_frame(n=42)) == 0  # padded to 60
    assert rd16(c, 0, emu.SN_RX_RSR) == 62
    assert c.receive_frame(b"\x00" * 1515) == -1 and c.stats["rx_dropped_size"] == 1


# ---- commands and modes ----


def test_open_close_status():
    c = emu.W5500()
    for n, mr, sr in [(0, 0x04, 0x42), (1, 0x04, 0x00), (2, 0x02, 0x22), (3, 0x01, 0x13), (4, 0x00, 0x00)]:
        wr(c, 4 * n + 1, emu.SN_MR, bytes([mr]))
        cmd(c, n, emu.CR_OPEN)
        assert rd(c, 4 * n + 1, emu.SN_SR, 1)[0] == sr, n
        cmd(c, n, emu.CR_CLOSE)
        assert rd(c, 4 * n + 1, emu.SN_SR, 1)[0] == 0
    cmd(c, 3, emu.CR_LISTEN)
    assert c.stats["unsupported_cmds"] == 1


def test_command_register_latency_knob():
    c = emu.W5500(cmd_delay=1)
    open_macraw(c)
    assert rd(c, 1, emu.SN_CR, 1) == b"\x01"  # OPEN still being accepted
    assert rd(c, 1, emu.SN_SR, 1) == b"\x42"  # ... and acted once it was
    assert c.stats["lost_cmds"] == 0
    cmd(c, 0, emu.CR_RECV)
    assert rd(c, 1, emu.SN_CR, 1) == b"\x40"  # still busy during the next frame
    assert rd(c, 1, emu.SN_CR, 1) == b"\x00"
    cmd(c, 0, emu.CR_RECV)
    cmd(c, 0, emu.CR_RECV)  # written while busy: the first one is lost
    assert c.stats["lost_cmds"] == 1


def test_command_acts_only_when_accepted():
    # DS 4.2 Sn_CR: the command acts once the chip accepted it, which Sn_CR reading 0 shows
    c, clock = frozen(cmd_delay_ns=3000)
    wr(c, 1, emu.SN_MR, bytes([emu.P_MACRAW]))
    cmd(c, 0, emu.CR_OPEN)
    clock.advance(2999)
    assert rd(c, 1, emu.SN_CR, 1) == b"\x01" and rd(c, 1, emu.SN_SR, 1) == b"\x00"
    clock.advance(1)
    assert rd(c, 1, emu.SN_CR, 1) == b"\x00" and rd(c, 1, emu.SN_SR, 1) == b"\x42"
    # RECV: Sn_RX_RSR moves only when it is accepted
    c.receive_frame(raw_frame(n=100))
    wr16(c, 0, emu.SN_RX_RD, 102)
    cmd(c, 0, emu.CR_RECV)
    assert rd16(c, 0, emu.SN_RX_RSR) == 102
    clock.advance(3000)
    assert rd16(c, 0, emu.SN_RX_RSR) == 0 and c.stats["lost_cmds"] == 0


def test_send_written_while_another_is_pending_is_one_frame():
    # a driver that writes the next frame and SEND before Sn_CR read 0: the second SEND
    # replaces the first, and both frames' bytes go out as one (the hazard of not waiting)
    out = []
    c, clock = frozen(transmit=out.append, cmd_delay_ns=1000)
    open_macraw(c)
    clock.advance(1000)
    f1, f2 = raw_frame(n=100, k=1), raw_frame(n=80, k=2)
    wr(c, 2, 0, f1)
    wr16(c, 0, emu.SN_TX_WR, 100)
    cmd(c, 0, emu.CR_SEND)
    wr(c, 2, 100, f2)
    wr16(c, 0, emu.SN_TX_WR, 180)
    cmd(c, 0, emu.CR_SEND)
    clock.advance(1000)
    assert rd(c, 1, emu.SN_CR, 1) == b"\x00"
    assert c.stats["lost_cmds"] == 1 and out == [f1 + f2]
    # waiting for Sn_CR after each SEND keeps them apart
    out.clear()
    for k, f in enumerate((f1, f2)):
        base = rd16(c, 0, emu.SN_TX_WR)
        wr(c, 2, base, f)
        wr16(c, 0, emu.SN_TX_WR, base + len(f))
        cmd(c, 0, emu.CR_SEND)
        clock.advance(1000)
        assert rd(c, 1, emu.SN_CR, 1) == b"\x00"
    assert out == [f1, f2] and c.stats["lost_cmds"] == 1


@pytest.mark.parametrize("speed", [100, 10])
def test_send_takes_wire_time(speed):
    # SEND_OK and TX_RD follow the frame's wire time: (frame + preamble, SFD, FCS, gap) x 8 bits
    out = []
    c, clock = frozen(transmit=out.append, speed=speed)
    assert rd(c, 0, emu.PHYCFGR, 1)[0] & emu.PHY_SPD == (emu.PHY_SPD if speed == 100 else 0)
    open_macraw(c)
    wire = (1514 + 24) * 8 * 1000 // speed
    assert c.wire_ns(1514) == wire and c.wire_ns(20) == (60 + 24) * 8 * 1000 // speed
    f, g = raw_frame(n=1514), raw_frame(n=1514, k=9)
    wr(c, 2, 0, f)
    wr16(c, 0, emu.SN_TX_WR, 1514)
    cmd(c, 0, emu.CR_SEND)
    wr(c, 2, 1514, g)  # a second frame queued behind the first
    wr16(c, 0, emu.SN_TX_WR, 3028)
    cmd(c, 0, emu.CR_SEND)
    assert out == [f, g]  # handed to the cable as each starts
    clock.advance(wire - 1)
    assert rd16(c, 0, emu.SN_TX_RD) == 0 and not rd(c, 1, emu.SN_IR, 1)[0] & emu.IR_SEND_OK
    clock.advance(1)
    assert rd16(c, 0, emu.SN_TX_RD) == 1514 and rd(c, 1, emu.SN_IR, 1)[0] & emu.IR_SEND_OK
    clock.advance(wire - 1)
    assert rd16(c, 0, emu.SN_TX_RD) == 1514
    clock.advance(1)
    assert rd16(c, 0, emu.SN_TX_RD) == 3028 and rd16(c, 0, emu.SN_TX_FSR) == 16384


def test_sim_clock_follows_spi_traffic():
    clock = emu.SimClock(sclk_hz=20000000, txn_ns=5000)
    c = emu.W5500(clock=clock)
    rd(c, 0, emu.VERSIONR, 1)  # one transaction of 4 bytes: 5 us + 32 bits at 20 MHz
    assert clock() == 5000 + 1600
    with pytest.raises(ValueError):
        emu.SimClock(sclk_hz=0)


def test_intn_output_follows_the_masks():
    # INTn is low while (IR & IMR) or (SIR & SIMR), SIR bit n = Sn_IR & Sn_IMR (DS 4.1, 4.2)
    levels = []
    c = emu.W5500(on_int=lambda level, seq: levels.append(level))
    open_macraw(c)
    wr(c, 1, emu.SN_IMR, bytes([emu.IR_RECV]))
    assert c.intn() == 1
    c.receive_frame(raw_frame())
    assert c.intn() == 1  # SIMR still 0
    wr(c, 0, emu.SIMR, b"\x01")
    assert c.intn() == 0 and levels[-1] == 0
    wr(c, 1, emu.SN_IR, bytes([emu.IR_RECV]))  # write 1 to clear
    assert c.intn() == 1 and levels[-1] == 1
    c.receive_frame(raw_frame(k=1))
    assert c.intn() == 0
    wr(c, 0, emu.SIMR, b"\x00")  # masking deasserts it
    assert c.intn() == 1

@pytest.mark.parametrize(
    "mr,dst,et,accepted,mfen_multicast",
    [
        (0x84, MAC, b"\x88\xb5", True, False),
        (0x84, b"\x02\x99\x99\x99\x99\x99", b"\x88\xb5", False, False),  # MFEN: other unicast
        (0x04, b"\x02\x99\x99\x99\x99\x99", b"\x88\xb5", True, False),  # no MFEN: promiscuous
        (0x84, b"\xff" * 6, b"\x08\x06", True, False),
        (0xC4, b"\xff" * 6, b"\x08\x06", False, False),  # BCASTB
        (0x84, b"\x33\x33\x00\x00\x00\x01", b"\x86\xdd", False, False),  # MFEN, datasheet reading
        (0x84, b"\x33\x33\x00\x00\x00\x01", b"\x86\xdd", True, True),  # MFEN passing multicast
        (0x04, b"\x33\x33\x00\x00\x00\x01", b"\x86\xdd", True, False),  # no MFEN
        (0xA4, b"\x01\x00\x5e\x00\x00\x01", b"\x08\x00", False, True),  # MMB
        (0x94, MAC, b"\x86\xdd", False, False),  # MIP6B
    ],
)
def test_macraw_filters(mr, dst, et, accepted, mfen_multicast):
    c = emu.W5500(mfen_multicast=mfen_multicast)
    open_macraw(c, mr=mr)
    assert (c.receive_frame(raw_frame(dst=dst, et=et)) == 0) == accepted


def _udp_frame(dst_mac, src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", emu._csum(ip)) + ip[12:]
    return dst_mac + b"\x02\x00\x00\x00\x00\x09" + b"\x08\x00" + ip + udp


def test_udp_mode_rx_header_and_send_mac():
    out = []
    c = emu.W5500(transmit=out.append)
    wr(c, 0, emu.SHAR, MAC)
    wr(c, 0, emu.SIPR, bytes([10, 0, 0, 2]))
    wr(c, 5, emu.SN_MR, b"\x02")  # socket 1, UDP
    wr16(c, 1, emu.SN_PORT, 20024)
    cmd(c, 1, emu.CR_OPEN)
    assert rd(c, 5, emu.SN_SR, 1) == b"\x22"
    f = _udp_frame(MAC, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 20023, 20024, b"hello")
    assert c.receive_frame(f) == 1
    assert rd16(c, 1, emu.SN_RX_RSR) == 8 + 5
    assert rd(c, 7, 0, 13) == bytes([10, 0, 0, 1]) + struct.pack("!HH", 20023, 5) + b"hello"
    # other port: not for this socket
    assert c.receive_frame(_udp_frame(MAC, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 1, 9, b"x")) == -1
    # SEND_MAC: header from Sn_DHAR / Sn_DIPR / Sn_DPORT, checksums valid
    wr(c, 5, emu.SN_DHAR, b"\x02\x00\x00\x00\x00\x09")
    wr(c, 5, emu.SN_DIPR, bytes([10, 0, 0, 1]))
    wr16(c, 1, emu.SN_DPORT, 20023)
    wr(c, 6, 0, b"ack!")
    wr16(c, 1, emu.SN_TX_WR, 4)
    cmd(c, 1, emu.CR_SEND_MAC)
    (g,) = out
    assert g[0:6] == b"\x02\x00\x00\x00\x00\x09" and g[6:12] == MAC and g[12:14] == b"\x08\x00"
    assert emu._csum(g[14:34]) == 0 and g[26:30] == bytes([10, 0, 0, 2]) and g[30:34] == bytes([10, 0, 0, 1])
    assert struct.unpack("!HHH", g[34:40]) == (20024, 20023, 12) and g[42:] == b"ack!"
    pseudo = g[26:34] + struct.pack("!BBH", 0, 17, 12)
    assert emu._csum(pseudo + g[34:]) == 0
    # SEND to an address never seen: the chip would time out its ARP
    wr(c, 5, emu.SN_DIPR, bytes([10, 0, 0, 77]))
    wr16(c, 1, emu.SN_TX_WR, 8)
    cmd(c, 1, emu.CR_SEND)
    assert len(out) == 1 and rd(c, 5, emu.SN_IR, 1)[0] & emu.IR_TIMEOUT


def test_link_down_drops_rx_and_stalls_send():
    out = []
    c, clock = frozen(transmit=out.append)
    open_macraw(c)
    c.link = False
    assert c.receive_frame(raw_frame()) == -1 and c.stats["rx_dropped_link"] == 1
    wr(c, 2, 0, raw_frame(n=60))
    wr16(c, 0, emu.SN_TX_WR, 60)
    cmd(c, 0, emu.CR_SEND)
    assert out == [] and rd16(c, 0, emu.SN_TX_RD) == 0
    assert rd(c, 1, emu.SN_IR, 1)[0] & emu.IR_SEND_OK == 0
    c.link = True  # the cable comes back: the pending SEND goes out
    clock.advance(c.wire_ns(60))
    assert len(out) == 1 and rd16(c, 0, emu.SN_TX_RD) == 60


def test_transaction_and_byte_counts():
    c = emu.W5500()
    rd(c, 0, emu.VERSIONR, 1)
    wr(c, 0, emu.SHAR, MAC)
    c.begin()
    c.end()  # no clock: not a transaction
    c.transfer(b"\x00\x00")  # CS high: ignored
    assert c.stats["transactions"] == 2 and c.stats["bytes"] == 4 + 9
    assert c.stats["header_bytes"] == 6 and c.stats["stray_bytes"] == 2


def test_intn_follows_enabled_interrupts():
    # INTn low while (IR & IMR) or (SIR & SIMR), SIR bit n = Sn_IR & Sn_IMR (DS 4.1, 4.2)
    seen = []
    c = emu.W5500(on_int=lambda level, seq: seen.append((level, seq)))
    open_macraw(c)
    assert c.intn() == 1
    c.receive_frame(raw_frame(n=60))
    assert c.intn() == 1 and not seen  # RECV pending, but SIMR masks socket 0
    wr(c, 0, emu.SIMR, b"\x01")
    assert c.intn() == 0 and seen == [(0, 1)]
    wr(c, 1, emu.SN_IMR, bytes([emu.IR_SEND_OK]))  # Sn_IMR without RECV: released
    assert c.intn() == 1 and seen[-1] == (1, 2)
    wr(c, 1, emu.SN_IMR, bytes([emu.IR_RECV]))
    wr(c, 1, emu.SN_IR, bytes([emu.IR_RECV]))  # write 1 to clear
    assert c.intn() == 1 and [lv for lv, _ in seen] == [0, 1, 0, 1]
    c.receive_frame(raw_frame(n=60))
    assert seen[-1] == (0, 5)
    wr(c, 0, emu.IMR, b"\x80")
    c.common[emu.IR] = 0x80  # CONFLICT, as the chip would set it
    assert c.intn() == 0


def test_rstn_low_holds_the_chip_in_reset():
    c = emu.W5500()
    wr(c, 0, emu.SHAR, MAC)
    c.rst_line(0)
    assert rd(c, 0, emu.VERSIONR, 1) == b"\x00" and c.stats["bytes_in_reset"] == 4
    wr(c, 0, emu.SHAR, MAC)  # ignored too
    c.rst_line(1)
    assert rd(c, 0, emu.SHAR, 6) == bytes(6) and rd(c, 0, emu.VERSIONR, 1) == b"\x04"
    assert c.stats["resets"] == 1


def test_peek_reads_without_side_effects():
    c = emu.W5500()
    open_macraw(c)
    f = raw_frame(n=100)
    c.receive_frame(f)
    before = dict(c.stats)
    assert c.peek(0, emu.SHAR, 6) == MAC and c.peek(3, 2, 100) == f  # register block, RX buffer
    assert c.peek(1, emu.SN_RX_RSR, 2) == struct.pack("!H", 102)
    assert c.stats == before and rd16(c, 0, emu.SN_RX_RSR) == 102


# ---- SPI link server and CLI ----


class _Node:
    """The emulated RP2040's side of the batched link (tools/rp2sim/w5500link.js), in Python."""

    def __init__(self, chip, **kw):
        req_r, self.req = os.pipe()
        self.rep, rep_w = os.pipe()
        self.srv = spi_link.BatchLinkServer(chip, req_r, rep_w, **kw).start()

    def status(self):
        flags, seq = struct.unpack("<BI", self._read(5))
        return flags, seq

    def _read(self, n):
        b = b""
        while len(b) < n:
            b += os.read(self.rep, n - len(b))
        return b

    def prefetch(self, t, hdr, off):
        os.write(self.req, struct.pack("<Bd3sH", spi_link.BL_PREFETCH, t, hdr, off))
        st = self.status()
        (n,) = struct.unpack("<H", self._read(2))
        return st, self._read(n)

    def commit(self, t0, t1, mosi, miso):
        os.write(self.req, struct.pack("<BddI", spi_link.BL_COMMIT, t0, t1, len(mosi)) + mosi + miso)
        return self.status()

    def close(self):
        os.close(self.req)
        self.srv._thread.join(5)


def test_batch_link_prefetch_commit_intn_and_snapshot():
    chip = emu.W5500()
    open_macraw(chip)
    wr(chip, 0, emu.SIMR, b"\x01")
    txn0 = chip.stats["transactions"]
    async_ints = []
    node = _Node(chip, notify_int=lambda level, seq: async_ints.append(level))
    try:
        hdr = b"\x00\x09\x00"  # SHAR, common block, read, VDM
        st, data = node.prefetch(1000.0, hdr, 0)
        assert data[:6] == MAC and len(data) == 64 and st[0] & 1  # INTn high
        # a frame arriving while the transaction is open waits for its commit
        node.srv.deliver(raw_frame(n=60))
        assert chip.stats["frames_rx"] == 0 and node.srv.stats["deferred_frames"] == 1
        flags, seq = node.commit(1000.0, 2000.0, hdr + bytes(6), bytes(3) + MAC)
        assert flags & 1 == 0 and seq == chip.int_seq  # the frame is in: RECV, INTn low
        assert chip.now_ns == 2000.0 and chip.stats["transactions"] == txn0 + 1 and not async_ints
        # a wrong MISO (what the CPU was given differs from the chip) is counted
        node.commit(3000.0, 3100.0, hdr + bytes(1), bytes(4))
        assert node.srv.stats["miso_mismatches"] == 1
        # clearing Sn_IR by a write: released in the reply; a snapshot asked for rides along
        node.srv.request_snapshot(2)
        flags, _ = node.commit(4000.0, 4100.0, b"\x00\x02\x0c" + bytes([emu.IR_RECV]), bytes(4))
        assert flags & 1 and flags & 2 and flags >> 2 == 2
        os.write(node.req, struct.pack("<BdBI", spi_link.BL_MEMORY, 4100.0, 2, 4) + b"SRAM")
        # outside a transaction a frame goes in at once and INTn is announced asynchronously
        node.srv.deliver(raw_frame(n=60))
        assert async_ints == [0]
    finally:
        node.close()
    assert node.srv.snapshots == [(2, 4100.0, b"SRAM")]
    assert node.srv.stats["commits"] == 3 and node.srv.stats["prefetches"] == 1


def test_spi_link_server_stats_and_control():
    d = tempfile.mkdtemp()
    chip = emu.W5500()
    srv = emu.EmulatorServer(chip, os.path.join(d, "spi")).start()
    try:
        spi = spi_link.LinkSPI(os.path.join(d, "spi"))
        cs = spi_link.LinkPin(spi)
        cs(0)
        spi.write(b"\x00\x09\x04" + MAC)
        cs(1)
        r = bytearray(9)
        cs(0)
        spi.write_readinto(b"\x00\x09\x00" + bytes(6), r)
        cs(1)
        assert bytes(r[3:]) == MAC
        v = bytearray(1)
        cs(0)
        spi.write(b"\x00\x39\x00")
        spi.readinto(v)
        cs(1)
        assert v == b"\x04"
        st = spi.stats()
        assert st["transactions"] == 3 and st["bytes"] == 9 + 9 + 4
        st = spi.control(link=False)
        assert chip.link is False
        assert spi.control(reset_stats=True)["transactions"] == 0
        spi.close()
    finally:
        srv.stop()


def test_cli_help_and_sigterm_stats():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "firmware")]))
    # netdump_tools is the installed name of tools/; run the module file either way
    mod = "netdump_tools.w5500_emu"
    try:
        import netdump_tools.w5500_emu  # noqa: F401
    except ImportError:
        mod = "tools.w5500_emu"
    h = subprocess.run([sys.executable, "-m", mod, "--help"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert h.returncode == 0 and "--spi" in h.stdout and "--eth" in h.stdout
    d = tempfile.mkdtemp()
    spi_path, eth_path, wire_path = (os.path.join(d, x) for x in ("spi", "eth", "wire"))
    wire = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    wire.bind(wire_path)
    wire.settimeout(5)
    p = subprocess.Popen([sys.executable, "-m", mod, "--spi", spi_path, "--eth", eth_path, "--eth-peer", wire_path],
                         stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        t_end = time.time() + 10
        while not (os.path.exists(spi_path) and os.path.exists(eth_path)) and time.time() < t_end:
            time.sleep(0.02)
        spi = spi_link.LinkSPI(spi_path)
        cs = spi_link.LinkPin(spi)

        def w(ctl, addr, data):
            cs(0)
            spi.write(bytes([addr >> 8, addr & 0xFF, ctl]) + data)
            cs(1)

        w(0x04, emu.SHAR, MAC)
        w(0x0C, emu.SN_MR, b"\x84")
        w(0x0C, emu.SN_CR, b"\x01")
        f = raw_frame(n=80)
        w(0x14, 0, f)
        w(0x0C, emu.SN_TX_WR, struct.pack("!H", 80))
        w(0x0C, emu.SN_CR, b"\x20")
        assert wire.recv(2000) == f  # out of the Ethernet side
        wire.sendto(raw_frame(n=70, k=5), eth_path)  # into it
        t_end = time.time() + 5
        while spi.stats()["frames_rx"] == 0 and time.time() < t_end:
            time.sleep(0.01)
        assert spi.stats()["frames_rx"] == 1
        spi.close()
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
        wire.close()
    assert p.returncode == 0
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["frames_tx"] == 1 and stats["frames_rx"] == 1 and stats["transactions"] >= 6


def test_cli_refuses_non_loopback():
    with pytest.raises(ValueError):
        emu.parse_address("192.0.2.1:9000")
    for bad in ("127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:x"):
        with pytest.raises(ValueError):
            emu.parse_address(bad)
    assert emu.parse_address("127.0.0.1:65535")[1] == ("127.0.0.1", 65535)
