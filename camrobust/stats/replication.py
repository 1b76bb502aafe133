"""Do two runs reach the same regulariser conclusions? Compare their model-level tables.

Two runs of one config that differ only in the global `seed` differ in much more than their
networks: a new global seed draws a new dataset (shapes is generated from it), other evaluation
images, other corruption and attack draws, other generative models (VAE, Glow) and other
networks (initial weights, batches, VAT's directions). A conclusion that survives it holds for
that whole population of runs, not only for other initialisations.

Per comparison (dataset, architecture, method, noise, measure, endpoint, level, regulariser vs
reference) each run gives an estimate with its standard error. With reference values:

- z = (a − b)/√(se_a² + se_b²) and the share with |z| > 1.96, next to the share expected if
  both runs estimate the same effect (each z is t-distributed with the Welch-Satterthwaite ν of
  the two residual dfs: P(|t_ν| > 1.96), above 5 % for small ν);
- the share of run B's estimates inside run A's 95 % prediction interval a ± t_ν,0.975 ·
  √(se_a² + se_b²) (expected 95 %);
- agreement (significant in both with the same sign / significant in either) next to the
  agreement expected from run A's estimates and standard errors: with p_i the power of a run
  like A to find comparison i at its significance threshold if the true effect were a_i,
  Σ p_i² / Σ (2 p_i − p_i²) (a plug-in value: selected estimates overstate their effects);
- agreement counted per (noise family × regulariser) cluster of comparisons, whose methods
  share their models and are one finding rather than many.

    python -m camrobust.stats.replication runA/results/stats/regularizers.csv \\
        runB/results/stats/regularizers.csv [--endpoint consistency] [--alpha 0.05]

(the headline claims, results/stats/claims.csv, compare the same way).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from camrobust.columns import COMPARISON_KEYS
from camrobust.frames import levels_pooled, require_columns

KEYS = (*COMPARISON_KEYS, "endpoint", "level")
CLUSTER_KEYS = ("dataset", "arch", "noise", "measure", "endpoint", "group_a", "group_b")
Z_CUT = 1.96
SUMMARY_COLUMNS = (
    "rows", "comparisons", "significant_a", "significant_b", "both_same_sign",
    "both_opposite_sign", "a_only", "b_only", "agreement", "expected_agreement",
    "effect_correlation", "z_comparisons", "z_exceed", "z_exceed_expected", "pi_coverage",
    "clusters", "clusters_either", "clusters_same_sign", "cluster_agreement",
)  # fmt: skip


def _direction(table: pd.DataFrame) -> np.ndarray:
    """+1 / -1 for a significant higher / lower effect, 0 otherwise."""
    significant = table["significant"].astype(str) == "True"
    sign = np.sign(table["effect_size"].to_numpy(dtype=float))
    return np.where(significant, sign, 0).astype(int)


def _threshold(table: pd.DataFrame, alpha: float) -> float:
    """The raw p-value a comparison of `table` had to beat: the largest p of its significant
    rows (what the step-up or step-down correction accepted), α/m when none was significant."""
    p = table["p_value"].to_numpy(dtype=float)
    significant = (table["significant"].astype(str) == "True").to_numpy()
    if significant.any():
        return float(np.nanmax(p[significant]))
    return alpha / max(int(np.isfinite(p).sum()), 1)


def joined(first: pd.DataFrame, second: pd.DataFrame, endpoint: str, alpha: float) -> pd.DataFrame:
    """One row per comparison of `endpoint` in both runs: estimates, SEs, dfs, directions,
    z, its ν, whether B is inside A's prediction interval, and A's power p_i."""
    parts = {}
    for name, table in (("a", first), ("b", second)):
        what = f"{'first' if name == 'a' else 'second'} table"
        require_columns(table, (*KEYS, "effect_size", "se", "df", "p_value", "significant"), what)
        table = table[table["endpoint"].astype(str) == endpoint]
        if table.duplicated(list(KEYS)).any():
            raise ValueError(f"{what} has several rows per comparison ({', '.join(KEYS)})")
        threshold = _threshold(table, alpha)
        parts[name] = pd.DataFrame(
            {
                f"effect_{name}": table["effect_size"].to_numpy(dtype=float),
                f"se_{name}": table["se"].to_numpy(dtype=float),
                f"df_{name}": table["df"].to_numpy(dtype=float),
                f"dir_{name}": _direction(table),
                f"threshold_{name}": threshold,
            },
            index=pd.MultiIndex.from_frame(table[list(KEYS)].astype(str)),
        )
    both = parts["a"].join(parts["b"], how="inner")
    missing = len(parts["a"]) + len(parts["b"]) - 2 * len(both)
    if missing:
        raise ValueError(f"the tables differ in {missing} comparisons: not runs of one design")
    return _with_reference_values(both.reset_index())


def _with_reference_values(df: pd.DataFrame) -> pd.DataFrame:
    """z, its Welch-Satterthwaite ν, the prediction-interval check and A's power per row."""
    va, vb = df["se_a"] ** 2, df["se_b"] ** 2
    spread = np.sqrt(va + vb)
    nu = (va + vb) ** 2 / (va**2 / df["df_a"] + vb**2 / df["df_b"])
    diff = df["effect_a"] - df["effect_b"]
    ok = np.isfinite(spread) & (spread > 0) & (df["df_a"] > 0) & (df["df_b"] > 0)
    df["z"] = (diff / spread).where(ok)
    df["nu"] = nu.where(ok)
    half = stats.t.ppf(0.975, df["nu"]) * spread
    df["inside_pi"] = (diff.abs() <= half).where(ok)
    q = stats.t.ppf(1 - df["threshold_a"] / 2, df["df_a"])
    ncp = (df["effect_a"].abs() / df["se_a"]).where(ok)
    df["power_a"] = stats.nct.sf(q, df["df_a"], ncp)
    return df


