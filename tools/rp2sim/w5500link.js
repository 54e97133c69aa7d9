'use strict';
// SPI0 of the emulated RP2040 wired to the W5500 emulator (tools/w5500_emu.py)
// through netdump_tools.spi_link.BatchLinkServer, over two pipes the launcher
// hands over. The CPU is answered synchronously (fs.writeSync / fs.readSync),
// so simulated time never depends on how fast the host answers.
//
// Batching by SPI transaction (W5500 datasheet section 2.2, VDM and FDM
// frames: 16-bit address, control byte with BSB[4:0], RWB and OM, then data):
// * header bytes and write data need no answer from the chip: its MISO there
//   is what the emulator defines for them (0, checked by the server at
//   commit), so they are buffered until chip select rises;
// * the first read data byte of a frame asks for data once ("prefetch"): the
//   server peeks at the chip (W5500 reads have no side effects: every
//   register is read-only, read/write or write-1-to-clear, DS 4.1/4.2) and
//   returns as many bytes as it sees fit; more are asked for when the CPU
//   reads past them;
// * at chip-select rise the whole transaction (MOSI and the MISO the CPU got,
//   with its start and end in simulated time) is committed: the emulator runs
//   it for real, so its state and statistics are exact, and answers with its
//   INTn level.
// Each byte takes 8 SCK periods of simulated time at the rate the firmware
// programmed into the PL022 (RP2040 datasheet 4.4.3: SSPCPSR and SSPCR0.SCR),
// or at --spi-hz. Never zero: the PL022 paces its FIFOs by SCK, and an
// instant byte lets the TX DMA overrun the 8-entry RX FIFO before the RX DMA
// runs, after which the firmware waits for bytes that were dropped.
//
// Messages to the server (little-endian):
//   'P' t:f64 hdr:3 off:u16          prefetch: read data from byte `off` of the data phase
//   'C' t0:f64 t1:f64 n:u32 mosi miso  one transaction, committed at chip-select rise
//   'S' t:f64 n:u32                  n bytes clocked with chip select high (the chip ignores them)
//   'R' t:f64 level:u8               the RSTn line changed
//   'M' t:f64 tag:u8 n:u32 sram      a snapshot of SRAM (asked for by a reply, or by the launcher)
// Every reply starts with status:u8 (bit 0 INTn level, bit 1 send a
// snapshot now, bits 7:2 its tag) and seq:u32 (INTn change counter); a
// prefetch reply continues with n:u16 and n data bytes.
const fs = require('fs');

const FDM_LEN = [0, 1, 2, 4];

class W5500Link {
  constructor(board, opts) {
    this.board = board;
    this.reqFd = opts.reqFd;
    this.repFd = opts.repFd;
    this.pins = opts.pins; // {cs, rst, int}
    this.spiHz = opts.spiHz || 0; // 0: the rate the firmware programmed
    this.intLevel = true;
    this.intSeq = -1;
    this.mosi = Buffer.alloc(65536);
    this.miso = Buffer.alloc(65536);
    this.hdr = Buffer.alloc(3);
    this.out = Buffer.alloc(16);
    this.rep = Buffer.alloc(8);
    this.pre = Buffer.alloc(0);
    this.stats = { transactions: 0, prefetches: 0, strayBytes: 0, snapshots: 0, intLatencyNs: [], intAsync: 0, intAsyncLate: 0, intSync: 0 };
    this.intAssertedAt = null;
    this.csLow = false;
    this.resetCs();
  }

  resetCs() {
    this.n = 0;
    this.phase = 0;
    this.rwb = 0;
    this.left = -1;
    this.dataIdx = 0;
    this.preOff = 0;
    this.preLen = 0;
    this.stray = 0;
  }

  /** Hook a (new) RP2040 instance: its SPI peripheral and a byte-time alarm. */
  attach(mcu, spiIndex) {
    this.mcu = mcu;
    this.spi = mcu.spi[spiIndex];
    this.pendingMiso = 0;
    this.alarm = mcu.clock.createAlarm(() => this.spi.completeTransmit(this.pendingMiso));
    this.spi.onTransmit = (v) => this.onByte(v);
    this.csLow = false;
    this.resetCs();
  }

  now() {
    return this.mcu.clock.nanos;
  }

  // ---- the pipes ----------------------------------------------------------
  send(buf, len) {
    let off = 0;
    while (off < len) off += fs.writeSync(this.reqFd, buf, off, len - off);
  }

  recv(buf, len) {
    let off = 0;
    while (off < len) {
      const k = fs.readSync(this.repFd, buf, off, len - off, null);
      if (k === 0) throw new Error('W5500 link closed');
      off += k;
    }
  }

  status() {
    this.recv(this.rep, 5);
    const st = this.rep[0];
    const seq = this.rep.readUInt32LE(1);
    if (seq !== this.intSeq) {
      this.intSeq = seq;
      this.stats.intSync++;
      this.board.setIntn(!!(st & 1));
    }
    if (st & 2) this.board.snapshot(st >> 2);
  }

