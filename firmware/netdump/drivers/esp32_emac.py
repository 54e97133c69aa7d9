# The ESP32's Ethernet MAC (EMAC: Synopsys DesignWare MAC + DMA, RMII PHY such as
# the LAN8720 or IP101) as a polled frame NIC, taken over from network.LAN at
# fault time. docs/esp32-emac.md has the facts used here, with their sources:
#   TRM  = ESP32 Technical Reference Manual v5.2, chapter 10 (EMAC): 10.8 descriptors,
#          10.9/10.10 registers;
#   IDF  = espressif/esp-idf v5.x components/: soc/esp32/include/soc/emac_{dma,mac,ext}_struct.h
#          (register layouts), hal/emac_hal.c (emac_hal_start/stop), hal/include/hal/emac_hal.h
#          (descriptor layouts), esp_eth/src/mac/esp_eth_mac_esp.c + esp_eth_mac_esp_dma.c (how
#          ESP-IDF's own driver uses them), esp_eth/src/phy/esp_eth_phy_lan87xx.c / _ip101.c.
#
#   nic = EMAC(lan=network.LAN(...), phy_addr=1)   arm time: allocates everything
#   nic.mac                  6-byte bytearray (the MAC address network.LAN uses)
#   nic.start() -> 0/code    dump time: stop ESP-IDF's driver, own the DMA, check the PHY
#   nic.stop() -> 0/code     after a dump that carries on: DMA stopped, network.LAN back
#   nic.send(buf, n) -> 1/0  buf[0:n] as one frame (no FCS)
#   nic.poll(buf) -> n       one received frame into buf (truncated to len(buf)), 0 if none
#   nic.link() -> 1/0        PHY link (BMSR)
#   nic.wait(ms)             block up to ms until a frame is in the receive ring
#   nic.why                  one line saying why start() failed or the NIC gave up
#
# Memory (docs/esp32-emac.md#2-memory-the-dma-reaches): one word-aligned bytearray
# ("arena") holds the descriptor rings (chained mode: nrx RX and ntx TX 32-byte
# descriptors) and their buffers; the DMA reaches it at its address, which must lie
# in internal DRAM (SOC_DMA_LOW..SOC_DMA_HIGH): on a board whose Python heap is in
# PSRAM the constructor refuses.
# Registers: through three functions, rd(addr, shift) / wr(addr, value) /
# mod(addr, clear, set) -- on a board the viper MMIO functions below; in tests a
# register link to an emulator (regs=..., which also maps the arena for its DMA).
# Descriptor words are read and written only by the viper functions below (their
# OWN bit is bit 31: a Python int would be a heap object on a board).
#
# Nothing after the constructor allocates but stop() (heap unlocked: it gives network.LAN
# back); every wait has a deadline, and the long ones feed the hardware watchdog
# (netdump/feed.py). The register values handled in Python stay below 2**30 (rd returns
# bits shift+29..shift).
from netdump import fast
from netdump.compat import IS_MICROPYTHON, const, ticks_diff, ticks_ms, ticks_us
from netdump.feed import feed

try:
    from time import sleep_ms, sleep_us
except ImportError:  # CPython
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)

    def sleep_us(us):
        _sleep(us / 1000000)


# ---- register blocks (IDF soc/esp32/ld/esp32.peripherals.ld: EMAC_DMA, EMAC_EXT, EMAC_MAC) ----
# DMA block (IDF emac_dma_struct.h; TRM 10.10 DMA registers)
_DMA_TXPOLL = const(0x3FF69004)  # any write: the TX DMA re-reads the current descriptor
_DMA_RXPOLL = const(0x3FF69008)  # any write: the RX DMA re-reads the current descriptor
_DMA_RXBASE = const(0x3FF6900C)  # RX descriptor list address (write only while RX is stopped)
_DMA_TXBASE = const(0x3FF69010)  # TX descriptor list address (write only while TX is stopped)
_DMA_STATUS = const(0x3FF69014)  # W1C status bits, RS bits 19:17, TS bits 22:20
_DMA_OPMODE = const(0x3FF69018)  # SR bit 1, ST bit 13, FTF bit 20
_DMA_INTEN = const(0x3FF6901C)  # interrupt enables (IDF emac_hal_start: RIE | NIE)
# MAC block (IDF emac_mac_struct.h; TRM 10.10 MAC registers)
_MAC_CONFIG = const(0x3FF6A000)  # RE bit 2, TE bit 3, DM bit 11, FES bit 14
_MAC_MIIADDR = const(0x3FF6A010)  # busy bit 0, write bit 1, CSR clock 5:2, reg 10:6, PHY 15:11
_MAC_MIIDATA = const(0x3FF6A014)
_MAC_ADDR0HI = const(0x3FF6A040)  # address bytes 5,4 in bits 15:0 (emac_ll_set_addr)
_MAC_ADDR0LO = const(0x3FF6A044)  # address bytes 3..0
# EXT block (IDF emac_ext_struct.h ex_clk_ctrl; set by emac_ll_clock_enable_rmii_input/output)
_EXT_CLK_CTRL = const(0x3FF69808)  # ext_en bit 0 / int_en bit 1 (RMII reference clock in/out),
_EXT_CLOCKS = const(0x1B)  # mii_clk_tx_en bit 3 / mii_clk_rx_en bit 4 (MII): some clock is set up

