# Fast byte paths for the dump: copies (from a buffer or a raw address, with
# the RFC 1071 Internet checksum and the CRC-32 on the way), zero scans, the
# debugnet header and UDP frame fields. On MicroPython these are the
# @micropython.viper versions (fast_viper.py); on CPython, or a MicroPython
# built without viper, the pure-Python twins (fast_py.py) with identical results.
#
#   copy(dst, doff, src, soff, n)            src[soff:soff+n] -> dst[doff:]
#   csum(buf, off, n, acc) -> 0..0xFFFF      RFC 1071 folded sum, not inverted
#   copy_csum(dst, doff, src, soff, n, acc)  copy, then csum of the copy
#   addr_of(buf) -> int                      address of a bytearray's data
#   crc_tables() -> buf                      arm-time: the CRC-32 tables (4 KiB), made at
#                                            import, again if dropped; every CRC below needs them
#   drop_crc_tables()                        arm-time: let go of them (arming without digests)
#   crc32_update(state, buf, off, n)         feed buf[off:off+n] to a running CRC-32
#   crc32_zeros(state, n)                    feed n zero bytes (state: 4 bytes, crc32.py)
#   copy_mem_csum_crc(dst, doff, base, pos, n, state) -> csum  the n bytes at memory
#                                            address base+pos into dst[doff:], their csum
#                                            and (state not empty) their CRC-32, one pass
#   put_header(buf, off, mtype, seq, foff, n) -> csum   a debugnet header (wire.py), its sum
#   udp_finish(frame, n, s, prm) -> len     lengths, checksums and padding of a UDP frame
#                                            whose payload is in place (prm: udp.py's 8 bytes)
#   zero_map(zmap, b, base, size) -> bytes   zmap[b+k] = 1 per all-zero 4096-byte block
#                                            at base; the bytes of the others
#   span(buf, i, end) -> j                   first j in [i, end) with buf[j] != buf[i]
#   ack_match(frame, n, tmpl) -> seqno       of the ack a template (ACK_TEMPLATE bytes)
#                                            describes, -2 for one of 2**30 or more, -1 for
#                                            another frame (ether.py)
#
# None of them allocate on MicroPython (except addr_of on ports whose heap
# sits at or above 2**30) and all return small ints. base may be >= 2**30: it
# is only ever added to inside viper. Regions must not overlap.
#
# On Cortex-M ports with the inline assembler, ack_match (every ack) is
# fast_thumb's, and mem_read (copy_mem_csum_crc in one call: dumper.py reads
# every payload byte with it) is there (None elsewhere).
IMPL = "python"  # which set is in use: "viper" or "python"
THUMB = False  # ack_match and mem_read are fast_thumb's

try:
    from netdump import fast_viper as _impl

    IMPL = "viper"
except (ImportError, SyntaxError, NameError, AttributeError, ValueError) as e:
    # CPython (no micropython module) or a port built without viper/native. Boards run
    # viper and are not given fast_py (tools/packages.py HOST_ONLY): say why, in one line.
    try:
        from netdump import fast_py as _impl
    except ImportError:
        raise ImportError("netdump: no viper here (%s) and fast_py is not installed" % (e,))

copy = _impl.copy
csum = _impl.csum
copy_csum = _impl.copy_csum
addr_of = _impl.addr_of
crc32_update = _impl.crc32_update
crc32_zeros = _impl.crc32_zeros
copy_mem_csum_crc = _impl.copy_mem_csum_crc
put_header = _impl.put_header
udp_finish = _impl.udp_finish
ack_match = _impl.ack_match
ACK_TEMPLATE = _impl.ACK_TEMPLATE
zero_map = _impl.zero_map
span = _impl.span

mem_read = None  # fast_thumb.mem_read there: copy_mem_csum_crc in one call (dumper.py)
crc_tables = _impl.crc_tables  # arm-time: the CRC tables (mem_read's crc word names them)
drop_crc_tables = _impl.drop_crc_tables  # arm-time: a dump without digests lets go of them


def _thumb_cpu():  # arm-time
    # the native code architecture in sys.implementation._mpy, bits 10-13: ARMv6-M (4) to
    # ARMv7E-M with double float (8) run Thumb (py/persistentcode.h MP_NATIVE_ARCH_*); only
    # there is fast_thumb compiled (elsewhere the attempt would leave its garbage behind)
    try:
        import sys

        return 4 <= (sys.implementation._mpy >> 10) & 0xF <= 8
    except (ImportError, AttributeError):
        return False


if IMPL == "viper" and _thumb_cpu():
    try:
        from netdump import fast_thumb

        ack_match = fast_thumb.ack_match
        mem_read = fast_thumb.mem_read
        THUMB = True
        del fast_thumb
    except (ImportError, SyntaxError, NameError, AttributeError, ValueError):
        pass  # no inline assembler (x86, Xtensa, RISC-V): the viper code
    # forget the module (its functions live on): its assembler text goes with it
    import sys

    import netdump

    sys.modules.pop("netdump.fast_thumb", None)
    try:
        delattr(netdump, "fast_thumb")
    except AttributeError:
        pass
    del sys, netdump
