"""tools/readme_figures.py: the README's figures of a run come from that run's files.

The unit tests give it hand-made files with known answers; the workflow test runs it on the tiny
run and checks every figure against the run's own tables, benchmarks and Snakemake log.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import readme_figures as rf  # noqa: E402

LOG = """Assuming unrestricted shared filesystem usage.
  Date: 2026-12-07 04:31:13
Building DAG of jobs...
[Mon Dec  7 04:31:15 2026]
localrule prepare_data:
[Mon Dec  7 04:31:17 2026]
Finished jobid: 3 (Rule: prepare_data)
1 of 2 steps (50%) done
[Mon Dec  7 04:44:03 2026]
Finished jobid: 0 (Rule: all)
2 of 2 steps (100%) done
"""


def _write_run(run: Path, log: str = LOG) -> None:
    (run / ".snakemake" / "log").mkdir(parents=True)
    (run / ".snakemake" / "log" / "2026-12-07T043113.000000.snakemake.log").write_text(log)
    # an older log of a run that stopped early must not be read
    unfinished = (
        "  Date: 2026-12-06 01:00:00\n[Sun Dec  6 01:00:01 2026]\n1 of 9 steps (11%) done\n"
    )
    (run / ".snakemake" / "log" / "2026-12-06T010000.000000.snakemake.log").write_text(unfinished)


def test_the_run_time_and_jobs_come_from_the_newest_finished_log(tmp_path):
    _write_run(tmp_path)
    assert rf.run_log(tmp_path) == rf.RunLog(seconds=12 * 60 + 50, jobs=2)
    assert rf.duration(770) == "12 min 50 s" and rf.duration(3) == "3 s"
    with pytest.raises(ValueError, match="no finished run"):
        rf.run_log(tmp_path / "nothing")


def test_accuracy_is_the_mean_and_sd_over_seeds_and_the_range_over_models(tmp_path):
    results = tmp_path / "results"
    (results / "tables").mkdir(parents=True)
    rows = [
        ("d", "r-erm-s0", "0", 0.9), ("d", "r-erm-s1", "1", 1.0),
        ("d", "r-vat-s0", "0", 0.8), ("d", "r-vat-s1", "1", 0.8),
        ("d", "r-erm", "all", 0.95), ("d", "r-vat", "all", 0.8),
    ]  # fmt: skip
    sd = {"r-erm": 0.0707, "r-vat": 0.0}
    table = pd.DataFrame(
        [
            {
                "dataset": d,
                "model": m,
                "seed": s,
                "noise": "gaussian",
                "level": "0",
                "test_accuracy": a,
                "test_accuracy_sd": sd.get(m),
            }
            for d, m, s, a in rows
        ]  # fmt: skip
    )
    table.to_csv(results / "tables" / "accuracy.csv", index=False)
    for i, before in enumerate((0.5, 0.7)):
        path = results / "models" / "d" / f"m{i}" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"test_accuracy_before_recalibration": before}))
    assert rf.accuracy_sentence(results) == (
        "r-erm 0.950 ± 0.071, r-vat 0.800 ± 0.000; every model 0.800 to 1.000 (4 models); the "
        "lowest before its batch-norm statistics were recomputed (`training.recalibrate_bn`): 0.500"
    )


def test_the_part_between_the_markers_is_replaced_and_nothing_else():
    text = f"intro\n{rf.BEGIN}\nold figures\n{rf.END}\noutro\n"
    block = f"{rf.BEGIN}\nnew\n{rf.END}"
    once = rf.replace_between_markers(text, block)
    assert once == f"intro\n{block}\noutro\n"
    assert rf.replace_between_markers(once, block) == once
    with pytest.raises(ValueError, match="needs one '<!-- run-figures:begin"):
        rf.replace_between_markers("no markers", block)


def test_the_stamp_names_the_last_commit_of_the_code(tmp_path, tmp_path_factory):
    """A later commit of the docs made the same run: the stamp keeps the code's commit, and says
    `+ local changes` only when the code differs from it."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q")
    (tmp_path / "camrobust").mkdir()
    (tmp_path / "camrobust" / "a.py").write_text("x = 1\n")
    git("add", "-A")
    git("commit", "-qm", "code")
    code = git("rev-parse", "--short", "HEAD")
    (tmp_path / "README.md").write_text("docs\n")
    git("add", "-A")
    git("commit", "-qm", "docs")
    (tmp_path / "README.md").write_text("more docs\n")
    assert f"code at commit `{code}`, " in rf.stamp(tmp_path)
    (tmp_path / "camrobust" / "a.py").write_text("x = 2\n")
    assert f"code at commit `{code} + local changes`, " in rf.stamp(tmp_path)
    # a run made at an earlier commit names that commit, whatever the checkout holds now
    assert f"code at commit `{code}`, " in rf.stamp(tmp_path, at="HEAD~1")
    # outside a git checkout (a copied tree) there is no commit to name: an error, not a stamp
    with pytest.raises(SystemExit, match="no git checkout"):
        rf.stamp(tmp_path_factory.mktemp("copied"))


