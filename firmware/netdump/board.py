# Board definitions are data (boards/<name>.py: name, chip, interfaces, NIC
# wiring; README "Adding a board"); this module reads them and does what
# every board does with its data: the chip's memory map and ELF machine, the
# NIC, the firmware's own network interface, the endpoint for a
# configuration.
#
#   BOARDS                  the board names netdump knows (boards/<name>.py)
#   load(name) -> Board     the board's data module, read (ValueError if unknown)
#
# A board module holds only data. LIKE = "<other board>" makes it an alias of
# another board with the fields it sets replaced (pico_w5500 is a
# w5500_evb_pico under another name and description). A module may define
# functions of its own for what data cannot say (the host-only virtual board:
# RAM allocated at power-on, its watchdog); they replace the Board's methods
# of the same name (HOOKS).
#
# NIC keys: "chip" picks the polled driver (w5500, lan8720 = the ESP32 EMAC,
# lan9118; wlan/cyw43: none), the rest is its wiring; "lan" names the
# firmware's own interface for the board's socket interfaces other than
# wlan: "wiznet5k" (network.WIZNET5K, lwIP over the W5500), "w5500"
# (network.LAN with PHY_W5500), "lan8720" (network.LAN on the EMAC).
#
# Arm time only (boot, dumpon): this module allocates freely.
from netdump import addr, elfcore

# one module per board in boards/ (top-level modules, installed beside the package)
BOARDS = ("w5500_evb_pico", "pico_w5500", "esp32_devkitc_w5500", "wt32_eth01", "olimex_esp32_poe",
          "esp32_wlan", "pico_w", "qemu_mps2_an385", "unix_virtual")



class ConfigError(ValueError):
    """A configuration problem (netdump.config re-exports it); str(e) is one line."""


# the data fields of a board module, and the functions it may define instead of the Board's
FIELDS = ("NAME", "DESCRIPTION", "CHIP", "IFACES", "DEFAULT_IFACE", "NIC", "SAFE", "REGIONS")
HOOKS = ("safe_ranges", "default_regions", "make_nic", "make_wdt", "reset", "iface_address")

# The memory maps are built from named values: a tuple of int literals would be one
# frozen constant whose ints outside -0x2000..0x1FFF are long-int objects on a board
# (tools/smallint_check.py, rule frozen-long); the dumper makes them small ints at arm
# (netdump.compat.small).

# RP2040 (pico-sdk src/rp2040/hardware_regs/include/hardware/regs/addressmap.h).
# Readable RAM only: SRAM0-3 striped (256 KiB) + SRAM4/5 scratch X/Y (the C
# stack under MicroPython), and the USB DPRAM. Peripherals (0x40000000+,
# 0x50000000+ except DPRAM, SIO 0xD0000000, PPB 0xE0000000) are never dumped.
RP2040_SRAM = 0x20000000
RP2040_SRAM_SIZE = 0x42000
RP2040_DPRAM = 0x50100000
RP2040_DPRAM_SIZE = 0x1000

# ESP32 (esp-idf components/soc/esp32/include/soc/soc.h).
# Readable RAM only. DRAM = SRAM2 + SRAM1 on the data bus (byte access).
# RTC SLOW needs 32-bit access: opt in with --region rtc_slow:rtc_slow:8K.
# Never: IRAM 0x40080000 (32-bit only), 0x3FFA0000-0x3FFADFFF, peripherals
# 0x3FF00000-0x3FF7FFFF, PSRAM 0x3F800000 unless present, and RTC FAST memory
# (0x3FF80000): on the ESP32 only the PRO CPU can reach it, while MicroPython
# runs on the APP CPU unless the build is unicore (docs/memory-maps.md#esp32).
ESP32_DRAM = 0x3FFAE000
ESP32_DRAM_SIZE = 0x52000
ESP32_RTC_SLOW = 0x50000000
ESP32_RTC_SIZE = 0x2000


