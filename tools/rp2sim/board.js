'use strict';
// A virtual RP2040 board on rp2040js: bootrom + stock firmware image, the
// QSPI flash model (flash.js), GPIO output levels looped back to SIO GPIO_IN,
// SPI0 wired to the W5500 emulator (w5500link.js) with CS/RSTn/INTn, the USB
// CDC REPL on a TCP port, and reset by the watchdog (machine.reset(),
// machine.WDT). Started by netdump_tools.rp2board, which owns the W5500
// emulator, the pty and the network; run `python -m netdump_tools.rp2board
// --help` rather than this file.
//
//   node board.js --bootrom B --firmware F.bin [--flash-image FILE] [--uid HEX]
//                 [--w5500 REQ_FD,REP_FD] [--spi 0 --cs 17 --rst 20 --int 21]
//                 [--cdc-port 0] [--spi-hz HZ] [--no-intn] [--console-log FILE]
//
// stdout: one JSON event per line ({"event": "ready", "cdc_port": N}, ...);
// stdin: one JSON command per line: {"cmd": "int", "level": 0, "seq": N},
// {"cmd": "snapshot", "tag": N}, {"cmd": "time", "id": N},
// {"cmd": "stats", "id": N}, {"cmd": "save_flash", "id": N}, {"cmd": "stop"}.
// stdin closing stops the board too.
//
// Simulated time: 125 MHz, each instruction's cycles. While the core sleeps
// (WFI/WFE) time jumps to the next timer alarm, but sleeping never takes
// simulated time more than IDLE_LEAD_MS ahead of the wall clock: a board
// waiting for a reply from the host must not time out after a few
// microseconds of host time. Running code is not held back (it is slower
// than real time anyway), so a dump's simulated time does not depend on the
// host's speed.
const fs = require('fs');
const net = require('net');
const readline = require('readline');
const path = require('path');
const { RP2040, USBCDC } = require('rp2040js');
const { attachFlash } = require('./flash.js');
const { W5500Link } = require('./w5500link.js');

const FLASH_BASE = 0x10000000;
const CYCLE_NANOS = 8; // 125 MHz clk_sys
const CHUNK_MS = 20; // longest stretch of simulation between two looks at I/O
const IDLE_LEAD_MS = 2; // how far sleeping may take simulated time ahead of the wall clock

