# dlrepro: reproduce published deep-learning findings, claim by claim.
#   snakemake --cores all                  every enabled reproduction at the configured scale
#   snakemake --cores all grokking         one reproduction
#   snakemake --cores all --config scale=smoke
# Outputs go to <results>/<scale>/<reproduction>/; see README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/preflight.smk"


# Cheap rules run where Snakemake runs, so that a cluster run does not queue them.
localrules:
    all,
    prepare_data,
    collect,
    claims,
    figure,
    repro_report,
    report,


rule all:
    input:
        preflight_targets(SCALE) if CFG["preflight"] else scale_targets(SCALE),


# `snakemake <name>` builds one reproduction (its claims, figures and its own report page);
# with `--config set=...` it builds the variant, in its own folder.
for _name in REPROS:

    rule:
        name:
            _name
        input:
            repro_targets(SCALE, REPROS[_name].name),
        localrule: True


# Snakemake's default job rate limit (`--max-jobs-per-timespan 100/1s`) makes every pass of
# its scheduler start a one-second timer that triggers another pass, and every finished job
# starts one more such chain, so after N jobs the scheduler re-plans ~N times a second as long
# as jobs wait for a core (each pass re-reads every waiting job's resources and input sizes).
# In the cpu suite on 2 cores that took >= 341 of 5,449 CPU-s (up to 27% of a core near the
# end), 7.7 without it (README, item 11; bench/bench_workflow.py). A local run has nothing to
# rate-limit: without the limiter the scheduler plans when a job ends or starts. Cluster runs
# keep it (it spares the cluster's queue).
onstart:
    if workflow.local_exec and hasattr(workflow.scheduler, "job_rate_limiter"):
        workflow.scheduler.job_rate_limiter = None


# The end of a run: verdict counts per reproduction and the report's path; after a failure, the
# log to open. (Snakemake skips both for dry runs and when there was nothing to do.)
onsuccess:
    from dlrepro.report import end_of_run

    print(end_of_run(workflow.dag.jobs))


onerror:
    from dlrepro.report import failure_hint

    print(failure_hint(getattr(workflow.scheduler, "failed", ()), log))
