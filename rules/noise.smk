# Noisy test sets: corruptions per (dataset, noise, level); adversarial sets per model.


rule noisy_set:
    input:
        unpack(noisy_set_input),
    output:
        paths.noisy_set(),
    log:
        log("noisy", "dataset", "noise", "level"),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        p=lambda wc: PLAN.noise_params(wc.dataset, wc.noise, wc.level),
    script:
        "../scripts/noisy_set.py"


rule adversarial_set:
    input:
        images=paths.data_file("eval"),
        model=paths.model_file("model.pt"),
    output:
        paths.adversarial_set(),
    log:
        log("adversarial", "dataset", "model", "attack", "level"),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.attack_params(wc.dataset, wc.model, wc.attack, wc.level),
    script:
        "../scripts/adversarial_set.py"
