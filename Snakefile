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


# The end of a run: verdict counts per reproduction and the report's path; after a failure, the
# log to open. (Snakemake skips both for dry runs and when there was nothing to do.)
onsuccess:
    from dlrepro.report import end_of_run

    print(end_of_run(workflow.dag.jobs))


onerror:
    from dlrepro.report import failure_hint

    print(failure_hint(getattr(workflow.scheduler, "failed", ()), log))
