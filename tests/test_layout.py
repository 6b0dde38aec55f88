"""The layout holds: derive/ never imports JAX, and neither package has an import cycle, counting the
imports written inside functions (a cycle held apart only by a deferred import is still a cycle)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(package: str) -> dict:
    """module -> the modules of ``package`` it imports anywhere in its source (sub-packages included,
    named with dots: ops.matmul; a package's own ``__init__`` is named by the package: ops)."""
    out = {}
    base = ROOT / package
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        here = parts[:-1]  # the sub-package the module is in
        mod = ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                anchor = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                target = anchor + (node.module.split(".") if node.module else [])
                if node.module:
                    found.add(".".join(target))
                else:
                    found.update(".".join(target + [a.name]) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
                rest = node.module.split(".")[1:]
                found.update([".".join(rest)] if rest else [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                for a in node.names:
                    names = a.name.split(".")
                    if names[0] == package and len(names) > 1:
                        found.add(".".join(names[1:]))
        # importing a.b.c runs the __init__ of the sub-package a.b first: that is an import too, except
        # of the module's own package (already being imported when its modules import each other)
        own = {".".join(here[:i]) for i in range(1, len(here) + 1)}
        parents = {".".join(f.split(".")[:i]) for f in found for i in range(1, f.count(".") + 1)} - own
        out[mod] = {f for f in found | parents if f} - {mod}
    return out


def cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None
    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", ["derive", "compile"])
def test_no_import_cycle(package):
    graph = imports(package)
    graph.pop("__init__", None)  # the package's front door imports everything; nothing imports it back
    assert cycle(graph) is None, " -> ".join(cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_derive_never_imports_jax():
    for path in (ROOT / "derive").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in ("jax", "jaxlib", "compile") for n in names), path.name


def test_readme_and_examples_use_only_the_public_api():
    """What users read names only what `derive` and `compile` export, never a private module."""
    import re
    import compile
    import derive
    for path in [ROOT / "README.md", *sorted((ROOT / "examples").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\b(from|import) (derive|compile)\.", text), path.name
        for package, names in re.findall(r"from (derive|compile) import (\([^)]*\)|[^\n#]+)", text):
            for name in re.findall(r"\w+", names):
                module = derive if package == "derive" else compile
                assert name in module.__all__, f"{path.name}: {package}.{name} is not exported"