  /** An INTn change announced asynchronously (a frame arrived): applied unless a reply was newer. */
  asyncInt(level, seq) {
    this.stats.intAsync++;
    if (seq <= this.intSeq) this.stats.intAsyncLate++;
    if (seq > this.intSeq) {
      this.intSeq = seq;
      // how long the firmware takes to look at the chip after a frame raised INTn
      // (stats.intLatencyNs, the last 64): microseconds when INTn is wired and its IRQ polls,
      // up to the poll period when it is not
      if (!level && this.intAssertedAt === null) this.intAssertedAt = this.now();
      this.board.setIntn(level);
    }
  }

  // ---- SPI side -------------------------------------------------------------
  byteNanos() {
    const f = this.spiHz || this.spi.clockFrequency;
    return f > 0 ? (this.spi.dataBits * 1e9) / f : 0;
  }

  onByte(v) {
    let m = 0;
    if (!this.csLow) {
      this.stray++;
    } else {
      const i = this.n;
      if (i >= this.mosi.length) this.grow();
      this.mosi[i] = v;
      if (this.phase < 3) {
        this.hdr[this.phase++] = v;
        if (this.phase === 3) {
          this.rwb = (v >> 2) & 1;
          this.left = (v & 3) ? FDM_LEN[v & 3] : -1;
          this.dataIdx = 0;
          this.preOff = 0;
          this.preLen = 0;
        }
      } else {
        if (!this.rwb) {
          if (this.dataIdx >= this.preOff + this.preLen) this.prefetch();
          m = this.pre[this.dataIdx - this.preOff];
        }
        this.dataIdx++;
        if (this.left > 0 && --this.left === 0) this.phase = 0; // FDM: the next byte starts a new frame
      }
      this.miso[i] = m;
      this.n = i + 1;
    }
    this.pendingMiso = m;
    const ns = this.byteNanos();
    if (ns > 0) {
      this.alarm.schedule(ns);
    } else {
      this.spi.completeTransmit(m);
    }
  }

  grow() {
    const a = Buffer.alloc(this.mosi.length * 2);
    const b = Buffer.alloc(this.miso.length * 2);
    this.mosi.copy(a);
    this.miso.copy(b);
    this.mosi = a;
    this.miso = b;
  }

  prefetch() {
    const o = this.out;
    o[0] = 0x50;
    o.writeDoubleLE(this.now(), 1);
    this.hdr.copy(o, 9);
    o.writeUInt16LE(this.dataIdx & 0xffff, 12);
    this.send(o, 14);
    this.status();
    this.recv(this.rep, 2);
    const len = this.rep.readUInt16LE(0);
    if (this.pre.length < len) this.pre = Buffer.alloc(Math.max(len, 64));
    this.recv(this.pre, len);
    this.preOff = this.dataIdx;
    this.preLen = len;
    this.stats.prefetches++;
    if (len === 0) throw new Error('W5500 link: empty prefetch');
  }

  /** Chip select level (true = high, deasserted). */
  setCs(high) {
    const low = !high;
    if (low === this.csLow) return;
    if (low) {
      this.flushStray();
      if (this.intAssertedAt !== null) {
        const lat = this.stats.intLatencyNs;
        lat.push(this.now() - this.intAssertedAt);
        if (lat.length > 64) lat.shift();
        this.intAssertedAt = null;
      }
      this.csLow = true;
      this.t0 = this.now();
      this.resetCs();
      return;
    }
    this.csLow = false;
    if (this.n > 0) {
      const n = this.n;
      const head = Buffer.alloc(21);
      head[0] = 0x43;
      head.writeDoubleLE(this.t0, 1);
      head.writeDoubleLE(this.now(), 9);
      head.writeUInt32LE(n, 17);
      this.send(head, 21);
      this.send(this.mosi, n);
      this.send(this.miso, n);
      this.stats.transactions++;
      this.status();
    }
    this.resetCs();
  }

  flushStray() {
    if (!this.stray) return;
    const o = this.out;
    o[0] = 0x53;
    o.writeDoubleLE(this.now(), 1);
    o.writeUInt32LE(this.stray, 9);
    this.send(o, 13);
    this.stats.strayBytes += this.stray;
    this.stray = 0;
  }

  /** The RSTn line (true = high, released). */
  setRst(high) {
    const o = this.out;
    o[0] = 0x52;
    o.writeDoubleLE(this.now(), 1);
    o[9] = high ? 1 : 0;
    this.send(o, 10);
    this.status();
  }

  /** Send a copy of SRAM with this tag. */
  sendSnapshot(tag, sram) {
    const head = Buffer.alloc(14);
    head[0] = 0x4d;
    head.writeDoubleLE(this.now(), 1);
    head[9] = tag & 0xff;
    head.writeUInt32LE(sram.length, 10);
    this.send(head, 14);
    this.send(Buffer.from(sram.buffer, sram.byteOffset, sram.length), sram.length);
    this.stats.snapshots++;
  }
}

module.exports = { W5500Link };
