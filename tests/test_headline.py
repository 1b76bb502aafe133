"""The headline: exact lines on small synthetic tables, its pooling rules, its length limit."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts

from camrobust.report import headline as hl

WHERE = {
    "summary": "results/tables/summary.md",
    "stats": "results/stats/",
    "per_image": "results/tables/per_image.parquet",
    "report": "results/report.html",
}
MODELS = ("cnn13-erm", "cnn13-vat", "cnn13-lvat_vae")
# H of each (model, noise) cell, levels pooled: gradcam 0.8 on average, eigencam 0.4 over its
# five defined cells, hirescam 0.6.
H = {
    "gradcam": [0.8, 0.9, 0.7, 0.8, 0.8, 0.8],
    "eigencam": [0.4, 0.5, np.nan, 0.3, 0.4, 0.4],
    "hirescam": [0.6, 0.6, 0.6, 0.6, 0.6, 0.6],
}
# RM over rbo (the paper's metric) of the same cells: another order, eigencam first.
RM = {
    "gradcam": [0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
    "eigencam": [0.5, 0.6, 0.4, 0.5, 0.5, 0.5],
    "hirescam": [0.1, 0.3, np.nan, 0.2, 0.2, 0.2],
}


def robust_table(dataset: str = "shapes") -> pd.DataFrame:
    rows = []
    for method, hs in H.items():
        cells = itertools.product(MODELS, ("gaussian", "jpeg"))
        for (model, noise), h, rm in zip(cells, hs, RM[method], strict=True):
            for level, measure in itertools.product(("1", "all"), ("ssim", "pearson", "rbo")):
                # Per-level rows and another measure must not enter the pooled H (nor RM).
                value = h if (level, measure) == ("all", "ssim") else 0.01
                paper = rm if (level, measure) == ("all", "rbo") else 0.02
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "regularizer": model.split("-")[1],
                        "method": method,
                        "noise": noise,
                        "level": level,
                        "measure": measure,
                        "robustness": value,
                        "robustness_lo": value - 0.05,
                        "robustness_hi": value + 0.05,
                        "rm": paper,
                        "rm_lo": paper - 0.1,
                        "rm_hi": paper + 0.1,
                    }
                )
    return pd.DataFrame(rows)


def claims_table(dataset: str = "shapes") -> pd.DataFrame:
    """The pre-specified claims as claims.csv has them: every kind of verdict once."""
    head = {"dataset": dataset, "arch": "cnn13", "method": "all", "level": "all",
            "measure": "ssim", "endpoint": "consistency", "group_b": "erm", "df": 6,
            "claims": 5, "delta": 0.01, "n_methods": 3, "n_levels": 2, "note": ""}  # fmt: skip
    rows = [
        # regulariser, noise, estimate, p_holm, significant, TOST p_holm, equivalent, MDE
        ("lvat_vae", "fgsm", 0.002, 0.9, False, 0.6, False, 0.031),
        ("lvat_vae", "gaussian", -0.02, 0.03, True, 1.0, False, 0.012),
        ("lvat_vae", "jpeg", np.nan, np.nan, np.nan, np.nan, np.nan, np.nan),
        ("vat", "fgsm", -0.001, 1.0, False, 0.02, True, 0.008),
        ("vat", "gaussian", 0.004, 0.41, False, 0.3, False, 0.025),
        ("vat", "jpeg", 0.03, 0.01, True, 1.0, False, 0.02),
    ]
    names = ("group_a", "noise", "effect_size", "p_adjusted", "significant", "p_tost_adjusted",
             "equivalent", "mde")  # fmt: skip
    table = pd.DataFrame([{**head, **dict(zip(names, row, strict=True))} for row in rows])
    return table.assign(ci_lo=table["effect_size"] - 0.01, ci_hi=table["effect_size"] + 0.01)


def accuracy_table(dataset: str = "shapes") -> pd.DataFrame:
    clean = {"cnn13-erm": 0.95, "cnn13-vat": 0.912, "cnn13-lvat_vae": 0.9}
    return pd.DataFrame(
        [
            {"dataset": dataset, "model": m, "noise": "gaussian", "level": lv,
             "accuracy": 0.5, "test_accuracy": acc}
            for m, acc in clean.items()
            for lv in ("0", "1", "3")
        ]
    )  # fmt: skip


EXPECTED = """\
CAM robustness: the answer (the paper's RM = C x R over rbo first; this project's H = 2CR/(C+R) and tests over ssim)

