# Generative models for latent-space VAT: a VAE and a Glow per dataset, trained without labels.


rule train_generative:
    input:
        paths.data_file("train"),
    output:
        paths.generative_file(),
    log:
        log("generative", "dataset", "gen"),
    benchmark:
        bench("generative", "dataset", "gen")
    # Training first: the LVAT models wait for these, and every later stage waits for them.
    priority: 20
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=8000,
        runtime=600,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.generative_params(wc.dataset, wc.gen),
    script:
        "../scripts/train_generative.py"
