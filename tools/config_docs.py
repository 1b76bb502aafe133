"""Write config/README.md's Default column from config/schema.yaml (`make docs`).

Every table of the page whose header has a `Default` column is rewritten: a row's first cell
names one or more keys in backticks, and its default cell becomes the schema default of those
keys in YAML flow style, `**required**` for a key its parent requires, or `—` for one without a
default. `--check` changes nothing and exits 1 when the page is stale (tests/test_defaults.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from camrobust.config import SCHEMA, load_yaml  # noqa: E402
from camrobust.schema_keys import NO_DEFAULT, SchemaKey, find, walk  # noqa: E402

README = ROOT / "config" / "README.md"
BACKTICKED = re.compile(r"`([^`]+)`")
NONE = "—"


def flow(value: object) -> str:
    """`value` as one line of YAML flow style (`{shapes: {source: shapes}}`, `[20, 50, 80]`)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000_000)
    return text.strip().removesuffix("...").strip()


def default_cell(key: SchemaKey) -> str:
    """The Default cell of one key."""
    if key.default is NO_DEFAULT:
        return "**required**" if key.required else NONE
    return f"`{flow(key.default)}`"


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def _row_default(first_cell: str, keys: list[SchemaKey], where: str) -> str:
    names = BACKTICKED.findall(first_cell)
    if not names:
        raise ValueError(f"{where}: no key in backticks in {first_cell.strip()!r}")
    cells = set()
    for name in names:
        key = find(keys, name)
        if key is None:
            raise ValueError(f"{where}: `{name}` is not a key of {SCHEMA.name}")
        cells.add(default_cell(key))
    if len(cells) != 1:
        raise ValueError(f"{where}: the keys of one row have different defaults: {sorted(cells)}")
    return cells.pop()


def render(text: str, keys: list[SchemaKey]) -> str:
    """`text` with the Default cell of every key table set from the schema."""
    lines = text.splitlines(keepends=True)
    column = None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            column = None
            continue
        cells = _cells(line)
        if column is None:  # a table's header
            names = [c.strip() for c in cells]
            column = names.index("Default") if "Default" in names and names[0] == "Key" else -1
            width = len(cells)
            continue
        if column < 0 or set(line.strip()) <= set("|-: "):
            continue
        if len(cells) != width:
            raise ValueError(f"line {i + 1}: {len(cells)} cells, the header has {width}")
        cells[column] = f" {_row_default(cells[0], keys, f'line {i + 1}')} "
        lines[i] = "|" + "|".join(cells) + "|\n"
    return "".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    keys = list(walk(load_yaml(SCHEMA)))
    text = README.read_text()
    rendered = render(text, keys)
    if args.check:
        if rendered != text:
            print(f"{README.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
