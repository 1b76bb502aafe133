# CAM extraction: every configured method in one pass per (dataset, model, noise, level);
# noise "clean" level "0" is the clean evaluation set.


def cam_input(wildcards):
    """The model, the image set, and (target policy `clean`) the clean CAMs for their targets."""
    files = {
        "model": f"{R}/models/{wildcards.dataset}/{wildcards.model}/model.pt",
        "images": PLAN.noisy_file(
            R, wildcards.dataset, wildcards.model, wildcards.noise, wildcards.level
        ),
    }
    if config["cam"]["target_policy"] == "clean" and wildcards.noise != CLEAN:
        files["clean"] = f"{R}/cams/{wildcards.dataset}/{wildcards.model}/{CLEAN}/0.npz"
    return files


rule cam:
    input:
        unpack(cam_input),
    output:
        f"{R}/cams/{{dataset}}/{{model}}/{{noise}}/{{level}}.npz",
    params:
        p=lambda wc: PLAN.cam_params(wc.model),
        device=config["device"],
    log:
        log("cam", "dataset", "model", "noise", "level"),
    benchmark:
        bench("cam", "dataset", "model", "noise", "level")
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1,
    conda:
        ENV_TORCH
    script:
        "../scripts/cam.py"
