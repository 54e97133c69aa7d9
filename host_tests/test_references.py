"""Every reference in a comment resolves inside the repository, and nothing
cites the notes the project was started from (they are not part of it).

What counts as a reference (docs/README.md#how-the-code-cites-them):
  * docs/<name>.md, optionally with #<anchor>: the file exists, and the anchor
    is the GitHub anchor of one of its headings;
  * a path of this repository from its root (firmware/..., boards/..., tools/...,
    host_tests/..., bench/..., docs/...) or from firmware/ (netdump/...): the
    file exists. A path right after an upstream repository name
    ("micropython/micropython tools/mpy-tool.py") is upstream and not checked.
Comments are: # comments and triple-quoted strings in Python, everything in
Markdown, C and JavaScript files, # comments in Makefiles and shell scripts.
CPython only."""
import io
import os
import re
import tokenize

import pytest

from conftest import ROOT

_SKIP_DIRS = {".git", ".venv", "build", "__pycache__", "node_modules", ".pytest_cache", ".hypothesis"}
_WHOLE = (".md", ".c", ".h", ".js", ".ld")  # every byte of these counts as comment
_HASH = (".toml", ".sh", ".cfg", ".txt", ".mk")  # "#" comments

# The names of the notes the project was started from, kept in pieces so this
# file does not match itself.
FORBIDDEN = ("../" + "shared", "shared/" + "reference", "design" + ".md", "zero-alloc" + ".md",
             "hard" + "ware.md")

DOC_RE = re.compile(r"(?<![\w/.-])docs/[\w.-]+\.md(?:#[\w-]+)?")
PATH_RE = re.compile(r"(?<![\w/.-])(?:firmware|boards|tools|host_tests|bench|netdump)/[\w./-]*\w\.(?:py|md|c|h|json)\b")
UPSTREAM_RE = re.compile(r"[\w.-]+/[\w.-]+[ \t]+`?$")  # "owner/repo " right before a path


def repo_files(root=ROOT):
    """Every file of the working tree, relative to root, minus caches and build output."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in _SKIP_DIRS and not x.endswith(".egg-info"))
        for f in sorted(files):
            if not f.endswith((".pyc", ".mpy", ".bin", ".uf2", ".elf", ".gz")):
                out.append(os.path.relpath(os.path.join(d, f), root))
    return out


def comments(path, text):
    """[(line, comment text)] of a file, by its kind (see the module docstring)."""
    name = os.path.basename(path)
    if path.endswith(".py"):
        out = []
        try:
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.COMMENT:
                    out.append((tok.start[0], tok.string))
                elif tok.type == tokenize.STRING and tok.string.lstrip("rRbBuUfF")[:3] in ('"""', "'''"):
                    out.append((tok.start[0], tok.string))
        except (tokenize.TokenError, SyntaxError):
            return [(1, text)]
        return out
    if path.endswith(_WHOLE):
        return [(1, text)]
    if path.endswith(_HASH) or name in ("Makefile", "run") or "." not in name:
        return [(i + 1, ln[ln.index("#"):]) for i, ln in enumerate(text.splitlines()) if "#" in ln]
    return []


def slug(heading):
    """GitHub's anchor for a Markdown heading text."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(md_text):
    """The anchors of a Markdown file's headings (code blocks skipped; repeats get -1, -2...)."""
    seen = {}
    out = set()
    fence = False
    for ln in md_text.splitlines():
        if ln.lstrip().startswith("```"):
            fence = not fence
            continue
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", ln)
        if m and not fence:
            a = slug(m.group(1))
            n = seen.get(a, 0)
            seen[a] = n + 1
            out.add(a if n == 0 else "%s-%d" % (a, n))
    return out


