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
        p=lambda wc: PLAN.noise.corruption_params(wc.dataset, wc.noise, wc.level),
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
        p=lambda wc: PLAN.noise.attack_params(wc.dataset, wc.model, wc.attack, wc.level),
    script:
        "../scripts/adversarial_set.py"


# The explanation attack: per model and CAM method (each method's map is attacked on its own), and
# its random control, a random vertex of the same L-inf ball, shared by every model.
rule explanation_attack_set:
    input:
        images=paths.data_file("eval"),
        model=paths.model_file("model.pt"),
    output:
        paths.explanation_attack_set(),
    log:
        log("explanation_attack", "dataset", "model", "level", "method"),
    benchmark:
        bench("explanation_attack", "dataset", "model", "level", "method")
    wildcard_constraints:
        method=one_of(PLAN.explanation_methods),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.noise.explanation_attack_params(
            wc.dataset, wc.model, wc.level, wc.method
        ),
    script:
        "../scripts/explanation_attack_set.py"


rule linf_random_set:
    input:
        images=paths.data_file("eval"),
    output:
        paths.noisy_set(noise=f"{{noise,{LINF_RANDOM}}}"),
    log:
        log("noisy", "dataset", "noise", "level"),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        p=lambda wc: PLAN.noise.linf_random_params(wc.dataset, wc.level),
    script:
        "../scripts/linf_random_set.py"


ruleorder: linf_random_set > noisy_set
