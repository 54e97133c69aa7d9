# The netdump client role (FreeBSD netdump_client.c + kern_shutdown.c): what to
# send. An ELF core header and notes at offset 0, each RAM region at its file
# offset (all-zero 4096-byte blocks skipped: the server's file keeps a hole),
# the digest note again (below), then the kerneldumpheader, then FINISHED.
# The transport (debugnet) is given; the dumper knows nothing of NICs.
#
# Digests: each region's CRC-32 (netdump/crc32.py) is computed while it is
# sent, over the bytes of each datagram's first copy (MemSource), skipped zero
# blocks fed as zeros: the CRC of the region as the server's file holds it.
# The header went out with every digest "not computed"; once the regions are
# through, the digest note is filled in and sent again at its file offset. A
# region whose memory changed between a datagram's first copy and a
# retransmission (the dumper's own stack, say) can fail the check.
#
# Progress: ".." and a percentage each time another 10% of the bytes to send
# (the header and the non-zero blocks, over all regions) have been handed to the
# transport (window mode: at most a window ahead of the acks; FreeBSD mode:
# acked); runs are cut at those marks so a large region reports as it goes.
#
# Window mode: one transport window spans the whole dump (debugnet.py); every
# region has its own MemSource, so a datagram can be read again from memory for
# a retransmission while later runs and regions are being sent. The dump waits
# for every ack only before the digest note, the KDH and FINISHED.
#
# Dumper(...) is built at arm time and allocates everything; Dumper.dump()
# runs with the heap locked and allocates nothing.
import struct

from netdump import crc32, debugnet, elfcore, fast, kdh, wire
from netdump.compat import const, small, ticks_add, ticks_ms, ticks_since, uptime_s

BLOCK = const(4096)  # netdump's NETDUMP_DATASIZE; offsets stay 4096-aligned
FREEBSD_RUN = const(65536)  # netdump's MAXDUMPPGS * PAGE_SIZE buffer on amd64

# Dump results beyond the transport's own error codes (debugnet.ERR_*).
ERR_NOT_ARMED = const(100)
ERR_INTERNAL = const(101)
_NO_MARK = const(0x3FFFFFFF)  # next_at once 100% is printed: never reached (the largest small int)


# deadline of a whole dump when arm() is given none: a floor, or a base plus
# seconds per MiB by transport mode (FreeBSD's 1 s retransmission rounds cost
# ~22 s/MiB at 5% loss: README, bench/bench_vnet.py)
_DEADLINE_FLOOR_S = const(300)
_DEADLINE_BASE_S = const(60)
_DEADLINE_S_PER_MIB_WINDOW = const(10)
_DEADLINE_S_PER_MIB_FREEBSD = const(30)


def auto_deadline_ms(total_size, freebsd):  # arm-time
    """The dump deadline (ms) for a core of total_size bytes in this transport mode."""
    mib = (total_size + (1 << 20) - 1) >> 20
    s = _DEADLINE_BASE_S + mib * (_DEADLINE_S_PER_MIB_FREEBSD if freebsd else _DEADLINE_S_PER_MIB_WINDOW)
    if s < _DEADLINE_FLOOR_S:
        s = _DEADLINE_FLOOR_S
    return min(s * 1000, (1 << 29) - 1)


_NO_CRC = b""  # copy_mem_csum_crc's "no CRC-32" state


