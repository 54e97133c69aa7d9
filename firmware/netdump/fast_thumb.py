# The data path's hottest loops in Thumb code, for Cortex-M ports whose
# MicroPython has the inline assembler (@micropython.asm_thumb: rp2, qemu,
# stm32): copy a datagram's payload from memory, sum it (RFC 1071) and feed it
# to the region's CRC-32; and write a frame into a memory-mapped transmit FIFO.
# fast.py uses the first instead of fast_viper's copy_mem_csum_crc when this
# module imports; results are identical (the twins are compared in
# host_tests/test_fast.py on the firmware beds).
#
#   copy_mem_csum_crc(dst, doff, base, pos, n, state) -> sum   as fast_viper's
#   fifo_out(reg, buf, nwords)   nwords 32-bit words from the word-aligned
#                                address at or below buf's data, each stored
#                                at register address reg (< 2**30)
#
# Why: the native emitter keeps at most two or three locals in registers and
# moves every other value through the stack, about 110 Thumb instructions per
# 32-bit word for this loop in viper (mpy-cross -march=armv7m, disassembled);
# here the copy and the sum take 5 instructions per word and the CRC 22.5
# (slicing by 4 over crc32.py's interleaved tables: entry i of table k at
# 16*i + 4*k, so one base register reaches all four; two words a turn, the
# CRC in two registers by turns).
#
# Only ARMv6-M instructions (the RP2040's Cortex-M0+), low registers r0-r7
# (r4-r7 are saved by the assembler's own entry and exit). The Thumb code is
# compiled on the board at import (about 300 bytes of heap). The viper wrapper
# does the address arithmetic (a base address may be >= 2**30) and the odd
# bytes, and hands the loop a parameter block: nothing is boxed, nothing
# allocates. Little-endian only (every Cortex-M port MicroPython has).
import micropython

from netdump import fast_viper

_viper = fast_viper.copy_mem_csum_crc
_TABLE = fast_viper._CRC_TABLE  # crc32.table(4): interleaved
# the loop's parameter block, 32-bit words: 0 destination, 1 source, 2 words (>= 1),
# 3 running CRC (in and out), 4 table, 5 sum (out), 6 carries out of it (out), 7 CRC on/off
_PB = bytearray(32)


