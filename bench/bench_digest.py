"""What a per-region digest costs the dump, on the MicroPython unix port:
hashlib SHA-256 against the viper CRC-32 (firmware/netdump/crc32.py, fast.py)
and its pure-Python twin, per datagram-sized chunk, all with the heap locked,
next to the copy from memory every data datagram already does. Also whether
SHA-256 can be finished under heap_lock at all (a new hash object per dump,
digest()). Not a test; figures of one run.

Usage: python bench/bench_digest.py [--chunk 1448] [--mib 4]
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tools.vboard import micropython_exe  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chunk", type=int, default=1448, help="bytes per update (one datagram's payload)")
    p.add_argument("--mib", type=int, default=4, help="MiB fed to each")
    p.add_argument("--count", action="store_true", help="also count instructions per update with callgrind")
    a = p.parse_args()
    exe = micropython_exe()
    if exe is None:
        sys.exit("bench_digest: micropython not found (make .venv/.installed)")
    env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware"))
    r = subprocess.run([exe, "-X", "heapsize=8M", os.path.join(HERE, "mp_digest.py"), str(a.chunk), str(a.mib)],
                       capture_output=True, text=True, env=env, timeout=600)
    if r.returncode:
        sys.exit("bench_digest: %s" % (r.stdout + r.stderr))
    got = dict(line.split(None, 1) for line in r.stdout.splitlines() if " " in line)
    copy = float(got["copy_mem_MBps"])
    print("per-region digest on the MicroPython unix port (%s paths), %d-byte updates, heap locked"
          % (got["impl"], a.chunk))
    print("%-34s %10s %12s" % ("", "MB/s", "vs copy"))
    for key, name in (("copy_mem_MBps", "copy + Internet checksum"), ("copy_crc_MBps", "the same + CRC-32, one pass (a dump)"),
                      ("sha256_update_MBps", "hashlib SHA-256 update"), ("crc32_viper_MBps", "CRC-32 viper (crc32_update)"),
                      ("crc32_python_MBps", "CRC-32 pure Python")):
        v = float(got[key])
        print("%-34s %10.2f %11.1fx" % (name, v, copy / v))
    print("SHA-256 with the heap locked: new object %s, digest() %s, update after digest() %s"
          % (got["sha256_new"], got["sha256_digest"], got["sha256_update_after_digest"].replace("_", " ")))
    if a.count:
        print("x86-64 instructions per %d-byte update (callgrind, 2 MiB run minus 1 MiB run)" % a.chunk)
        for only, name in (("copy", "copy + Internet checksum"), ("fused", "the same + CRC-32, one pass"),
                           ("sha256", "hashlib SHA-256 update"), ("crc32", "CRC-32 viper")):
            ir = [_callgrind(exe, env, a.chunk, mib, only) for mib in (1, 2)]
            print("  %-32s %8.0f" % (name, (ir[1] - ir[0]) / ((1 << 20) // a.chunk)))


def _callgrind(exe, env, chunk, mib, only):
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", exe, "-X", "heapsize=8M",
                        os.path.join(HERE, "mp_digest.py"), str(chunk), str(mib), only],
                       capture_output=True, text=True, env=env, timeout=600)
    for line in r.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    sys.exit("bench_digest: callgrind failed: %s" % r.stderr[-500:])


if __name__ == "__main__":
    main()
