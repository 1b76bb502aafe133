"""Summary table shape and cell format, and the Markdown writer."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from camrobust.report import tables

CELL = re.compile(r"^(\d\.\d\d|n/a) \((\d\.\d\d|n/a)/(\d\.\d\d|n/a)\)$")


def robust_table(seed: int = 0) -> pd.DataFrame:
    """A small long-format robustness table: 2 models × 3 methods × 2 noises × levels + 'all'."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, method, noise, level in itertools.product(
        ("resnet_erm", "resnet_vat"),
        ("gradcam", "hirescam", "eigencam"),
        ("jpeg", "gaussian"),
        ("1", "3", "all"),
    ):
        c, r = rng.uniform(0.5, 0.95), rng.uniform(0.1, 0.6)
        rows.append(
            {
                "dataset": "shapes",
                "model": model,
                "arch": "resnet",
                "regularizer": model.split("_")[1],
                "method": method,
                "noise": noise,
                "level": level,
                "measure": "ssim",
                "consistency": c,
                "responsiveness": r,
                "robustness": 2 * c * r / (c + r),
            }
        )
    return pd.DataFrame(rows)


def test_summary_table_shape_order_and_cells():
    robust = robust_table()
    out = tables.summary_table(robust, measure="ssim")
    assert list(out.columns) == ["dataset", "model", "method", "gaussian", "jpeg"]
    assert out.shape == (6, 5)
    assert list(out["method"][:3]) == ["eigencam", "gradcam", "hirescam"]
    for _, row in out.iterrows():
        for noise in ("gaussian", "jpeg"):
            src = robust.query(
                "model == @row.model and method == @row.method and noise == @noise"
                " and level == 'all'"
            ).squeeze()
            m = CELL.match(row[noise])
            assert m, row[noise]
            assert [float(g) for g in m.groups()] == pytest.approx(
                [src["robustness"], src["consistency"], src["responsiveness"]], abs=0.005
            )


def test_undefined_values_and_missing_noise_read_na():
    robust = robust_table()
    robust.loc[
        (robust["model"] == "resnet_vat") & (robust["method"] == "gradcam"), "responsiveness"
    ] = np.nan
    robust.loc[
        (robust["model"] == "resnet_vat") & (robust["method"] == "gradcam"), "robustness"
    ] = np.nan
    robust = robust[
        ~(
            (robust["model"] == "resnet_erm")
            & (robust["noise"] == "jpeg")
            & (robust["method"] == "eigencam")
        )
    ]
    out = tables.summary_table(robust).set_index(["model", "method"])
    assert re.match(r"^n/a \(\d\.\d\d/n/a\)$", out.loc[("resnet_vat", "gradcam"), "jpeg"])
    assert out.loc[("resnet_erm", "eigencam"), "jpeg"] == "n/a"
    assert tables.format_cell(0.8149, 0.9, 0.75, decimals=3) == "0.815 (0.900/0.750)"


def test_summary_table_errors_name_the_problem():
    robust = robust_table()
    with pytest.raises(ValueError, match="measure 'pearson'.*ssim"):
        tables.summary_table(robust, measure="pearson")
    with pytest.raises(ValueError, match="lacks columns: robustness"):
        tables.summary_table(robust.drop(columns="robustness"))
    with pytest.raises(ValueError, match="duplicate robustness rows"):
        tables.summary_table(pd.concat([robust, robust]))


def _parse_markdown(text: str) -> list[list[str]]:
    lines = text.strip().split("\n")
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def test_markdown_round_trips_cells_and_aligns_numbers():
    df = pd.DataFrame(
        {
            "method": ["grad|cam", "eigencam"],
            "robustness": [0.81234, np.nan],
            "n": [12, 3],
            "ok": [True, False],
        }
    )
    text = tables.to_markdown(df)
    rows = _parse_markdown(text)
    assert rows[0] == ["method", "robustness", "n", "ok"]
    assert rows[1] == ["---", "---:", "---:", "---"]
    assert rows[2] == ["grad\\|cam", "0.8123", "12", "True"]
    assert rows[3] == ["eigencam", "", "3", "False"]
    assert len(rows) == 4 and text.endswith("\n")


def test_markdown_of_the_summary_table_and_of_an_index():
    out = tables.summary_table(robust_table())
    rows = _parse_markdown(tables.to_markdown(out))
    assert len(rows) == 2 + len(out)
    assert rows[2] == [str(v) for v in out.iloc[0]]
    indexed = tables.to_markdown(out.set_index(["dataset", "model", "method"]))
    assert _parse_markdown(indexed) == rows
    with pytest.raises(TypeError, match="DataFrame"):
        tables.to_markdown([1, 2])
