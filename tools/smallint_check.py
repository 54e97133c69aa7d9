"""smallint-check: find code that would build big ints (>= 2**30) on a board.

Boards have 31-bit small ints: an int outside -2**30 .. 2**30-1 is a heap
object, so building one during a dump allocates (MemoryError under
micropython.heap_lock()). A big literal on its own is harmless (a constant
built at import), but combining it with a run-time value is not. This static
check (Python ast) flags, inside function bodies:

  big-operand  a binary operation or augmented assignment with a constant
               operand >= 2**30 and a non-constant other operand
               (x & 0xFFFFFFFF, x + 0x40000000, x |= 0x80000000).
               Comparisons are not flagged: they do not allocate.
  big-shift    a left shift of a run-time value by a constant >= 30 (x << 30).
  viper-literal  inside @micropython.viper, a constant >= 2**30 not wrapped
               in uint(...) (mpy-cross rejects it, or it becomes an object).
  frozen-long  anywhere in the module (module level included), an integer
               outside -0x2000..0x1FFF inside a tuple the compiler folds into
               one constant object (every item a compile-time constant). When
               the module is frozen into firmware,
               micropython/micropython tools/mpy-tool.py emits such an int as
               a long-int object (mpy_small_int_fits), even when its value
               fits 31 bits, so arithmetic on it allocates. Lists,
               dicts, default arguments and plain literals are built at run
               time from bytecode and give small ints (checked on a frozen
               MicroPython v1.28.0 build); a tuple with one run-time item
               (a module-level name that is not const()) is built at run time
               too. Write such tables with named values: (("sram", SRAM, SIZE),).
               The arm-time markers below exempt it too (a long int used only
               at arm time allocates only then).

Constants are literals, arithmetic on literals, and names bound at module
level to such values (NAME = const(...) included), as MicroPython inlines them.
For frozen-long only literals, their folded arithmetic and const() names count,
as in MicroPython's parser (py/parse.c: fold_constants, build_tuple).

Not checked by the first three rules (never on the packet path):
  - module-level and class-level statements (they run at import time);
  - a function or class whose `def`/`class` line, one of its decorator lines,
    or a comment-only line directly above them carries the marker comment
    `# arm-time`: it runs at arm time or only on the host, never during a dump;
  - any single line ending with the marker comment `# arm-time`.

Usage: python -m netdump_tools.smallint_check [PATH ...]   (default: firmware/ and boards/)
Exit status: 0 clean, 1 findings (printed as file:line: message), 2 usage.
"""
import argparse
import ast
import os
import sys

MARKER = "# arm-time"
LIMIT = 1 << 30  # first value that is not a small int on a 32-bit port
FROZEN_MIN = -0x2000  # mpy-tool.py mp_small_int_fits(): ints a frozen constant
FROZEN_MAX = 0x1FFF  # object may hold as a small int
_MAX_SHIFT = 4096  # do not fold absurd constant expressions


class Finding:
    """One problem: file, line, rule id and a message."""

    __slots__ = ("path", "line", "rule", "message")

    def __init__(self, path, line, rule, message):
        self.path = path
        self.line = line
        self.rule = rule
        self.message = message

    def __str__(self):
        return "%s:%d: %s: %s" % (self.path, self.line, self.rule, self.message)

    def __repr__(self):
        return "Finding(%r, %d, %r)" % (self.path, self.line, self.rule)


def _big(v):
    return v is not None and (v >= LIMIT or v < -LIMIT)


def _is_decorator(node, name):
    # @micropython.viper or @viper
    if isinstance(node, ast.Attribute):
        return node.attr == name
    if isinstance(node, ast.Name):
        return node.id == name
    return False


