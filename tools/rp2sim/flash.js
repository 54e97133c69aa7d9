'use strict';
// The QSPI flash of an RP2040 board as the firmware's flash routines see it:
// the SSI controller (0x18000000) in standard SPI mode, the chip select
// through IO_QSPI's GPIO_QSPI_SS_CTRL OUTOVER field (0x40018000 + 0x0c), and
// a Winbond W25Q16JV-style SPI NOR behind them, writing into rp2040js'
// `mcu.flash` array (which XIP reads come from directly). rp2040js 1.4.1
// drops SSI data writes and leaves IO_QSPI unimplemented, so without this no
// erase or program reaches the flash: no littlefs, no mip, no mpremote cp.
//
// Facts used (RP2040 datasheet, "RP" below; W25Q16JV datasheet, "W25"):
// * SSI registers, RP 4.10.13: CTRLR0 0x00 (SPI_FRF bits 22:21, 0 = standard
//   SPI), SSIENR 0x08 (writing 0 empties both FIFOs), SR 0x28 (BUSY 0, TFNF 1,
//   TFE 2, RFNE 3, RFF 4), TXFLR 0x20, RXFLR 0x24, IDR 0x58, VERSION_ID 0x5c,
//   DR0 0x60; 16-entry FIFOs (RP 4.10.2).
// * IO_QSPI, RP 2.19.6.2: one STATUS/CTRL pair per pin (SCLK 0x00/0x04,
//   SS 0x08/0x0c, SD0..SD3 0x10..0x2c); CTRL OUTOVER bits 9:8: 0 = from the
//   peripheral, 1 = inverted, 2 = drive low, 3 = drive high.
// * XIP_CTRL, RP 2.6.3.6 (0x14000000): CTRL 0x00, FLUSH 0x04, STAT 0x08
//   (FLUSH_READY bit 0, FIFO_EMPTY bit 1).
// * Commands, W25 8.1: 0x06 write enable, 0x04 write disable, 0x05/0x35/0x15
//   read status register 1/2/3, 0x01/0x31/0x11 write status register, 0x02
//   page program (256-byte pages, wraps inside the page, can only clear
//   bits), 0x20/0x52/0xD8 erase 4/32/64 KiB, 0xC7/0x60 chip erase, 0x03 read,
//   0x0B fast read (one dummy byte), 0x4B unique ID (4 dummy bytes, 8 ID
//   bytes), 0x9F JEDEC ID (EF 40 15), 0x90 manufacturer/device ID (EF 14),
//   0xAB release power-down / device ID (14). Program and erase need the
//   write-enable latch (status bit 1) and clear it. Status register 2 bit 1
//   is QE: reported set, so boot2 leaves the status registers alone.
//
// Program and erase complete at once (status BUSY never reads 1). With the
// chip select left to the SSI (OUTOVER 0), as boot2 does, a command runs from
// the first DR0 write until the receive FIFO has been read empty.

const SSI_CTRLR0 = 0x00;
const SSI_SSIENR = 0x08;
const SSI_TXFLR = 0x20;
const SSI_RXFLR = 0x24;
const SSI_SR = 0x28;
const SSI_IDR = 0x58;
const SSI_VERSION_ID = 0x5c;
const SSI_DR0 = 0x60;
const SR_TFNF = 1 << 1;
const SR_TFE = 1 << 2;
const SR_RFNE = 1 << 3;
const SR_RFF = 1 << 4;
const FIFO_DEPTH = 16;

const QSPI_SS_CTRL = 0x0c;
const OUTOVER_LOW = 2;
const OUTOVER_HIGH = 3;

const XIP_STAT = 0x08;
const XIP_STAT_READY = 0x3; // FLUSH_READY | FIFO_EMPTY

const JEDEC_ID = [0xef, 0x40, 0x15]; // Winbond, SPI NOR, 16 Mbit
const DEVICE_ID = 0x14;
const ST1_WEL = 0x02;
const ST2_QE = 0x02;