shapes:
- RM over rbo, the paper's metric: most robust CAM method eigencam, RM 0.500 [0.400, 0.600]; least robust hirescam, RM 0.200 [0.100, 0.300] (5 of 6 cells defined) (means over 6 model x noise cells, levels pooled)
- H over ssim, this project's extension: most robust CAM method gradcam, H 0.800 [0.750, 0.850]; least robust eigencam, H 0.400 [0.350, 0.450] (5 of 6 cells defined) (means over 6 model x noise cells, levels pooled)
- regularisers vs erm, pre-specified: per model the mean ssim over 3 CAM methods x levels on the images every model of its seed kept; seed-blocked OLS (df 6), Holm over 5 claims; equivalence: TOST within +-0.010; strata in regularizers.csv: exploratory (BH over the study)
- lvat_vae: fgsm +0.0020 [-0.0080, +0.0120] inconclusive (p_holm 0.9, MDE 0.031); gaussian -0.0200 [-0.0300, -0.0100] lower (p_holm 0.03); jpeg no estimate (see the claims table)
- vat: fgsm -0.0010 [-0.0110, +0.0090] equivalent (TOST p_holm 0.02); gaussian +0.0040 [-0.0060, +0.0140] inconclusive (p_holm 0.41, MDE 0.025); jpeg +0.0300 [+0.0200, +0.0400] higher (p_holm 0.01)
- clean test accuracy 0.900 to 0.950 (3 models)

Full tables: results/tables/summary.md (RM and H (C/R) per model, method and noise), results/stats/ (every test), results/tables/per_image.parquet (every pair)
Report: results/report.html
"""  # noqa: E501


def test_the_headline_lines_on_a_small_run():
    text = hl.headline(robust_table(), claims_table(), accuracy_table(), "ssim", WHERE)
    assert text == EXPECTED


def test_the_headline_is_valid_rst_as_a_line_block():
    """The report's front page shows it as a line block: no markup warnings, every line kept."""
    text = hl.headline(robust_table(), claims_table(), accuracy_table(), "ssim", WHERE)
    block = "\n".join(f"| {line}" if line else "|" for line in text.splitlines())
    html = publish_parts(block, writer="html", settings_overrides={"report_level": 1})
    assert "system-message" not in html["body"]
    assert html["body"].count('<div class="line">') == len(text.splitlines())


def test_method_robustness_pools_models_and_noises_of_the_pooled_levels():
    out = hl.method_robustness(robust_table(), "ssim")
    assert out["method"].tolist() == ["gradcam", "hirescam", "eigencam"]
    np.testing.assert_allclose(out["h"], [0.8, 0.6, 0.4])
    np.testing.assert_allclose(out["hi"] - out["lo"], 0.1)
    assert out["n_defined"].tolist() == [6, 6, 5] and (out["n_cells"] == 6).all()
    with pytest.raises(
        ValueError,
        match="no pooled .level 'all'. rows for measure 'dice'; measures: pearson, rbo, ssim",
    ):
        hl.method_robustness(robust_table(), "dice")
    with pytest.raises(ValueError, match="robustness table lacks columns: robustness_lo"):
        hl.method_robustness(robust_table().drop(columns="robustness_lo"), "ssim")
    # The paper's RM over rbo: the same pooling of its own column.
    paper = hl.method_robustness(robust_table(), "rbo", "rm")
    assert paper["method"].tolist() == ["eigencam", "gradcam", "hirescam"]
    np.testing.assert_allclose(paper["h"], [0.5, 0.3, 0.2])
    assert paper["n_defined"].tolist() == [6, 6, 5]


def test_without_rbo_the_headline_says_the_papers_metric_was_not_computed():
    robust = robust_table()
    robust = robust[robust["measure"] != "rbo"]
    lines = hl.headline(robust, claims_table(), accuracy_table(), "ssim", WHERE).splitlines()
    assert lines[3] == (
        "- RM over rbo, the paper's metric: not computed (rbo is not in metrics.measures)"
    )
    assert lines[4].startswith("- H over ssim, this project's extension: most robust CAM method")


