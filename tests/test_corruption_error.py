"""The corruption error table against a hand computation (Hendrycks & Dietterich's CE and
relative CE, with a model of the run as the reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from camrobust.report.corruption_error import corruption_error_table

ERM, VAT = "resnet18-erm-s0", "resnet18-vat-s0"
# accuracy per (model, noise): clean, then severities 1 and 5
ACCURACY = {
    (ERM, "gaussian"): (0.90, 0.80, 0.60),
    (ERM, "blur"): (0.90, 0.70, 0.50),
    (ERM, "contrast"): (0.90, 0.90, 0.90),  # ERM is not degraded: relative CE undefined
    (VAT, "gaussian"): (0.95, 0.90, 0.70),
    (VAT, "blur"): (0.95, 0.60, 0.40),
    (VAT, "contrast"): (0.95, 0.95, 0.85),
}


def _accuracy_table() -> pd.DataFrame:
    """Rows as accuracy.csv has them: per model, noise and level (0 = clean); an attack and the
    seed-pooled rows, which the table must leave out."""
    rows = []
    for (model, noise), values in ACCURACY.items():
        for level, value in zip(("0", "1", "5"), values, strict=True):
            reg = model.split("-")[1]
            rows.append((model, "0", reg, noise, level, value))
    rows.append((ERM, "0", "erm", "fgsm", "8", 0.1))
    rows.append(("resnet18-erm", "all", "erm", "gaussian", "1", 0.0))
    frame = pd.DataFrame(
        rows, columns=["model", "seed", "regularizer", "noise", "level", "accuracy"]
    )
    return frame.assign(dataset="shapes", arch="resnet18")


def _row(table: pd.DataFrame, model: str, noise: str) -> pd.Series:
    (index,) = np.flatnonzero((table["model"] == model) & (table["noise"] == noise))
    return table.iloc[index]


def test_ce_and_relative_ce_against_the_hand_computation():
    table = corruption_error_table(
        _accuracy_table(),
        corruptions=["gaussian", "blur", "contrast"],
        reference={"kind": "regularizer", "name": "erm"},
    )
    assert set(table["noise"]) == {"gaussian", "blur", "contrast", "all"}  # no fgsm
    assert set(table["model"]) == {ERM, VAT}
    vat = {noise: _row(table, VAT, noise) for noise in ("gaussian", "blur", "contrast", "all")}
    # gaussian: errors 0.10, 0.30 against ERM's 0.20, 0.40; clean errors 0.05 and 0.10
    assert vat["gaussian"]["error"] == pytest.approx(0.2)
    assert vat["gaussian"]["clean_error"] == pytest.approx(0.05)
    assert vat["gaussian"]["reference"] == ERM
    assert vat["gaussian"]["ce"] == pytest.approx((0.1 + 0.3) / (0.2 + 0.4))
    assert vat["gaussian"]["relative_ce"] == pytest.approx((0.05 + 0.25) / (0.1 + 0.3))
    # blur: 0.40, 0.60 against 0.30, 0.50
    assert vat["blur"]["ce"] == pytest.approx(1.0 / 0.8)
    assert vat["blur"]["relative_ce"] == pytest.approx((0.35 + 0.55) / (0.2 + 0.4))
    # contrast: ERM keeps its clean accuracy, so the relative CE has no denominator
    assert vat["contrast"]["ce"] == pytest.approx((0.05 + 0.15) / (0.1 + 0.1))
    assert np.isnan(vat["contrast"]["relative_ce"])
    assert "relative CE undefined" in vat["contrast"]["note"]
    # mCE over all three families; relative mCE over the two where it is defined, said so
    assert vat["all"]["ce"] == pytest.approx((0.4 / 0.6 + 1.25 + 1.0) / 3)
    assert vat["all"]["relative_ce"] == pytest.approx((0.75 + 1.5) / 2)
    assert vat["all"]["note"] == "relative mCE over 2 of 3 families (not contrast)"
    assert vat["all"]["error"] == pytest.approx((0.2 + 0.5 + 0.1) / 3)
    assert vat["all"]["n_levels"] == 6
    # the reference against itself
    erm = table[table["model"] == ERM]
    assert erm["ce"].tolist() == pytest.approx([1.0] * 4)
    assert erm.loc[erm["noise"] != "contrast", "relative_ce"].tolist() == pytest.approx([1.0] * 3)


def test_a_missing_reference_is_nan_with_its_reason_and_a_model_can_be_the_reference():
    accuracy = _accuracy_table()
    lone = accuracy[accuracy["model"] == VAT].assign(model="resnet18-vat-s1")
    both = pd.concat([accuracy, lone], ignore_index=True)
    table = corruption_error_table(
        both, corruptions=["gaussian"], reference={"kind": "regularizer", "name": "erm"}
    )
    orphan = _row(table, "resnet18-vat-s1", "gaussian")
    assert np.isnan(orphan["ce"]) and np.isnan(orphan["relative_ce"])
    assert orphan["note"] == "no reference model (resnet18-erm-s1 not run)"
    assert _row(table, "resnet18-vat-s1", "all")["note"] == (
        "mCE over 0 of 1 families (not gaussian); relative mCE over 0 of 1 families (not gaussian)"
    )
    user = accuracy[accuracy["model"] == VAT].assign(model="vit", regularizer="pretrained")
    table = corruption_error_table(
        user, corruptions=["gaussian"], reference={"kind": "regularizer", "name": "erm"}
    )
    assert _row(table, "vit", "gaussian")["note"] == (
        "no reference model (a user's model has no training seed)"
    )
    assert _row(table, "vit", "gaussian")["reference"] == ""
    named = corruption_error_table(
        accuracy, corruptions=["gaussian"], reference={"kind": "model", "name": VAT}
    )
    assert _row(named, ERM, "gaussian")["ce"] == pytest.approx(0.6 / 0.4)
    assert _row(named, VAT, "gaussian")["reference"] == VAT