class _Checker:
    def __init__(self, path, source):
        self.path = path
        self.lines = source.splitlines()
        self.findings = []
        self.consts = {}  # module-level NAME -> int value
        self.const_names = {}  # module-level NAME = const(...) -> value (None if not an int)

    # ---- constants ----------------------------------------------------------

    def value(self, node):
        """The int value of a constant expression, else None."""
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int):
                return None
            return v
        if isinstance(node, ast.Name):
            return self.consts.get(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
            v = self.value(node.operand)
            if v is None:
                return None
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.Invert):
                return ~v
            return v
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "const" \
                and len(node.args) == 1 and not node.keywords:
            return self.value(node.args[0])
        if isinstance(node, ast.BinOp):
            a = self.value(node.left)
            b = self.value(node.right)
            if a is None or b is None:
                return None
            return _fold(node.op, a, b)
        return None

    # ---- markers --------------------------------------------------------------

    def marked_line(self, lineno):
        if 1 <= lineno <= len(self.lines):
            return MARKER in self.lines[lineno - 1]
        return False

    def marked_def(self, node):
        first = node.lineno
        for d in node.decorator_list:
            first = min(first, d.lineno)
        # decorators, the def line and any continuation lines up to the body
        body_start = node.body[0].lineno if node.body else node.lineno
        for ln in range(first, max(node.lineno, body_start - 1) + 1):
            if self.marked_line(ln):
                return True
        above = first - 1
        if above >= 1:
            text = self.lines[above - 1].strip()
            if text.startswith("#") and MARKER in text:
                return True
        return False

    # ---- walk -----------------------------------------------------------------

    def report(self, node, rule, msg):
        if self.marked_line(node.lineno):
            return
        self.findings.append(Finding(self.path, node.lineno, rule, msg))

    def module(self, tree):
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                v = self.value(stmt.value)
                if v is not None:
                    self.consts[stmt.targets[0].id] = v
                if _is_const_call(stmt.value):
                    self.const_names[stmt.targets[0].id] = v
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                v = self.value(stmt.value)
                if v is not None:
                    self.consts[stmt.target.id] = v
        self.scan_defs(tree.body)
        self.frozen_tuples(tree)

    # ---- frozen-long ----------------------------------------------------------

    def folded(self, node):
        """(True, value) if MicroPython's parser folds node to a constant, else (False, None).
        value: the int for ints, else None."""
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or v is None or v is Ellipsis:
                return True, None
            if isinstance(v, int):
                return True, v
            return isinstance(v, (str, bytes, float)), None
        if isinstance(node, ast.Name):
            if node.id in self.const_names:
                return True, self.const_names[node.id]
            return False, None
        if isinstance(node, ast.Tuple):
            return all(self.folded(e)[0] for e in node.elts), None
        if isinstance(node, (ast.UnaryOp, ast.BinOp)):
            parts = [node.operand] if isinstance(node, ast.UnaryOp) else [node.left, node.right]
            if not all(self.folded(p)[0] and isinstance(self.folded(p)[1], int) for p in parts):
                return False, None
            v = self.value(node) if not isinstance(node, ast.UnaryOp) else self._unary(node)
            return (v is not None), v
        return False, None

    def _unary(self, node):
        ok, v = self.folded(node.operand)
        if not ok or v is None or not isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
            return None
        return -v if isinstance(node.op, ast.USub) else (~v if isinstance(node.op, ast.Invert) else v)

    def frozen_tuples(self, node):
        """frozen-long over a subtree; defs marked arm-time (and lines marked so) are skipped:
        a long int used only at arm time allocates only then."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and self.marked_def(node):
            return
        if isinstance(node, ast.Tuple) and self.folded(node)[0]:
            for item in _tuple_items(node):
                v = self.folded(item)[1]
                if isinstance(v, int) and not FROZEN_MIN <= v <= FROZEN_MAX:
                    self.report(item, "frozen-long",
                                "%s in a constant tuple is a long int when frozen (outside -0x2000..0x1FFF): "
                                "build the tuple from named values" % _show(v))
            return  # nested constant tuples are part of this one
        for child in ast.iter_child_nodes(node):
            self.frozen_tuples(child)

    def scan_defs(self, stmts):
        # find function bodies anywhere below module/class level statements
        for stmt in stmts:
            for node in _iter_toplevel_defs(stmt):
                if isinstance(node, ast.ClassDef):
                    if not self.marked_def(node):
                        self.scan_defs(node.body)
                elif not self.marked_def(node):
                    self.function(node)

    def function(self, fn):
        viper = any(_is_decorator(d, "viper") for d in fn.decorator_list)
        for stmt in fn.body:
            self.visit(stmt, viper)

    def visit(self, node, viper, in_uint=False):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not self.marked_def(node):
                if isinstance(node, ast.ClassDef):
                    self.scan_defs(node.body)
                else:
                    self.function(node)
            return
        if isinstance(node, ast.Lambda):
            self.visit(node.body, viper)
            return
        if viper:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "uint":
                for a in node.args:
                    self.visit(a, viper, in_uint=True)
                return
            if not in_uint and isinstance(node, (ast.Constant, ast.Name)) and _big(self.value(node)):
                self.report(node, "viper-literal",
                            "%s >= 2**30 in viper code must be written uint(...)" % _show(self.value(node)))
                return
            if not in_uint and isinstance(node, (ast.BinOp, ast.UnaryOp)) and _big(self.value(node)):
                self.report(node, "viper-literal",
                            "constant %s >= 2**30 in viper code must be written uint(...)" % _show(self.value(node)))
                return
        else:
            if isinstance(node, ast.BinOp):
                self.binop(node, node.left, node.op, node.right)
            elif isinstance(node, ast.AugAssign):
                self.binop(node, node.target, node.op, node.value)
        for child in ast.iter_child_nodes(node):
            self.visit(child, viper, in_uint)

    def binop(self, node, left, op, right):
        a = self.value(left)
        b = self.value(right)
        if a is not None and b is not None:
            return  # folded by the compiler
        if isinstance(op, ast.LShift) and a is None and b is not None and b >= 30:
            self.report(node, "big-shift", "shift by %d makes an int >= 2**30" % b)
            return
        big = a if _big(a) else (b if _big(b) else None)
        if big is not None:
            self.report(node, "big-operand",
                        "%s with constant %s >= 2**30 builds a big int (mpz) on a board"
                        % (type(op).__name__, _show(big)))


def _is_const_call(node):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "const"


def _tuple_items(node):
    # the non-tuple items of a constant tuple, nested tuples flattened
    for e in node.elts:
        if isinstance(e, ast.Tuple):
            yield from _tuple_items(e)
        else:
            yield e


def _iter_toplevel_defs(stmt):
    # defs directly at this level, or nested in if/try/with/for blocks
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield stmt
        return
    for field in ("body", "orelse", "finalbody", "handlers"):
        for sub in getattr(stmt, field, None) or ():
            if isinstance(sub, ast.ExceptHandler):
                for s in sub.body:
                    yield from _iter_toplevel_defs(s)
            elif isinstance(sub, ast.stmt):
                yield from _iter_toplevel_defs(sub)


def _show(v):
    return "0x%X" % v if v >= 0 else "-0x%X" % -v


def _fold(op, a, b):
    try:
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.FloorDiv):
            return a // b
        if isinstance(op, ast.Mod):
            return a % b
        if isinstance(op, ast.BitAnd):
            return a & b
        if isinstance(op, ast.BitOr):
            return a | b
        if isinstance(op, ast.BitXor):
            return a ^ b
        if isinstance(op, ast.LShift):
            return a << b if 0 <= b <= _MAX_SHIFT else None
        if isinstance(op, ast.RShift):
            return a >> b if b >= 0 else None
        if isinstance(op, ast.Pow):
            return a ** b if 0 <= b <= 256 and abs(a) <= 1 << 16 else None
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return None


def check_source(source, path="<string>"):
    """Findings (list of Finding) for one module's source text."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        return [Finding(path, e.lineno or 0, "syntax", e.msg)]
    c = _Checker(path, source)
    c.module(tree)
    c.findings.sort(key=lambda f: f.line)
    return c.findings


