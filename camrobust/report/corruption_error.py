"""The corruption error table of ImageNet-C and RobustBench (Hendrycks & Dietterich, ICLR 2019).

Per model and corruption family f, with E_s the top-1 error at severity s and E_clean the clean
error (on the evaluation images):

- error: the mean of E_s over the configured severities;
- CE_f = Σ_s E_s / Σ_s E_s^ref, the corruption error relative to a reference model;
- relative CE_f = Σ_s (E_s − E_clean) / Σ_s (E_s^ref − E_clean^ref), which asks how much
  of the accuracy a corruption takes away rather than how much is left.

The row of noise "all" holds the means over the families: the mean error, mCE and relative mCE.
The paper normalises by AlexNet's errors; here the reference is a model of the run (the config's
`report.corruption_error_reference`: a regulariser, whose model of the same architecture and
training seed each model is compared with, or the name of one `models` entry for all). Both
ratios are 1 for the reference itself. A ratio whose reference is missing, or whose denominator
is not positive (a reference without error, or not degraded by the corruption), is NaN with the
reason in `note`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from camrobust.frames import require_columns
from camrobust.names import CLEAN_LEVEL, is_user_model, model_name, split_model
from camrobust.report.accuracy import POOLED_SEEDS

ALL_FAMILIES = "all"  # the `noise` of the rows averaged over the families
KEYS = ("dataset", "model", "arch", "regularizer")
COLUMNS = (*KEYS, "noise", "n_levels", "error", "clean_error", "reference", "reference_error")
COLUMNS += ("reference_clean_error", "ce", "relative_ce", "note")


def family_errors(accuracy: pd.DataFrame, corruptions: Sequence[str]) -> pd.DataFrame:
    """Per (dataset, model, corruption family): its severities' mean error, their number, and the
    model's clean error; from the accuracy table's per-model rows."""
    require_columns(accuracy, (*KEYS, "noise", "level", "accuracy"), "accuracy table")
    rows = accuracy.astype({"level": str, "noise": str})
    if "seed" in rows:  # the rows pooled over seeds are not models
        rows = rows[rows["seed"].astype(str) != POOLED_SEEDS]
    rows = rows[rows["noise"].isin(list(corruptions))]
    clean = rows[rows["level"] == CLEAN_LEVEL].groupby(list(KEYS))["accuracy"].first()
    noisy = rows[rows["level"] != CLEAN_LEVEL]
    out = (
        noisy.groupby([*KEYS, "noise"], sort=True)["accuracy"]
        .agg(error=lambda a: float(np.mean(1.0 - a)), n_levels="size")
        .reset_index()
    )
    out["clean_error"] = 1.0 - clean.reindex(pd.MultiIndex.from_frame(out[list(KEYS)])).to_numpy()
    return out


def reference_of(model: str, reference: Mapping[str, str]) -> str | None:
    """The model `model` is compared with: a named model, or the model of the reference
    regulariser with the same architecture and training seed (None for a user's model, which
    has neither)."""
    if reference["kind"] == "model":
        return reference["name"]
    if is_user_model(model):
        return None
    arch, _, seed = split_model(model)
    return model_name(arch, reference["name"], seed)


def _ratio(num: float, den: float, what: str) -> tuple[float, str]:
    """num / den, or NaN with the reason when den is not positive."""
    if not np.isfinite(den) or den <= 0:
        return np.nan, f"{what} undefined: reference denominator {den:.4g} is not positive"
    return num / den, ""


def corruption_error_table(
    accuracy: pd.DataFrame, *, corruptions: Sequence[str], reference: Mapping[str, str]
) -> pd.DataFrame:
    """Per model: CE and relative CE per corruption family, then their means (noise "all":
    mCE and relative mCE); `reference` is {"kind": "regularizer" or "model", "name": ...}.
    Columns: COLUMNS."""
    errors = family_errors(accuracy, corruptions)
    lookup = errors.set_index(["dataset", "model", "noise"])
    records = []
    for row in errors.itertuples(index=False):
        ref = reference_of(row.model, reference)
        record = {**row._asdict(), "reference": ref or "", "note": ""}
        key = (row.dataset, ref, row.noise)
        if ref is None or key not in lookup.index:
            missing = "a user's model has no training seed" if ref is None else f"{ref} not run"
            record.update(reference_error=np.nan, reference_clean_error=np.nan, ce=np.nan)
            record.update(relative_ce=np.nan, note=f"no reference model ({missing})")
        else:
            other = lookup.loc[key]
            ce, ce_note = _ratio(row.error, other["error"], "CE")
            drop = row.error - row.clean_error
            relative, rel_note = _ratio(drop, other["error"] - other["clean_error"], "relative CE")
            record.update(reference_error=other["error"], ce=ce, relative_ce=relative)
            record.update(reference_clean_error=other["clean_error"])
            record["note"] = "; ".join(n for n in (ce_note, rel_note) if n)
        records.append(record)
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    means = [_family_mean(sub) for _, sub in table.groupby(["dataset", "model"], sort=True)]
    return pd.concat([table, pd.DataFrame.from_records(means, columns=list(COLUMNS))]).sort_values(
        ["dataset", "model"], kind="stable", ignore_index=True
    )


def _family_mean(rows: pd.DataFrame) -> dict:
    """One model's row of noise "all": the means over its families (mCE: over the families
    whose CE is defined, the others named in the note)."""
    first = rows.iloc[0]
    record = {k: first[k] for k in (*KEYS, "reference")}
    record.update(noise=ALL_FAMILIES, n_levels=int(rows["n_levels"].sum()))
    notes = []
    for column in ("error", "clean_error", "reference_error", "reference_clean_error"):
        record[column] = float(rows[column].mean())
    for column, name in (("ce", "mCE"), ("relative_ce", "relative mCE")):
        defined = rows[column].notna()
        record[column] = float(rows.loc[defined, column].mean()) if defined.any() else np.nan
        if not defined.all():
            left = ", ".join(rows.loc[~defined, "noise"])
            notes.append(f"{name} over {int(defined.sum())} of {len(rows)} families (not {left})")
    record["note"] = "; ".join(notes)
    return record
