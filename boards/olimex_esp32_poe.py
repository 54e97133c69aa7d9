# Olimex ESP32-POE / ESP32-POE-ISO: ESP32 + LAN8720 on the internal EMAC (RMII).
# MDC 23, MDIO 18, PHY address 0, PHY power GPIO12; the ESP32 drives the 50 MHz
# RMII clock out on GPIO17 (GPIO0 on WROVER modules) (MicroPython quickref;
# ports/esp32/boards/OLIMEX_ESP32_POE/sdkconfig.board). Until a polled EMAC
# driver exists, dumps go through network.LAN and the UDP socket endpoint.
# Memory map: esp-idf components/soc/esp32/include/soc/soc.h.
from netdump.elfcore import EM_XTENSA

NAME = "olimex_esp32_poe"
DESCRIPTION = "Olimex ESP32-POE / POE-ISO (ESP32 + LAN8720)"
CHIP = "esp32"
ARCH = "xtensa"
MACHINE = EM_XTENSA
ELFCLASS = 32
MPY_ARCH = "xtensawin"

SAFE = (
    ("dram", 0x3FFAE000, 0x52000),
    ("rtc_fast", 0x3FF80000, 0x2000),
    ("rtc_slow", 0x50000000, 0x2000),
)
REGIONS = (("dram", 0x3FFAE000, 0x52000),)

IFACES = {"lan": "socket"}
DEFAULT_IFACE = "lan"
NIC = {"chip": "lan8720", "mdc": 23, "mdio": 18, "phy_addr": 0, "power": 12, "ref_clk": 17, "ref_clk_out": True}


def safe_ranges():
    """(name, address, size) ranges that are safe to read."""
    return SAFE


def default_regions():
    """What to dump when the configuration names no regions."""
    return REGIONS


def _lan():
    import machine
    import network

    n = NIC
    return network.LAN(mdc=machine.Pin(n["mdc"]), mdio=machine.Pin(n["mdio"]), phy_type=network.PHY_LAN8720,
                       phy_addr=n["phy_addr"], power=machine.Pin(n["power"]), ref_clk=machine.Pin(n["ref_clk"]),
                       ref_clk_mode=machine.Pin.OUT if n["ref_clk_out"] else machine.Pin.IN)


def make_endpoint(conf):
    """The UDP socket endpoint over network.LAN, brought up with conf's addresses if down (arm time)."""
    from netdump import config

    lan = _lan()
    if not lan.active():
        lan.active(True)
        lan.ifconfig((conf["client"], conf["netmask"], conf["gateway"] or conf["server"], "0.0.0.0"))
    return config.socket_endpoint(conf)


def iface_address(iface):
    """(address, netmask, gateway) of the active network.LAN, else None."""
    try:
        from netdump import config

        return config.lan_address(_lan())
    except (ImportError, AttributeError, OSError, ValueError):
        return None


def reset():
    """Reboot the board."""
    import machine

    machine.reset()