# The loop, compiled at import by exec(): a module holding @micropython.asm_thumb
# code would not cross-compile (mpy-cross, freezing) for other CPUs, this one
# does; where the port has no inline assembler, exec() raises SyntaxError and
# fast.py keeps the viper loop.
_ASM = """
@micropython.asm_thumb
def _words(r0):
    # copy and sum, four words a turn: r1 source, r2 destination, r3 words left,
    # r4 32-bit sum, r5 carries out of it (the end-around carries, added back by
    # the caller), r6 zero, r7 the word
    ldr(r1, [r0, 4])
    ldr(r2, [r0, 0])
    ldr(r3, [r0, 8])
    mov(r4, 0)
    mov(r5, 0)
    mov(r6, 0)
    sub(r3, 4)
    blt(copy_rest)
    label(copy4)
    ldr(r7, [r1, 0])
    str(r7, [r2, 0])
    add(r4, r4, r7)
    adc(r5, r6)
    ldr(r7, [r1, 4])
    str(r7, [r2, 4])
    add(r4, r4, r7)
    adc(r5, r6)
    ldr(r7, [r1, 8])
    str(r7, [r2, 8])
    add(r4, r4, r7)
    adc(r5, r6)
    ldr(r7, [r1, 12])
    str(r7, [r2, 12])
    add(r4, r4, r7)
    adc(r5, r6)
    add(r1, 16)
    add(r2, 16)
    sub(r3, 4)
    bge(copy4)
    label(copy_rest)
    add(r3, 4)
    beq(copied)
    label(copy1)
    ldr(r7, [r1, 0])
    str(r7, [r2, 0])
    add(r4, r4, r7)
    adc(r5, r6)
    add(r1, 4)
    add(r2, 4)
    sub(r3, 1)
    bne(copy1)
    label(copied)
    str(r4, [r0, 20])
    str(r5, [r0, 24])
    ldr(r7, [r0, 28])
    cmp(r7, 0)
    beq(done)
    # CRC-32 of the copy, two words a turn: r1 pointer, r2 and r5 the CRC in
    # turns, r3 words left, r4 scratch, r6 the tables, r7 the mask 0xFF0 (a
    # byte times 16, the interleaved entry size); entry i of table k at 16*i + 4*k
    ldr(r1, [r0, 0])
    ldr(r3, [r0, 8])
    ldr(r2, [r0, 12])
    ldr(r6, [r0, 16])
    mov(r7, 0xFF)
    lsl(r7, r7, 4)
    sub(r3, 2)
    blt(crc_rest)
    label(crc2)
    ldr(r4, [r1, 0])  # word 1: CRC r2 -> r5
    eor(r2, r4)
    lsl(r5, r2, 24)  # table 3, byte 0
    lsr(r5, r5, 20)
    add(r5, r5, r6)
    ldr(r5, [r5, 12])
    lsr(r4, r2, 4)  # table 2, byte 1
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 8])
    eor(r5, r4)
    lsr(r4, r2, 12)  # table 1, byte 2
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 4])
    eor(r5, r4)
    lsr(r4, r2, 20)  # table 0, byte 3
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 0])
    eor(r5, r4)
    ldr(r4, [r1, 4])  # word 2: CRC r5 -> r2
    eor(r5, r4)
    lsl(r2, r5, 24)
    lsr(r2, r2, 20)
    add(r2, r2, r6)
    ldr(r2, [r2, 12])
    lsr(r4, r5, 4)
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 8])
    eor(r2, r4)
    lsr(r4, r5, 12)
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 4])
    eor(r2, r4)
    lsr(r4, r5, 20)
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 0])
    eor(r2, r4)
    add(r1, 8)
    sub(r3, 2)
    bge(crc2)
    label(crc_rest)
    add(r3, 2)
    beq(crc_end)
    ldr(r4, [r1, 0])  # the last word
    eor(r2, r4)
    lsl(r5, r2, 24)
    lsr(r5, r5, 20)
    add(r5, r5, r6)
    ldr(r5, [r5, 12])
    lsr(r4, r2, 4)
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 8])
    eor(r5, r4)
    lsr(r4, r2, 12)
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 4])
    eor(r5, r4)
    lsr(r4, r2, 20)
    and_(r4, r7)
    add(r4, r4, r6)
    ldr(r4, [r4, 0])
    eor(r5, r4)
    mov(r2, r5)
    label(crc_end)
    str(r2, [r0, 12])
    label(done)
    mov(r0, 0)


@micropython.asm_thumb
def fifo_out(r0, r1, r2):
    # r2 words from the word-aligned address at or below buffer r1 stored, one by
    # one, at the register address r0 (a NIC's transmit FIFO)
    cmp(r2, 0)
    beq(end)
    mov(r3, 3)
    bic(r1, r3)
    label(loop)
    ldr(r3, [r1, 0])
    str(r3, [r0, 0])
    add(r1, 4)
    sub(r2, 1)
    bne(loop)
    label(end)
    mov(r0, 0)
"""
exec(_ASM)


@micropython.viper
def copy_mem_csum_crc(dst, doff: int, base, pos: int, n: int, state) -> int:
    """fast_viper.copy_mem_csum_crc with its word loop in Thumb code."""
    d = uint(ptr8(dst)) + uint(doff)
    a = uint(base) + uint(pos)
    w = n >> 2
    if w <= 0 or int((d | a) & 3) != 0:
        return int(_viper(dst, doff, base, pos, n, state))  # short or unaligned: rare
    docrc = int(len(state))
    s = ptr8(state)
    p = ptr32(_PB)
    p[0] = d
    p[1] = a
    p[2] = w
    if docrc:
        p[3] = uint(s[0]) | (uint(s[1]) << 8) | (uint(s[2]) << 16) | (uint(s[3]) << 24)
    p[4] = uint(ptr8(_TABLE))
    p[7] = docrc
    _words(_PB)
    c = uint(p[3])
    acc = (uint(p[5]) & 0xFFFF) + (uint(p[5]) >> 16) + uint(p[6])  # little-endian pairs
    t = ptr32(_TABLE)
    bd = ptr8(d)
    bs = ptr8(a)
    i = w << 2
    while i < n:  # the last 1..3 bytes
        x = uint(bs[i])
        bd[i] = x
        if (i & 1) != 0:
            acc += x << 8
        else:
            acc += x
        if docrc:
            c = uint(t[((c ^ x) & 0xFF) << 2]) ^ (c >> 8)
        i += 1
    if docrc:
        s[0] = int(c & 0xFF)
        s[1] = int((c >> 8) & 0xFF)
        s[2] = int((c >> 16) & 0xFF)
        s[3] = int(c >> 24)
    acc = (acc & 0xFFFF) + (acc >> 16)
    acc = (acc & 0xFFFF) + (acc >> 16)
    return int(((acc & 0xFF) << 8) | (acc >> 8))
