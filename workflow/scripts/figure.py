from dlrepro import jobs

sm = snakemake
with jobs.job_log(sm.log[0]):
    jobs.figure(
        config=sm.config,
        repro_name=sm.wildcards.repro,
        scale=sm.wildcards.scale,
        figure_id=sm.wildcards.figure,
        metrics=sm.input.metrics,
        summary=sm.input.summary,
        runs=sm.input.runs,
        out_png=sm.output.png,
        out_svg=sm.output.svg,
    )
