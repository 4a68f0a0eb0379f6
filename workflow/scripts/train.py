from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.train(
        config=sm.config,
        run_json=sm.params.run,
        device=sm.params.device,
        threads=sm.threads,
        datasets=jobs.as_list(sm.input.get("datasets", [])),
        init_weights=sm.input.get("init"),
        metrics=sm.output.metrics,
        record=sm.output.record,
        weights=sm.output.weights,
    )
