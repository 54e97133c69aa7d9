"""Bare metal, end to end: the frozen firmware arms from its frozen board module
(qemu_mps2_an385: LAN9118 + netdump's Ethernet stack), dumps its own RAM (.data
and .bss, which hold the GC heap and the VM state, and the C stack; ranges
from the firmware's linker symbols) through QEMU's LAN9118, the virtual
network and netdumpd, then spins; the VM is stopped and QEMU's own view of
that RAM (pmemsave) must equal what netdumpd received, except for the bytes
the dump itself changes while it runs, which are listed and bounded:

  stack      the C stack region (the dump runs on it);
  armed      the buffers, list items, dict tables and attribute tables of the
             objects the armed dump reaches (walked on the board before the
             dump: board/mutable.py);
  vm state   mp_state_ctx (heap lock depth, exception state), the SysTick
             counter _ticks_ms (ports/qemu/mcu/arm/ticks.c) and mp_interrupt_char
             (Ctrl-C is a plain character during a dump: micropython.kbd_intr).

Anything else that differs fails the test, and so does a total above the
bounds (the armed objects' size, the stack region, 96 bytes of VM state); a
control flips one byte of the received data outside those ranges and checks
that the comparison reports it.
The heap is locked before test_dump() is called (see DUMP_AND_SPIN)."""
import os
import time

import pytest

from fw_qemu_fixtures import STACK, board_code, elf_symbols, lines_with, ram_regions
from netdump_tools import reader

VM_STATE_BOUND = 96  # bytes of mp_state_ctx and _ticks_ms a dump may change (measured: 47)
VM_SYMBOLS = ("mp_state_ctx", "_ticks_ms", "mp_interrupt_char")  # kbd_intr() is turned off for the dump


def runs(a, b, base):
    """[(address, length)] of the runs of bytes where a and b differ."""
    out = []
    i = 0
    n = len(a)
    while i < n:
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j]:
                j += 1
            out.append((base + i, j - i))
            i = j
        else:
            i += 1
    return out


def arm_code(bed, regions, mode):
    """Board side: RAM disk, dumpon's configuration, arm from it (the frozen board module)."""
    conf = {"board": "qemu_mps2_an385", "iface": "lan", "client": bed.CLIENT, "server": bed.GATEWAY,
            "netmask": "/24", "herald_port": bed.herald_port, "client_port": bed.client_port, "mode": mode,
            "action": "halt", "console": 0,
            "regions": ["%s:0x%x:%d" % r for r in regions]}
    return ("import qemu_mps2_an385 as board\n"
            "board.mount_ramdisk()\n"
            "from netdump import dumpon\n"
            "import netdump.panic as p\n"
            "dumpon.configure(%r)\n"
            "d = p.arm_config()\n"
            "print('ARMED', d is not None, 'file' if board.__file__.startswith('/') else 'frozen')\n" % conf)


# dump, report, then spin until the VM is stopped; nothing after the dump writes
# to RAM (no assignment: a new global would change __main__'s dict). The heap is
# locked before test_dump() is called: MicroPython puts a large frame on the heap
# when it can (py/objfun.c), so this keeps the frames of test_dump() and dump()
# on the C stack, where the comparison expects the dump's own writes.
DUMP_AND_SPIN = ("import micropython\n"
                 "micropython.heap_lock()\n"
                 "print('DUMPED', p.test_dump())\n"
                 "while True:\n"
                 "    pass\n")