_OM_SR = const(0x2)  # DMAOPERATION_MODE START_STOP_RX
_OM_ST = const(0x2000)  # DMAOPERATION_MODE START_STOP_TRANSMISSION_COMMAND
_OM_FTF = const(0x100000)  # DMAOPERATION_MODE FLUSH_TX_FIFO, self-clearing
_MC_RE = const(0x4)  # GMACCONFIG rx: receiver enable (emac_ll_receive_enable)
_MC_TE = const(0x8)  # GMACCONFIG tx: transmitter enable (emac_ll_transmit_enable)
_MC_DM = const(0x800)  # GMACCONFIG duplex: full duplex (emac_ll_set_duplex)
_MC_FES = const(0x4000)  # GMACCONFIG fespeed: 100 Mb/s (emac_ll_set_port_speed)
_ST_W1C = const(0x1E7FF)  # DMASTATUS bits 0..10 and 13..16 are R/SS/WC: written 1 clears them
_ST_RS = const(17)  # receive process state, bits 19:17 (0 = stopped)
_ST_TS = const(20)  # transmit process state, bits 22:20 (0 = stopped)
_MII_BUSY = const(0x1)
_MII_WRITE = const(0x2)
_MII_CR = const(0x3C)  # CSR clock range as network.LAN set it (emac_hal_set_csr_clock_range)

# ---- descriptors (IDF hal/emac_hal.h eth_dma_{tx,rx}_descriptor_t; TRM 10.8;
# docs/esp32-emac.md#3-descriptors-trm-108-idf-emac_halh) ----
# 32 bytes each (alternate descriptor size: IDF sets DMABUSMODE.ATDS); chained mode: word 3
# is the next descriptor's address, the last points back to the first (emac_esp_dma_reset)
_DESC = const(32)
_T0_FS_LS_TCH = const(0x30100000)  # TDES0: FirstSegment 28 | LastSegment 29 | SecondAddressChained 20
_T0_TCH = const(0x100000)
_R1_RCH = const(0x4000)  # RDES1 SecondAddressChained (bit 14); DIC (bit 31) set in the viper code
_R_FS = const(0x200)  # RDES0 FirstDescriptor
_R_LS = const(0x100)  # RDES0 LastDescriptor
_R_ES = const(0x8000)  # RDES0 ErrSummary
_FCS = const(4)  # RDES0 FrameLength counts the FCS (IDF emac_esp_dma_get_valid_recv_len: FL - 4)
_TX_BUF = const(1536)  # one TX buffer holds a whole frame
_TX_MAX = const(1514)  # frame without FCS (no VLAN tag: what EtherEndpoint sends)
_MIN_FRAME = const(14)

# ---- PHY (IEEE 802.3 clause 22; IDF esp_eth_phy_802_3.c, _lan87xx.c, _ip101.c;
# docs/esp32-emac.md#7-the-phy-8023-clause-22-idf-phy-drivers) ----
_BMSR = const(1)  # basic mode status: bit 2 link (latches low), bit 5 autonegotiation done
_PHYID1 = const(2)
_PHYID2 = const(3)
_LAN_PSCSR = const(0x1F)  # LAN87xx special control/status: speed indication bits 4:2
_IP_PCR = const(0x14)  # IP101 page control
_IP_CSSR = const(0x1E)  # IP101 page 16: operation mode bits 2:0
_PHY_GENERIC = const(0)
_PHY_LAN87XX = const(1)
_PHY_IP101 = const(2)
_PHYS = {"generic": _PHY_GENERIC, "lan8720": _PHY_LAN87XX, "lan8710": _PHY_LAN87XX, "ip101": _PHY_IP101}

