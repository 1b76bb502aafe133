"""benchmarks/gpu_check.sh: valid bash, and everything it runs exists with the options it passes
(it can only run where there is a GPU)."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_gpu_check_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gpu_check_runs_files_and_options_that_exist(monkeypatch, capsys):
    text = SCRIPT.read_text()
    for path in re.findall(r"(?:benchmarks|tests/configs)/[\w./]+\.(?:py|yaml)", text):
        assert (ROOT / path).is_file(), path
    for script, options in (
        ("cam_throughput.py", ["--device", "cuda", "--model", "resnet50"]),
        ("cam_throughput.py", ["--device", "cuda", "--model", "vit_b_16"]),
        ("train_step.py", ["--device", "cuda"]),
    ):
        assert f"benchmarks/{script}" in text
        # argparse checks the options (and the model choices) before any CUDA call: the script
        # run as __main__ in this process (its imports included) exits 0 from --help, or 2 on an
        # option it does not know
        path = ROOT / "benchmarks" / script
        monkeypatch.setattr(sys, "argv", [str(path), *options, "--help"])
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(path), run_name="__main__")
        out, err = capsys.readouterr()
        assert done.value.code in (0, None) and "usage" in out, (script, err[-2000:])
