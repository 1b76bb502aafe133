"""The model-level endpoints of the regulariser tests against direct pandas/scipy computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from camrobust.stats import prepare_table
from camrobust.stats.endpoints import ENDPOINTS, endpoint_values
from camrobust.stats.synthetic import synthetic_per_image


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    df = synthetic_per_image(
        seed=3, n_images=30, methods=("gradcam", "eigencam"), regularizers=("erm", "vat", "lvat_vae"),
        noises=("g",), levels=("1", "3"), seeds=(0, 1), seed_sd=0.02, keep_rate=0.7,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    degenerate = rng.random(len(df)) < 0.05
    df["degenerate"] = degenerate
    df.loc[degenerate, "ssim"] = 1.0  # two empty maps: s = 1, which must enter no value
    df["feature_shift"] = rng.random(len(df))
    # the shift is one value per image, model and level, whatever the method
    first = df.groupby(["model", "level", "image"])["feature_shift"].transform("first")
    df["feature_shift"] = first
    df.loc[(df["model"] == "resnet-vat-s1") & (df["image"] == 0), "feature_shift"] = np.nan
    return prepare_table(df, ("ssim",))


def _oracle(df: pd.DataFrame, model: str, method: str, level: str) -> dict[str, float]:
    """Each endpoint of one model, method and level, computed the plain way."""
    block = df["seed"] == df.loc[df["model"] == model, "seed"].iloc[0]
    cell = df[block & (df["method"] == method) & (df["level"] == level)]
    ok = cell["kept"] & ~cell["degenerate"]
    always = ok.groupby(cell["image"]).transform("all")
    own = cell[cell["model"] == model]
    informative = own[~own["degenerate"]]
    kept = informative.loc[informative["kept"], "ssim"].to_numpy()
    flipped = informative.loc[~informative["kept"], "ssim"].to_numpy()
    c = cell.loc[always & (cell["model"] == model), "ssim"].mean()
    r = (1 - flipped).mean()
    u = sps.mannwhitneyu(kept, flipped).statistic
    return {
        "consistency": c, "consistency_kept": kept.mean(), "responsiveness": r,
        "robustness": 2 * c * r / (c + r), "rm": c * r, "auroc": u / (len(kept) * len(flipped)),
        "u": u, "pairs": len(kept) * len(flipped), "flipped": flipped,
        "flip_rate": (~own["kept"]).mean(), "feature_shift": np.nanmean(own["feature_shift"]),
        "n_excluded": int(own["degenerate"].sum()), "n_common": int((always & (cell["model"] == model)).sum()),
    }  # fmt: skip


def test_every_endpoint_per_level_and_pooled_equals_a_direct_computation(table):
    values = endpoint_values(table, "ssim", method_free=True)
    assert set(values["endpoint"]) == set(ENDPOINTS)
    got = values.set_index(["model", "method", "level", "endpoint"])
    for model in table["model"].unique():
        free = {
            "1": _oracle(table, model, "gradcam", "1"),
            "3": _oracle(table, model, "gradcam", "3"),
        }
        for name in ("flip_rate", "feature_shift"):
            for level in ("1", "3"):
                assert got.loc[(model, "all", level, name), "value"] == pytest.approx(
                    free[level][name]
                )
            pooled = (free["1"][name] + free["3"][name]) / 2  # mean of the per-level values
            assert got.loc[(model, "all", "all", name), "value"] == pytest.approx(pooled)
        for method in ("gradcam", "eigencam"):
            per = {lv: _oracle(table, model, method, lv) for lv in ("1", "3")}
            for level, want in per.items():
                for name in ("consistency", "consistency_kept", "responsiveness", "robustness",
                             "rm", "auroc"):  # fmt: skip
                    row = got.loc[(model, method, level, name)]
                    assert row["value"] == pytest.approx(want[name], rel=1e-12), (name, level)
                    assert row["n_excluded"] == want["n_excluded"]
                assert got.loc[(model, method, level, "consistency"), "count"] == want["n_common"]
            # pooled: C the mean of the per-level means, R over every flipped pair, the AUROC
            # Σ U / Σ n_kept n_flipped (the within-level AUROC)
            c = (per["1"]["consistency"] + per["3"]["consistency"]) / 2
            r = (1 - np.concatenate([per["1"]["flipped"], per["3"]["flipped"]])).mean()
            auroc = (per["1"]["u"] + per["3"]["u"]) / (per["1"]["pairs"] + per["3"]["pairs"])
            pooled = {"consistency": c, "responsiveness": r, "robustness": 2 * c * r / (c + r),
                      "rm": c * r, "auroc": auroc}  # fmt: skip
            for name, want in pooled.items():
                assert got.loc[(model, method, "all", name), "value"] == pytest.approx(want)


def test_the_always_kept_images_are_the_same_for_every_model_of_a_seed(table):
    values = endpoint_values(table, "ssim", method_free=False, endpoints=("consistency",))
    counts = values.groupby(["seed", "method", "level"])["count"].nunique()
    assert (counts == 1).all()  # one common set per block, whatever the model
    # a flip (or an empty map) in one model removes the image from every model of its seed
    changed = table.copy()
    first = changed[(changed["model"] == "resnet-vat-s0") & changed["kept"]].index[0]
    changed.loc[first, "kept"] = False
    level, method = changed.loc[first, ["level", "method"]]
    after = endpoint_values(changed, "ssim", method_free=False, endpoints=("consistency",))
    before = values.set_index(["model", "method", "level"])["count"]
    after = after.set_index(["model", "method", "level"])["count"]
    for model in ("resnet-erm-s0", "resnet-vat-s0", "resnet-lvat_vae-s0"):
        assert after[(model, method, level)] == before[(model, method, level)] - 1
    assert after[("resnet-erm-s1", method, level)] == before[("resnet-erm-s1", method, level)]


def test_selection_on_kept_moves_the_kept_pair_mean_but_not_the_always_kept_one():
    """Two arms with identical per-image maps, one flipping its most fragile images: only the
    kept-pair mean differs between them."""
    rng = np.random.default_rng(4)
    fragility = rng.normal(size=200)
    s = np.clip(0.9 - 0.05 * fragility, 0, 1)
    rows = []
    for reg, flip_share in (("erm", 0.6), ("vat", 0.1)):
        kept = fragility < np.quantile(fragility, 1 - flip_share)
        rows.append(pd.DataFrame({
            "dataset": "d", "model": f"r-{reg}-s0", "arch": "r", "regularizer": reg, "seed": "0",
            "noise": "n", "level": "1", "method": "gradcam", "image": np.arange(200), "label": 0,
            "pred_clean": 0, "pred_noisy": np.where(kept, 0, 1), "kept": kept,
            "degenerate": False, "ssim": s,
        }))  # fmt: skip
    df = prepare_table(pd.concat(rows, ignore_index=True), ("ssim",))
    v = endpoint_values(df, "ssim", method_free=False).set_index(["regularizer", "endpoint"])
    assert v.loc[("erm", "consistency"), "value"] == v.loc[("vat", "consistency"), "value"]
    gap = v.loc[("vat", "consistency_kept"), "value"] - v.loc[("erm", "consistency_kept"), "value"]
    assert gap < -0.02  # VAT keeps its fragile, less similar images: a lower kept-pair mean


def test_the_regulariser_rows_carry_the_counts_of_their_models(table):
    from camrobust.stats import regularizer_model_tests, stats_options

    options = stats_options({"alpha": 0.05, "correction": "holm", "correction_scope": "stratum",
                             "min_pairs": 2, "measures": ["ssim"]})  # fmt: skip
    out = regularizer_model_tests(table, options, endpoints=("consistency", "responsiveness"))
    values = endpoint_values(table, "ssim", method_free=False)
    for _, row in out[out["p_value"].notna()].iterrows():
        used = values[(values["method"] == row["method"]) & (values["level"] == row["level"])
                      & (values["endpoint"] == row["endpoint"])]  # fmt: skip
        assert (row["count_min"], row["count_max"]) == (used["count"].min(), used["count"].max())
