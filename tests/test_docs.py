"""The docs cannot point at nothing: every relative link and anchor of docs/, README.md and
config/README.md resolves, and every repository path they name in backticks exists.

Anchors follow GitHub's slugs: the heading in lower case, backticks and punctuation other than
`-` and `_` dropped, spaces as hyphens, `-1`, `-2` for repeats. A backticked path counts when its
first part is a top-level entry of the repository (`camrobust/quality/`, `config/paper.yaml`,
`envs/*.yaml`); `<name>` and `*` match any name and must match something; `{wildcard}` patterns
and `…` are outputs under results/, not repository paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GENERATED = {"results", "resources", "build", ".snakemake"}  # written by runs, not the repository


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose(text: str) -> Iterator[str]:
    """The lines of `text` outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    found, seen = set(), {}
    for line in _prose(path.read_text()):
        if match := re.match(r"#{1,6}\s+(.*)", line):
            name = slug(match.group(1))
            found.add(f"{name}-{seen[name]}" if name in seen else name)
            seen[name] = seen.get(name, 0) + 1
    return frozenset(found)


def links(path: Path) -> Iterator[str]:
    for line in _prose(path.read_text()):
        yield from re.findall(r"\]\(([^)\s]+)\)", line)


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_relative_link_and_anchor_resolves(doc):
    broken = []
    for target in links(doc):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        file = (doc.parent / where).resolve() if where else doc
        dead_anchor = anchor and file.suffix == ".md" and anchor not in anchors(file)
        if not file.exists() or dead_anchor:
            broken.append(target)
    assert not broken, f"{_ids(doc)}: broken links {broken}"


def repository_paths(text: str) -> Iterator[str]:
    top = {p.name for p in ROOT.iterdir()} - GENERATED - {".git"}
    for token in re.findall(r"`([^`\n]+)`", text):
        path = re.split(r"[:#]", token.strip(), maxsplit=1)[0]
        if " " in path or "{" in path or "…" in path:
            continue
        if path.split("/")[0] in top and ("/" in path or "." in path):
            yield path


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_repository_path_named_in_backticks_exists(doc):
    missing = []
    for path in repository_paths(doc.read_text()):
        pattern = re.sub(r"<[^>]+>", "*", path).rstrip("/")
        if not (any(ROOT.glob(pattern)) if "*" in pattern else (ROOT / pattern).exists()):
            missing.append(path)
    assert not missing, f"{_ids(doc)} names paths that do not exist: {missing}"


def test_the_checks_are_not_vacuous():
    text = (ROOT / "docs" / "pipeline.md").read_text()
    assert "statistics" in anchors(ROOT / "docs" / "metric.md")
    assert (
        slug("2. Regularisers (`regularizers.csv`, primary)")
        == "2-regularisers-regularizerscsv-primary"
    )
    assert {"rules/<stage>.smk", "config/schema.yaml"} <= set(repository_paths(text))
    assert "metric.md#statistics" in set(links(ROOT / "docs" / "pipeline.md"))
