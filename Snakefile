# repro: one workflow for four diffusion papers.
#   snakemake --cores all                                   # cpu tier, every experiment whose data is here, + report
#   snakemake --cores 2 --config tier=smoke                 # the 5-minute plumbing check (CI)
#   snakemake --cores all --config tier=paper results/ncsn_cifar10.csv
import os
import sys

from snakemake.utils import min_version, validate

min_version("8.0")


report: "report/captions/workflow.rst"


envvars:
    "PATH",


configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, f"{workflow.basedir}/config/schema.yaml")

sys.path.insert(0, workflow.basedir)
# Jobs run `python -m repro`: make that the interpreter running Snakemake (e.g. .venv/bin/snakemake without an
# activated venv). With --use-conda, each job's conda environment still comes first.
JOB_PATH = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
os.environ["PATH"] = JOB_PATH
from repro import registry  # noqa: E402  (torch-free imports only: building the DAG stays fast)
from repro.workflow import Workflow  # noqa: E402

W = Workflow(config)  # validates every paper's config for this tier before any job starts
RUNS = W.runs
REPORT = config["report"]
ENV = f"{workflow.basedir}/environment.yml"
# Smoke jobs are tiny: one thread each lets two run side by side; real jobs get every core they are given.
THREADS = 1 if W.tier == "smoke" else workflow.cores


wildcard_constraints:
    paper="|".join(registry.PAPERS),
    exp="[a-z0-9]+",


for paper in registry.PAPERS:
    if exists(f"{workflow.basedir}/papers/{paper}/rules.smk"):

        include: f"papers/{paper}/rules.smk"


rule all:
    input:
        W.default_targets(),
        f"{REPORT}/index.html",
    default_target: True


rule train:
    input:
        W.stage_input("train"),
    output:
        f"{RUNS}/{{paper}}/{{exp}}/stage_train.json",
    params:
        stage="train",
        cli=W.cli_args,
        cfg=W.config_of,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/train.log",
    resources:
        gpu=W.gpus("train"),
    threads: THREADS
    conda:
        ENV
    shell:
        "python -m repro {params.stage} {wildcards.paper}/{wildcards.exp} {params.cli} --threads {threads} "
        "--nproc {resources.gpu} > {log} 2>&1"


use rule train as select with:
    input:
        W.stage_input("select"),
    output:
        f"{RUNS}/{{paper}}/{{exp}}/stage_select.json",
    params:
        stage="select",
        cli=W.cli_args,
        cfg=W.config_of,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/select.log",
    resources:
        gpu=W.gpus("select"),


use rule train as sample with:
    input:
        W.stage_input("sample"),
    output:
        f"{RUNS}/{{paper}}/{{exp}}/stage_sample.json",
    params:
        stage="sample",
        cli=W.cli_args,
        cfg=W.config_of,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/sample.log",
    resources:
        gpu=W.gpus("sample"),


use rule train as evaluate with:
    input:
        W.stage_input("evaluate"),
    output:
        stamp=f"{RUNS}/{{paper}}/{{exp}}/stage_evaluate.json",
        metrics=f"{RUNS}/{{paper}}/{{exp}}/metrics.json",
        figures=report(
            directory(f"{RUNS}/{{paper}}/{{exp}}/figures"),
            patterns=["{name}.png"],
            caption="report/captions/experiment_figures.rst",
            category="Figures",
            subcategory="{paper}",
            labels={"experiment": "{exp}", "figure": "{name}"},
        ),
    params:
        stage="evaluate",
        cli=W.cli_args,
        cfg=W.config_of,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/evaluate.log",
    resources:
        gpu=W.gpus("evaluate"),


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
        "python -m repro collect {wildcards.paper}/{wildcards.exp} {params.cli} --out {output} > {log} 2>&1"


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
        "python -m repro report --results {params.results} --runs-root {params.runs} --out {params.out} > {log} 2>&1"