class SpiNor {
  /** flash: the Uint8Array XIP reads from; size: the chip's size in bytes; uid: 8 bytes. */
  constructor(flash, size, uid) {
    this.flash = flash;
    this.size = size;
    this.uid = Uint8Array.from(uid);
    this.wel = false;
    this.stats = { erases: 0, programs: 0, bytesProgrammed: 0, unknown: 0 };
    this.end();
  }

  begin() {
    this.active = true;
    this.cmd = -1;
    this.pos = 0; // bytes after the command byte
    this.addr = 0;
  }

  end() {
    if (this.active && this.cmd >= 0) {
      this.finish();
    }
    this.active = false;
    this.cmd = -1;
  }

  /** One byte clocked while selected -> the byte the flash drives back. */
  exchange(b) {
    if (!this.active) {
      return 0xff;
    }
    if (this.cmd < 0) {
      this.cmd = b;
      this.pos = 0;
      if (b === 0x06) this.wel = true;
      else if (b === 0x04) this.wel = false;
      return 0xff;
    }
    const p = this.pos++;
    switch (this.cmd) {
      case 0x05:
        return this.wel ? ST1_WEL : 0;
      case 0x35:
        return ST2_QE;
      case 0x15:
        return 0;
      case 0x9f:
        return p < 3 ? JEDEC_ID[p] : 0xff;
      case 0x4b:
        return p < 4 ? 0xff : this.uid[(p - 4) & 7];
      case 0x90:
        return p < 3 ? 0xff : (p & 1) ? DEVICE_ID : JEDEC_ID[0];
      case 0xab:
        return p < 3 ? 0xff : DEVICE_ID;
      case 0x03:
      case 0x0b: {
        const skip = this.cmd === 0x0b ? 4 : 3;
        if (p < 3) {
          this.addr = (this.addr << 8) | b;
          return 0xff;
        }
        if (p < skip) return 0xff;
        return this.flash[(this.addr + p - skip) % this.size];
      }
      case 0x02:
        if (p < 3) {
          this.addr = (this.addr << 8) | b;
          return 0xff;
        }
        if (this.wel) {
          const page = this.addr & ~0xff;
          const a = (page + ((this.addr + p - 3) & 0xff)) % this.size;
          this.flash[a] &= b; // NOR: programming only clears bits (W25 8.2.13)
          this.stats.bytesProgrammed++;
        }
        return 0xff;
      case 0x20:
      case 0x52:
      case 0xd8:
        if (p < 3) this.addr = (this.addr << 8) | b;
        return 0xff;
      default:
        return 0xff;
    }
  }

  // the command's effect when chip select rises (erase; closing a program)
  finish() {
    const c = this.cmd;
    if (c === 0x02) {
      if (this.wel) this.stats.programs++;
      this.wel = false;
    } else if (c === 0x20 || c === 0x52 || c === 0xd8) {
      if (this.wel && this.pos >= 3) {
        const len = c === 0x20 ? 4096 : c === 0x52 ? 32768 : 65536;
        const start = (this.addr % this.size) & ~(len - 1);
        this.flash.fill(0xff, start, start + len);
        this.stats.erases++;
      }
      this.wel = false;
    } else if (c === 0xc7 || c === 0x60) {
      if (this.wel) this.flash.fill(0xff, 0, this.size);
      this.wel = false;
    } else if (c === 0x01 || c === 0x31 || c === 0x11) {
      this.wel = false;
    } else if (![0x06, 0x04, 0x05, 0x35, 0x15, 0x9f, 0x4b, 0x90, 0xab, 0x03, 0x0b,
                 0xff, 0xb9, 0x66, 0x99, 0x50].includes(c)) {
      this.stats.unknown++;
    }
  }
}

/** The SSI: standard-SPI data frames go to the NOR; other frame formats (boot2's XIP setup) are absorbed. */
class SSI {
  constructor(nor) {
    this.nor = nor;
    this.regs = new Map();
    this.rx = [];
    this.csForced = 0; // 0: the SSI drives chip select; OUTOVER_LOW / OUTOVER_HIGH: forced
    this.autoFrame = false;
  }

  get standard() {
    return ((this.regs.get(SSI_CTRLR0) || 0) >>> 21 & 3) === 0;
  }