def check_file(path):
    """Findings for one .py file."""
    with open(path, encoding="utf-8") as f:
        return check_source(f.read(), path)


def python_files(paths):
    """Every .py file under the given files/directories, sorted."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
        else:
            out.append(p)
    return out


def check_paths(paths):
    """Findings for every .py file under paths."""
    found = []
    for p in python_files(paths):
        found.extend(check_file(p))
    return found


def default_roots():
    """firmware/ and boards/ of this checkout: every module manifest.py can freeze."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(root, "firmware"), os.path.join(root, "boards")]


def main(argv=None):
    """CLI: print findings as file:line: message; exit 1 if there are any."""
    p = argparse.ArgumentParser(
        prog="smallint-check",
        description="Flag code on the packet path that would build ints >= 2**30 (heap objects on "
                    "31-bit small-int boards), and constant tuples holding ints that freezing turns into "
                    "long-int objects. Mark code that never runs during a dump with the "
                    "comment '%s' on its def line or on the line." % MARKER,
        epilog="Exit status: 0 clean, 1 findings, 2 usage.",
    )
    p.add_argument("paths", nargs="*", help="files or directories (default: firmware/ and boards/ of this checkout)")
    args = p.parse_args(argv)
    paths = args.paths or default_roots()
    for q in paths:
        if not os.path.exists(q):
            sys.stderr.write("smallint-check: %s: no such file or directory\n" % q)
            return 2
    found = check_paths(paths)
    for f in found:
        sys.stdout.write("%s\n" % f)
    if found:
        sys.stderr.write("smallint-check: %d finding(s)\n" % len(found))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
