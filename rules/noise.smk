# Noisy test sets: corruptions per (dataset, noise, level); adversarial sets per model.


rule noisy_set:
    input:
        f"{R}/data/{{dataset}}/eval.npz",
    output:
        f"{R}/noisy/{{dataset}}/{{noise}}/{{level}}.npz",
    params:
        p=lambda wc: PLAN.noise_params(wc.dataset, wc.noise, wc.level),
        fail_first=fails_first("noisy_set"),
    log:
        log("noisy", "dataset", "noise", "level"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV_TORCH
    script:
        "../scripts/noisy_set.py"


rule adversarial_set:
    input:
        images=f"{R}/data/{{dataset}}/eval.npz",
        model=f"{R}/models/{{dataset}}/{{model}}/model.pt",
    output:
        f"{R}/noisy/{{dataset}}/{{model}}/{{attack}}/{{level}}.npz",
    params:
        p=lambda wc: PLAN.attack_params(wc.dataset, wc.model, wc.attack, wc.level),
        device=config["device"],
    log:
        log("adversarial", "dataset", "model", "attack", "level"),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1,
    conda:
        ENV_TORCH
    script:
        "../scripts/adversarial_set.py"
