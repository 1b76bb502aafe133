# Classifiers: every architecture with every regulariser; LVAT models also read their generative model.


rule train_classifier:
    input:
        train=f"{R}/data/{{dataset}}/train.npz",
        test=f"{R}/data/{{dataset}}/test.npz",
        generative=generative_input,
    output:
        model=f"{R}/models/{{dataset}}/{{model}}/model.pt",
        metrics=f"{R}/models/{{dataset}}/{{model}}/metrics.json",
        curve=f"{R}/models/{{dataset}}/{{model}}/curve.csv",
    log:
        log("train", "dataset", "model"),
    benchmark:
        bench("train", "dataset", "model")
    # Before the CAM jobs of models already trained: a model trained last delays the end.
    priority: 10
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=8000,
        runtime=1440,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.train_params(wc.dataset, wc.model),
        device=config["device"],
    script:
        "../scripts/train_classifier.py"
