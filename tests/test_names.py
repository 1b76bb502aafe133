"""Each name set the rules and the library share is written once, in a light module
(camrobust/names.py, camrobust/report/registry.py: no torch, no pandas), and both read it there:
the rules' jobs write exactly the tables the library computes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from camrobust import paths
from camrobust.names import CLAIMS_TABLE, CLAIMS_TABLES, STATS_TABLES
from camrobust.report.registry import FIGURES
from camrobust.stats.run import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
# A top-level import of the package in a rule file (one line, or a parenthesised list).
_IMPORT = re.compile(r"^(?:from camrobust\S* import (?:\([^)]*\)|.*)|import camrobust.*)$", re.M)


def test_the_rule_files_import_neither_torch_nor_pandas():
    """What the Snakefile and the rule files import runs on every dry run (rules/report.smk used
    to import pandas through the headline module for one table name)."""
    imports = [line for path in RULE_FILES for line in _IMPORT.findall(path.read_text())]
    assert any("camrobust.names" in line for line in imports)
    heavy = ("torch", "pandas", "matplotlib", "scipy", "statsmodels")
    code = "\n".join([*imports, "import sys", f"print([m for m in {heavy!r} if m in sys.modules])"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _job_files(dry_run: str, rule: str, field: str) -> list[list[str]]:
    """The `field` (input, output) files of every job of `rule` in a dry run's listing."""
    blocks = re.findall(rf"^rule {rule}:\n((?:    .*\n)+)", dry_run, re.M)
    return [re.search(rf"^    {field}: (.*)$", b, re.M)[1].split(", ") for b in blocks]


def test_the_rules_write_the_tables_and_figures_the_library_names(tmp_path):
    """A dry run of the tiny config: the stats job writes one file per table of the library's
    stats families (in order), the claims job the claims job's tables, the headline reads the
    claims table, and every figure job draws a figure of the registry."""
    assert tuple(FAMILIES) == STATS_TABLES
    cmd = [
        sys.executable, "-m", "snakemake", "-n", "--forceall", "-s", str(ROOT / "Snakefile"),
        "-d", str(tmp_path), "--configfile", str(TINY), "--cores", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _job_files(run.stdout, "stats", "output") == [
        [paths.stats_file(name) for name in STATS_TABLES]
    ]
    assert _job_files(run.stdout, "claims", "output") == [
        [paths.stats_file(name) for name in CLAIMS_TABLES]
    ]
    assert paths.stats_file(CLAIMS_TABLE) in _job_files(run.stdout, "headline", "input")[0]
    figures = [Path(out[0]).stem for out in _job_files(run.stdout, "figure", "output")]
    assert figures and set(figures) <= set(FIGURES)
