# The hardware watchdog on the fault path. A dump, the next-hop resolution,
# a NIC's takeover, the panic console and halt() can each run longer than a
# machine.WDT's timeout (rp2: at most 8388 ms and it cannot be stopped,
# micropython/micropython ports/rp2/machine_wdt.c WDT_TIMEOUT_MAX), so every
# wait on the fault path calls feed(): once per wait or retransmission scan,
# never once per packet. netdump.panic.arm(wdt=...) (or the "wdt" key of the
# configuration) names the watchdog.
#
#   wdt[0]    the watchdog being fed (anything with feed(), e.g. machine.WDT),
#             None: none
#   feed()    feed it (allocation-free)
wdt = [None]


def feed():
    """Feed the armed hardware watchdog, if any."""
    w = wdt[0]
    if w is not None:
        w.feed()