def chip(name):
    """(ELF machine, ELF class, kerneldumpheader arch, mpy-cross -march, safe ranges, default
    regions) of a chip; ranges are (name, address, size) tuples. ValueError if unknown."""
    if name == "rp2040":
        sram = ("sram", RP2040_SRAM, RP2040_SRAM_SIZE)
        return (elfcore.EM_ARM, 32, "arm", "armv6m", (sram, ("usb_dpram", RP2040_DPRAM, RP2040_DPRAM_SIZE)),
                (sram,))
    if name == "esp32":
        dram = ("dram", ESP32_DRAM, ESP32_DRAM_SIZE)
        return (elfcore.EM_XTENSA, 32, "xtensa", "xtensawin", (dram, ("rtc_slow", ESP32_RTC_SLOW, ESP32_RTC_SIZE)),
                (dram,))
    if name == "mps2-an385":  # QEMU's Cortex-M3 test bed; its board module names its RAM
        return (elfcore.EM_ARM, 32, "arm", "armv7m", (), ())
    if name == "unix":  # the virtual board: its RAM moves, its module says where
        return (elfcore.EM_X86_64, 64, "amd64", "x64", (), ())
    raise ValueError("chip %r is unknown" % (name,))


class Board:
    """A board's data with what every board does with it (arm time)."""

    def __init__(self, mod, like=None):
        self.module = mod
        for k in FIELDS:
            v = getattr(mod, k, None)
            if v is None and like is not None:
                v = getattr(like, k, None)
            setattr(self, k, v)
        (self.MACHINE, self.ELFCLASS, self.ARCH, self.MPY_ARCH, safe, regions) = chip(self.CHIP)
        if self.SAFE is None:
            self.SAFE = safe
        if self.REGIONS is None:
            self.REGIONS = regions
        self.DYNAMIC_RANGES = getattr(mod, "DYNAMIC_RANGES", False)
        # the board's own reset, else None (netdump.panic.arm resets with machine.reset)
        self.reset_hook = getattr(mod, "reset", None) or (getattr(like, "reset", None) if like else None)
        for src in (like, mod):
            for h in HOOKS:
                f = getattr(src, h, None) if src is not None else None
                if f is not None:
                    setattr(self, h, f)

    def safe_ranges(self):
        """(name, address, size) ranges that are safe to read."""
        return self.SAFE

    def default_regions(self):
        """What to dump when the configuration names no regions."""
        return self.REGIONS

    def reset(self):
        """Reboot the board."""
        import machine

        machine.reset()

    def make_wdt(self, timeout_ms):
        """Start the hardware watchdog (machine.WDT) with this timeout -> it; arm_config feeds it at a fault."""
        import machine

        return machine.WDT(timeout=timeout_ms)

    def make_nic(self):
        """The board's polled frame NIC, from its NIC data (arm time; touches no hardware but the ESP32
        EMAC's clocks)."""
        c = self.NIC["chip"]
        if c == "w5500":
            return w5500(self.NIC)
        if c == "lan8720":
            return esp32_emac(self.NIC)
        if c == "lan9118":
            return lan9118(self.NIC)
        raise ValueError("board %s: NIC %s has no polled driver" % (self.NAME, c))

    def lan(self):
        """The firmware's own wired interface (network.WIZNET5K or network.LAN), per NIC["lan"]."""
        k = self.NIC.get("lan")
        if k == "wiznet5k":
            return wiznet5k()
        if k == "w5500":
            return w5500_lan(self.NIC)
        if k == "lan8720":
            return lan8720(self.NIC)
        raise ValueError("board %s has no wired network interface of the firmware" % self.NAME)

    def make_endpoint(self, conf):
        """The endpoint for conf["iface"] (arm time): the UDP socket endpoint over Wi-Fi ("wlan") or
        the firmware's wired interface (first bringing it up with conf's addresses if it is down),
        or netdump's own Ethernet stack over the polled NIC."""
        iface = conf["iface"]
        if iface == "wlan":
            return wlan_endpoint(conf)
        if self.IFACES.get(iface) == "socket":
            if self.NIC.get("lan"):
                n = self.lan()
                if not n.active():
                    n.active(True)
                    # ifconfig() takes a dotted netmask only (shared/netutils/netutils.c
                    # netutils_parse_ipv4_addr); the configuration may hold "/24"
                    n.ifconfig((conf["client"], addr.netmask4(conf["netmask"]), conf["gateway"] or conf["server"],
                                "0.0.0.0"))
            return socket_endpoint(conf)
        return ether_endpoint(conf, self.make_nic())

    def iface_address(self, iface):
        """(address, netmask, gateway) of the interface's firmware side when active, else None."""
        if iface == "wlan":
            return wlan_address()
        k = self.NIC.get("lan")
        if k == "wiznet5k":
            return wiznet5k_address()
        if k:
            return _lan_address(self.lan)
        return None