function parseArgs(argv) {
  const a = {
    flashSize: 2 * 1024 * 1024, uid: '4e44525032000001', spi: 0, cs: 17, rst: 20, int: 21,
    cdcPort: 0, spiHz: 0, w5500: null, flashImage: null, intn: true, consoleLog: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--bootrom') a.bootrom = v();
    else if (k === '--firmware') a.firmware = v();
    else if (k === '--flash-image') a.flashImage = v();
    else if (k === '--flash-size') a.flashSize = parseInt(v(), 0);
    else if (k === '--uid') a.uid = v();
    else if (k === '--w5500') a.w5500 = v().split(',').map((x) => parseInt(x, 10));
    else if (k === '--spi') a.spi = parseInt(v(), 10);
    else if (k === '--cs') a.cs = parseInt(v(), 10);
    else if (k === '--rst') a.rst = parseInt(v(), 10);
    else if (k === '--int') a.int = parseInt(v(), 10);
    else if (k === '--cdc-port') a.cdcPort = parseInt(v(), 10);
    else if (k === '--spi-hz') a.spiHz = parseInt(v(), 10); // SCK for the W5500 link instead of the PL022's
    else if (k === '--no-intn') a.intn = false; // INTn not wired: GP21 stays pulled high
    else if (k === '--console-log') a.consoleLog = v();
    else throw new Error('unknown argument ' + k);
  }
  if (!a.bootrom || !a.firmware) throw new Error('--bootrom and --firmware are required');
  if (!/^[0-9a-fA-F]{16}$/.test(a.uid)) throw new Error('--uid wants 16 hex digits');
  return a;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const logCounts = new Map();
const logger = {
  // rp2040js' messages, to stderr, each distinct one at most 5 times
  say(level, component, msg) {
    const key = component + ':' + msg.replace(/[0-9a-f]{4,}/g, '#');
    const n = (logCounts.get(key) || 0) + 1;
    logCounts.set(key, n);
    if (n <= 5) process.stderr.write(`rp2sim: ${level} [${component}] ${msg}\n`);
  },
  debug() {},
  info() {},
  warn(c, m) { this.say('warning', c, m); },
  error(c, m) { this.say('error', c, m); },
};

class Board {
  constructor(args) {
    this.args = args;
    const rom = fs.readFileSync(args.bootrom);
    if (rom.length !== 16384) throw new Error('bootrom must be 16384 bytes: ' + args.bootrom);
    this.bootrom = new Uint32Array(rom.buffer, rom.byteOffset, 4096);
    this.firmware = fs.readFileSync(args.firmware);
    if (path.extname(args.firmware) !== '.bin') throw new Error('firmware must be a flat .bin image');
    if (this.firmware.length > args.flashSize) throw new Error('firmware larger than the flash');
    this.uid = Buffer.from(args.uid, 'hex');
    this.console = args.consoleLog ? fs.openSync(args.consoleLog, 'a') : null;
    this.intn = true;
    this.stopped = false;
    this.base = { ns: 0, ms: performance.now() };
    this.resetReason = null;
    this.instructions = 0;
    this.resets = 0;
    this.hostQueue = [];
    this.client = null;
    this.link = args.w5500 ? new W5500Link(this, {
      reqFd: args.w5500[0], repFd: args.w5500[1], spiHz: args.spiHz,
    }) : null;
    this.build(null);
  }

  // ---- the chip ------------------------------------------------------------
  build(prev) {
    const a = this.args;
    // one simulated clock for the board's life: a reset drops the old chip's alarms, not the time
    const clock = prev ? prev.clock : undefined;
    if (clock) clock.nextAlarm = null;
    const mcu = new RP2040(clock);
    mcu.logger = logger;
    mcu.loadBootrom(this.bootrom); // also erases rp2040js' flash array to 0xFF
    if (prev) {
      // a watchdog reset: flash, SRAM contents and the watchdog's scratch/reason survive (RP 2.8.3)
      mcu.flash.set(prev.flash);
      mcu.sram.set(prev.sram);
      const wd = mcu.peripherals[0x40058];
      const pwd = prev.peripherals[0x40058];
      wd.scratchData.set(pwd.scratchData);
      wd.reason = pwd.reason;
    } else {
      if (a.flashImage && fs.existsSync(a.flashImage)) {
        const img = fs.readFileSync(a.flashImage);
        mcu.flash.set(img.subarray(0, Math.min(img.length, a.flashSize)));
      }
      mcu.flash.set(this.firmware, 0);
    }
    this.nor = attachFlash(mcu, a.flashSize, this.uid);
    mcu.core.PC = FLASH_BASE; // boot2 at the start of flash, as rp2040js' demo does
    const wd = mcu.peripherals[0x40058];
    wd.onWatchdogTrigger = () => {
      // stop its alarm first: rp2040js re-arms it at the same instant, for ever
      wd.alarm.enable = false;
      wd.timer.enable = false;
      this.resetReason = 'watchdog';
    };
    this.mcu = mcu;
    for (const pin of mcu.gpio) {
      pin.addListener(() => this.drive(pin));
    }
    if (this.link) this.link.attach(mcu, a.spi);
    for (const pin of mcu.gpio) this.drive(pin);
    this.cdc = new USBCDC(mcu.usbCtrl);
    this.usbReady = false;
    // A host with nothing to send NAKs the device's OUT transfers (USB 2.0 8.5.1); USBCDC
    // would complete them at once with no data, and the device would re-arm them every
    // 10 us of simulated time for as long as the REPL waits. Hold them until data comes.
    const cdcRead = mcu.usbCtrl.onEndpointRead;
    this.pendingRead = null;
    this.cdcRead = cdcRead;
    mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
      if (endpoint === this.cdc.outEndpoint && this.cdc.txFIFO.empty && !this.hostQueue.length) {
        this.pendingRead = [endpoint, size];
        return;
      }
      cdcRead(endpoint, size);
    };
    this.cdc.onDeviceConnected = () => {
      this.usbReady = true;
      emit({ event: 'usb', connected: true });
      this.pump();
    };
    this.cdc.onSerialData = (buf) => {
      if (this.client) this.client.write(Buffer.from(buf));
      if (this.console) fs.writeSync(this.console, buf);
    };
  }

  reset() {
    const reason = this.resetReason;
    this.resetReason = null;
    this.resets++;
    this.build(this.mcu);
    emit({ event: 'reset', reason, ns: this.mcu.clock.nanos });
  }

  // A pin's input level: what it drives when it is an output (RP2040 pads feed
  // the driven level back to GPIO_IN, RP 2.19.4); INTn from the W5500; else its pull.
  drive(pin) {
    const a = this.args;
    let level;
    if (pin.outputEnable) level = pin.outputValue;
    else if (this.link && pin.index === a.int) level = this.intn || !a.intn;
    else if (pin.pullupEnabled && !pin.pulldownEnabled) level = true;
    else if (pin.pulldownEnabled && !pin.pullupEnabled) level = false;
    if (level !== undefined && pin.rawInputValue !== level) pin.setInputValue(level);
    if (this.link) {
      // lines the RP2040 does not drive are pulled high on the board (CS, RSTn)
      const high = pin.outputEnable ? pin.outputValue : true;
      if (pin.index === a.cs) this.link.setCs(high);
      else if (pin.index === a.rst && high !== this.rstLevel) {
        this.rstLevel = high;
        this.link.setRst(high);
      }
    }
  }

  setIntn(level) {
    this.intn = level;
    this.drive(this.mcu.gpio[this.args.int]);
  }

  snapshot(tag) {
    if (this.link) this.link.sendSnapshot(tag, this.mcu.sram);
  }

  // ---- USB CDC <-> TCP ---------------------------------------------------------
  pump() {
    if (!this.usbReady) return;
    const fifo = this.cdc.txFIFO;
    while (this.hostQueue.length && fifo.itemCount < fifo.size) {
      const b = this.hostQueue[0];
      let i = b.pos || 0;
      while (i < b.length && fifo.itemCount < fifo.size) this.cdc.sendSerialByte(b[i++]);
      if (i >= b.length) this.hostQueue.shift();
      else b.pos = i;
    }
    if (this.pendingRead && !fifo.empty) {
      const [endpoint, size] = this.pendingRead;
      this.pendingRead = null;
      this.cdcRead(endpoint, size);
    }
  }

  listen(port) {
    const server = net.createServer((sock) => {
      if (this.client) this.client.destroy();
      this.client = sock;
      sock.setNoDelay(true);
      sock.on('data', (d) => {
        this.hostQueue.push(Buffer.from(d));
        this.pump();
        this.wake();
      });
      sock.on('close', () => {
        if (this.client === sock) this.client = null;
      });
      sock.on('error', () => {});
    });
    server.listen(port, '127.0.0.1', () => emit({ event: 'ready', cdc_port: server.address().port }));
    this.server = server;
  }

  // ---- control -------------------------------------------------------------------
  command(line) {
    let c;
    try {
      c = JSON.parse(line);
    } catch (e) {
      process.stderr.write('rp2sim: bad command: ' + line + '\n');
      return;
    }
    const m = this.mcu;
    switch (c.cmd) {
      case 'int':
        if (this.link) this.link.asyncInt(!!c.level, c.seq);
        break;
      case 'snapshot':
        this.snapshot(c.tag || 0);
        emit({ event: 'reply', id: c.id, ns: m.clock.nanos });
        break;
      case 'time':
        emit({ event: 'reply', id: c.id, ns: m.clock.nanos });
        break;
      case 'stats':
        emit({
          event: 'reply', id: c.id, ns: m.clock.nanos, instructions: this.instructions, resets: this.resets,
          flash: this.nor.stats, spi: this.link ? this.link.stats : null,
          spi_hz: m.spi[this.args.spi].clockFrequency, pc: m.core.PC, waiting: m.core.waiting,
        });
        break;
      case 'save_flash':
        this.saveFlash();
        emit({ event: 'reply', id: c.id, ns: m.clock.nanos });
        break;
      case 'stop':
        this.stop();
        break;
      default:
        process.stderr.write('rp2sim: unknown command ' + c.cmd + '\n');
    }
    this.wake();
  }

  saveFlash() {
    if (this.args.flashImage) {
      fs.writeFileSync(this.args.flashImage, this.mcu.flash.subarray(0, this.args.flashSize));
    }
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.saveFlash();
    if (this.server) this.server.close();
    if (this.client) this.client.destroy();
    emit({ event: 'stopped', ns: this.mcu.clock.nanos });
    process.exit(0);
  }

  // ---- the run loop ----------------------------------------------------------------
  wake() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      setImmediate(() => this.run());
    }
  }

  run() {
    this.timer = null;
    const deadline = Date.now() + CHUNK_MS;
    let n = 0;
    for (;;) {
      if (this.stopped) return;
      if (this.resetReason) this.reset();
      const mcu = this.mcu;
      if (mcu.core.waiting) {
        // the wall-clock bound: base.ns + wall time since base.ms, at most IDLE_LEAD_MS ahead
        const now = performance.now();
        let allowed = Math.floor(this.base.ns + (now - this.base.ms) * 1e6);
        if (allowed > mcu.clock.nanos + IDLE_LEAD_MS * 1e6) {
          this.base = { ns: mcu.clock.nanos, ms: now - IDLE_LEAD_MS };
          allowed = mcu.clock.nanos + IDLE_LEAD_MS * 1e6;
        }
        const next = mcu.clock.nanosToNextAlarm;
        if (next > 0 && mcu.clock.nanos + next <= allowed) {
          mcu.clock.tick(next);
          continue;
        }
        if (allowed > mcu.clock.nanos) mcu.clock.tick(allowed - mcu.clock.nanos);
        if (!mcu.core.waiting) continue;
        this.timer = setTimeout(() => this.run(), 1);
        return;
      }
      const cycles = mcu.core.executeInstruction();
      mcu.clock.tick(cycles * CYCLE_NANOS);
      this.instructions++;
      if ((++n & 0xfff) === 0) {
        this.pump();
        if (Date.now() >= deadline) break;
      }
    }
    setImmediate(() => this.run());
  }
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write('rp2sim: ' + e.message + '\n');
    process.exit(2);
  }
  const board = new Board(args);
  board.listen(args.cdcPort);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => board.command(line));
  rl.on('close', () => board.stop());
  process.on('SIGTERM', () => board.stop());
  setImmediate(() => board.run());
}

main();
