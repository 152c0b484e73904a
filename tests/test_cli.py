"""Bad input stops before compute with an error naming the problem, and leaves nothing behind."""

import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from repro import config, registry

EXPERIMENTS = registry.experiments()


def _repro(*args, cwd):
    """The CLI as a user runs it, on a machine forced to have no CUDA device (the refusals assume one)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "repro", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)


def _first(predicate):
    for exp in EXPERIMENTS.values():
        if predicate(exp):
            return exp
    pytest.fail("no registered experiment fits this test")


def test_misspelled_config_key_fails_before_compute_naming_key_and_file(tmp_path):
    exp = _first(lambda e: e.name in config.load_tier(e.paper, "smoke"))
    cfg = config.load_tier(exp.paper, "smoke")
    cfg[exp.name]["seeed"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    done = _repro(
        exp.stages[0], exp.key, "--tier", "smoke", "--config-file", bad, "--runs-root", tmp_path / "runs", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "'seeed'" in done.stderr and str(bad) in done.stderr and f"{exp.name}:" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_impossible_value_is_rejected_naming_the_key(tmp_path):
    exp = _first(lambda e: e.name in config.load_tier(e.paper, "smoke"))
    cfg = config.load_tier(exp.paper, "smoke")
    cfg[exp.name]["seed"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    done = _repro(
        exp.stages[0], exp.key, "--tier", "smoke", "--config-file", bad, "--runs-root", tmp_path / "runs", cwd=tmp_path
    )
    assert done.returncode == 2 and f"{exp.name}.seed" in done.stderr and "minimum" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_download_names_path_and_fix_and_leaves_nothing(tmp_path):
    exp = _first(lambda e: config.load_tier(e.paper, "paper").get(e.name, {}).get("needs"))
    need = config.load_tier(exp.paper, "paper")[exp.name]["needs"][0]
    done = _repro(
        exp.stages[0],
        exp.key,
        "--tier",
        "paper",
        "--runs-root",
        tmp_path / "runs",
        "--data-root",
        tmp_path / "data",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert f"{need}: expected at {tmp_path / 'data'}" in done.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_paper_tier_gpu_stage_refuses_a_cpu_only_machine(tmp_path):
    exp = _first(lambda e: e.gpu_stages and e.name in config.load_tier(e.paper, "paper"))
    cfg = config.load_tier(exp.paper, "paper")
    cfg[exp.name]["needs"] = []  # so that only the GPU check can stop it
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = _repro(
        exp.gpu_stages[0],
        exp.key,
        "--tier",
        "paper",
        "--config-file",
        path,
        "--runs-root",
        tmp_path / "runs",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "no CUDA device" in done.stderr and "--allow-cpu" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_experiment_lists_known_ones(tmp_path):
    done = _repro("train", "ncsn/nope", "--tier", "smoke", cwd=tmp_path)
    assert done.returncode == 2 and "unknown experiment 'ncsn/nope'" in done.stderr


def test_list_names_every_target():
    done = _repro("list", cwd=ROOT)
    assert done.returncode == 0
    for exp in EXPERIMENTS.values():
        assert f"results/{exp.paper}_{exp.name}.csv" in done.stdout


def test_check_tier_paper_exits_1_naming_what_is_missing(tmp_path):
    done = _repro("check", "--tier", "paper", "--data-root", tmp_path / "data", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "cifar10 (needed by" in done.stdout and "inception (needed by" in done.stdout
    plain = _repro("check", "--data-root", tmp_path / "data", cwd=tmp_path)
    assert plain.returncode == 0 and "MISSING" in plain.stdout


def test_threads_limit_torch_and_blas_alike():
    """`--threads` reaches numpy's BLAS too: its eigh on every core beside a busy torch slowed both."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from repro.cli import limit_threads

    torch_before, blas_before = torch.get_num_threads(), {p["prefix"]: p["num_threads"] for p in threadpool_info()}
    try:
        limit_threads(1)
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    finally:
        torch.set_num_threads(torch_before)
        threadpool_limits(blas_before)
