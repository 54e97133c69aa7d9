"""The device modules' import graph has no cycles (docs/modules.md#import-rules).

The graph is read statically with ast from firmware/netdump/ and boards/.
Imports inside functions count as much as top-level ones: a lazy import
still ties the two modules together (both must be installed, and each is
written knowing the other), so a cycle through one is still a cycle. Dynamic
imports (__import__ of a board module by name) are not edges. CPython only."""
import ast
import glob
import os

import pytest

from conftest import FIRMWARE, ROOT


def module_files(firmware=FIRMWARE, boards=os.path.join(ROOT, "boards")):
    """{module name: path} of the device package and the board modules."""
    out = {}
    for p in sorted(glob.glob(os.path.join(firmware, "netdump", "**", "*.py"), recursive=True)):
        rel = os.path.relpath(p, firmware)[:-3].replace(os.sep, ".")
        out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = p
    for p in sorted(glob.glob(os.path.join(boards, "*.py"))):
        out[os.path.basename(p)[:-3]] = p
    return out


def _package(name, path):
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def imports_of(name, path, known):
    """The modules among `known` that module `name` (file `path`) imports anywhere in its text."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package(name, path).split(".")
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            targets = [base] + [base + "." + a.name for a in node.names]
        for t in targets:
            # the longest known module that t names (a.b.c -> a.b if c is an attribute)
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph(files):
    """{module: set of modules it imports} for {module: path}."""
    return dict((n, imports_of(n, p, files)) for n, p in files.items())


def cycles(graph):
    """Every strongly connected component with more than one module (or a self-loop), as sorted lists."""
    index = {}
    low = {}
    stack = []
    on = set()
    out = []
    counter = [0]

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_device_modules_have_no_import_cycle():
    files = module_files()
    assert "netdump.ether" in files and "netdump.drivers.w5500" in files and "w5500_evb_pico" in files
    graph = import_graph(files)
    assert "netdump.fast" in graph["netdump.inet"]  # the walk sees imports at all
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


# ---- the walk and the cycle finder must see what they are there to see -----------

def _tree(tmp_path, modules):
    fw = tmp_path / "firmware"
    for name, text in modules.items():
        p = fw / (name.replace(".", "/") + ".py")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / "boards").mkdir()
    return module_files(str(fw), str(tmp_path / "boards"))


@pytest.mark.parametrize("a_text,b_text,cyclic", [
    ("from netdump import b\n", "from netdump import fast\n", False),
    ("from netdump import b\n", "from netdump import a\n", True),
    ("import netdump.b\n", "def f():\n    from netdump.a import X\n", True),  # a function-level import counts
    ("from netdump.b import thing\n", "class C:\n    def m(self):\n        import netdump.a\n", True),
    ("from . import b\n", "from .a import X\n", True),  # relative imports
    ("x = __import__('netdump.b')\n", "from netdump import a\n", False),  # dynamic: not an edge
])
def test_cycle_finder(tmp_path, a_text, b_text, cyclic):
    files = _tree(tmp_path, {"netdump.__init__": "", "netdump.a": a_text, "netdump.b": b_text,
                             "netdump.fast": ""})
    found = cycles(import_graph(files))
    assert (found == [["netdump.a", "netdump.b"]]) == cyclic, found


def test_cycle_finder_three_modules():
    g = {"p": {"c"}, "c": {"w", "d"}, "w": {"p"}, "d": set()}
    assert cycles(g) == [["c", "p", "w"]]
    assert cycles({"x": {"x"}}) == [["x"]]