  setCsOverride(outover) {
    const low = outover === OUTOVER_LOW;
    const wasLow = this.csForced === OUTOVER_LOW;
    if (this.autoFrame) {
      this.nor.end();
      this.autoFrame = false;
    }
    this.csForced = outover === OUTOVER_LOW || outover === OUTOVER_HIGH ? outover : 0;
    if (low && !wasLow) this.nor.begin();
    if (!low && wasLow) this.nor.end();
  }

  readUint32(offset) {
    switch (offset) {
      case SSI_SR:
        return SR_TFNF | SR_TFE | (this.rx.length ? SR_RFNE : 0) | (this.rx.length >= FIFO_DEPTH ? SR_RFF : 0);
      case SSI_TXFLR:
        return 0;
      case SSI_RXFLR:
        return this.rx.length;
      case SSI_IDR:
        return 0x51535049;
      case SSI_VERSION_ID:
        return 0x3430312a;
      case SSI_DR0: {
        const v = this.rx.length ? this.rx.shift() : 0;
        if (this.autoFrame && this.rx.length === 0) {
          this.nor.end(); // SSI-driven chip select: the command ends when its replies are read
          this.autoFrame = false;
        }
        return v;
      }
      default:
        return this.regs.get(offset) || 0;
    }
  }

  writeUint32(offset, value) {
    if (offset === SSI_DR0) {
      if (!this.standard || !(this.regs.get(SSI_SSIENR) & 1)) {
        return; // XIP setup frames (quad, EEPROM-read mode): nothing for the command model
      }
      if (this.csForced === OUTOVER_HIGH) {
        this.push(0xff);
        return;
      }
      if (this.csForced === 0 && !this.autoFrame) {
        this.nor.begin();
        this.autoFrame = true;
      }
      this.push(this.nor.exchange(value & 0xff));
      return;
    }
    if (offset === SSI_SSIENR && !(value & 1)) {
      this.rx.length = 0; // disabling the SSI empties its FIFOs
      if (this.autoFrame) {
        this.nor.end();
        this.autoFrame = false;
      }
    }
    this.regs.set(offset, value >>> 0);
  }

  push(v) {
    if (this.rx.length < FIFO_DEPTH) this.rx.push(v);
  }
}

/** A peripheral of plain registers with a write hook (IO_QSPI, XIP_CTRL). */
class Registers {
  constructor(onWrite, fixed) {
    this.regs = new Map();
    this.onWrite = onWrite || (() => {});
    this.fixed = fixed || {};
  }

  readUint32(offset) {
    if (offset in this.fixed) return this.fixed[offset];
    return this.regs.get(offset) || 0;
  }

  writeUint32(offset, value) {
    this.regs.set(offset, value >>> 0);
    this.onWrite(offset, value >>> 0);
  }
}

/** rp2040js peripheral wrapper: atomic set/clear/xor aliases (RP 2.1.2) over readUint32/writeUint32. */
function peripheral(impl) {
  return {
    readUint32: (offset) => impl.readUint32(offset & 0xfff),
    writeUint32Atomic: (offset, value, atomicType) => {
      if (atomicType === 0) {
        impl.writeUint32(offset, value >>> 0); // no read: reading DR0 would pop the FIFO
        return;
      }
      const cur = impl.readUint32(offset);
      const v = atomicType === 1 ? cur ^ value : atomicType === 2 ? cur | value : cur & ~value;
      impl.writeUint32(offset, v >>> 0);
    },
  };
}

/** Install the flash model on an rp2040js RP2040 -> the SpiNor. */
function attachFlash(mcu, size, uid) {
  const nor = new SpiNor(mcu.flash, size, uid);
  const ssi = new SSI(nor);
  const ioQspi = new Registers((offset, value) => {
    if (offset === QSPI_SS_CTRL) ssi.setCsOverride((value >>> 8) & 3);
  });
  const xipCtrl = new Registers(null, { [XIP_STAT]: XIP_STAT_READY });
  mcu.peripherals[0x18000] = peripheral(ssi);
  mcu.peripherals[0x40018] = peripheral(ioQspi);
  mcu.peripherals[0x14000] = peripheral(xipCtrl);
  return nor;
}

module.exports = { attachFlash, SpiNor };
