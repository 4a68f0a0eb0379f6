from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.collect(
        config=sm.config,
        repro_name=sm.wildcards.repro,
        metric_files=jobs.as_list(sm.input.metrics),
        record_files=jobs.as_list(sm.input.records),
        out_metrics=sm.output.metrics,
        out_runs=sm.output.runs,
        out_summary=sm.output.summary,
    )
