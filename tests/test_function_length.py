"""No library function is over 60 lines (the whole `def`, decorators aside, docstring included)."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "camrobust"
MAX_LINES = 60


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """(qualified name, node) of every function and method, nested ones included."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                found.append((name, node))
            found.extend(_functions(node, f"{name}."))
        else:
            found.extend(_functions(node, prefix))
    return found


def long_functions(root: Path = LIBRARY) -> dict[tuple[str, str], int]:
    """{(path below `root`, qualified name): lines} of the functions over MAX_LINES lines."""
    long = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for name, node in _functions(ast.parse(path.read_text(), filename=str(path))):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES:
                long[(relative, name)] = lines
    return long


def test_no_library_function_over_60_lines() -> None:
    found = [
        f"camrobust/{path}: {name} ({lines} lines)"
        for (path, name), lines in sorted(long_functions().items())
    ]
    assert not found, f"functions over {MAX_LINES} lines (split them):\n" + "\n".join(found)


def test_counts_the_whole_function(tmp_path: Path) -> None:
    """The counter sees methods and nested functions and counts def to last line inclusive."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))
    (tmp_path / "m.py").write_text(
        f"def fits():\n{body}\n\n"
        f"class C:\n    def method(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n"
        f"        return 1\n\n"
        f"def outer():\n    def inner():\n    {body.replace(chr(10), chr(10) + '    ')}\n"
        f"        return 1\n    return inner\n"
    )
    assert long_functions(tmp_path) == {
        ("m.py", "C.method"): MAX_LINES + 1,
        ("m.py", "outer"): MAX_LINES + 3,
        ("m.py", "outer.inner"): MAX_LINES + 1,
    }