class MemSource:
    """A region's bytes read straight from memory at base + pos; the first copy
    of each position, in order, also feeds the region's running CRC-32."""

    def __init__(self, base, crc):  # arm-time
        self.base = base  # may be >= 2**30 on some ports: only ever handed to viper
        self.crc = crc  # the region's running value (a view of Dumper.crcbuf)
        self.crc_pos = -1  # region offset the CRC covers up to (-1: no digest)
        # on a Thumb CPU, a word-aligned base that is a small int (all of a Cortex-M's
        # RAM) is read by fast.mem_read in one call (crc followed by the tables'
        # address in crcbuf); debugnet does that itself for a message's first copies
        # (the source protocol's `mem` and first())
        self.mem = base if _mem_read is not None and 0 <= base < 0x40000000 and not base & 3 else -1

    def first(self, pos, length):
        """debugnet's source protocol: the first copies of [pos, pos + length) are read
        next -> the CRC state they feed, or None when they are not the CRC's next bytes."""
        if pos != self.crc_pos:
            return None
        self.crc_pos = pos + length
        return self.crc

    def readinto_at(self, dst, doff, pos, n):
        """Copy n bytes at region offset pos into dst[doff:] -> their RFC 1071 sum."""
        st = None
        if pos == self.crc_pos:  # never for a retransmission: it covers an earlier position
            self.crc_pos = pos + n
            st = self.crc
        if self.mem >= 0:
            s = _mem_read(dst, doff | (n << 16), self.mem + pos, st)
            if s < 0x10000:
                return s
        return _copy_mem(dst, doff, self.base, pos, n, st or _NO_CRC)


_copy_mem = fast.copy_mem_csum_crc
_mem_read = fast.mem_read


class KdhSource:
    """The kerneldumpheader as a message source: encoded straight into the datagram (and again
    for a retransmission) instead of into a 512-byte buffer kept armed. The header is always
    one datagram (Dumper checks the transport's chunk), so pos is 0 and n 512."""

    def __init__(self, d):
        self.d = d
        self.time_hi = 0
        self.time_lo = 0
        self.panic = ""
        self.panic_len = -1

    def readinto_at(self, dst, doff, pos, n):
        d = self.d
        kdh.encode(dst, d.arch, d.archver, d.layout.total_size, self.time_hi, self.time_lo, d.hostname,
                   d.version, self.panic, panic_len=self.panic_len, off=doff)
        return fast.csum(dst, doff, n, 0)  # the source protocol's sum (debugnet.py)


