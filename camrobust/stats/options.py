"""The stats and claims stages' options, validated once at their entry; the tests trust them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from camrobust.names import REFERENCE

# The corrections `stats.correction` allows (the schema's enum, tests/test_stats.py checks):
# statsmodels multipletests' one-step and step-wise methods by their canonical names. Its
# two-stage FDR methods are left out: they estimate the number of true nulls, and their
# adjusted p-values are not comparable with alpha in the same way.
CORRECTIONS = (
    "holm",
    "bonferroni",
    "holm-sidak",
    "sidak",
    "simes-hochberg",
    "hommel",
    "fdr_bh",
    "fdr_by",
)
# stratum: each test's own family (pairwise rows of one stratum, omnibus rows of one measure,
# the terms of one fit); study: every row of a results table is one family.
CORRECTION_SCOPES = ("stratum", "study")
CONFIG_KEYS = ("alpha", "correction", "correction_scope", "min_pairs", "measures")


@dataclass(frozen=True)
class StatsOptions:
    """Significance level, correction and its scope, the fewest pairs a test needs, the measures.

    Built (and checked) once by `stats_options`; `reference` is the regulariser every other one
    is compared with.
    """

    alpha: float
    correction: str
    correction_scope: str
    min_pairs: int
    measures: tuple[str, ...]
    reference: str = REFERENCE


def _alpha(alpha: Any) -> float:
    """alpha as a float strictly between 0 and 1."""
    value = float(alpha)
    if not 0.0 < value < 1.0:
        raise ValueError(f"stats.alpha must lie strictly between 0 and 1, got {alpha!r}")
    return value


def _correction(correction: Any) -> str:
    """`correction`, one of CORRECTIONS (multipletests' canonical names)."""
    if correction not in CORRECTIONS:
        raise ValueError(
            f"stats.correction: unknown correction {correction!r}; allowed: "
            + ", ".join(CORRECTIONS)
        )
    return str(correction)


def _scope(scope: Any) -> str:
    """The correction scope, one of CORRECTION_SCOPES."""
    if scope not in CORRECTION_SCOPES:
        raise ValueError(
            f"stats.correction_scope must be one of {', '.join(CORRECTION_SCOPES)}, got {scope!r}"
        )
    return str(scope)


def _min_pairs(min_pairs: Any) -> int:
    """min_pairs as an integer of at least 2 (no test runs on fewer)."""
    if isinstance(min_pairs, bool) or int(min_pairs) != min_pairs or min_pairs < 2:
        raise ValueError(f"stats.min_pairs must be an integer >= 2, got {min_pairs!r}")
    return int(min_pairs)


def _measures(measures: Any) -> tuple[str, ...]:
    """The measures as a non-empty tuple of column names."""
    if isinstance(measures, str) or not all(isinstance(m, str) for m in measures):
        raise TypeError("stats.measures must be a list of similarity column names")
    out = tuple(measures)
    if not out:
        raise ValueError("stats.measures is empty: name at least one similarity column")
    return out


def stats_options(config: Mapping[str, Any], reference: str = REFERENCE) -> StatsOptions:
    """The one validation of the `stats:` config section (every key present, as the schema fills).

    Raises a one-line error naming the key that is wrong.
    """
    missing = [k for k in CONFIG_KEYS if k not in config]
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    problems = [f"missing {', '.join(missing)}"] if missing else []
    problems += [f"unknown {', '.join(unknown)}"] if unknown else []
    if problems:
        raise ValueError(f"stats options: {'; '.join(problems)}")
    return StatsOptions(
        alpha=_alpha(config["alpha"]),
        correction=_correction(config["correction"]),
        correction_scope=_scope(config["correction_scope"]),
        min_pairs=_min_pairs(config["min_pairs"]),
        measures=_measures(config["measures"]),
        reference=reference,
    )


# The claims stage (camrobust/stats/claims.py): one claim per (dataset, architecture, noise).
CLAIM_KEYS = ("dataset", "arch", "noise")
CLAIM_CONFIG_KEYS = ("alpha", "min_pairs", "measure", "smallest_effect", "permutations", "seed")


@dataclass(frozen=True)
class ClaimOptions:
    """The claims job's settings (`claim_options` checks them); `reference` is the baseline."""

    alpha: float
    min_pairs: int
    measure: str
    smallest_effect: float
    permutations: int
    seed: int
    reference: str

    @property
    def stats(self) -> StatsOptions:
        """The options the OLS rows of models.stratum_rows read."""
        return StatsOptions(
            self.alpha, "holm", "stratum", self.min_pairs, (self.measure,), self.reference
        )


def claim_options(params: Mapping[str, Any], reference: str) -> ClaimOptions:
    """The claims job's params checked once (every key of CLAIM_CONFIG_KEYS), one-line errors."""
    missing = [k for k in CLAIM_CONFIG_KEYS if k not in params]
    if missing:
        raise ValueError(f"claims options: missing {', '.join(missing)}")
    delta = float(params["smallest_effect"])
    if not delta > 0:
        raise ValueError(f"claims.smallest_effect must be positive, got {delta!r}")
    if int(params["permutations"]) < 1:
        raise ValueError(f"claims.permutations must be positive, got {params['permutations']!r}")
    return ClaimOptions(
        alpha=_alpha(params["alpha"]),
        min_pairs=_min_pairs(params["min_pairs"]),
        measure=str(params["measure"]),
        smallest_effect=delta,
        permutations=int(params["permutations"]),
        seed=int(params["seed"]),
        reference=reference,
    )