# ---- limits ----
_DRAM_LO = const(0x3FFAE000)  # SOC_DMA_LOW (IDF soc/esp32/include/soc/soc.h)
_DRAM_HI = const(0x40000000)  # SOC_DMA_HIGH
_MII_US = const(2000)  # an MDIO transaction (IDF PHY_OPERATION_TIMEOUT_US is 1000)
_STOP_MS = const(50)  # DMA stop / FIFO flush (a frame at 10 Mb/s takes 1.2 ms)
_MIN_POLLS = const(10)  # a wait also needs this many looks before it gives up (busy hosts)

# error codes (Linux errno numbers)
EFAULT = const(14)
ENODEV = const(19)
ENETDOWN = const(100)
ETIMEDOUT = const(110)

# arenas a DMA may still write into (stop() could not stop it): kept referenced for good,
# so the garbage collector never hands their memory to anything else
_kept = []


# ---- descriptor and MMIO access: viper on MicroPython, pure-Python twins on CPython ----
if IS_MICROPYTHON:
    import micropython

    @micropython.viper
    def _mmio_rd(addr: uint, shift: int) -> int:
        """Bits shift+29..shift of the register at addr (a small int)."""
        return int((ptr32(addr)[0] >> uint(shift)) & uint(0x3FFFFFFF))

    @micropython.viper
    def _mmio_wr(addr: uint, v: uint):
        ptr32(addr)[0] = v

    @micropython.viper
    def _mmio_mod(addr: uint, clear: uint, bits: uint):
        p = ptr32(addr)
        p[0] = (p[0] & (clear ^ uint(0xFFFFFFFF))) | bits

    @micropython.viper
    def _own(a, off: int) -> int:
        """1 while the DMA owns the descriptor at a[off:] (OWN, bit 31 of word 0)."""
        return int(ptr32(a)[off >> 2] >> 31)

    @micropython.viper
    def _tx_err(a, off: int) -> int:
        """TDES0 ErrSummary (bit 15) of a closed TX descriptor."""
        return int((ptr32(a)[off >> 2] >> 15) & 1)

    @micropython.viper
    def _tx_go(a, off: int, n: int):
        """Hand a one-buffer frame of n bytes to the DMA: size, then FS|LS|TCH with OWN."""
        p = ptr32(a)
        i = off >> 2
        p[i + 1] = uint(n)  # TDES1: TransmitBuffer1Size
        p[i] = uint(0x80000000) | uint(_T0_FS_LS_TCH)  # TDES0, written last

    @micropython.viper
    def _rx_stat(a, off: int) -> int:
        """RDES0 bits 29..0 once the CPU owns the descriptor, else -1."""
        v = ptr32(a)[off >> 2]
        if v >> 31:
            return -1
        return int(v & uint(0x3FFFFFFF))

    @micropython.viper
    def _rx_give(a, off: int):
        """Give an RX descriptor back to the DMA (RDES0 = OWN)."""
        ptr32(a)[off >> 2] = uint(0x80000000)

    @micropython.viper
    def _ring(a, off: int, n: int, bus_desc: uint, bus_buf: uint, bufsz: int, rx: int):
        """n chained descriptors at a[off:] (bus address bus_desc), buffers of bufsz
        bytes from bus_buf; RX ones owned by the DMA, TX ones by the CPU."""
        p = ptr32(a)
        k = off >> 2
        i = 0
        while i < n:
            if rx:
                p[k] = uint(0x80000000)  # RDES0: OWN
                p[k + 1] = uint(0x80000000) | uint(_R1_RCH) | uint(bufsz)  # RDES1: DIC | RCH | size
            else:
                p[k] = uint(_T0_TCH)  # TDES0: CPU-owned, chained
                p[k + 1] = 0
            p[k + 2] = bus_buf + uint(i * bufsz)
            j = i + 1
            if j == n:
                j = 0
            p[k + 3] = bus_desc + uint(j * 32)
            p[k + 4] = 0
            p[k + 5] = 0
            p[k + 6] = 0
            p[k + 7] = 0
            k += 8
            i += 1

