"""Write a run's figures into README.md, between its run-figures markers.

    python tools/readme_figures.py RUN [--at REV] [--second RUN2 --change CHANGE --second-at REV]
        [--readme FILE] [--print]

RUN is the run's working directory: its `results/` (the summary table, the headline, the
accuracy table, the models' metrics.json and `results/benchmarks/`) and Snakemake's log of the
run (`.snakemake/log/`, the newest log of a run that finished every step). Run it on the machine
that made the run, from the checkout that made it: the figures are stamped with the last commit
of its code (or --at, a commit the run was made at that the checkout has since moved on from),
the CPU model and the CPU capability torch dispatches to, on which the numbers depend.

With --second, RUN2 is a run of the same config but for CHANGE (e.g. `seed=1`, as given to
`--config`), and the README's replication part (between its own markers) gets its time and
`camrobust.stats.replication` of the two runs' claims and exploratory regulariser tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from camrobust.stats.replication import replication

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- run-figures:begin (tools/readme_figures.py writes this part from a run) -->"
END = "<!-- run-figures:end -->"
REPLICATION_BEGIN = (
    "<!-- replication-figures:begin (tools/readme_figures.py --second writes this part) -->"
)
REPLICATION_END = "<!-- replication-figures:end -->"
# results/stats/<name>.csv compared between the runs, and what the README calls them
REPLICATED = {"claims": "pre-specified claims", "regularizers": "exploratory strata"}
SUMMARY_ROWS = 4  # rows of the summary table shown
# results/benchmarks/<family>/...tsv: the rule families with a `benchmark:`, as they are named.
FAMILIES = {
    "train": "classifier training",
    "generative": "generative models",
    "cam": "CAMs",
    "quality": "quality metrics",
}


@dataclass(frozen=True)
class RunLog:
    """The wall time and job count of a finished run, from its Snakemake log."""

    seconds: float
    jobs: int


def run_log(run: Path) -> RunLog:
    """From the newest log in `run`/.snakemake/log of a run that finished all its steps."""
    logs = sorted((run / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True)
    for path in logs:
        text = path.read_text()
        done = re.findall(r"^(\d+) of (\d+) steps \(100%\) done$", text, re.M)
        if not done:
            continue
        start = re.search(r"^\s*Date: (\S+ \S+)$", text, re.M)
        stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", text, re.M)
        if not start or not stamps:
            raise ValueError(f"{path}: no start date or job timestamps")
        began = datetime.strptime(start[1], "%Y-%m-%d %H:%M:%S")
        ended = datetime.strptime(re.sub(" +", " ", stamps[-1]), "%a %b %d %H:%M:%S %Y")
        return RunLog((ended - began).total_seconds(), int(done[-1][1]))
    raise ValueError(f"no finished run among the Snakemake logs of {run / '.snakemake' / 'log'}")


def job_seconds(results: Path) -> dict[str, tuple[float, int]]:
    """{family: (summed wall seconds, jobs)} of the benchmark files of each rule family."""
    out = {}
    for family in FAMILIES:
        files = sorted((results / "benchmarks" / family).rglob("*.tsv"))
        if files:
            seconds = sum(float(pd.read_csv(f, sep="\t")["s"].sum()) for f in files)
            out[family] = (seconds, len(files))
    return out


def accuracy_sentence(results: Path) -> str:
    """Clean test accuracy per regulariser (mean ± sd over seeds), its range over the models and
    the lowest before batch-norm recalibration, from accuracy.csv and the models' metrics.json."""
    table = pd.read_csv(results / "tables" / "accuracy.csv", dtype={"seed": str, "level": str})
    parts = []
    for dataset, rows in table.groupby("dataset", sort=True):
        pooled = rows[rows["seed"] == "all"].drop_duplicates("model")
        models = rows[rows["seed"] != "all"].drop_duplicates("model")
        means = ", ".join(
            f"{r.model} {r.test_accuracy:.3f} ± {r.test_accuracy_sd:.3f}"
            for r in pooled.itertuples()
        )
        low, high = models["test_accuracy"].min(), models["test_accuracy"].max()
        prefix = f"{dataset}: " if table["dataset"].nunique() > 1 else ""
        spread = f"every model {low:.3f} to {high:.3f} ({len(models)} models)"
        parts.append(prefix + (f"{means}; {spread}" if means else spread))
    before = [
        json.loads(p.read_text()).get("test_accuracy_before_recalibration")
        for p in (results / "models").glob("*/*/metrics.json")
    ]
    before = [b for b in before if b is not None]
    text = "; ".join(parts)
    if before:
        text += (
            f"; the lowest before its batch-norm statistics were recomputed "
            f"(`training.recalibrate_bn`): {min(before):.3f}"
        )
    return text


def summary_head(results: Path) -> str:
    """The summary's caption and the first SUMMARY_ROWS rows of its table."""
    lines = (results / "tables" / "summary.md").read_text().splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    return "\n".join([*lines[:table], *lines[table : table + 2 + SUMMARY_ROWS], "..."])


# What a run's files depend on: a commit that changed only other paths (docs, tests, tools) made
# the same run, so the stamp names the last commit of these.
CODE_PATHS = ("Snakefile", "rules", "scripts", "camrobust", "config/*.yaml", "envs", "profiles")


