"""benchmarks/gpu_check.sh: valid bash, and everything it runs exists with the options it passes
(it can only run where there is a GPU)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_gpu_check_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gpu_check_runs_files_and_options_that_exist():
    text = SCRIPT.read_text()
    for path in re.findall(r"(?:benchmarks|tests/configs)/[\w./]+\.(?:py|yaml)", text):
        assert (ROOT / path).is_file(), path
    for script, options in (
        ("cam_throughput.py", ["--device", "cuda", "--model", "resnet50"]),
        ("cam_throughput.py", ["--device", "cuda", "--model", "vit_b_16"]),
        ("train_step.py", ["--device", "cuda"]),
    ):
        assert f"benchmarks/{script}" in text
        # argparse checks the options (and the model choices) before any CUDA call
        check = (
            "import runpy, sys; sys.argv = [sys.argv[1], *sys.argv[2:], '--help'];"
            "runpy.run_path(sys.argv[0], run_name='__main__')"
        )
        result = subprocess.run(
            [sys.executable, "-c", check, str(ROOT / "benchmarks" / script), *options],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert result.returncode == 0 and "usage" in result.stdout, result.stderr[-2000:]
