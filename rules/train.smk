# Classifiers: every architecture with every regulariser and training seed; LVAT models also read
# their generative model.


rule train_classifier:
    input:
        train=paths.data_file("train"),
        test=paths.data_file("test"),
        generative=generative_input,
    output:
        model=paths.model_file("model.pt"),
        metrics=paths.model_file("metrics.json"),
        curve=paths.model_file("curve.csv"),
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
        p=lambda wc: PLAN.train.params(wc.dataset, wc.model),
    script:
        "../scripts/train_classifier.py"


# A user's checkpoint (config `models`), evaluated as it is: the files of a trained model (
# but no training curve) so every later rule reads it alike; its test accuracy fills the accuracy table.
# Every output constrained: only the user's evaluated models, never a trained model's file.
USER_MODEL = f"{{model,{one_of(PLAN.user_models)}}}"


rule import_model:
    input:
        test=paths.data_file("test"),
        classes=class_map_file,
    output:
        model=paths.model_file("model.pt", model=USER_MODEL),
        metrics=paths.model_file("metrics.json", model=USER_MODEL),
    log:
        log("import", "dataset", "model"),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.train.import_params(wc.dataset, wc.model),
    script:
        "../scripts/import_model.py"


ruleorder: import_model > train_classifier