def stamp(root: Path, at: str | None = None) -> str:
    """The last commit of the code (`+ local changes` where the code differs from it), or the
    commit `at` that made a run the checkout has moved on from, then the CPU, cores and torch's
    dispatch."""
    import torch

    git = ["git", "-C", str(root)]
    if at is None:
        log = [*git, "log", "-1", "--format=%h", "--", *CODE_PATHS]
        version = subprocess.run(log, capture_output=True, text=True).stdout.strip()
        if not version:  # a stamp without the commit would not say which code made the figures
            raise SystemExit(f"readme_figures: {root} is no git checkout with commits of the code")
        status = [*git, "status", "--porcelain", "--", *CODE_PATHS]
        dirty = subprocess.run(status, capture_output=True, text=True).stdout.strip()
        version += " + local changes" if dirty else ""
    else:
        name = [*git, "rev-parse", "--short", "--verify", f"{at}^{{commit}}"]
        version = subprocess.run(name, capture_output=True, text=True, check=True).stdout.strip()
    return (
        f"code at commit `{version}`, {cpu_model()} ({os.cpu_count()} cores), torch "
        f"{torch.__version__} with CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if found:
            return found[1].strip()
    return platform.processor() or platform.machine()


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def figures(run: Path, at: str | None = None, root: Path = ROOT) -> str:
    """The Markdown between the markers."""
    results = run / "results"
    log = run_log(run)
    spent = ", ".join(
        f"{FAMILIES[f]} {s:.0f} s ({n} jobs)" for f, (s, n) in job_seconds(results).items()
    )
    headline = (results / "tables" / "headline.md").read_text().strip()
    return "\n".join(
        [
            BEGIN,
            f"The figures below come from one run: {log.jobs} jobs in {duration(log.seconds)}, "
            f"made with the {stamp(root, at)}. Job-seconds per rule family "
            f"(`results/benchmarks/`): {spent or 'none'}.",
            "",
            "The first rows of its summary table (`results/tables/summary.md`):",
            "",
            "```",
            summary_head(results),
            "```",
            "",
            "Clean test accuracy (`results/tables/accuracy.csv`, mean ± sd over the training "
            f"seeds): {accuracy_sentence(results)}. Its headline:",
            "",
            "```",
            headline,
            "```",
            END,
        ]
    )


def replication_sentence(first: Path, second: Path, table: str) -> str:
    """What `camrobust.stats.replication` says of one stats table of the two runs (the
    levels-pooled comparisons of the consistency endpoint)."""
    frames = [
        pd.read_csv(run / "results" / "stats" / f"{table}.csv", dtype={"level": str})
        for run in (first, second)
    ]
    row = replication(*frames).set_index("rows").loc["pooled"]
    return (
        f"{REPLICATED[table]} (`{table}.csv`, {row.comparisons:.0f} levels-pooled comparisons "
        f"of consistency): significant in {row.significant_a:.0f} and {row.significant_b:.0f}, "
        f"in both with the same sign {row.both_same_sign:.0f}, with opposite signs "
        f"{row.both_opposite_sign:.0f}; agreement {_share(row.agreement)} (expected from the "
        f"first run's estimates and SEs: {_share(row.expected_agreement)}); |z| > 1.96 in "
        f"{_share(row.z_exceed)} of {row.z_comparisons:.0f} (expected "
        f"{_share(row.z_exceed_expected)}); the second run's estimate inside the first's 95% "
        f"prediction interval in {_share(row.pi_coverage)} (expected 0.95); clusters (noise "
        f"family × regulariser) significant in either {row.clusters_either:.0f} of "
        f"{row.clusters:.0f}, with the same sign in both {row.clusters_same_sign:.0f}"
    )


def _share(value: float) -> str:
    return "undefined" if pd.isna(value) else f"{value:.2f}"


def replication_figures(
    first: Path, second: Path, change: str, at: str | None = None, root: Path = ROOT
) -> str:
    """The Markdown between the replication markers."""
    log = run_log(second)
    lines = [
        f"The same config with `--config {change}` ({log.jobs} jobs, made with the "
        f"{stamp(root, at)}), compared with the run above by "
        "`python -m camrobust.stats.replication`:",
        "",
        *(f"- {replication_sentence(first, second, table)}." for table in REPLICATED),
    ]
    return "\n".join([REPLICATION_BEGIN, *lines, REPLICATION_END])


def replace_between_markers(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"README.md needs one {begin!r} marker before one {end!r}")
    head, rest = text.split(begin)
    return head + block + rest.split(end, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run's working directory")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--print", action="store_true", help="print the part, write nothing")
    parser.add_argument("--second", type=Path, help="a run of the same config but for --change")
    parser.add_argument("--change", default="seed=1", help="what --second changed (--config)")
    parser.add_argument("--at", help="the commit RUN was made at, if not the checkout's code")
    parser.add_argument("--second-at", help="the same for RUN2")
    args = parser.parse_args(argv)
    blocks = [(figures(args.run, args.at), BEGIN, END)]
    if args.second:
        block = replication_figures(args.run, args.second, args.change, args.second_at)
        blocks.append((block, REPLICATION_BEGIN, REPLICATION_END))
    if args.print:
        print("\n\n".join(block for block, _, _ in blocks))
        return 0
    text = args.readme.read_text()
    for block, begin, end in blocks:
        text = replace_between_markers(text, block, begin, end)
    args.readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
