# What the board modules (boards/*.py) share: the chips' memory maps and the
# code that turns a board's NIC wiring (its NIC dict) into a NIC, a
# network.LAN or an endpoint. A board module keeps its own data (name, chip,
# wiring, interfaces) and builds its functions from these.
#
# Arm time only (boot, dumpon): this module allocates freely.

# The tables are built from named values: a tuple of int literals would be one
# frozen constant whose ints outside -0x2000..0x1FFF are long-int objects on a
# board (tools/smallint_check.py, rule frozen-long).

# RP2040 (pico-sdk src/rp2040/hardware_regs/include/hardware/regs/addressmap.h).
# Readable RAM only: SRAM0-3 striped (256 KiB) + SRAM4/5 scratch X/Y (the C
# stack under MicroPython), and the USB DPRAM. Peripherals (0x40000000+,
# 0x50000000+ except DPRAM, SIO 0xD0000000, PPB 0xE0000000) are never dumped.
RP2040_SRAM = 0x20000000
RP2040_SRAM_SIZE = 0x42000
RP2040_DPRAM = 0x50100000
RP2040_DPRAM_SIZE = 0x1000
RP2040_SAFE = (
    ("sram", RP2040_SRAM, RP2040_SRAM_SIZE),
    ("usb_dpram", RP2040_DPRAM, RP2040_DPRAM_SIZE),
)
RP2040_REGIONS = (("sram", RP2040_SRAM, RP2040_SRAM_SIZE),)

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
ESP32_SAFE = (
    ("dram", ESP32_DRAM, ESP32_DRAM_SIZE),
    ("rtc_slow", ESP32_RTC_SLOW, ESP32_RTC_SIZE),
)
ESP32_REGIONS = (("dram", ESP32_DRAM, ESP32_DRAM_SIZE),)


def fixed(value):
    """A function returning value: safe_ranges()/default_regions() of a board whose RAM does not move."""
    return lambda: value


def reset():
    """Reboot the board."""
    import machine

    machine.reset()


def wdt(timeout_ms):
    """Start the hardware watchdog (machine.WDT) with this timeout -> it; arm_config feeds it at a fault."""
    import machine

    return machine.WDT(timeout=timeout_ms)


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

    nics, t = _fw_nics("WIZNET5K")
    # a running WIZNET5K configured the bus: use it as it is (machine.SPI(id) alone does not
    # re-initialise it, ports/rp2/machine_spi.c), rather than reset it under its feet
    spi = machine.SPI(n["spi"]) if _running(nics, t) is not None else _spi(n)
    # pins in their idle state: chip select and RSTn high (RSTn low holds the chip in reset)
    return W5500(spi, machine.Pin(n["cs"], machine.Pin.OUT, value=1),
                 machine.Pin(n["rst"], machine.Pin.OUT, value=1),
                 intn=machine.Pin(n["int"]) if "int" in n else None, nics=nics, nic_type=t)


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


def endpoint(conf, ifaces, nic=None, lan=None):
    """The endpoint for conf["iface"]: the UDP socket endpoint over Wi-Fi ("wlan"), or over
    lan() (first bringing it up with conf's addresses if it is down), or netdump's Ethernet
    stack over nic()."""
    from netdump import config

    if conf["iface"] == "wlan":
        return wlan_endpoint(conf)
    if nic is None or ifaces.get(conf["iface"]) == "socket":
        if lan is not None:
            n = lan()
            if not n.active():
                n.active(True)
                n.ifconfig((conf["client"], conf["netmask"], conf["gateway"] or conf["server"], "0.0.0.0"))
        return config.socket_endpoint(conf)
    return config.ether_endpoint(conf, nic())


def lan_address(lan):
    """(address, netmask, gateway) of the network.LAN that lan() returns when active, else None."""
    try:
        from netdump import config

        return config.lan_address(lan())
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
    from netdump import config

    x = _running(*_fw_nics("WIZNET5K"))
    return config.lan_address(x) if x is not None else None


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
    from netdump import config

    try:
        up = wlan().isconnected()
    except (ImportError, AttributeError, OSError):
        up = False
    if not up:
        raise config.ConfigError("iface wlan: Wi-Fi is not connected (connect before arming)")
    return config.socket_endpoint(conf)


def wlan_address():
    """(address, netmask, gateway) of the connected Wi-Fi station, else None."""
    try:
        from netdump import config

        w = wlan()
        if not w.isconnected():
            return None
        return config.lan_address(w)
    except (ImportError, AttributeError, OSError):
        return None
