"""The import graph of the device package (firmware/netdump) and the board modules.

Read statically with ast. Imports inside functions count as much as top-level
ones (docs/modules.md#import-rules); a dynamic __import__ of a board module by
name is not an edge. Used by host_tests/test_imports.py (no cycles) and by
bench/bench_memory.py (modules in dependency order).

    python -m netdump_tools.modgraph            each module and what it imports
    python -m netdump_tools.modgraph --order    modules, dependencies first
"""
import argparse
import ast
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")


def module_files(firmware=FIRMWARE, boards=BOARDS):
    """{module name: path} of the device package and the board modules."""
    out = {}
    for p in sorted(glob.glob(os.path.join(firmware, "netdump", "**", "*.py"), recursive=True)):
        rel = os.path.relpath(p, firmware)[:-3].replace(os.sep, ".")
        out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = p
    for p in sorted(glob.glob(os.path.join(boards, "*.py"))):
        out[os.path.basename(p)[:-3]] = p
    return out


def imports_of(name, path, known):
    """The modules among `known` that module `name` (file `path`) imports anywhere in its
    text, and its parent packages (importing a.b.c runs a and a.b first)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    parent = name.rpartition(".")[0]
    while parent:
        if parent in known:
            out.add(parent)
        parent = parent.rpartition(".")[0]
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
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


def import_graph(files=None):
    """{module: set of modules it imports} for {module: path} (default: the repository's)."""
    if files is None:
        files = module_files()
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


def dependency_order(graph, only=None):
    """Modules with every module they import before them (graph must be acyclic); `only` limits the list."""
    done = []
    seen = set()

    def visit(v):
        if v in seen:
            return
        seen.add(v)
        for w in sorted(graph.get(v, ())):
            visit(w)
        done.append(v)

    for v in sorted(graph):
        visit(v)
    return [v for v in done if only is None or v in only]


def closure(graph, roots):
    """Every module that roots import, directly or not, roots included."""
    out = set()
    todo = list(roots)
    while todo:
        v = todo.pop()
        if v not in out:
            out.add(v)
            todo.extend(graph.get(v, ()))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="modgraph", description=__doc__.split("\n\n")[0])
    ap.add_argument("--order", action="store_true", help="print the modules in dependency order")
    a = ap.parse_args(argv)
    g = import_graph()
    found = cycles(g)
    if a.order and not found:
        print("\n".join(dependency_order(g)))
    elif not a.order:
        for m in sorted(g):
            print("%s: %s" % (m, " ".join(sorted(g[m]))))
    for c in found:
        print("modgraph: import cycle: " + " <-> ".join(c), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
