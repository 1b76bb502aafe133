# CAM extraction: every configured method in one pass per (dataset, model, noise, level);
# noise "clean" level "0" is the clean evaluation set.


rule cam:
    input:
        unpack(cam_input),
    output:
        paths.cams(),
    log:
        log("cam", "dataset", "model", "noise", "level"),
    benchmark:
        bench("cam", "dataset", "model", "noise", "level")
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.cam.params(wc.model),
    script:
        "../scripts/cam.py"


# The clean CAMs are read by every noise family's metrics; a rule of their own keeps them out of
# the per-(model, noise) job groups of the SLURM profile, which would otherwise merge into one.
use rule cam as cam_clean with:
    output:
        paths.cams(noise=f"{{noise,{CLEAN}}}", level=f"{{level,{CLEAN_LEVEL}}}"),


ruleorder: cam_clean > cam


# The explanation attack's CAMs: each attacked method's map on that method's own image set.
rule cam_explanation_attack:
    input:
        unpack(explanation_cam_input),
    output:
        paths.cams(noise=f"{{noise,{EXPLANATION_ATTACK}}}"),
    log:
        log("cam", "dataset", "model", "noise", "level"),
    benchmark:
        bench("cam", "dataset", "model", "noise", "level")
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.cam.explanation_params(wc.model),
    script:
        "../scripts/cam_explanation_attack.py"


ruleorder: cam_explanation_attack > cam
