"""No import cycles inside the package: every module of camrobust/ is parsed, and each of its
imports of a camrobust module (at module level or inside a function, where a cycle only hides
until the function runs) is an edge; any two or more modules that reach each other fail."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "camrobust"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """{dotted module name: file} of every module of the package, packages by their __init__."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is a module of the package (None: not ours)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in modules:
            return prefix
    return None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an `from ... import` names, relative imports resolved against `module`."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(module: str, tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The camrobust modules `module` imports anywhere in `tree`: `import a.b`, `from a import
    b` (b itself where it is a module), and `importlib.import_module("a.b")` with a literal."""
    is_package = modules[module].name == "__init__.py"
    targets: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(_known(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else _known(source, modules))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets.add(_known(node.args[0].value, modules))
    return {t for t in targets if t is not None and t != module}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the camrobust modules it imports} for every module of the package."""
    modules = module_names(root)
    return {
        name: imported_modules(name, ast.parse(path.read_text(), str(path)), modules)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "camrobust.plan" in graph  # the whole package was read
    found = cycles(graph)
    assert not found, "import cycles between camrobust modules:\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_the_finder_sees_function_level_relative_and_dynamic_imports(tmp_path):
    """A cycle closed only by a function-level import, a relative import or `import_module` is
    found; a package's __init__ importing its own modules, one way, is not a cycle."""
    pkg = tmp_path / "camrobust"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "sub/__init__.py": "from camrobust.sub import low\n",
        "sub/low.py": "import numpy\n",
        "a.py": "from camrobust import b\n",
        "b.py": "def f():\n    from camrobust.a import x\n",
        "c.py": "from .sub import low\nfrom . import d\n",
        "d.py": "import importlib\nimportlib.import_module('camrobust.c')\n",
        "e.py": "import camrobust.sub.low as low\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg)
    assert graph["camrobust.e"] == {"camrobust.sub.low"}
    assert graph["camrobust.sub"] == {"camrobust.sub.low"}
    assert graph["camrobust.sub.low"] == set()
    assert cycles(graph) == [["camrobust.a", "camrobust.b"], ["camrobust.c", "camrobust.d"]]
