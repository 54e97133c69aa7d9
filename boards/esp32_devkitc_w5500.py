# ESP32-DevKitC + a W5500 module on VSPI, the common wiring (SCK 18, MISO 19,
# MOSI 23, CS 5, INT 22, RST 26; esphome PR #4424 user configs). ESP-IDF's
# example default (HSPI 14/13/12/15, INT 4) puts MISO on strap pin GPIO12, so
# it is not the default here. Memory map: esp-idf components/soc/esp32/include/soc/soc.h.
from netdump.elfcore import EM_XTENSA

NAME = "esp32_devkitc_w5500"
DESCRIPTION = "ESP32-DevKitC + W5500 module (ESP32)"
CHIP = "esp32"
ARCH = "xtensa"  # kerneldumpheader architecture string
MACHINE = EM_XTENSA
ELFCLASS = 32
MPY_ARCH = "xtensawin"

# Readable RAM only. DRAM = SRAM2 + SRAM1 on the data bus (byte access).
# RTC FAST/SLOW need 32-bit access: opt in with --region rtc_slow:rtc_slow:8K.
# Never: IRAM 0x40080000 (32-bit only), 0x3FFA0000-0x3FFADFFF, peripherals
# 0x3FF00000-0x3FF7FFFF, PSRAM 0x3F800000 unless present.
SAFE = (
    ("dram", 0x3FFAE000, 0x52000),
    ("rtc_fast", 0x3FF80000, 0x2000),
    ("rtc_slow", 0x50000000, 0x2000),
)
REGIONS = (("dram", 0x3FFAE000, 0x52000),)

# w5500: netdump's polled driver; lan: MicroPython's network.LAN(phy_type=PHY_W5500)
# (IDF driver + lwIP) through the UDP socket endpoint.
IFACES = {"w5500": "ether", "lan": "socket"}
DEFAULT_IFACE = "w5500"
NIC = {"chip": "w5500", "spi": 2, "baudrate": 16000000, "sck": 18, "mosi": 23, "miso": 19, "cs": 5,
       "rst": 26, "int": 22}


def safe_ranges():
    """(name, address, size) ranges that are safe to read."""
    return SAFE


def default_regions():
    """What to dump when the configuration names no regions."""
    return REGIONS


def make_nic():
    """The W5500 frame NIC on VSPI (arm time)."""
    import machine
    from netdump.drivers.w5500 import W5500

    n = NIC
    spi = machine.SPI(n["spi"], baudrate=n["baudrate"], sck=machine.Pin(n["sck"]), mosi=machine.Pin(n["mosi"]),
                      miso=machine.Pin(n["miso"]))
    return W5500(spi, machine.Pin(n["cs"], machine.Pin.OUT), machine.Pin(n["rst"], machine.Pin.OUT))


def _lan():
    import machine
    import network

    n = NIC
    spi = machine.SPI(n["spi"], baudrate=n["baudrate"], sck=machine.Pin(n["sck"]), mosi=machine.Pin(n["mosi"]),
                      miso=machine.Pin(n["miso"]))
    return network.LAN(spi=spi, phy_type=network.PHY_W5500, phy_addr=0, cs=machine.Pin(n["cs"]),
                       int=machine.Pin(n["int"]))


def make_endpoint(conf):
    """The endpoint for conf["iface"] (arm time)."""
    from netdump import config

    if conf["iface"] == "lan":
        lan = _lan()
        if not lan.active():
            lan.active(True)
            lan.ifconfig((conf["client"], conf["netmask"], conf["gateway"] or conf["server"], "0.0.0.0"))
        return config.socket_endpoint(conf)
    return config.ether_endpoint(conf, make_nic())


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
