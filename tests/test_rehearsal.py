"""The paper rehearsal: every paper-tier experiment, its own config cut to a handful, under runs/rehearsal/ only."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from results_schema import check_results_csv

from repro import check, claims, collect, config, registry
from repro.run import Run
from repro.workflow import Workflow

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
# Paper-tier experiments whose paper model cannot be built yet, and the words their failed job's log says it with.
CANNOT_BUILD_YET: dict[str, str] = {}  # none today: DLG's CelebA-HQ NCSN++ (progressive skips) builds
BUDGET_S = 1800  # the hard limit on two cores (README: the measured wall time, most of it the GPU-sized stages)


def _paper_experiments() -> list[registry.Experiment]:
    return [e for e in registry.experiments().values() if e.name in config.load_tier(e.paper, "paper")]


def test_every_paper_experiment_has_a_rehearsal_cut_validated_by_the_paper_schema(tmp_path):
    for paper in registry.PAPERS:
        full = config.load_tier(paper, "paper")
        cut = config.load_tier(paper, "paper", rehearsal=True, data_root=tmp_path)
        assert list(cut) == list(full), paper
        for name, cfg in cut.items():
            training = cfg.get("training")
            if training and "steps" in training:
                assert training["steps"] <= 10, f"{paper}/{name}"
            assert cfg.get("needs", []) == full[name].get("needs", []), f"{paper}/{name}"


def test_absent_downloads_select_the_stand_in_and_present_ones_the_real_data(tmp_path):
    empty = config.load("ncsn", "cifar10", "paper", rehearsal=True, data_root=tmp_path)
    assert empty["synthetic_n"] > 0 and empty["ngf"] == config.load("ncsn", "cifar10", "paper")["ngf"]
    root = tmp_path / "data"
    for name in check.ITEMS["cifar10"].requires:
        (root / check.ITEMS["cifar10"].rel / name).mkdir(parents=True)
    present = config.load("ncsn", "cifar10", "paper", rehearsal=True, data_root=root)
    assert present["synthetic_n"] == 0


def test_rehearsal_is_of_the_paper_tier_only():
    with pytest.raises(config.ConfigError, match="paper tier"):
        config.load_tier("ncsn", "cpu", rehearsal=True)


def test_rehearsal_run_root_and_workflow_folders(tmp_path):
    run = Run("ncsn", "cifar10", "paper", {"seed": 0}, runs_root=tmp_path, rehearsal=True)
    assert run.root == tmp_path / "rehearsal" / "ncsn" / "cifar10"
    settings = {
        "tier": "paper",
        "rehearsal": "true",
        "runs_root": "runs",
        "data_root": str(tmp_path / "data"),
        "results": "results",
        "report": "report",
        "allow_cpu": False,
        "gpus": 1,
    }
    w = Workflow(settings)
    assert (w.runs, w.results, w.report) == ("runs/rehearsal", "runs/rehearsal/results", "runs/rehearsal/report")
    assert len(w.default_targets()) == len(_paper_experiments())  # nothing downloaded, everything rehearsed
    assert "--rehearsal" in w.cli_args and "--rehearsal" in w.collect_args
    with pytest.raises(ValueError, match="paper tier"):
        Workflow({**settings, "tier": "cpu"})


def test_rehearsal_verdicts_never_say_reproduced():
    claim = next(c for c in claims.load("ncsn") if c.rule == "within")
    assert claim.verdict(float(claim.value), "paper", False, rehearsal=True)[:2] == ("rehearsal", False)
    metrics = {
        "paper": "ncsn",
        "experiment": claim.experiment,
        "tier": "paper",
        "device": "cpu",
        "wall_seconds": 1.0,
        "commit": "x",
        "rows": [
            {
                "dataset": claim.dataset.split("/")[0],
                "setting": ";".join(f"{k}={v}" for k, v in claim.setting.items()),
                "metric": claim.metric,
                "value": float(claim.value),
                "stderr": None,
                "unit": claim.unit,
                "n_samples": 1,
                "seed": 0,
            },
            {"dataset": "d", "setting": "", "metric": "m", "value": 1.0, "stderr": None, "unit": "", "n_samples": 1}
            | {"seed": 0},
        ],
    }
    rows = collect.rows_for(metrics, claims.load("ncsn"), rehearsal=True)
    assert rows and {r["verdict"] for r in rows} == {"rehearsal"}
    assert not any(r["comparable"] for r in rows)


@pytest.mark.workflow
@pytest.mark.rehearsal
def test_paper_rehearsal_end_to_end_offline_on_two_cores(tmp_path):
    cmd = SNAKEMAKE + ["--directory", str(tmp_path), "--cores", "2", "--keep-going"]
    cmd += ["--config", "tier=paper", "rehearsal=true"]
    offline = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TORCH_HOME": str(tmp_path / "torch_home"),
        "CUDA_VISIBLE_DEVICES": "",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    t0 = time.time()
    # its own process group, so that a run past the limit is stopped with every job it started
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=offline, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=BUDGET_S + 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    elapsed = time.time() - t0
    print(f"paper rehearsal: {elapsed:.1f} s for {len(_paper_experiments())} experiments")
    results = tmp_path / "runs" / "rehearsal" / "results"
    failed = set()
    for exp in _paper_experiments():
        csv = results / f"{exp.paper}_{exp.name}.csv"
        if exp.key in CANNOT_BUILD_YET:
            assert not csv.exists(), f"{exp.key} was expected to fail until its paper model is built"
            logs = "".join(
                p.read_text() for p in (tmp_path / "runs" / "rehearsal" / exp.paper / exp.name).glob("logs/*")
            )
            assert CANNOT_BUILD_YET[exp.key] in logs, f"{exp.key}: its log does not say why it fails:\n{logs[-2000:]}"
            failed.add(exp.key)
            continue
        assert csv.exists(), f"{exp.key} did not finish its rehearsal:\n{done.stderr[-6000:]}"
        rows = check_results_csv(csv)
        assert {r["verdict"] for r in rows} == {"rehearsal"}, exp.key
        assert {r["tier"] for r in rows} == {"paper"}, exp.key
        assert (tmp_path / "runs" / "rehearsal" / exp.paper / exp.name / "metrics.json").exists()
    assert failed == set(CANNOT_BUILD_YET)
    assert (done.returncode != 0) == bool(CANNOT_BUILD_YET), done.stderr[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "report").exists()
    assert not (tmp_path / "data").exists(), "a rehearsal writes nothing into the user's data root"
    assert not (tmp_path / "runs" / "paper").exists()
    assert elapsed < BUDGET_S, f"the paper rehearsal took {elapsed:.0f} s (limit {BUDGET_S} s)"
