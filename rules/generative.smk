# Generative models for latent-space VAT: a VAE and a Glow per dataset and training seed, trained
# without labels; the LVAT models of a seed read that seed's.


rule train_generative:
    input:
        paths.data_file("train"),
    output:
        paths.generative_file(),
    log:
        log("generative", "dataset", "gen", "seed"),
    benchmark:
        bench("generative", "dataset", "gen", "seed")
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
        p=lambda wc: PLAN.train.generative_params(wc.dataset, wc.gen, int(wc.seed)),
    script:
        "../scripts/train_generative.py"
