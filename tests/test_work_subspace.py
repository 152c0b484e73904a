"""subspace's declared GPU work (`repro.work`) at the paper tier: the counts derived by hand from
papers/subspace/configs/paper.yaml and defaults.yaml, the per-arm call counts checked against the samplers
themselves, and every declared network runs its inputs on the CPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import run_declared_net

from papers.subspace import cifar10, images
from papers.subspace.divergence import divergence_curve
from papers.subspace.method import split_steps
from repro import config, registry, typed
from repro.diffusion.nfe import CountingScore
from repro.rng import StackedGenerator
from repro.work import Work

EXPERIMENTS = ("cifar10", "cifar10deep", "cifar10ddpmppdeep")
DDPMPP = (
    "centered=True, embedding_type=positional, fir=False, num_res_blocks=8, progressive_input=none, "
    "scale_by_sigma=False"
)
NETS = {  # (full 32x32, 16x16, 8x8) per experiment: the `config:` overrides of paper.yaml
    "cifar10": ("NCSN++ 3x32x32", "NCSN++ 3x16x16", "NCSN++ 3x8x8"),
    "cifar10deep": tuple(f"NCSN++ 3x{s}x{s} (num_res_blocks=8)" for s in (32, 16, 8)),
    "cifar10ddpmppdeep": tuple(f"NCSN++ 3x{s}x{s} ({DDPMPP})" for s in (32, 16, 8)),
}
# paper.yaml / defaults.yaml, shared by the three experiments
N, SAMPLES, BATCH, LEVELS, TIMES, DIV_N = 1000, 50000, 1000, 2, 21, 1000
THRESHOLDS, FIXED = 6, 1  # thresholds: [1e-4 .. 3e-2], fixed_cut_times: [0.5]
ARMS = 1 + LEVELS * (THRESHOLDS + FIXED)  # the full sampler and 7 subspace arms per level (distinct cuts)
N_SUB = 500  # every arm cut at t = 0.5: the fixed cut, and DIV_CUT for the divergence rules (assumed)
BOUNDARY = 2  # boundary_steps


def _paper_cfg(name: str) -> tuple[registry.Experiment, cifar10.Config]:
    exp = registry.experiments(("subspace",))[f"subspace/{name}"]
    raw = config.load_tier("subspace", "paper")[name]
    return exp, typed.build(exp.config_class(), raw, f"subspace paper tier: {name}")


def _table(units: list[Work]) -> list[tuple[str, str, int, int, str | None]]:
    return [(w.stage, w.kind, w.count, w.batch, w.net.name if w.net else None) for w in units]


def test_assumptions() -> None:
    """The two counts the config does not set; the tables below are derived with these values."""
    assert cifar10.DIV_CUT == 0.5 and cifar10.BPD_NFE == 150


@pytest.mark.parametrize(("name", "steps"), [("cifar10", 1300000), ("cifar10deep", 950000)])
def test_ve(name: str, steps: int) -> None:
    """NCSN++ (VE), n_corrector 1: 2 calls per PC step; the full model is the released checkpoint (not trained)."""
    full, sub16, sub8 = NETS[name]
    exp, cfg = _paper_cfg(name)
    batches = SAMPLES // BATCH
    sub, rest = batches * 7 * N_SUB * 2, batches * 7 * ((N - N_SUB) * 2 + BOUNDARY)
    assert _table(exp.work(cfg)) == [
        ("train", "train", steps, 128, sub16),
        ("train", "train", steps, 128, sub8),
        ("sample", "forward", LEVELS * TIMES * (DIV_N // BATCH), 1000, full),
        ("sample", "forward", batches * N * 2, 1000, full),
        ("sample", "forward", sub, 1000, sub16),
        ("sample", "forward", rest, 1000, full),
        ("sample", "forward", sub, 1000, sub8),
        ("sample", "forward", rest, 1000, full),
        ("evaluate", "inception", ARMS * SAMPLES, 100, None),  # fid_stats: no reference pass
    ]
    assert (sub, rest) == (350000, 350700)


def test_ddpmpp_deep() -> None:
    """DDPM++ deep (sub-VP), n_corrector 0: 1 call per PC step; bits/dim of 10,000 test images for the full model
    and the div0.003 arm of each level, the ODE's evaluations split at the cut in proportion to time."""
    full, sub16, sub8 = NETS["cifar10ddpmppdeep"]
    exp, cfg = _paper_cfg("cifar10ddpmppdeep")
    batches = SAMPLES // BATCH
    sub, rest = batches * 7 * N_SUB, batches * 7 * (N - N_SUB + BOUNDARY)
    ode = 10000 // 1000 * 150  # solves x assumed evaluations per solve
    assert _table(exp.work(cfg)) == [
        ("train", "train", 950000, 128, sub16),
        ("train", "train", 950000, 128, sub8),
        ("sample", "forward", LEVELS * TIMES * (DIV_N // BATCH), 1000, full),
        ("sample", "forward", batches * N, 1000, full),
        ("sample", "forward", sub, 1000, sub16),
        ("sample", "forward", rest, 1000, full),
        ("sample", "forward", sub, 1000, sub8),
        ("sample", "forward", rest, 1000, full),
        ("sample", "forward", ode, 1000, full),
        ("sample", "forward", ode // 2, 1000, sub16),
        ("sample", "forward", ode // 2, 1000, full),
        ("sample", "forward", ode // 2, 1000, sub8),
        ("sample", "forward", ode // 2, 1000, full),
        ("evaluate", "inception", ARMS * SAMPLES, 100, None),
    ]
    assert all("backward" in w.what for w in exp.work(cfg) if w.what.startswith("bits/dim"))


def test_variants() -> None:
    """Official subspace checkpoints replace training; no statistics file adds the train split's features; more
    sampling sets multiply the sampling; a cut at t = 1 drops its arm and one at t = 0 has no full-space stage."""
    exp, cfg = _paper_cfg("cifar10")
    official = {k: dataclasses.replace(v, checkpoint=f"{k}.pth") for k, v in cfg.subspace_models.items()}
    assert "train" not in {w.kind for w in exp.work(dataclasses.replace(cfg, subspace_models=official))}
    units = _table(exp.work(dataclasses.replace(cfg, fid_stats=None)))
    assert units[-2:] == [
        ("evaluate", "inception", ARMS * SAMPLES, 100, None),
        ("evaluate", "inception", 50000, 100, None),  # the CIFAR-10 train split, on a first run
    ]
    units = _table(exp.work(dataclasses.replace(cfg, sample_seeds=3)))
    assert units[3][2] == 3 * (SAMPLES // BATCH) * N * 2 and units[-1][2] == 3 * ARMS * SAMPLES
    units = _table(exp.work(dataclasses.replace(cfg, thresholds=(), fixed_cut_times=(1.0, 0.0))))
    # one arm per level, all N steps in the subspace
    assert [u[2] for u in units[4:8]] == [SAMPLES // BATCH * N * 2, 0] * 2
    assert units[-1][2] == (1 + LEVELS) * SAMPLES


def _arm(cfg: cifar10.Config, level: int, cut: float) -> dict:
    n_sub = split_steps(cfg.n_steps, cut)[0]
    return {"name": "arm", "level": level, "cut_time": cut, "n_sub": n_sub, "rule": "fixed"}


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("cut", [0.0, 0.3, 0.5, 0.85])
def test_arm_calls_match_the_samplers(name: str, cut: float) -> None:
    """`_arm_calls` and the full arm's N (1 + n_corrector) are what `images._draw` calls per batch (a toy score, 4
    images of 3x8x8, N = 10 on the stage's grid)."""
    _, cfg = _paper_cfg(name)
    cfg = dataclasses.replace(cfg, n_steps=10)
    sde = None if cfg.sde == "ve" else cifar10._sde(cfg)
    grid = images.sampling_grid(cfg, sde).float()
    shape = (3, 8, 8)
    for level, arm in [(0, {"level": 0, "n_sub": 0}), (1, _arm(cfg, 1, cut))]:
        full, sub = CountingScore(lambda x, s: -x), CountingScore(lambda x, s: -x) if level else None
        images._draw(full, sub, arm, grid, StackedGenerator(range(4)), shape, 0.1, cfg.pc, 0.0)
        expected = (0, cfg.n_steps * (1 + cfg.n_corrector)) if not level else cifar10._arm_calls(cfg, arm["n_sub"])
        assert (sub.nfe if sub else 0, full.nfe) == expected, (level, arm["n_sub"])


def test_divergence_calls() -> None:
    """One full-model call per batch of images per time (and the stage runs `divergence_curve` once per level)."""
    score = CountingScore(lambda x, s: -x)
    x0 = torch.rand(5, 3, 8, 8)
    divergence_curve(score, x0, 1, 0.1, [0.5, 1.0, 2.0], lambda i: torch.randn_like(x0), batch_size=2)
    assert score.nfe == 3 * 3  # 3 times x ceil(5 / 2) batches


def test_units_are_in_gpu_stages() -> None:
    for name in EXPERIMENTS:
        exp, cfg = _paper_cfg(name)
        assert {w.stage for w in exp.work(cfg)} <= set(exp.gpu_stages), name


def test_every_net_runs_its_inputs() -> None:
    """Each distinct network (by name) builds and maps its inputs at batch 2 to an output of the image's shape."""
    nets = {}
    for name in EXPERIMENTS:
        exp, cfg = _paper_cfg(name)
        nets |= {w.net.name: w.net for w in exp.work(cfg) if w.net is not None}
    assert set(nets) == {n for names in NETS.values() for n in names}
    torch.manual_seed(0)
    for name, net in nets.items():
        out, args = run_declared_net(net)
        assert isinstance(out, torch.Tensor) and out.shape == args[0].shape, name
        assert torch.isfinite(out).all(), name