def test_the_headline_stays_within_twenty_lines():
    """Four datasets do not fit: the first is shown (eight lines), the rest named in one line."""
    datasets = ["a", "b", "c", "d"]
    text = hl.headline(
        pd.concat([robust_table(d) for d in datasets]),
        pd.concat([claims_table(d) for d in datasets]),
        pd.concat([accuracy_table(d) for d in datasets]),
        "ssim",
        WHERE,
    )
    lines = text.splitlines()
    assert len(lines) <= hl.MAX_LINES
    assert "a:" in lines and "b:" not in lines
    assert "3 more datasets: see results/tables/summary.md" in lines
    assert lines[-1] == "Report: results/report.html"


def test_a_single_regulariser_and_seed_pooled_accuracy_rows():
    robust = robust_table()
    robust = robust[robust["regularizer"] == "erm"]
    acc = accuracy_table().assign(seed="0")
    pooled = acc.assign(model="cnn13-erm", seed="all", test_accuracy=0.1)
    text = hl.headline(robust, claims_table().iloc[:0], pd.concat([acc, pooled]), "ssim", WHERE)
    assert "- regularisers: only erm trained, nothing to compare" in text.splitlines()
    # The seeds-pooled rows are no model: the range is over the three trained models.
    assert "- clean test accuracy 0.900 to 0.950 (3 models)" in text.splitlines()


def test_the_report_front_page_opens_with_the_headline(tmp_path):
    """report/workflow.rst as Snakemake renders it (Jinja, then docutils): the headline first."""
    from types import SimpleNamespace

    from jinja2 import Environment

    text = hl.headline(robust_table(), claims_table(), accuracy_table(), "ssim", WHERE)
    path = tmp_path / "results" / "tables" / "headline.md"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    files = [SimpleNamespace(path=tmp_path / "other.csv"), SimpleNamespace(path=path)]
    config = SimpleNamespace(config={"datasets": {"shapes": {}}})
    page = (Path(__file__).parents[1] / "report" / "workflow.rst").read_text()
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # Snakemake's settings
    rst = env.from_string(page).render(snakemake=config, categories={}, files=files)
    html = publish_parts(rst, writer="html", settings_overrides={"report_level": 1})["body"]
    assert "system-message" not in html
    first = html.index("CAM robustness: the answer")
    assert first < html.index("- vat: fgsm -0.0010") < html.index("camrobust measures how")
    # Without the file in the report, the page is the description alone.
    rst = env.from_string(page).render(snakemake=config, categories={}, files=files[:1])
    assert rst.lstrip().startswith("camrobust measures how robust")


def test_one_model_per_regularizer_is_not_called_a_regularizer_effect():
    """With one training seed the claims cannot be tested: estimates only, and the line says why."""
    note = "one model per regularizer: the seed-to-seed variation is not measured, so ..."
    single = claims_table().assign(
        note=note, p_adjusted=np.nan, significant=np.nan, p_tost_adjusted=np.nan, df=0
    )
    lines = hl.headline(robust_table(), single, accuracy_table(), "ssim", WHERE).splitlines()
    assert lines[5] == (
        "- regularisers vs erm: one model a side, untested (set training.seeds); estimates of "
        "the mean consistency on images every model kept"
    )
    assert lines[7] == "- vat: fgsm -0.0010; gaussian +0.0040; jpeg +0.0300"
    assert "higher" not in "\n".join(lines) and "equivalent" not in "\n".join(lines)


def test_claims_of_several_architectures_are_named_by_architecture():
    both = pd.concat([claims_table(), claims_table().assign(arch="vgg11_bn")], ignore_index=True)
    lines = hl.headline(robust_table(), both, accuracy_table(), "ssim", WHERE).splitlines()
    assert [line.split(":")[0] for line in lines[6:10]] == [
        "- cnn13 lvat_vae",
        "- vgg11_bn lvat_vae",
        "- cnn13 vat",
        "- vgg11_bn vat",
    ]
    # a family without a claim of a regulariser (no usable model): said, not skipped
    fewer = both[~((both["group_a"] == "vat") & (both["noise"] == "fgsm"))]
    lines = hl.headline(robust_table(), fewer, accuracy_table(), "ssim", WHERE).splitlines()
    assert lines[8].startswith("- cnn13 vat: fgsm no estimate (see the claims table); gaussian")
    with pytest.raises(ValueError, match="claims table lacks columns: mde"):
        hl.headline(robust_table(), both.drop(columns="mde"), accuracy_table(), "ssim", WHERE)


