"""The workflow used as a Snakemake module by a host workflow in another folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY, snakemake

from camrobust.metrics import MEASURES, REGION_MEASURES

pytestmark = pytest.mark.slow

USE_MODULE = f"""
configfile: "config.yaml"


module camrobust:
    snakefile: {str(ROOT / "Snakefile")!r}
    config: config["camrobust"]


use rule * from camrobust as camrobust_*
"""


def host(folder: Path, camrobust: dict, rules_before: str = "") -> Path:
    """A host workflow in `folder` whose config.yaml holds `camrobust` as its module config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Snakefile").write_text(rules_before + USE_MODULE)
    (folder / "config.yaml").write_text(yaml.safe_dump({"camrobust": camrobust}))
    return folder


def run_host(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Snakemake on the host's own Snakefile, in the host's folder (no -s, no -d)."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, cwd=folder)
    if check and result.returncode != 0:
        raise AssertionError(f"host snakemake {' '.join(args)} failed:\n{result.stderr[-5000:]}")
    return result


def tiny() -> dict:
    return yaml.safe_load(TINY.read_text())


def test_a_host_workflow_gets_the_tables_of_a_direct_run(tiny_run, tmp_path):
    # The tiny config with one regulariser (no generative models), its corruption alone and no
    # quality metrics: a whole run of its own, and for its one model and noise the same rows as
    # the direct tiny run.
    off = {"enabled": False}
    config = {**tiny(), "regularizers": {"erm": {}}}
    config["noise"] = {"corruptions": config["noise"]["corruptions"]}
    config["metrics"] |= {"sensitivity": off, "faithfulness": off}
    folder = host(tmp_path / "host", config)
    run = run_host(folder)
    # not the repository's workflow profile: that belongs to direct runs only
    assert "profiles/default" not in run.stderr
    tables = folder / "results" / "tables"
    for name in ("robustness.csv", "accuracy.csv", "summary.csv", "summary.md", "headline.md"):
        assert (tables / name).stat().st_size > 0, name
    # the same config and seed as the direct tiny run for this model: the same values
    model = "resnet18-erm-s0"
    for name in ("robustness.csv", "accuracy.csv"):
        here = pd.read_csv(tables / name, dtype=str)
        direct = pd.read_csv(tiny_run / "results/tables" / name, dtype=str)
        direct = direct[direct["model"].isin(set(here["model"]))]
        if "noise" in here:
            direct = direct[direct["noise"].isin(set(here["noise"]))]
        direct = direct.reset_index(drop=True)
        pd.testing.assert_frame_equal(here, direct, check_exact=True)
    rows = pd.read_csv(tables / "robustness.csv", dtype={"level": str})
    assert (
        set(rows["measure"]) == {*REGION_MEASURES, *MEASURES}
        and rows["robustness"].dropna().between(0, 1).all()
    )
    assert set(rows["model"]) == {model}
    assert pd.read_csv(tables / "accuracy.csv")["accuracy"].between(0, 1).all()
    again = run_host(folder, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_the_module_does_not_take_over_the_hosts_default_target(tmp_path):
    first = 'rule host_tables:\n    input:\n        "results/tables/robustness.csv",\n\n\n'
    folder = host(tmp_path / "host", tiny(), rules_before=first)
    planned = run_host(folder, "-n", "--quiet", "rules").stdout
    assert "host_tables" in planned and "camrobust_robustness_table" in planned
    assert "camrobust_all" not in planned and "camrobust_figure" not in planned


def test_local_rules_keep_their_mark_under_the_module_prefix(tmp_path):
    """A `localrules:` list names rules before the prefix: Snakemake warns and runs them remotely."""
    dry = run_host(host(tmp_path / "host", tiny()), "-n")
    assert "localrules directive" not in dry.stderr


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c["datasets"]["shapes"].pop("source"), "source"),  # required
        (lambda c: c.update(colour="blue"), "colour"),  # unknown
    ],
    ids=["missing", "unknown"],
)
def test_a_bad_module_config_fails_like_a_direct_run(tmp_path, change, key):
    config = tiny()
    change(config)
    failed = run_host(host(tmp_path / "host", config), "-n", check=False)
    assert failed.returncode != 0
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], failed.stderr
    configfile = tmp_path / "direct.yaml"
    configfile.write_text(yaml.safe_dump(config))
    direct = snakemake(tmp_path / "direct", "-n", config=configfile, check=False)
    assert direct.returncode != 0 and direct.stderr.strip().splitlines()[-1] == lines[0]
    assert not (tmp_path / "host" / "results").exists()