def check_text(path, text, exists, anchors_of):
    """Problems in one file's comments: [(path, line, message)].

    exists(relpath) -> bool and anchors_of(relpath) -> set of anchors are the
    repository lookups (parameters, so the checker can be tested on its own)."""
    problems = []
    for line, c in comments(path, text):
        for m in DOC_RE.finditer(c):
            ref = m.group(0).rstrip(".")
            f, _, anchor = ref.partition("#")
            ln = line + c.count("\n", 0, m.start())
            if not exists(f):
                problems.append((path, ln, "%s: no such file" % ref))
            elif anchor and anchor not in anchors_of(f):
                problems.append((path, ln, "%s: no heading with anchor #%s in %s" % (ref, anchor, f)))
        for m in PATH_RE.finditer(c):
            ref = m.group(0)
            if ref.startswith("docs/"):
                continue
            if UPSTREAM_RE.search(c[max(0, m.start() - 80):m.start()]):
                continue
            cand = ("firmware/" + ref) if ref.startswith("netdump/") else ref
            if not exists(cand):
                ln = line + c.count("\n", 0, m.start())
                problems.append((path, ln, "%s: no such file in the repository" % ref))
    return problems


def forbidden_in(text):
    """The forbidden names that text contains."""
    return [f for f in FORBIDDEN if f in text]


def _read(rel):
    try:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            return f.read()
    except (UnicodeDecodeError, OSError):
        return None


def _exists(rel):
    return os.path.isfile(os.path.join(ROOT, rel))


_ANCHORS = {}


def _anchors_of(rel):
    if rel not in _ANCHORS:
        _ANCHORS[rel] = anchors(_read(rel) or "")
    return _ANCHORS[rel]


def test_every_comment_reference_resolves():
    problems = []
    nrefs = 0
    for rel in repo_files():
        text = _read(rel)
        if text is None:
            continue
        problems += check_text(rel, text, _exists, _anchors_of)
        nrefs += sum(len(DOC_RE.findall(c)) for _, c in comments(rel, text))
    assert nrefs > 20, "too few docs/ references found: is the scan looking at the right files?"
    assert not problems, "\n".join("%s:%d: %s" % p for p in problems)


def test_no_file_cites_the_starting_notes():
    bad = []
    for rel in repo_files():
        text = _read(rel)
        if text is not None and rel != os.path.relpath(__file__, ROOT):
            bad += ["%s: %s" % (rel, f) for f in forbidden_in(text)]
    assert not bad, "\n".join(bad)


def test_docs_index_lists_every_document():
    index = _read("docs/README.md")
    for rel in repo_files():
        if rel.startswith("docs" + os.sep) and rel.endswith(".md") and rel != os.path.join("docs", "README.md"):
            assert "(%s)" % os.path.basename(rel) in index, "docs/README.md does not list " + rel


# ---- the checker itself: it must catch what it is there to catch ----------------

_FAKE = {"docs/a.md": "# Title\n\n## MACRAW framing\n```\n# not a heading\n```\n## Twice\n## Twice\n",
         "firmware/netdump/ether.py": "", "tools/vnet.py": ""}


def _fake_check(path, text):
    return check_text(path, text, lambda rel: rel in _FAKE, lambda rel: anchors(_FAKE.get(rel, "")))


@pytest.mark.parametrize("text,bad", [
    ("# see docs/a.md\n", 0),
    ("# see docs/a.md#macraw-framing.\n", 0),
    ("# docs/a.md#twice and docs/a.md#twice-1\n", 0),
    ("# see docs/a.md#not-a-heading\n", 1),
    ("# see docs/missing.md\n", 1),
    ("# docs/a.md#title, docs/b.md\n", 1),
    ("# netdump/ether.py and tools/vnet.py\n", 0),
    ("# netdump/nothere.py\n", 1),
    ("# tools/nothere.py\n", 1),
    ("# micropython/micropython tools/mpy-tool.py\n", 0),
    ("# micropython/micropython `tools/mpy-tool.py`\n", 0),
    ("# freebsd/freebsd-src sys/netinet/netdump/netdump.h\n", 0),
    ('def f():\n    """Frames as in docs/missing.md."""\n', 1),
    ('x = "docs/missing.md"  # a string in code is not a comment\n', 0),
])
def test_checker_finds_broken_references(text, bad):
    assert len(_fake_check("firmware/netdump/x.py", text)) == bad


def test_checker_reads_markdown_and_makefiles():
    assert len(_fake_check("README.md", "see [x](docs/a.md#nope) and tools/gone.py\n")) == 2
    assert len(_fake_check("Makefile", "all:\n\techo docs/gone.md  # docs/gone.md\n")) == 1


def test_forbidden_names_are_found():
    assert forbidden_in("see " + "design" + ".md section 1") == ["design" + ".md"]
    assert forbidden_in("see docs/w5500.md") == []
