# Noisy test sets: corruptions per (dataset, noise, level); adversarial sets per model.


rule noisy_set:
    input:
        f"{R}/data/{{dataset}}/eval.npz",
    output:
        f"{R}/noisy/{{dataset}}/{{noise}}/{{level}}.npz",
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
        fail_first=fails_first("noisy_set"),
    script:
        "../scripts/noisy_set.py"


rule adversarial_set:
    input:
        images=f"{R}/data/{{dataset}}/eval.npz",
        model=f"{R}/models/{{dataset}}/{{model}}/model.pt",
    output:
        f"{R}/noisy/{{dataset}}/{{model}}/{{attack}}/{{level}}.npz",
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
        device=config["device"],
    script:
        "../scripts/adversarial_set.py"
