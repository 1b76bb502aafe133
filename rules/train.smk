# Classifiers: every architecture with every regulariser; LVAT models also read their generative model.


def generative_input(wildcards):
    """The generative model a latent-space regulariser perturbs in (none for erm and vat)."""
    _, reg = PLAN.split_model(wildcards.model)
    gen = GENERATIVE_OF.get(reg)
    return [f"{R}/generative/{wildcards.dataset}/{gen}.pt"] if gen else []


rule train_classifier:
    input:
        train=f"{R}/data/{{dataset}}/train.npz",
        test=f"{R}/data/{{dataset}}/test.npz",
        generative=generative_input,
    output:
        model=f"{R}/models/{{dataset}}/{{model}}/model.pt",
        metrics=f"{R}/models/{{dataset}}/{{model}}/metrics.json",
        curve=f"{R}/models/{{dataset}}/{{model}}/curve.csv",
    params:
        p=lambda wc: PLAN.train_params(wc.dataset, wc.model),
        device=config["device"],
    log:
        log("train", "dataset", "model"),
    benchmark:
        bench("train", "dataset", "model")
    threads: 2
    resources:
        mem_mb=8000,
        runtime=1440,
        gpu=1,
    conda:
        ENV_TORCH
    script:
        "../scripts/train_classifier.py"
