# repro: one workflow for four diffusion papers.
#   snakemake --cores all                                   # cpu tier, every experiment whose data is here, + report
#   snakemake --cores 2 --config tier=smoke                 # the 5-minute plumbing check (CI)
#   snakemake --cores all --config tier=paper results/ncsn_cifar10.csv
#   snakemake --cores 2 --config tier=paper rehearsal=true   # the paper rehearsal: every paper stage, a handful
import os
import sys

from snakemake.utils import min_version, validate

min_version("8.0")


report: "report/captions/workflow.rst"


configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, f"{workflow.basedir}/config/schema.yaml")

from repro import registry  # noqa: E402  (torch-free imports only: building the DAG stays fast)
from repro.workflow import Workflow  # noqa: E402

W = Workflow(config)  # validates every paper's config for this tier before any job starts
if W.missing_downloads():  # the paper tier: say what is absent (those targets are left out) and how to fetch it
    print(
        "repro: paper-tier downloads missing (their experiments are not default targets; `python -m repro check "
        "--tier paper` lists them too):\n  " + "\n  ".join(W.missing_downloads()),
        file=sys.stderr,
    )
RUNS = W.runs
REPORT = W.report
ENV = f"{workflow.basedir}/environment.yml"
# Jobs run the interpreter running Snakemake (e.g. .venv/bin/snakemake without an activated venv), or the conda
# environment's python under --use-conda.
CONDA = "CONDA" in str(getattr(getattr(workflow, "deployment_settings", None), "deployment_method", ""))
PYTHON = "python" if CONDA else sys.executable
# Smoke and rehearsal jobs are small: one thread each lets two run side by side; real jobs get every core given.
THREADS = 1 if W.tier == "smoke" or W.rehearsal else workflow.cores


wildcard_constraints:
    paper="|".join(registry.PAPERS),
    exp="[a-z0-9]+",


rule all:
    input:
        W.default_targets(),
        f"{REPORT}/index.html",
    default_target: True


def stage_outputs(stage):
    """Every stage writes its stamp; evaluate also writes the metrics and the figures the report shows."""
    out = {"stamp": f"{RUNS}/{{paper}}/{{exp}}/stage_{stage}.json"}
    if stage == "evaluate":
        out["metrics"] = f"{RUNS}/{{paper}}/{{exp}}/metrics.json"
        out["figures"] = report(
            directory(f"{RUNS}/{{paper}}/{{exp}}/figures"),
            patterns=["{name}.png"],
            caption="report/captions/experiment_figures.rst",
            category="Figures",
            subcategory="{paper}",
            labels={"experiment": "{exp}", "figure": "{name}"},
        )
    return out


for stage in registry.STAGE_ORDER:

    rule:
        name:
            stage
        input:
            W.stage_input(stage),
        output:
            **stage_outputs(stage),
        params:
            stage=stage,
            cli=W.cli_args,
            cfg=W.config_of,
            nproc=lambda wildcards, resources: max(1, int(resources.gpu)),  # one process unless training asks gpu=N
        log:
            f"{RUNS}/{{paper}}/{{exp}}/logs/{stage}.log",
        resources:
            gpu=W.gpus(stage),
        threads: THREADS
        conda:
            ENV
        shell:
            "{PYTHON:q} -m repro {params.stage} {wildcards.paper}/{wildcards.exp} {params.cli} --threads {threads} "
            "--nproc {params.nproc} > {log:q} 2>&1"


rule collect:
    input:
        metrics=f"{RUNS}/{{paper}}/{{exp}}/metrics.json",
        claims=f"{workflow.basedir}/papers/{{paper}}/claims.yaml",
    output:
        report(
            f"{W.results}/{{paper}}_{{exp}}.csv",
            caption="report/captions/results.rst",
            category="Results",
            subcategory="{paper}",
            labels={"paper": "{paper}", "experiment": "{exp}"},
        ),
    params:
        cli=W.collect_args,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/collect.log",
    conda:
        ENV
    shell:
        "{PYTHON:q} -m repro collect {wildcards.paper}/{wildcards.exp} {params.cli} --out {output:q} > {log:q} 2>&1"


rule report:
    input:
        W.default_targets(),
    output:
        html=report(
            f"{REPORT}/index.html",
            caption="report/captions/report_page.rst",
            category="Report",
            labels={"page": "comparison report"},
        ),
        markdown=f"{REPORT}/README.md",
        timing=report(
            f"{REPORT}/figures/report/workflow_timing.png",
            caption="report/captions/timing.rst",
            category="Timing",
            labels={"figure": "workflow timing"},
        ),
    params:
        results=lambda w: W.results,
        runs=config["runs_root"],
        out=lambda w, output: os.path.dirname(output.html),
    log:
        f"{RUNS}/logs/report.log",
    conda:
        ENV
    shell:
        "{PYTHON:q} -m repro report --results {params.results:q} --runs-root {params.runs:q} --out {params.out:q} > {log:q} 2>&1"