@pytest.mark.slow
def test_the_figures_of_the_tiny_run_are_its_files(tiny_run, tmp_path):
    results = tiny_run / "results"
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# x\n\n{rf.BEGIN}\nold\n{rf.END}\n\n{rf.REPLICATION_BEGIN}\nold\n{rf.REPLICATION_END}\n"
    )
    # the run against itself as the "second" run: every comparison replicates exactly
    args = [str(tiny_run), "--second", str(tiny_run), "--change", "seed=0", "--readme", str(readme)]
    assert rf.main(args) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n" + rf.BEGIN) and text.endswith(rf.REPLICATION_END + "\n")
    assert "old" not in text and "`--config seed=0`" in text
    for table in rf.REPLICATED:
        frame = pd.read_csv(results / "stats" / f"{table}.csv", dtype={"level": str})
        pooled = rf.replication(frame, frame).set_index("rows").loc["pooled"]
        assert f"`{table}.csv`, {pooled.comparisons:.0f} levels-pooled comparisons" in text
        n, z = int(pooled.significant_a), int(pooled.z_comparisons)
        assert (
            f"significant in {n} and {n}, in both with the same sign {n}, with opposite signs 0"
            in text
        )
        if z:  # a run against itself: no |z| above 1.96, every estimate inside the interval
            assert f"|z| > 1.96 in 0.00 of {z}" in text and "prediction interval in 1.00" in text
    # the job count of the run's log, its time from the log's first and last timestamps
    logs = sorted((tiny_run / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True)
    log = next(t for p in logs if "steps (100%) done" in (t := p.read_text()))
    total = re.search(r"^total\s+(\d+)$", log, re.M)[1]
    assert f": {total} jobs in " in text
    # the benchmarked families' seconds
    cam = sum(
        pd.read_csv(f, sep="\t")["s"].sum() for f in (results / "benchmarks" / "cam").rglob("*.tsv")
    )
    n_cam = len(list((results / "benchmarks" / "cam").rglob("*.tsv")))
    assert f"CAMs {cam:.0f} s ({n_cam} jobs)" in text
    # the summary table's head and the headline, as written by the run
    summary = (results / "tables" / "summary.md").read_text().splitlines()
    table = next(i for i, line in enumerate(summary) if line.startswith("|"))  # after the caption
    assert "\n".join(summary[: table + 2 + rf.SUMMARY_ROWS]) + "\n...\n```" in text
    assert (results / "tables" / "headline.md").read_text().strip() + "\n```" in text
    # the accuracy range over the trained models
    accuracy = [
        json.loads(p.read_text())["test_accuracy"] for p in results.glob("models/*/*/metrics.json")
    ]
    assert (
        f"every model {min(accuracy):.3f} to {max(accuracy):.3f} ({len(accuracy)} models)" in text
    )
    # the stamp: this machine's CPU and torch's dispatch
    assert rf.cpu_model() in text and torch.backends.cpu.get_cpu_capability() in text
    assert re.search(r"code at commit `[0-9a-f]{7,}", text)