def load(name):
    """The board called name (boards/<name>.py, an alias followed) -> Board; ConfigError if
    unknown or its module is not installed."""
    mod = _module(name)
    like = getattr(mod, "LIKE", None)
    if like is not None:
        if like == name:
            raise ConfigError("board %s: LIKE names itself" % name)
        like = _module(like)
    return Board(mod, like)


def _module(name):
    if name not in BOARDS:
        raise ConfigError("board: %r is unknown (known: %s)" % (name, ", ".join(BOARDS)))
    try:
        return __import__(name)
    except ImportError as e:
        raise ConfigError("board: module %s is not installed (%s)" % (name, e))


# ---- endpoints (arm time; allocate freely) -------------------------------------

def socket_endpoint(conf):
    """A SocketEndpoint to conf's server over the board's own network stack."""
    try:
        from netdump.endpoint import SocketEndpoint
    except ImportError as e:
        raise ConfigError("iface %s: the socket endpoint (package netdump-socket) is not installed (%s)"
                          % (conf["iface"], e))
    return SocketEndpoint(conf["server"], client_ip=conf["client"], herald_port=conf["herald_port"],
                          client_port=conf["client_port"])


def ether_endpoint(conf, nic):
    """An EtherEndpoint (own Ethernet/ARP/IP/UDP) over a frame NIC, for conf's addresses."""
    fam = addr.family(conf["server"])
    try:
        plen = addr.prefix_len(conf["netmask"], fam)
    except ValueError as e:
        raise ConfigError(str(e))
    try:
        from netdump.ether import EtherEndpoint

        return EtherEndpoint(nic, conf["client"], conf["server"], netmask=plen, gateway=conf["gateway"] or None,
                             herald_port=conf["herald_port"], client_port=conf["client_port"])
    except ImportError as e:  # netdump.ether, or the IPv4 / IPv6 modules it imports for this family
        raise ConfigError("iface %s: netdump's Ethernet stack is not installed for IPv%d (packages netdump-ether, "
                          "netdump-ip%d: %s)" % (conf["iface"], fam, fam, e))


def lan_address(nic):
    """(address, netmask, gateway) of an active network.LAN/WLAN/WIZNET5K object, else None."""
    try:
        if not nic.active():
            return None
        a = nic.ifconfig()
    except (OSError, AttributeError):
        return None
    return (a[0], a[1], a[2])


# ---- the firmware's network interfaces and netdump's drivers, from NIC data ----

def _spi(n):
    import machine

    return machine.SPI(n["spi"], baudrate=n["baudrate"], sck=machine.Pin(n["sck"]), mosi=machine.Pin(n["mosi"]),
                       miso=machine.Pin(n["miso"]))


def _fw_nics(type_name):
    # (network.route(), network.<type_name>): the firmware's live list of its registered
    # network interfaces (extmod/modnetwork.c network_route; WIZNET5K registers itself when
    # activated), to find the firmware's own driver of a chip without calling its
    # constructor -- network.WIZNET5K() clears the running interface's flags
    # (extmod/network_wiznet5k.c wiznet5k_make_new, "Bring down interface")
    try:
        import network
    except ImportError:
        return None, None
    t = getattr(network, type_name, None)
    route = getattr(network, "route", None)
    if t is None or route is None:
        return None, None
    return route(), t


def _running(nics, t):
    # the first active interface of type t in nics, else None
    if nics is None:
        return None
    for x in nics:
        if isinstance(x, t):
            try:
                if x.active():
                    return x
            except OSError:
                pass
    return None


