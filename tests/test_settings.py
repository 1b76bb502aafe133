"""The settings objects: built from the params the plan hands each rule, with the schema's
values, checked when built (a one-line error naming the config key), frozen and hashable."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from camrobust.config import schema_default, schema_defaults, validate_config
from camrobust.noise.settings import AttackSettings, ExplanationAttackSettings
from camrobust.plan import Plan
from camrobust.train.schedule import SCHEDULE_KEYS
from camrobust.train.settings import GlowSettings, TrainSettings, VAESettings

# Every key at the schema's default but what a run must name: a dataset and the attacks' budgets.
CONFIG = {
    "datasets": {"shapes": {"source": "shapes"}},
    "regularizers": {"erm": {}, "vat": {}, "lvat_vae": {}, "lvat_glow": {}},
    "noise": {
        "adversarial": {
            "fgsm": {"eps": [8]},
            "pgd": {"eps": [2]},
            "explanation_attack": {"eps": [4]},
        }
    },
}
PLAN = Plan(validate_config(CONFIG))
MODEL = "resnet18-vat-s0"


def _no_eps(definition: str) -> dict[str, Any]:
    return {k: v for k, v in schema_defaults(definition).items() if k != "eps"}


def built(cls: type) -> Any:
    """`cls` built from the params the plan gives its rule for CONFIG."""
    params = {
        TrainSettings: lambda: PLAN.train.params("shapes", MODEL),
        VAESettings: lambda: PLAN.train.generative_params("shapes", "vae", 0),
        GlowSettings: lambda: PLAN.train.generative_params("shapes", "glow", 0),
        AttackSettings: lambda: PLAN.noise.attack_params("shapes", MODEL, "pgd", "2"),
        ExplanationAttackSettings: lambda: PLAN.noise.explanation_attack_params(
            "shapes", MODEL, "4", "gradcam"
        ),
    }[cls]()
    return cls.from_config(params)


CLASSES = [TrainSettings, VAESettings, GlowSettings, AttackSettings, ExplanationAttackSettings]
# The schema section whose keys name each class's fields.
SECTIONS = {
    TrainSettings: schema_defaults("training"),
    VAESettings: schema_defaults("vae"),
    GlowSettings: schema_defaults("glow"),
    AttackSettings: schema_defaults("pgd"),
    ExplanationAttackSettings: schema_defaults("explanation_attack"),
}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_field_named_like_a_schema_key_has_no_default_or_the_schemas(cls):
    """The schema is the one place defaults live; the fields with one are no config keys."""
    section = SECTIONS[cls]
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING:
            continue
        assert field.name not in section or field.default == section[field.name], field.name
    defaulted = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    assert not defaulted & set(section), defaulted & set(section)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_settings_are_frozen_and_hashable(cls):
    settings = built(cls)
    assert hash(settings) == hash(built(cls)) and settings == built(cls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.device = "cpu"


def test_train_settings_from_the_plan_hold_the_schemas_values():
    training, settings = schema_defaults("training"), built(TrainSettings)
    assert dict(settings.schedule) == {k: training[k] for k in SCHEDULE_KEYS}
    assert list(dict(settings.schedule)) == list(SCHEDULE_KEYS)
    assert dict(settings.augment) == training["augment"]
    assert settings.recalibrate_bn == training["recalibrate_bn"]
    assert (settings.regularizer, dict(settings.reg_params)) == ("vat", schema_defaults("vat"))
    assert (settings.seed, settings.device) == (PLAN.train.params("shapes", MODEL)["seed"], "auto")


@pytest.mark.parametrize(("cls", "kind"), [(VAESettings, "vae"), (GlowSettings, "glow")])
def test_generative_settings_from_the_plan_hold_the_schemas_values(cls, kind):
    settings = built(cls)
    for key, value in schema_defaults(kind).items():
        got = getattr(settings, key)
        assert (list(got) if isinstance(got, tuple) else got) == value, key
    assert settings.seed == PLAN.train.generative_params("shapes", kind, 0)["seed"]


def test_attack_settings_from_the_plan_hold_the_schemas_values():
    settings = built(AttackSettings)
    assert (settings.name, settings.eps, dict(settings.options)) == ("pgd", 2, _no_eps("pgd"))
    assert settings.batch_size == schema_default("noise", "batch_size")
    assert settings.seed == (PLAN.seed, "shapes", MODEL, "pgd", "2")
    explanation = built(ExplanationAttackSettings)
    options = {k: getattr(explanation, k) for k in _no_eps("explanation_attack")}
    assert options == _no_eps("explanation_attack")
    assert (explanation.method, explanation.eps, explanation.target_layer) == (
        "gradcam",
        4,
        "layer4",
    )
    assert (explanation.layout, explanation.prefix_tokens) == (None, None)


def _changed(cls: type, **changes: Any) -> Any:
    return dataclasses.replace(built(cls), **changes)


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: _changed(TrainSettings, regularizer="mixup"), "unknown regularizer 'mixup'"),
        (lambda: _changed(TrainSettings, reg_params={"epsilon": 1}), "unknown reg_params"),
        (
            lambda: _changed(
                TrainSettings, schedule={**dict(built(TrainSettings).schedule), "epoch": 3}
            ),
            "schedule: unknown keys",
        ),
        (
            lambda: _changed(
                TrainSettings, schedule={**dict(built(TrainSettings).schedule), "epochs": 0}
            ),
            "training.epochs must be > 0",
        ),
        (
            lambda: _changed(
                TrainSettings, schedule={**dict(built(TrainSettings).schedule), "lr": -1.0}
            ),
            "training.lr must be > 0",
        ),
        (
            lambda: _changed(TrainSettings, augment={"translate": -1, "flip": False}),
            "augment: translate must be an integer >= 0",
        ),
        (lambda: _changed(VAESettings, lr=0.0), "generative.vae.lr must be > 0"),
        (lambda: _changed(VAESettings, translate=-2), "generative.vae.translate must be"),
        (lambda: _changed(VAESettings, grad_clip=0.0), "generative.vae.grad_clip must be > 0"),
        (lambda: _changed(GlowSettings, steps=0), "generative.glow.steps must be > 0"),
        (lambda: _changed(GlowSettings, batch_size=-1), "generative.glow.batch_size must be > 0"),
        (lambda: _changed(AttackSettings, name="cw"), "noise.adversarial: unknown attack 'cw'"),
        (lambda: _changed(AttackSettings, eps=-1), "noise.adversarial.pgd.eps must be"),
        (lambda: _changed(AttackSettings, batch_size=0), "noise.batch_size must be > 0"),
        (lambda: _changed(AttackSettings, seed=None), "pgd.random_start needs a seed"),
        (
            lambda: _changed(ExplanationAttackSettings, top_k=100),
            "noise.adversarial.explanation_attack.top_k must be",
        ),
        (
            lambda: _changed(ExplanationAttackSettings, step_fraction=1.5),
            "noise.adversarial.explanation_attack.step_fraction must lie in",
        ),
        (
            lambda: _changed(ExplanationAttackSettings, objective="ssim"),
            "noise.adversarial.explanation_attack.objective: 'ssim'",
        ),
        (
            lambda: ExplanationAttackSettings.from_config(
                {
                    **PLAN.noise.explanation_attack_params("shapes", MODEL, "4", "gradcam"),
                    "options": {},
                }
            ),
            "noise.adversarial.explanation_attack: missing steps",
        ),
        (
            lambda: TrainSettings.from_config({"regularizer": "erm"}),
            "train params: missing reg_params, training, seed, device",
        ),
    ],
)
def test_a_bad_value_fails_when_built_naming_its_key(build, key):
    with pytest.raises(ValueError, match=key) as error:
        build()
    assert "\n" not in str(error.value)
