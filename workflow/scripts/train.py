from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.train(
        repro_name=sm.wildcards.repro,
        scale=sm.wildcards.scale,
        run_id=sm.wildcards.run_id,
        seeds=sm.params.seeds,
        device=sm.params.device,
        threads=sm.threads,
        datasets=list(sm.input.datasets),
        metrics=sm.output.metrics,
        record=sm.output.record,
        checkpoint=sm.params.checkpoint,
        checkpoint_seconds=sm.params.checkpoint_seconds,
    )