def w5500(n):
    """netdump's polled W5500 frame NIC on the SPI bus and pins of NIC dict n: takes the chip
    over from the firmware's WIZNET5K at a fault (drivers/w5500.py), touches nothing now."""
    import machine
    from netdump.drivers.w5500 import W5500
    from netdump.link import RX_MAX  # the longest frame netdump's stack takes in

    nics, t = _fw_nics("WIZNET5K")
    # a running WIZNET5K configured the bus: use it as it is (machine.SPI(id) alone does not
    # re-initialise it, ports/rp2/machine_spi.c), rather than reset it under its feet
    spi = machine.SPI(n["spi"]) if _running(nics, t) is not None else _spi(n)
    # pins in their idle state: chip select and RSTn high (RSTn low holds the chip in reset)
    return W5500(spi, machine.Pin(n["cs"], machine.Pin.OUT, value=1),
                 machine.Pin(n["rst"], machine.Pin.OUT, value=1),
                 intn=machine.Pin(n["int"]) if "int" in n else None, nics=nics, nic_type=t, rx_cap=RX_MAX)


def lan9118(n):
    """netdump's polled LAN9118 frame NIC at the register base of NIC dict n (base_hi, mac text or None)."""
    from netdump.drivers.lan9118 import LAN9118

    mac = n.get("mac")
    if mac:
        mac = bytes([int(p, 16) for p in mac.split(":")])
    return LAN9118(n["base_hi"], mac=mac)


def w5500_lan(n):
    """MicroPython's network.LAN(phy_type=PHY_W5500) (IDF driver + lwIP) on the pins of NIC dict n."""
    import machine
    import network

    return network.LAN(spi=_spi(n), phy_type=network.PHY_W5500, phy_addr=0, cs=machine.Pin(n["cs"]),
                       int=machine.Pin(n["int"]))


def lan8720(n):
    """MicroPython's network.LAN for a LAN8720 PHY on the ESP32 EMAC, wired as NIC dict n."""
    import machine
    import network

    return network.LAN(mdc=machine.Pin(n["mdc"]), mdio=machine.Pin(n["mdio"]), phy_type=network.PHY_LAN8720,
                       phy_addr=n["phy_addr"], power=machine.Pin(n["power"]), ref_clk=machine.Pin(n["ref_clk"]),
                       ref_clk_mode=machine.Pin.OUT if n["ref_clk_out"] else machine.Pin.IN)


def esp32_emac(n, regs=None):
    """netdump's polled ESP32 EMAC driver for the PHY of NIC dict n, taking over from the board's
    network.LAN at the fault (brought up now if it is down: the EMAC needs its clocks and PHY)."""
    from netdump.drivers.esp32_emac import EMAC

    lan = lan8720(n)
    if not lan.active():
        lan.active(True)
    return EMAC(lan=lan, phy_addr=int(n["phy_addr"]), phy=n["chip"], regs=regs)


def _lan_address(lan):
    # (address, netmask, gateway) of the network.LAN that lan() returns when active, else None
    try:
        return lan_address(lan())
    except (ImportError, AttributeError, OSError, ValueError):
        return None


def wiznet5k():
    """MicroPython's own network.WIZNET5K (lwIP over the W5500): the running one, found in
    network.route(), else a new one on the firmware's board pins (network.WIZNET5K() clears a
    running interface's flags: docs/w5500.md#micropythons-wiznet5k-driver)."""
    x = _running(*_fw_nics("WIZNET5K"))
    if x is not None:
        return x
    import network

    return network.WIZNET5K()


def wiznet5k_address():
    """(address, netmask, gateway) of MicroPython's own WIZNET5K interface when active, else None
    (found in network.route(): calling network.WIZNET5K() would take it down)."""
    x = _running(*_fw_nics("WIZNET5K"))
    return lan_address(x) if x is not None else None


# Wi-Fi (network.WLAN station: ESP32, Pico W). netdump does not join a network:
# the application connects before arming (boot.py), and at a fault the dump
# goes through the port's lwIP sockets, so the Wi-Fi driver and its network
# stack must still be alive then.
def wlan():
    """MicroPython's Wi-Fi station interface."""
    import network

    return network.WLAN(network.STA_IF)


def wlan_endpoint(conf):
    """The UDP socket endpoint over Wi-Fi, which must be connected already (arm time)."""
    try:
        up = wlan().isconnected()
    except (ImportError, AttributeError, OSError):
        up = False
    if not up:
        raise ConfigError("iface wlan: Wi-Fi is not connected (connect before arming)")
    return socket_endpoint(conf)


def wlan_address():
    """(address, netmask, gateway) of the connected Wi-Fi station, else None."""
    try:
        w = wlan()
        if not w.isconnected():
            return None
        return lan_address(w)
    except (ImportError, AttributeError, OSError):
        return None
