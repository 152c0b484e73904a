# repro: one workflow for four diffusion papers.
#   snakemake --cores all                                   # cpu tier, every experiment whose data is here, + report
#   snakemake --cores 2 --config tier=smoke                 # the 5-minute plumbing check (CI)
#   snakemake --cores all --config tier=paper results/ncsn_cifar10.csv
import json
import sys

from snakemake.utils import min_version, validate

min_version("8.0")


report: "report/captions/workflow.rst"


configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, f"{workflow.basedir}/config/schema.yaml")

sys.path.insert(0, workflow.basedir)
from repro import config as tier_config  # noqa: E402  (torch-free imports only: building the DAG stays fast)
from repro import registry  # noqa: E402
from repro.check import present  # noqa: E402

TIER = config["tier"]
RUNS = f"{config['runs_root']}/{TIER}"
RESULTS = config["results"]
REPORT = config["report"]
EXPERIMENTS = registry.experiments()
CONFIGS = {paper: tier_config.load_tier(paper, TIER) for paper in registry.PAPERS}  # validated before any job
ALLOW_CPU = "--allow-cpu" if config["allow_cpu"] else ""
# Smoke jobs are tiny: one thread each lets two run side by side; real jobs get every core they are given.
THREADS = 1 if TIER == "smoke" else workflow.cores


def experiment(w):
    key = f"{w.paper}/{w.exp}"
    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {key}; known: {', '.join(sorted(EXPERIMENTS))}")
    if w.exp not in CONFIGS[w.paper]:
        raise ValueError(f"{key} has no config at tier {TIER!r} (papers/{w.paper}/configs/{TIER}.yaml)")
    return EXPERIMENTS[key]


def runnable(exp):
    """At this tier, with its downloads present (experiments needing a download join when it is there)."""
    cfg = CONFIGS[exp.paper].get(exp.name)
    return cfg is not None and all(present(n, config["data_root"]) for n in cfg.get("needs", []))


DEFAULT_TARGETS = sorted(f"{RESULTS}/{e.paper}_{e.name}.csv" for e in EXPERIMENTS.values() if runnable(e))


wildcard_constraints:
    paper="|".join(registry.PAPERS),
    exp="[a-z0-9]+",


def stage_input(stage):
    def inputs(w):
        previous = experiment(w).previous_stage(stage)
        return [f"{RUNS}/{w.paper}/{w.exp}/stage_{previous}.json"] if previous else []

    return inputs


def stage_params(w):
    return json.dumps(CONFIGS[w.paper][w.exp], sort_keys=True)


def gpus(stage):
    return lambda w: int(TIER == "paper" and stage in experiment(w).gpu_stages)


for paper in registry.PAPERS:
    if exists(f"{workflow.basedir}/papers/{paper}/rules.smk"):

        include: f"papers/{paper}/rules.smk"


rule all:
    input:
        DEFAULT_TARGETS,
        f"{REPORT}/index.html",
    default_target: True


rule train:
    input:
        stage_input("train"),
    output:
        f"{RUNS}/{{paper}}/{{exp}}/stage_train.json",
    params:
        cfg=stage_params,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/train.log",
    resources:
        gpu=gpus("train"),
    threads: THREADS
    shell:
        "python -m repro train {wildcards.paper}/{wildcards.exp} --tier {TIER} --runs-root {config[runs_root]} "
        "--data-root {config[data_root]} --threads {threads} {ALLOW_CPU} > {log} 2>&1"


rule select:
    input:
        stage_input("select"),
    output:
        f"{RUNS}/{{paper}}/{{exp}}/stage_select.json",
    params:
        cfg=stage_params,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/select.log",
    resources:
        gpu=gpus("select"),
    threads: THREADS
    shell:
        "python -m repro select {wildcards.paper}/{wildcards.exp} --tier {TIER} --runs-root {config[runs_root]} "
        "--data-root {config[data_root]} --threads {threads} {ALLOW_CPU} > {log} 2>&1"


rule sample:
    input:
        stage_input("sample"),
    output:
        f"{RUNS}/{{paper}}/{{exp}}/stage_sample.json",
    params:
        cfg=stage_params,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/sample.log",
    resources:
        gpu=gpus("sample"),
    threads: THREADS
    shell:
        "python -m repro sample {wildcards.paper}/{wildcards.exp} --tier {TIER} --runs-root {config[runs_root]} "
        "--data-root {config[data_root]} --threads {threads} {ALLOW_CPU} > {log} 2>&1"


rule evaluate:
    input:
        stage_input("evaluate"),
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
        cfg=stage_params,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/evaluate.log",
    resources:
        gpu=gpus("evaluate"),
    threads: THREADS
    shell:
        "python -m repro evaluate {wildcards.paper}/{wildcards.exp} --tier {TIER} --runs-root {config[runs_root]} "
        "--data-root {config[data_root]} --threads {threads} {ALLOW_CPU} > {log} 2>&1"


rule collect:
    input:
        metrics=f"{RUNS}/{{paper}}/{{exp}}/metrics.json",
        claims=f"{workflow.basedir}/papers/{{paper}}/claims.yaml",
    output:
        report(
            f"{RESULTS}/{{paper}}_{{exp}}.csv",
            caption="report/captions/results.rst",
            category="Results",
            subcategory="{paper}",
            labels={"paper": "{paper}", "experiment": "{exp}"},
        ),
    params:
        tier=TIER,
    log:
        f"{RUNS}/{{paper}}/{{exp}}/logs/collect.log",
    shell:
        "python -m repro collect {wildcards.paper}/{wildcards.exp} --tier {params.tier} "
        "--runs-root {config[runs_root]} --results {RESULTS} > {log} 2>&1"


rule report:
    input:
        DEFAULT_TARGETS,
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
    log:
        f"{RUNS}/logs/report.log",
    shell:
        "python -m repro report --results {RESULTS} --runs-root {config[runs_root]} --out {REPORT} > {log} 2>&1"