def wait_serial(board, text, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in board.serial_text():
            return True
        if not board.running():
            return False
        time.sleep(0.1)
    return False


def dump_and_compare(bed, firmware, mode, tmp_path):
    regions = ram_regions(firmware)
    st, out = bed.exec(arm_code(bed, regions, mode))
    assert st == 0 and "ARMED True frozen" in out, out
    st, out = bed.exec(board_code("mutable"))
    assert st == 0, out
    armed = [(w.split()[0], int(w.split()[1]), int(w.split()[2])) for w in lines_with(out, "MUT ")]
    assert len(armed) > 20, out
    st, out = bed.mpremote("resume", "exec", "--no-follow", DUMP_AND_SPIN)
    assert st == 0, out
    assert wait_serial(bed.board, "DUMPED", 300), bed.board.serial_text()[-3000:]
    serial = bed.board.serial_text()
    assert "DUMPED 0" in serial and "netdump finished." in serial, serial[-3000:]
    time.sleep(0.2)  # the board is in its spin loop
    bed.board.stop()
    cores = sorted(p for p in os.listdir(bed.dumpdir) if p.startswith("vmcore.") and not p.endswith(".last"))
    assert len(cores) == 1, os.listdir(bed.dumpdir)
    with open(os.path.join(bed.dumpdir, cores[0]), "rb") as f:
        core = reader.Vmcore.from_bytes(f.read())
    assert core.board == "qemu_mps2_an385"
    assert [r.name for r in core.regions] == [r[0] for r in regions]
    # each region's CRC-32, computed on the board while sending (fast_thumb's mem_read on
    # this CPU), matches the bytes netdumpd stored; over a lossy network a retransmission
    # may carry bytes that changed since the first copy (the stack), so only there a
    # mismatch is allowed
    checks = [core.check_digest(r)[0] for r in core.regions]
    assert all(c == "ok" or (c == "mismatch" and bed.loss) for c in checks), checks

    syms = elf_symbols(firmware)
    vm = [(n,) + syms[n] for n in VM_SYMBOLS]
    stack = regions[1]
    report = {"stack": 0, "armed": 0, "vm state": 0}
    strays = []

    def where(a, n):
        # the listed range that holds [a, a+n), or None
        if stack[1] <= a and a + n <= stack[1] + stack[2]:
            return "stack"
        if any(ra <= a and a + n <= ra + rn for _w, ra, rn in armed):
            return "armed"
        if any(ra <= a and a + n <= ra + rn for _s, ra, rn in vm):
            return "vm state"
        return None

    for name, addr, size in regions:
        got = core.read_region(name)
        qemu = bed.board.pmemsave(addr, size, str(tmp_path / ("%s.bin" % name)))
        assert len(got) == len(qemu) == size
        for a, n in runs(got, qemu, addr):
            w = where(a, n)
            if w is None:
                strays.append((hex(a), n))
            else:
                report[w] += n
        if name == "data_bss":
            # the control: one byte of the dump changed outside the listed ranges is caught
            a = next(x for x in range(addr, addr + size, 64) if where(x, 1) is None)
            bad = bytearray(got)
            bad[a - addr] ^= 0xFF
            assert (a, 1) in [r for r in runs(bad, qemu, addr) if where(*r) is None]
    armed_bytes = sum(r[2] for r in armed)
    print("[pmemsave] %s: %d bytes compared, differing: %s; armed objects span %d bytes"
          % (mode, sum(r[2] for r in regions), report, armed_bytes))
    assert strays == [], "bytes changed outside the listed ranges: %s" % strays[:20]
    assert report["armed"] <= armed_bytes
    assert report["vm state"] <= VM_STATE_BOUND
    assert report["stack"] <= STACK
    return report


@pytest.mark.parametrize("mode", ["window", "freebsd"])
def test_frozen_firmware_dumps_its_ram_and_qemu_agrees(bed, firmware, mode, tmp_path):
    rep = dump_and_compare(bed, firmware, mode, tmp_path)
    assert rep["armed"] > 0  # the comparison sees the dump's own writes: it is not vacuous


def test_lossy_network(lossy_bed, firmware, tmp_path):
    dump_and_compare(lossy_bed, firmware, "window", tmp_path)
    lossy_bed.close()
    st = lossy_bed.vnet_stats()
    lost = st["to_net"]["lost"] + st["to_nic"]["lost"]
    print("[vnet] loss 5%%: %d of %d frames lost" % (lost, st["to_net"]["frames"] + st["to_nic"]["frames"]))
    assert lost > 0


def test_armv6m_build_dumps_its_ram_and_qemu_agrees(firmware_armv6m, tmp_path):
    # the viper fast paths and the LAN9118 register access compiled for armv6m (the RP2040's set)
    from netdump_tools.qemu_board import Bed

    with Bed(firmware_armv6m, str(tmp_path / "bed")) as b:
        dump_and_compare(b, firmware_armv6m, "window", tmp_path)
