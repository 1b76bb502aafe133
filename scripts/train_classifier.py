"""Adapter for rule `train_classifier`: train one (architecture, regulariser) classifier."""

from camrobust.logs import script_logging
from camrobust.train.job import run_training_job

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    accuracy = run_training_job(
        sm.params.p,
        train_file=sm.input.train,
        test_file=sm.input.test,
        generative_file=sm.input.generative[0] if sm.input.generative else None,
        model_file=sm.output.model,
        metrics_file=sm.output.metrics,
        curve_file=sm.output.curve,
    )
    log.info("%s: test accuracy %.4f", sm.wildcards.model, accuracy)