def test_a_noise_of_one_level_speaks_for_itself_in_the_headline():
    """FGSM at one ε has no pooled row: its only level's rows are its levels-pooled answer
    (the forest plot and the replication read regularizers.csv so)."""
    from camrobust.frames import levels_pooled

    table = strata_table()
    one = table[(table["level"] == "3") & (table["noise"] == "gaussian")]
    fgsm = one.assign(noise="fgsm", level="8", effect_size=0.5)
    both = pd.concat([table, fgsm], ignore_index=True)
    rows = levels_pooled(both)
    assert set(rows["level"]) == {"all", "8"}
    assert (rows.loc[rows["level"] == "8", "noise"] == "fgsm").all()
    assert len(rows) == len(table[table["level"] == "all"]) + len(fgsm)


def test_placebos_leave_the_ranking_and_groups_of_identical_maps_are_named_once():
    """randomcam (a placebo) is the least robust and hirescam repeats gradcam's maps on two of
    the three models: neither enters the ranking there (hirescam keeps the third model's cells);
    the paper's line gives the margin over the best placebo (eigencam's RM 0.5 against
    randomcam's 0.2) and names the group."""
    robust = robust_table()
    placebo = robust[robust["method"] == "eigencam"].assign(method="randomcam")
    for score in ("robustness", "rm"):
        placebo[score] = np.where(placebo[score] > 0.1, 0.2, placebo[score])
    robust = pd.concat([robust, placebo], ignore_index=True)
    robust["placebo"] = robust["method"] == "randomcam"
    twin = (robust["method"] == "hirescam") & (robust["model"] != "cnn13-lvat_vae")
    robust["same_as"] = np.where(twin, "gradcam", "")
    text = hl.headline(robust, claims_table(), accuracy_table(), "ssim", WHERE)
    paper, extension = text.splitlines()[3:5]
    assert paper == (
        "- RM over rbo, the paper's metric: most robust CAM method eigencam, RM 0.500 "
        "[0.400, 0.600]; least robust hirescam, RM 0.200 [0.100, 0.300] (means over 6 model x "
        "noise cells, levels pooled); most robust minus best placebo (randomcam, RM 0.200): "
        "+0.300; same maps at the CAM layer: gradcam = hirescam (2 of 3 models)"
    )
    assert extension == (
        "- H over ssim, this project's extension: most robust CAM method gradcam, H 0.800 "
        "[0.750, 0.850]; least robust eigencam, H 0.400 [0.350, 0.450] (5 of 6 cells defined) "
        "(means over 6 model x noise cells, levels pooled)"
    )
    # without the columns (a table from before placebos) the line is as it was
    assert hl.headline(robust_table(), claims_table(), accuracy_table(), "ssim", WHERE) == EXPECTED


def test_a_same_as_column_read_back_empty_names_no_group():
    """A CSV whose same_as cells are all empty reads back as a float column of NaN: the
    headline is the one without the column, not a type error."""
    robust = robust_table().assign(same_as=np.nan, placebo=False)
    assert hl.headline(robust, claims_table(), accuracy_table(), "ssim", WHERE) == EXPECTED


def strata_table() -> pd.DataFrame:
    """Regulariser strata as regularizers.csv has them: levels pooled and one level."""
    rows = []
    for method, noise in itertools.product(
        ("gradcam", "eigencam", "hirescam"), ("gaussian", "jpeg")
    ):
        head = {"dataset": "shapes", "arch": "cnn13", "method": method, "noise": noise,
                "measure": "ssim", "group_a": "vat", "group_b": "erm"}  # fmt: skip
        rows += [
            {**head, "level": "all", "effect_size": 0.01},
            {**head, "level": "3", "effect_size": 9.0},
        ]
    return pd.DataFrame(rows)
