"""The smoke DAG end to end from this checkout, then a no-op rerun and a second run that must measure the same
numbers; and the paper-tier DAG offline."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from results_schema import check_results_csv

from repro import check, config, registry

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def _smoke_targets() -> list[str]:
    return sorted(
        f"{e.paper}_{e.name}" for e in registry.experiments().values() if e.name in config.load_tier(e.paper, "smoke")
    )


def _smoke_command(folder: Path) -> list[str]:
    return SNAKEMAKE + ["--directory", str(folder), "--cores", "2", "--config", "tier=smoke"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[Path, float]:
    """One smoke run of the whole DAG (shared by the tests below): its folder and wall time."""
    folder = tmp_path_factory.mktemp("smoke")
    t0 = time.time()
    done = subprocess.run(_smoke_command(folder), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-6000:]
    return folder, time.time() - t0


def _measured(folder: Path) -> dict[str, list[dict]]:
    """Every experiment's metric rows, without the ones that time the machine (wall time per sample, ratios)."""
    out = {}
    for path in sorted((folder / "runs" / "smoke").glob("*/*/metrics.json")):
        rows = json.loads(path.read_text())["rows"]
        out[str(path.relative_to(folder))] = [r for r in rows if not r["metric"].startswith("wall")]
    return out


@pytest.mark.workflow
def test_smoke_experiments_measure_the_same_numbers_in_another_run(smoke_run, tmp_path):
    """Every stage of every smoke experiment again, in new processes from clean state: identical metric values."""
    first, _ = smoke_run
    done = subprocess.run(_smoke_command(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-6000:]
    a, b = _measured(first), _measured(tmp_path)
    assert sorted(a) == sorted(b) and len(a) == len(_smoke_targets())
    for key in a:
        assert a[key] == b[key], f"{key} differs between two runs from clean state"


@pytest.mark.workflow
def test_smoke_workflow_end_to_end_and_noop_rerun(smoke_run):
    tmp_path, elapsed = smoke_run
    cmd = _smoke_command(tmp_path)
    targets = _smoke_targets()
    assert targets, "no experiment has a smoke config"
    for name in targets:
        rows = check_results_csv(tmp_path / "runs" / "smoke" / "results" / f"{name}.csv", runs_root=tmp_path / "runs")
        assert {r["verdict"] for r in rows} == {"smoke"}
    assert not (tmp_path / "results").exists() and not (tmp_path / "report").exists()
    html = (tmp_path / "runs" / "smoke" / "report" / "index.html").read_text()
    for paper in {t.split("_")[0] for t in targets}:
        assert f'id="paper-{paper}"' in html, paper
    print(f"smoke workflow: {elapsed:.1f} s for {len(targets)} experiments")

    t0 = time.time()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert time.time() - t0 < 10, f"no-op rerun took {time.time() - t0:.1f} s"

    snakemake_report = subprocess.run(cmd + ["--report", "report.html"], capture_output=True, text=True)
    assert snakemake_report.returncode == 0, snakemake_report.stderr[-3000:]
    page = (tmp_path / "report.html").read_text()
    for category in ("Results", "Figures", "Report", "Timing"):
        assert category in page, category


def test_paper_tier_dag_dry_runs_offline(tmp_path):
    targets = [
        f"results/{e.paper}_{e.name}.csv"
        for e in registry.experiments().values()
        if e.name in config.load_tier(e.paper, "paper")
    ]
    cmd = SNAKEMAKE + ["--directory", str(tmp_path), "-n", "--cores", "all", *targets, "--config", "tier=paper"]
    offline = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    done = subprocess.run(cmd, capture_output=True, text=True, env=offline)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    for target in targets:
        assert target in out
    if "results/ncsn_cifar10.csv" in targets:
        for rule in ("train", "select", "sample", "evaluate", "collect"):
            assert f"rule {rule}:" in out or f"localrule {rule}:" in out, rule
    assert not list(Path(tmp_path).glob("runs/**/*.json")), "a dry run must not write artifacts"
    # nothing is downloaded here: the DAG build says what is missing, who needs it and the command that fetches it
    said = done.stdout + done.stderr
    assert "paper-tier downloads missing" in said
    for item, fix in (("cifar10", "torchvision.datasets.CIFAR10"), ("inception", check.INCEPTION_URL)):
        assert f"{item} (needed by" in said and fix in said, item


def test_slurm_profile_dry_runs_the_paper_tier(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="install the test extras: pip install -e '.[test]'")
    cmd = SNAKEMAKE + [
        "--directory",
        str(tmp_path),
        "-n",
        "--workflow-profile",
        str(ROOT / "profiles" / "slurm"),
        "results/ncsn_cifar10.csv",
        "--config",
        "tier=paper",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "results/ncsn_cifar10.csv" in done.stdout and "gpu=1" in done.stdout
