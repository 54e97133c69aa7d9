# Runs the test_* functions of one dual-runtime test module on the MicroPython
# unix port and prints one marker line per test for host_tests/conftest.py:
#   @@LIST <name>            (with --list: names only)
#   @@BEGIN <name> ... @@END <name> PASS|FAIL|SKIP
import sys


def main():
    args = sys.argv[1:]
    only_list = False
    if args and args[0] == "--list":
        only_list = True
        args = args[1:]
    modname = args[0]
    wanted = args[1:]
    mod = __import__(modname)
    names = sorted([n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))])
    if only_list:
        for n in names:
            print("@@LIST", n)
        return
    import gc

    import dualtest

    for n in names:
        if wanted and n not in wanted:
            continue
        gc.collect()  # what the last test left behind: a board-sized heap fragments quickly
        print("@@BEGIN", n)
        status = "PASS"
        try:
            getattr(mod, n)()
        except dualtest.SkipTest as e:
            status = "SKIP"
            print(e.args[0] if e.args else "")
        except BaseException as e:  # a failing test, whatever it raised
            status = "FAIL"
            sys.print_exception(e, sys.stdout)
        print("@@END", n, status)


main()