else:  # CPython twins (host tests): never on a board  # arm-time

    def _w(a, off):  # arm-time: CPython twin, host only
        return int.from_bytes(a[off : off + 4], "little")

    def _put(a, off, v):  # arm-time: CPython twin, host only
        a[off : off + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")

    def _own(a, off):  # arm-time: CPython twin, host only
        return a[off + 3] >> 7

    def _tx_err(a, off):  # arm-time: CPython twin, host only
        return (a[off + 1] >> 7) & 1

    def _tx_go(a, off, n):  # arm-time: CPython twin, host only
        _put(a, off + 4, n)
        _put(a, off, 0x80000000 | _T0_FS_LS_TCH)

    def _rx_stat(a, off):  # arm-time: CPython twin, host only
        v = _w(a, off)
        if v >> 31:
            return -1
        return v & 0x3FFFFFFF

    def _rx_give(a, off):  # arm-time: CPython twin, host only
        _put(a, off, 0x80000000)

    def _ring(a, off, n, bus_desc, bus_buf, bufsz, rx):  # arm-time: CPython twin, host only
        for i in range(n):
            k = off + 32 * i
            if rx:
                _put(a, k, 0x80000000)
                _put(a, k + 4, 0x80000000 | _R1_RCH | bufsz)
            else:
                _put(a, k, _T0_TCH)
                _put(a, k + 4, 0)
            _put(a, k + 8, bus_buf + i * bufsz)
            _put(a, k + 12, bus_desc + ((i + 1) % n) * 32)
            a[k + 16 : k + 32] = bytes(16)


class EMAC:
    """The ESP32 EMAC as a polled frame NIC (see the module comment). lan: the board's
    network.LAN; phy_addr / phy: the PHY's MDIO address and kind; mac: an address to use
    instead of network.LAN's; regs: the register interface (None on a board); ntx, nrx,
    rx_buf: ring sizes; takeover=False skips stopping ESP-IDF's driver and the DMA in
    start() (tests show what that protects against)."""

    def __init__(self, lan=None, phy_addr=0, phy="lan8720", mac=None, regs=None, ntx=2, nrx=8, rx_buf=512,
                 link_timeout_ms=3000, tx_timeout_ms=500, takeover=True):  # arm-time
        if not 0 <= phy_addr <= 31:
            raise ValueError("phy_addr must be 0..31")
        if phy not in _PHYS:
            raise ValueError("phy must be one of: " + ", ".join(sorted(_PHYS)))
        if not 1 <= ntx <= 16 or not 2 <= nrx <= 32:
            raise ValueError("ntx must be 1..16, nrx 2..32")
        if rx_buf % 4 or not 256 <= rx_buf <= 1536:
            raise ValueError("rx_buf must be a multiple of 4 in 256..1536")  # RDES1 buffer size
        self.phy_addr = phy_addr
        self._phy = _PHYS[phy]
        self._takeover = takeover
        self._link_ms = link_timeout_ms
        self._txto = tx_timeout_ms
        self._lan = lan
        self._lan_act = lan.active if lan is not None else None  # bound now: binding allocates
        self._lan_give = 0  # 1: start() turned network.LAN off; stop() turns it on again
        self.lan_error = 0  # 1 when network.LAN.active(False) raised (the takeover went on)
        if regs is None:
            self._rd = _mmio_rd
            self._wr = _mmio_wr
            self._mod = _mmio_mod
        else:
            self._rd = regs.rd
            self._wr = regs.wr
            self._mod = regs.mod

        # ---- the arena: RX descriptors, TX descriptors, RX buffers, TX buffers ----
        self._nrx = nrx
        self.rx_frames = nrx  # frames held until polled (docs/frame-nic.md): the window is kept below it
        self._ntx = ntx
        self._rbs = rx_buf
        size = _DESC * (nrx + ntx) + nrx * rx_buf + ntx * _TX_BUF
        raw = bytearray(size + 32)
        real = fast.addr_of(raw)
        pad = (-real) & 31  # descriptors 32-byte aligned (the DMA needs 4: EMAC_LL_DMA_MEM_ALIGNMENT)
        if regs is None:
            bus = real + pad  # the DMA sees internal RAM at the CPU's data-bus addresses
        else:
            bus = regs.dma_window(real + pad, size)
        if not (_DRAM_LO <= bus and bus + size <= _DRAM_HI):
            raise OSError(EFAULT, "esp32_emac: DMA buffers at 0x%08x are not in internal DRAM "
                                  "0x3ffae000-0x3fffffff (Python heap in PSRAM?): the EMAC cannot reach them" % bus)
        self._a = raw
        self._bus = bus - pad  # bus address of raw[0]
        rxd = pad
        txd = rxd + _DESC * nrx
        rxb = txd + _DESC * ntx
        txb = rxb + rx_buf * nrx
        self._rxd = [rxd + _DESC * i for i in range(nrx)]
        self._txd = [txd + _DESC * i for i in range(ntx)]
        self._rxb = [rxb + rx_buf * i for i in range(nrx)]
        self._txb = [txb + _TX_BUF * i for i in range(ntx)]
        self._txt = [0] * ntx  # ticks_ms when each TX descriptor was handed to the DMA
        self._rxi = 0  # next RX descriptor to look at
        self._txi = 0  # next TX descriptor to fill
        self._txo = 0  # oldest TX descriptor not yet seen back
        self._txn = 0  # TX descriptors the DMA holds
        self._up = 0  # start() succeeded and nothing failed since
        self._dead = 0  # a runtime failure (TX DMA) ended this NIC until the next start()
        self.sent = 0
        self.received = 0
        self.tx_errors = 0  # frames the DMA closed with ErrSummary
        self.rx_errors = 0  # frames dropped: error status, cut, or no first descriptor
        self.phy_id1 = 0
        self.phy_id2 = 0
        self._copy = fast.copy

        # ---- the MAC address: what network.LAN uses (eFuse), unless given ----
        if mac is not None:
            m = bytes(mac)
            if len(m) != 6 or m[0] & 1:
                raise ValueError("mac must be 6 bytes, unicast")
            if lan is not None:
                lan.config(mac=m)  # ESP-IDF's driver and the address filter (emac_hal_set_address)
            else:
                self._wr(_MAC_ADDR0HI, (m[5] << 8) | m[4])  # arm-time
                self._wr(_MAC_ADDR0LO, m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24))  # arm-time
        elif lan is not None:
            m = bytes(lan.config("mac"))
        else:
            lo = self._rd(_MAC_ADDR0LO, 0)
            hi = self._rd(_MAC_ADDR0HI, 0)
            m = bytes([lo & 0xFF, (lo >> 8) & 0xFF, (lo >> 16) & 0xFF, self._rd(_MAC_ADDR0LO, 24) & 0xFF,
                       hi & 0xFF, (hi >> 8) & 0xFF])
        self.mac = bytearray(m)

        # ---- one-line reasons, made now ----
        p = phy_addr
        self.why = ""
        self._why_clock = "esp32_emac: EMAC not set up (no clocks): create network.LAN(...) at boot"
        self._why_txstop = "esp32_emac: TX DMA did not stop (transmit state machine busy)"
        self._why_rxstop = "esp32_emac: RX DMA did not stop"
        self._why_mdio = "esp32_emac: MDIO busy never cleared (MDC clock?)"
        self._why_nophy = "esp32_emac: no PHY answers at MDIO address %d (phy_addr, PHY power, MDC/MDIO pins?)" % p
        self._why_link = "esp32_emac: no link: PHY %d reports link down for %d ms (cable?)" % (p, link_timeout_ms)
        self._why_txdma = ("esp32_emac: TX DMA kept a descriptor for %d ms (no TX clock from the PHY?)"
                           % tx_timeout_ms)
        self._why_lan_on = "esp32_emac: network.LAN.active(True) failed after the dump"

    # ---- dump time ----------------------------------------------------------------
    def start(self):
        """Take the EMAC over -> 0, or an error code with self.why set (allocation-free).
        Idempotent: nothing is redone while the EMAC is still as start() left it."""
        if self._up and self._owned():
            return 0
        self._up = 0
        self.why = ""
        err = self._start()
        if err == 0:
            self._up = 1
            self._dead = 0
        return err

    def _owned(self):
        """1 while the DMA runs on this driver's rings with every EMAC interrupt disabled.
        Anything else (ESP-IDF's driver restarted by network.LAN.active(True): its own list
        bases, RI and NI enabled; or stopped by its link timer: ST and SR off) -> 0."""
        rd = self._rd
        b = self._bus
        if rd(_DMA_RXBASE, 0) != b + self._rxd[0] or rd(_DMA_TXBASE, 0) != b + self._txd[0]:
            return 0
        if rd(_DMA_INTEN, 0) != 0:
            return 0
        return 1 if (rd(_DMA_OPMODE, 0) & (_OM_SR | _OM_ST)) == (_OM_SR | _OM_ST) else 0

    def stop(self):
        """Give the EMAC back after a dump that carries on (heap unlocked) -> 0 or an error
        code with why set: interrupts off, the DMA and MAC stopped in emac_hal_stop()'s order
        (bounded waits), so the DMA no longer touches this driver's memory; then
        network.LAN.active(True) if start() turned it off (ESP-IDF's esp_eth_start: its link
        timer rebuilds its rings and restarts the EMAC on them at link up). If the DMA does
        not stop, its rings stay referenced for good and network.LAN stays off."""
        self._up = 0
        err = self._halt()
        if err:
            _kept.append(self._a)
            print(self.why)
            return err
        if self._lan_give:
            self._lan_give = 0
            try:
                self._lan_act(True)
            except Exception:  # "ethernet enable failed": the application sees the interface down
                self.why = self._why_lan_on
                print(self.why)
                return ENETDOWN
        return 0

    def _fail(self, code, why):
        self.why = why
        return code

    def _wait_clear(self, addr, shift, mask):
        """Wait (bounded) until (register >> shift) & mask reads 0 -> 1, or 0 on timeout."""
        rd = self._rd
        t0 = ticks_ms()
        k = 0
        while rd(addr, shift) & mask:
            k += 1
            if k > _MIN_POLLS and ticks_diff(ticks_ms(), t0) > _STOP_MS:
                return 0
        return 1

    def _halt(self):
        """Interrupts off, then stop as emac_hal_stop() does: DMA TX, MAC RX+TX, DMA RX, flush
        the TX FIFO, with bounded waits on the process states -> 0 or an error code."""
        mod = self._mod
        # no EMAC interrupt may reach ESP-IDF's ISR: DMAIN_EN = 0 (emac_ll_disable_all_intr)
        self._wr(_DMA_INTEN, 0)
        # a list base may only be written while its process is stopped (TRM DMA registers;
        # IDF emac_ll_set_{rx,tx}_desc_addr callers do so)
        mod(_DMA_OPMODE, _OM_ST, 0)
        if not self._wait_clear(_DMA_STATUS, _ST_TS, 7):
            return self._fail(ETIMEDOUT, self._why_txstop)
        mod(_MAC_CONFIG, _MC_RE | _MC_TE, 0)
        mod(_DMA_OPMODE, _OM_SR, 0)
        if not self._wait_clear(_DMA_STATUS, _ST_RS, 7):
            return self._fail(ETIMEDOUT, self._why_rxstop)
        mod(_DMA_OPMODE, 0, _OM_FTF)
        if not self._wait_clear(_DMA_OPMODE, 0, _OM_FTF):
            return self._fail(ETIMEDOUT, self._why_txstop)
        return 0

    def _start(self):
        # the sequence: docs/esp32-emac.md#6-what-networklan-leaves-running-and-the-takeover
        rd = self._rd
        wr = self._wr
        mod = self._mod
        # network.LAN(...) set up the EMAC's clocks (emac_ll_clock_enable_rmii_input/_output,
        # emac_ll_clock_enable_mii); without them nothing below can work
        if not rd(_EXT_CLK_CTRL, 0) & _EXT_CLOCKS:
            return self._fail(ENODEV, self._why_clock)
        if self._takeover:
            # 1. ESP-IDF's driver: network.LAN.active(False) -> esp_eth_stop(): stops the link
            #    timer and, with the link up, disables the interrupt and runs emac_hal_stop()
            #    (MicroPython ports/esp32/network_lan.c lan_active; IDF esp_eth.c). Its emac_rx
            #    task stays, asleep until the ISR wakes it; lwIP may still call esp_eth_transmit,
            #    which only touches ESP-IDF's own ring once the DMA runs on ours. Asked each
            #    time (active() returns a constant bool): the application may have turned it
            #    on again since the last dump.
            act = self._lan_act
            if act is not None:
                try:
                    if act():
                        self._lan_give = 1
                        act(False)
                except Exception:  # esp_eth_stop failed ("ethernet disable failed"): go on
                    self.lan_error = 1
            # 2-3. interrupts off; DMA and MAC stopped as emac_hal_stop() does
            err = self._halt()
            if err:
                return err
        # 4. our rings (emac_esp_dma_reset's layout: chained, RX owned by the DMA, TX by us)
        a = self._a
        b = self._bus
        _ring(a, self._rxd[0], self._nrx, b + self._rxd[0], b + self._rxb[0], self._rbs, 1)
        _ring(a, self._txd[0], self._ntx, b + self._txd[0], b + self._txb[0], _TX_BUF, 0)
        self._rxi = 0
        self._txi = 0
        self._txo = 0
        self._txn = 0
        wr(_DMA_RXBASE, b + self._rxd[0])
        wr(_DMA_TXBASE, b + self._txd[0])
        wr(_DMA_STATUS, _ST_W1C)  # clear what ESP-IDF's driver left pending
        # 5. the PHY: present, link up, speed and duplex into the MAC (while it is disabled)
        err = self._phy_up()
        if err:
            return err
        # 6. restart in emac_hal_start()'s order: MAC TX, DMA TX, DMA RX, MAC RX (starting the
        #    TX DMA before the MAC transmitter can hang the transmitter, says its comment);
        #    interrupts stay disabled
        mod(_MAC_CONFIG, 0, _MC_TE)
        mod(_DMA_OPMODE, 0, _OM_ST)
        mod(_DMA_OPMODE, 0, _OM_SR)
        mod(_MAC_CONFIG, 0, _MC_RE)
        return 0

    def _phy_up(self):
        i1 = self._mdio(_PHYID1, 0, 0)
        i2 = self._mdio(_PHYID2, 0, 0)
        if i1 < 0 or i2 < 0:
            return self._fail(ETIMEDOUT, self._why_mdio)
        if (i1 == 0xFFFF and i2 == 0xFFFF) or (i1 == 0 and i2 == 0):
            return self._fail(ENODEV, self._why_nophy)  # MDIO floats high (or is stuck low)
        self.phy_id1 = i1
        self.phy_id2 = i2
        t0 = ticks_ms()
        while not self.link():
            if ticks_diff(ticks_ms(), t0) > self._link_ms:
                return self._fail(ENETDOWN, self._why_link)
            feed()  # auto-negotiation takes seconds: longer than a short hardware watchdog
            sleep_ms(10)
        # speed/duplex as ESP-IDF's PHY drivers read them (lan87xx/ip101 update_link_duplex_speed);
        # codes 1 10HD, 2 100HD, 5 10FD, 6 100FD: bit 1 = 100 Mb/s, bit 2 = full duplex
        code = 0
        if self._phy == _PHY_LAN87XX:
            code = (self._mdio(_LAN_PSCSR, 0, 0) >> 2) & 7
        elif self._phy == _PHY_IP101:
            self._mdio(_IP_PCR, 16, 1)  # page 16
            code = self._mdio(_IP_CSSR, 0, 0) & 7
        if code in (1, 2, 5, 6):
            # emac_ll_set_port_speed / emac_ll_set_duplex
            self._mod(_MAC_CONFIG, _MC_FES | _MC_DM, (_MC_FES if code & 2 else 0) | (_MC_DM if code & 4 else 0))
        return 0

    def _mdio(self, reg, val, write):
        """One MII management transaction -> the register value (write: 0), or -1 if busy stuck.
        (IDF emac_esp32_read_phy_reg / emac_hal_set_phy_cmd: busy must read 0 first.)"""
        rd = self._rd
        t0 = ticks_us()
        k = 0
        a = rd(_MAC_MIIADDR, 0)
        while a & _MII_BUSY:
            k += 1
            if k > _MIN_POLLS and ticks_diff(ticks_us(), t0) > _MII_US:
                return -1
            a = rd(_MAC_MIIADDR, 0)
        if write:
            self._wr(_MAC_MIIDATA, val)
        self._wr(_MAC_MIIADDR, (self.phy_addr << 11) | (reg << 6) | (a & _MII_CR) |
                 (_MII_WRITE if write else 0) | _MII_BUSY)
        t0 = ticks_us()
        k = 0
        while rd(_MAC_MIIADDR, 0) & _MII_BUSY:
            k += 1
            if k > _MIN_POLLS and ticks_diff(ticks_us(), t0) > _MII_US:
                return -1
        if write:
            return 0
        return rd(_MAC_MIIDATA, 0) & 0xFFFF

    # ---- packet path (allocation-free) ------------------------------------------------
    def link(self):
        """1 if the PHY reports link up, else 0. BMSR's link bit latches low, so it is
        read twice (IEEE 802.3 22.2.4.2.13)."""
        self._mdio(_BMSR, 0, 0)
        v = self._mdio(_BMSR, 0, 0)
        if v < 0 or v == 0xFFFF:
            return 0
        return (v >> 2) & 1

    def _die(self, why):
        self.why = why
        self._dead = 1
        self._up = 0
        print(why)

    def _reap(self):
        """Take back the TX descriptors the DMA has closed; give up on the NIC when the
        oldest one stays the DMA's longer than tx_timeout_ms."""
        a = self._a
        while self._txn:
            o = self._txo
            off = self._txd[o]
            if _own(a, off):
                if ticks_diff(ticks_ms(), self._txt[o]) > self._txto:
                    # a register read returns only after the DMA took every earlier command
                    # (on the register link too): look once more after it
                    self._rd(_DMA_STATUS, 0)
                    if _own(a, off):
                        self._die(self._why_txdma)
                return
            if _tx_err(a, off):
                self.tx_errors += 1
            o += 1
            if o == self._ntx:
                o = 0
            self._txo = o
            self._txn -= 1

    def send(self, buf, n):
        """Send buf[0:n] as one Ethernet frame -> 1 if the DMA took it, else 0."""
        if n < _MIN_FRAME or n > _TX_MAX or not self._up:
            return 0
        if self._txn:
            self._reap()
        while self._txn == self._ntx:  # ring full: wait for the DMA (bounded by _reap)
            if not self._up:
                return 0
            feed()
            self._reap()
        if not self._up:
            return 0
        i = self._txi
        a = self._a
        self._copy(a, self._txb[i], buf, 0, n)
        _tx_go(a, self._txd[i], n)
        self._wr(_DMA_TXPOLL, 0)  # TX poll demand (emac_hal_transmit_poll_demand)
        self._txt[i] = ticks_ms()
        i += 1
        if i == self._ntx:
            i = 0
        self._txi = i
        self._txn += 1
        self.sent += 1
        return 1

    def poll(self, buf):
        """Copy one received frame into buf -> its length (at most len(buf)), 0 if none."""
        if not self._up:
            return 0
        if self._txn:
            self._reap()
            if not self._up:
                return 0
        a = self._a
        i = self._rxi
        off = self._rxd[i]
        s = _rx_stat(a, off)
        if s < 0:
            return 0
        if s & _R_FS and s & _R_LS and not s & _R_ES:  # the whole frame in one buffer
            n = ((s >> 16) & 0x3FFF) - _FCS
            if n > len(buf):
                n = len(buf)
            if n > 0:
                self._copy(buf, 0, a, self._rxb[i], n)
            _rx_give(a, off)
            i += 1
            if i == self._nrx:
                i = 0
            self._rxi = i
            self._wr(_DMA_RXPOLL, 0)  # RX poll demand, in case the DMA ran out (IDF does it too)
            if n <= 0:
                self.rx_errors += 1
                return 0
            self.received += 1
            return n
        return self._poll_long(buf, s)

    def _poll_long(self, buf, s):
        # a frame over several descriptors (FS ... LS), or one to drop
        a = self._a
        nrx = self._nrx
        i = self._rxi
        if not s & _R_FS:  # not the start of a frame: give it back
            _rx_give(a, self._rxd[i])
            self._rxi = i + 1 if i + 1 < nrx else 0
            self._wr(_DMA_RXPOLL, 0)
            self.rx_errors += 1
            return 0
        j = i
        k = 0
        while 1:
            s = _rx_stat(a, self._rxd[j])
            if s < 0:
                return 0  # the DMA is still writing the rest of it
            k += 1
            if s & _R_LS or k == nrx:
                break
            j += 1
            if j == nrx:
                j = 0
        ok = s & _R_LS and not s & _R_ES
        n = ((s >> 16) & 0x3FFF) - _FCS if ok else 0
        cap = len(buf)
        pos = 0
        j = i
        m = 0
        while m < k:
            if pos < n and pos < cap:
                seg = self._rbs
                if seg > n - pos:
                    seg = n - pos
                if seg > cap - pos:
                    seg = cap - pos
                self._copy(buf, pos, a, self._rxb[j], seg)
                pos += seg
            _rx_give(a, self._rxd[j])
            j += 1
            if j == nrx:
                j = 0
            m += 1
        self._rxi = j
        self._wr(_DMA_RXPOLL, 0)
        if pos <= 0:
            self.rx_errors += 1
            return 0
        self.received += 1
        return pos

    def wait(self, ms):
        """Block up to ms milliseconds until a received frame is in the ring."""
        if not self._up:
            return
        a = self._a
        t0 = ticks_ms()
        while _rx_stat(a, self._rxd[self._rxi]) < 0:
            if ticks_diff(ticks_ms(), t0) >= ms:
                return
            sleep_us(50)