def _cluster_direction(directions: pd.Series) -> int:
    """+1 / -1: significant rows of one sign only; 0: none; 2: both signs (never agrees)."""
    signs = set(directions[directions != 0])
    return 2 if len(signs) > 1 else (signs.pop() if signs else 0)


def _summary(rows: str, part: pd.DataFrame) -> dict:
    """The counts, agreements and reference values of one set of comparisons."""
    da, db = part["dir_a"], part["dir_b"]
    either, same = (da != 0) | (db != 0), (da != 0) & (da == db)
    finite = part[["effect_a", "effect_b"]].dropna()
    p = part["power_a"].dropna()
    tested = part.dropna(subset=["z"])
    clusters = part.groupby(list(CLUSTER_KEYS), sort=True)[["dir_a", "dir_b"]].agg(
        _cluster_direction
    )
    c_either = (clusters["dir_a"] != 0) | (clusters["dir_b"] != 0)
    c_same = (clusters["dir_a"] != 0) & (clusters["dir_a"] == clusters["dir_b"])
    c_same &= clusters["dir_a"] != 2
    return {
        "rows": rows,
        "comparisons": len(part),
        "significant_a": int((da != 0).sum()),
        "significant_b": int((db != 0).sum()),
        "both_same_sign": int(same.sum()),
        "both_opposite_sign": int(((da * db) < 0).sum()),
        "a_only": int(((da != 0) & (db == 0)).sum()),
        "b_only": int(((da == 0) & (db != 0)).sum()),
        "agreement": float(same.sum() / either.sum()) if either.any() else np.nan,
        "expected_agreement": float((p**2).sum() / (2 * p - p**2).sum()) if p.sum() else np.nan,
        "effect_correlation": (
            float(np.corrcoef(finite["effect_a"], finite["effect_b"])[0, 1])
            if len(finite) > 2
            else np.nan
        ),
        "z_comparisons": len(tested),
        "z_exceed": float((tested["z"].abs() > Z_CUT).mean()) if len(tested) else np.nan,
        "z_exceed_expected": (
            float((2 * stats.t.sf(Z_CUT, tested["nu"])).mean()) if len(tested) else np.nan
        ),
        "pi_coverage": float(tested["inside_pi"].astype(bool).mean()) if len(tested) else np.nan,
        "clusters": len(clusters),
        "clusters_either": int(c_either.sum()),
        "clusters_same_sign": int(c_same.sum()),
        "cluster_agreement": float(c_same.sum() / c_either.sum()) if c_either.any() else np.nan,
    }


def replication(
    first: pd.DataFrame, second: pd.DataFrame, endpoint: str = "consistency", alpha: float = 0.05
) -> pd.DataFrame:
    """One summary row for the levels-pooled rows ("pooled"; a noise of one level: that level's
    rows) and one for every row ("all") of `endpoint` (SUMMARY_COLUMNS; the module docstring
    defines them). `alpha` is the runs' stats.alpha (used when a run found nothing).
    `agreement` is NaN when neither run found anything, which the counts show."""
    df = joined(first, second, endpoint, alpha)
    pooled = levels_pooled(df)
    records = [_summary("pooled", pooled), _summary("all", df)]
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="regularizers.csv (or claims.csv) of one run")
    parser.add_argument("second", help="the same table of a run with another global seed")
    parser.add_argument("--endpoint", default="consistency", help="which endpoint's rows")
    parser.add_argument("--alpha", type=float, default=0.05, help="the runs' stats.alpha")
    args = parser.parse_args(argv)
    try:
        tables = [pd.read_csv(path, dtype={"level": str}) for path in (args.first, args.second)]
        summary = replication(*tables, endpoint=args.endpoint, alpha=args.alpha)
    except (OSError, ValueError) as err:
        print(f"replication: {err}", file=sys.stderr)
        return 1
    print(summary.T.to_string(header=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
