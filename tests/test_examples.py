"""The documented Python API: the example script's numbers, docs/api.md's code, the public names."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import math
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "camrobust",
    "camrobust.cam",
    "camrobust.data",
    "camrobust.metrics",
    "camrobust.models",
    "camrobust.noise",
    "camrobust.quality",
    "camrobust.report",
    "camrobust.stats",
    "camrobust.train",
)


def _python(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run this interpreter in the repository root with the package importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _printed(run: Callable[[], object], argv: list[str]) -> str:
    """What `run` prints, run in this process with `argv` as sys.argv and torch on one thread
    (the session's `one_thread`, as a child with OMP_NUM_THREADS=1 would), the global torch RNG
    restored afterwards. An exception fails the test, as a child's non-zero exit status would."""
    import torch

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, torch.random.fork_rng():
        patch.setattr(sys, "argv", argv)
        with contextlib.redirect_stdout(out):
            run()
    return out.getvalue()


def _within(pair: list[float], lo: float, hi: float) -> bool:
    """A [min, max] pair of finite numbers, ordered, inside [lo, hi]."""
    a, b = pair
    return math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi


# The tour's default: enough images for pairs kept by every method (the method tests' blocks).
TOUR_IMAGES = 16


@pytest.fixture(scope="module")
def tour(one_thread) -> dict[str, dict]:
    """examples/api_tour.py's printed steps, by name (the script run as __main__)."""
    script = str(ROOT / "examples" / "api_tour.py")
    stdout = _printed(
        lambda: runpy.run_path(script, run_name="__main__"),
        [script, "--images", str(TOUR_IMAGES)],
    )
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {line["step"]: line for line in lines if line["step"] != "corrupt"} | {
        f"corrupt_{line['level']}": line for line in lines if line["step"] == "corrupt"
    }


def test_tour_cams_and_corruption(tour):
    from camrobust.cam import METHODS

    cams = tour["cams"]
    assert cams["methods"] == list(METHODS)
    assert cams["map_shape"] == [TOUR_IMAGES, 4, 4]  # ResNet-18 layer2 on 32-px images
    assert len(cams["preds"]) == TOUR_IMAGES and all(0 <= p < 10 for p in cams["preds"])
    assert len(set(cams["preds"])) > 1  # the BatchNorm pass makes predictions depend on input
    for level in (1, 3):
        assert tour[f"corrupt_{level}"]["shape"] == [TOUR_IMAGES, 32, 32, 3]
        assert tour[f"corrupt_{level}"]["dtype"] == "uint8"


def test_tour_similarity_and_robustness(tour):
    from camrobust.cam import METHODS
    from camrobust.metrics import MEASURES

    sim = tour["similarity"]
    assert sim["n"] == TOUR_IMAGES
    for name in MEASURES:
        assert _within(sim[name], 0.0, 1.0), (name, sim[name])
    rob = tour["robustness"]
    assert rob["rows"] == len(METHODS) * len(MEASURES)
    assert rob["methods"] == sorted(METHODS)
    assert 0 < rob["flip_rate"] < 1  # kept and flipped pairs: C, R and H are all defined
    for key in ("consistency", "responsiveness", "robustness"):
        assert _within(rob[key], 0.0, 1.0), (key, rob[key])
    # H is the harmonic mean of C and R, so it lies between the smallest C or R and the largest
    lo = min(rob["consistency"][0], rob["responsiveness"][0])
    hi = max(rob["consistency"][1], rob["responsiveness"][1])
    assert lo <= rob["robustness"][0] and rob["robustness"][1] <= hi


def test_tour_stats_and_quality(tour):
    from camrobust.cam import METHODS
    from camrobust.quality import FAITHFULNESS_METRICS, SENSITIVITY_METRICS

    stats = tour["stats"]
    assert stats["table_rows"] == TOUR_IMAGES * len(METHODS) * 2  # images × methods × levels
    assert set(stats["tables"]) == {
        "methods", "method_ranks", "regularizers", "mixedlm", "flips", "noise"
    }  # fmt: skip
    assert stats["method_tests"] > 0 and _within(stats["p_values"], 0.0, 1.0)
    sens = tour["sensitivity"]
    assert set(sens) - {"step"} == set(SENSITIVITY_METRICS)
    assert all(sens[m] >= 0 and math.isfinite(sens[m]) for m in SENSITIVITY_METRICS)
    faith = tour["faithfulness"]
    assert set(faith) - {"step"} == set(FAITHFULNESS_METRICS)
    for m in ("deletion_auc", "insertion_auc"):  # areas under a probability curve on [0, 1]
        assert _within(faith[m], 0.0, 1.0), (m, faith[m])
    for m in ("confidence_change", "road_morf", "road_lerf", "road_combined"):
        assert _within(faith[m], -1.0, 1.0), (m, faith[m])  # differences of probabilities


def test_docs_api_code_blocks_run(one_thread):
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    assert len(blocks) >= 6
    code = compile("\n".join(blocks), str(ROOT / "docs" / "api.md"), "exec")
    # a script of its own: fresh globals, nothing of this module's names
    stdout = _printed(lambda: exec(code, {"__name__": "__main__"}), ["-c"])
    assert "flipped" in stdout and "robustness" in stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_exists(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert names and len(names) == len(set(names))
    for name in names:
        if not hasattr(module, name):  # a submodule (camrobust, camrobust.report) is public too
            importlib.import_module(f"{package}.{name}")


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("camrobust.stats", ("torch",)),
        ("camrobust.data", ("torch",)),
        ("camrobust.report", ("torch", "matplotlib", "scipy")),
        ("camrobust", ("torch", "numpy")),
    ],
)
def test_package_import_stays_light(package, forbidden):
    code = f"import sys, {package}; print(sorted(set({forbidden!r}) & set(sys.modules)))"
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
