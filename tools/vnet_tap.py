"""vnet tap mode: the network side is a Linux tap interface, so the real kernel
answers ARP/NDP and routes UDP (see vnet.py's module comment). Needs root or
CAP_NET_ADMIN, /dev/net/tun, and iproute2's `ip` for --addr/--netns. With
--netns the tap is moved into that network namespace (the bridge and the NIC
stay where they are): a whole test network can live in namespaces."""
import fcntl
import logging
import os
import shutil
import struct
import subprocess

log = logging.getLogger("vnet")

# linux/if_tun.h
TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class TapNet:
    """A non-persistent tap interface: it disappears when the bridge exits."""

    def __init__(self, name, addrs=(), mtu=None, netns=None):
        if len(name.encode()) >= 16:  # IFNAMSIZ
            raise ValueError("interface name too long: %s" % name)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            raise OSError(e.errno, "cannot open /dev/net/tun: %s" % e.strerror)
        try:
            ifr = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as e:
            os.close(fd)
            raise OSError(e.errno, "cannot create tap %s (needs root or CAP_NET_ADMIN): %s" % (name, e.strerror))
        self.fd = fd
        self.name = name
        self.addrs = list(addrs)
        self.emit = None
        self.counts = {"to_kernel": 0, "from_kernel": 0, "write_errors": 0}
        ip = shutil.which("ip")
        if ip is None and (self.addrs or mtu or netns):
            os.close(fd)
            raise OSError(2, "iproute2's ip command not found (Debian package iproute2)")
        self.netns = netns
        cmds = []
        if netns:
            # the tap moves into the namespace; this fd keeps working
            cmds.append([ip, "link", "set", "dev", name, "netns", netns])
            ip_ns = [ip, "-n", netns]
        else:
            ip_ns = [ip]
        cmds += self._config(ip_ns, name, mtu)
        for c in cmds:
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode:
                os.close(fd)
                raise OSError(1, "%s: %s" % (" ".join(c[1:]), r.stderr.strip()))

    def _config(self, ip, name, mtu):
        cmds = []
        if mtu:
            cmds.append(ip + ["link", "set", "dev", name, "mtu", str(mtu)])
        for a in self.addrs:
            if ":" in a:
                cmds.append(ip + ["-6", "addr", "add", a, "dev", name, "nodad"])
            else:
                cmds.append(ip + ["addr", "add", a, "dev", name])
        if ip[0] is not None:
            cmds.append(ip + ["link", "set", "dev", name, "up"])
        return cmds

    def describe(self):
        return "tap %s%s %s" % (self.name, " in netns " + self.netns if self.netns else "", " ".join(self.addrs))

    def summary(self):
        return dict(self.counts)

    def fds(self):
        return (self,)

    def fileno(self):
        return self.fd

    def input(self, frame):
        """A frame from the board goes to the kernel."""
        try:
            os.write(self.fd, frame)
            self.counts["to_kernel"] += 1
        except OSError as e:
            self.counts["write_errors"] += 1
            log.debug("tap write: %s", e)

    def readable(self, _f, now):
        for _ in range(256):
            try:
                frame = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("tap read: %s", e)
                return
            self.counts["from_kernel"] += 1
            self.emit(frame, now)

    def close(self):
        os.close(self.fd)
