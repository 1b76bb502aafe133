"""Names of the explanation attack that the plan needs without importing torch.

The attack itself is `camrobust.noise.explanation`; its differentiable maps are
`camrobust.cam.differentiable` (tests/test_explanation_attack.py checks that the method set here
is the one that module can differentiate).
"""

from __future__ import annotations

# The noise name of the explanation attack (config: noise.adversarial.explanation_attack) and of
# its random control at the same budgets: one random vertex of the same L-inf ball per image.
EXPLANATION_ATTACK = "explanation_attack"
LINF_RANDOM = "linf_random"
# The options the attack reads besides eps (its keys in config/schema.yaml).
EXPLANATION_OPTIONS: tuple[str, ...] = (
    "steps",
    "step_fraction",
    "objective",
    "top_k",
    "softplus_beta",
)
# What the attack drives down: the clean top-k region's share of the map's mass (Ghorbani et
# al.), or a similarity measure with the clean map (1 - s goes up). SSIM's implementation works
# in place and Spearman and top-k IoU are step functions, so they have no useful gradient.
OBJECTIVES: tuple[str, ...] = ("topk", "pearson", "cosine")
# The CAM methods the attack can differentiate: every one-pass method, and AblationCAM through
# its first-order surrogate (docs/explanation-attack.md).
ATTACKED_METHODS: frozenset[str] = frozenset(
    {
        "gradcam",
        "gradcampp",
        "xgradcam",
        "hirescam",
        "gradcamelementwise",
        "layercam",
        "eigencam",
        "eigengradcam",
        "fem",
        "ablationcam",
    }
)
# Why a method is left out (a line in the CAM job's log); methods not named here have no
# differentiable form in the engine yet.
LEFT_OUT: dict[str, str] = {
    "scorecam": "its weights need one forward pass per channel, kept for the backward pass",
    "kpcacam": "its map is an eigenvector whose sign rule flips between nearby inputs",
}
NO_FORM = "the engine has no differentiable form of it"


def attacked_methods(methods: list[str] | tuple[str, ...]) -> list[str]:
    """The methods of `methods` the explanation attack attacks, in their order."""
    return [m for m in methods if m in ATTACKED_METHODS]


def left_out_reason(method: str) -> str:
    """Why the explanation attack leaves `method` out."""
    return LEFT_OUT.get(method, NO_FORM)
