# MicroPython side of the end-to-end dump test (host_tests/test_dump_e2e.py).
# Arms a dump of three regions of this process's memory, then dumps them with
# the heap locked for the whole dump (netdump.panic.dump takes the lock).
#   argv: server herald_port client_port mode big_mib [lose_fin]
#   lose_fin: the first ack of FINISHED is lost on the way in (LoseFinAck)
import sys

from mp import testram  # host_tests/mp/testram.py (host_tests is on MICROPYPATH)
from netdump import debugnet, elfcore, fault, panic, wire
from netdump.endpoint import SocketEndpoint


class LoseFinAck:
    """A SocketEndpoint that drops the first ack of FINISHED; allocation-free."""

    def __init__(self, ep):
        self.ep = ep
        self.overhead = ep.overhead
        self.ack_port = 0
        self.fin = bytearray(4)  # FINISHED's seqno as sent (big-endian)
        self.armed = 0  # 1 once FINISHED went out, until its first ack was dropped
        self.lost = 0

    def reset(self):
        self.ep.reset()

    def send(self, buf, n):
        if n >= wire.HDR_LEN and buf[3] == wire.FINISHED and not self.lost:
            for i in range(4):
                self.fin[i] = buf[4 + i]
            self.armed = 1
        return self.ep.send(buf, n)

    def poll_ack(self, ack):
        while self.ep.poll_ack(ack):
            self.ack_port = self.ep.ack_port
            if self.armed and ack[0] == self.fin[0] and ack[1] == self.fin[1] and ack[2] == self.fin[2] \
                    and ack[3] == self.fin[3]:
                self.armed = 0
                self.lost = 1
                continue
            return 1
        return 0

    def adopt_port(self, port):
        return self.ep.adopt_port(port)

    def wait(self, ms):
        self.ep.wait(ms)


def main():
    server = sys.argv[1]
    hport = int(sys.argv[2])
    cport = int(sys.argv[3])
    mode = debugnet.MODE_FREEBSD if sys.argv[4] == "freebsd" else debugnet.MODE_WINDOW
    big_mib = int(sys.argv[5])
    lose_fin = len(sys.argv) > 6 and sys.argv[6] == "lose_fin"
    regions, ram = testram.regions(big_mib << 20)  # ram: keeps the buffers alive
    ep = None
    opts = {}
    if lose_fin:
        ep = LoseFinAck(SocketEndpoint(server, client_ip="127.0.0.1", herald_port=hport, client_port=cport))
        opts["rto_max_us"] = 300000  # FINISHED's retries run out in about 3 s
    panic.arm(server, regions, elfcore.EM_X86_64, 64, "amd64", hostname="unix-board", board="unix",
              path=None, mode=mode, herald_port=hport, client_port=cport, client_ip="127.0.0.1", endpoint=ep,
              **opts)
    tb = "Traceback (most recent call last):\n  File \"main.py\", line 42, in <module>\nZeroDivisionError: divide by zero\n"
    err = panic.dump("test panic: e2e", tb)
    print("RESULT", err)
    d = fault.armed[0]
    print("SENT", d.sent_bytes)
    print("STATS", " ".join([str(x) for x in d.net.stats]))
    if lose_fin:
        print("LOST_FIN_ACK", ep.lost)


main()