class Dumper:
    """Streams regions [(name, address, size), ...] as an ELF core over `net`."""

    def __init__(self, net, regions, machine, elfclass, arch, archver=1, hostname="micropython",
                 board="", firmware="", version="MicroPython\n", skip_zero=True,
                 run_limit=0, dumptime=0, tb_cap=2048, out=None, digest=True):  # arm-time
        for name, addr, size in regions:
            if size <= 0 or size >= (1 << 30) - BLOCK:
                raise ValueError("region %s: size must be 1..2**30-4097 bytes" % name)
        self.net = net
        self.layout = elfcore.CoreLayout(regions, machine, elfclass, board=board, firmware=firmware,
                                         tb_cap=tb_cap)
        if self.layout.total_size >= (1 << 30):
            raise ValueError("dump of %d bytes is too big (limit 1 GiB)" % self.layout.total_size)
        # small ints from here on, whatever the regions came from (a frozen board table
        # holds long-int objects: arithmetic on them in _count_kb would allocate)
        self.addrs = [small(r[1]) for r in regions]
        self.sizes = [small(r[2]) for r in regions]
        self.offsets = list(self.layout.offsets)
        self.nregions = len(regions)
        # zero-scan result per 4096-byte block, and each region's first block
        self.block0 = []
        nb = 0
        for size in self.sizes:
            self.block0.append(nb)
            nb += (size + BLOCK - 1) // BLOCK
        self.zmap = bytearray(nb)
        self.arch = arch
        self.archver = archver
        self.hostname = hostname
        self.version = version
        self.skip_zero = skip_zero
        self.run_limit = run_limit  # bytes per transport send() call; 0 = a whole run
        if getattr(net, "chunk", kdh.SIZE) < kdh.SIZE:
            raise ValueError("mtu too small: the kerneldumpheader (512 bytes) goes in one datagram")
        self.hdr_src = debugnet.BufferSource(self.layout.buf)
        self.kdh_src = KdhSource(self)
        self.digest = digest
        # each region's running CRC-32, and after it the CRC tables' address (fast.mem_read)
        self.crcbuf = bytearray(8 * len(regions))
        if digest:
            t = fast.crc_tables()
            if fast.mem_read is not None:
                t = fast.addr_of(t)
                for i in range(len(regions)):
                    struct.pack_into("<I", self.crcbuf, 8 * i + 4, t)
        mv = memoryview(self.crcbuf)
        # one source per region: the transport may read any of them again until the dump ends
        self.mems = [MemSource(self.addrs[i], mv[8 * i:8 * i + 4]) for i in range(len(regions))]
        lay = self.layout
        self.digest_src = debugnet.BufferSource(memoryview(lay.buf)[lay.digest_off:lay.digest_off + lay.digest_len])
        # dump time = the RTC at arm (or at the fault: set_time) + the ticks since, as 16-bit
        # halves (31-bit ints); tick() folds whole seconds into them before ticks_ms() wraps
        self.time_hi = 0
        self.time_lo = 0
        self.ticks_arm = 0
        self.set_time(dumptime)
        # progress state, created now so dump() only rebinds existing attributes
        self.total_kb = 0
        self.next_pct = 0
        self.next_at = 0  # sent_bytes at which the next 10% mark is reached
        self.sent_bytes = 0
        self.err = 0
        self.out = out

    def set_time(self, t):  # arm-time: also at a fault's entry, heap unlocked (t may be a long int)
        """The RTC reads t seconds since 1970 now (0: not set, the dump time stays 0)."""
        hi = (t >> 16) & 0xFFFF
        lo = t & 0xFFFF
        self.time_hi = hi
        self.time_lo = lo
        self.ticks_arm = ticks_ms()

    # ---- fault time: nothing below allocates ----

    def tick(self):
        """Fold the whole seconds since the last fold into the dump time (allocation-free).
        Right while calls come less than 12.4 days apart (compat.ticks_since): each dump
        calls it, and so does every check of the hang watchdog (netdump.fault.tick)."""
        s = ticks_since(self.ticks_arm) // 1000
        self.ticks_arm = ticks_add(self.ticks_arm, s * 1000)
        if self.time_hi == 0 and self.time_lo == 0:
            return  # RTC not set at arm: dumptime 0, as the issue asks
        lo = self.time_lo + s
        self.time_hi = (self.time_hi + (lo >> 16)) & 0xFFFF
        self.time_lo = lo & 0xFFFF

    def _send_blocks(self, mem, start, n, foff):
        """Send region bytes [start, start+n) at file offset foff: in run_limit
        pieces, and cut at the next 10% mark so progress shows as it goes."""
        lim = self.run_limit
        while n > 0:
            k = n
            if lim and k > lim:
                k = lim
            room = self.next_at - self.sent_bytes
            if 0 < room < k:
                room = (room + BLOCK - 1) // BLOCK * BLOCK  # offsets stay block-aligned
                if room < k:
                    k = room
            err = self.net.send(wire.VMCORE, mem, foff, k, start)
            if err:
                return err
            start += k
            foff += k
            n -= k
            self.sent_bytes += k
            if self.sent_bytes >= self.next_at:
                self._progress()
        return 0

    def _mark(self, pct):
        # sent_bytes at pct% of the bytes to send (KiB-based: every int stays < 2**30)
        return ((self.total_kb * pct) // 100) << 10

    def _sent(self, nbytes):
        self.sent_bytes += nbytes
        self._progress()

    def _progress(self):
        # print every 10% mark sent_bytes has reached
        while self.next_pct < 100 and self.sent_bytes >= self.next_at:
            self.next_pct += 10
            print("..", self.next_pct, "%", sep="", end="")
            self.next_at = self._mark(self.next_pct + 10) if self.next_pct < 100 else _NO_MARK

    def _count_kb(self):
        # one zero scan per block, kept in zmap for _send_region; without
        # skip_zero no block counts as zero
        total = 0
        zmap = self.zmap
        last = self.nregions - 1
        for i in range(self.nregions):
            size = self.sizes[i]
            b = self.block0[i]
            if self.skip_zero:
                total += fast.zero_map(zmap, b, self.addrs[i], size)
            else:
                j = b + (size + BLOCK - 1) // BLOCK
                while b < j:
                    zmap[b] = 0
                    b += 1
                total += size
        # the file's last block is always sent so the file has its full length
        b = len(zmap) - 1
        if zmap[b]:
            zmap[b] = 0
            total += self.sizes[last] - (len(zmap) - 1 - self.block0[last]) * BLOCK
        return total // 1024

    def _send_region(self, i):
        mem = self.mems[i]
        size = self.sizes[i]
        foff = self.offsets[i]
        zmap = self.zmap
        b0 = self.block0[i]  # this region's first entry in zmap (filled by _count_kb)
        nb = (size + BLOCK - 1) // BLOCK
        k = 0
        while k < nb:  # one step per run of zero or non-zero blocks
            j = fast.span(zmap, b0 + k, b0 + nb) - b0
            pos = k * BLOCK
            n = j * BLOCK
            if n > size:
                n = size
            n -= pos
            if zmap[b0 + k]:
                # zero blocks not sent: the server's file keeps a hole, the digest counts zeros
                if mem.crc_pos == pos:
                    fast.crc32_zeros(mem.crc, n)
                    mem.crc_pos = pos + n
            else:
                err = self._send_blocks(mem, pos, n, foff + pos)
                if err:
                    return err
            k = j
        return 0

    def dump(self, panic, tb=None, tb_len=-1, panic_len=-1):
        """Send the whole dump; returns 0 or an error code (after one console line).

        tb_len / panic_len: how much of tb / panic is text (-1: all of it)."""
        lay = self.layout
        lay.set_panic(panic, panic_len)
        if tb is None:
            lay.set_traceback(b"", 0)
        else:
            lay.set_traceback(tb, len(tb) if tb_len < 0 else tb_len)
        lay.set_uptime(uptime_s())
        lay.clear_digests(elfcore.DIGEST_CRC32 if self.digest else elfcore.DIGEST_NONE)
        self.next_pct = 0
        self.sent_bytes = 0
        hdr_end = 0
        err = self.net.connect()  # an Ethernet endpoint prints "netdumping to ..."
        if not err:
            self.total_kb = self._count_kb() + lay.header_size // 1024
            self.next_at = self._mark(10)
            print("Dumping", self.total_kb, "out of", lay.total_size // 1024, "KB:", end="")
            err = self.net.send(wire.VMCORE, self.hdr_src, 0, lay.header_len)  # the page's rest: a hole
            hdr_end = self.net.next_seq()
            if not err:
                self._sent(lay.header_size)
        i = 0
        while not err and i < self.nregions:
            mem = self.mems[i]
            crc32.start(mem.crc)
            mem.crc_pos = 0 if self.digest else -1
            err = self._send_region(i)
            if not err and mem.crc_pos == self.sizes[i]:
                lay.set_digest(i, mem.crc)
            mem.crc_pos = -1  # a retransmission reads it without the CRC
            i += 1
        if not err and self.digest:
            # the digest note again, now filled in, once the header's datagrams are
            # acked (long since, but for a tiny dump): no copy of the header sent
            # before the digests were known is still in flight to overwrite it
            err = self.net.flush(hdr_end)
            if not err:
                err = self.net.send(wire.VMCORE, self.digest_src, lay.digest_off, lay.digest_len)
        if not err:
            err = self.net.flush()  # the KDH ends the data (FreeBSD: the server may truncate the file there)
        if not err:
            self.tick()
            k = self.kdh_src
            k.time_hi = self.time_hi
            k.time_lo = self.time_lo
            k.panic = panic
            k.panic_len = panic_len
            err = self.net.send(wire.KDH, k, 0, kdh.SIZE)
        if not err:
            err = self.net.finish()
        self.err = err
        print()
        if err == debugnet.FIN_UNCONFIRMED:
            # every data and KDH ack came; only FINISHED's did not (a FreeBSD server
            # closes the session at FINISHED, so its lost ack is never repeated)
            print("netdump finished (the server did not confirm the end)")
        elif err:
            print("netdump failed:", debugnet.message(err), "(error", err, end=")\n")
        else:
            print("netdump finished.")
        return err
