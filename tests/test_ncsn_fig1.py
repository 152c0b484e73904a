"""ncsn/fig1*: the SSM loss is unbounded below on data with a constant pixel, the net's shape, the pairing of the
two arms, and the tail statistic and rows computed from training logs in the engine's format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from papers.ncsn.fig1 import ARMS, METRIC, ResScore, evaluate, net_name, perturb, resize, seed_runs, tail_cv
from repro import config, typed
from repro.diffusion.losses import sliced_score_matching_vr
from repro.run import Run


def _run(tmp_path: Path, experiment: str = "fig1mnist") -> Run:
    from papers.ncsn.fig1 import Config

    cfg = typed.build(Config, config.load("ncsn", experiment, "smoke"), "smoke")
    return Run("ncsn", experiment, "smoke", cfg, runs_root=tmp_path / "runs")


def _linear_score(c: float):
    """s(x) = (-x_0, -c x_1): the exact score in dim 0 of N(0, 1); in dim 1 a slope c the data cannot pin down."""
    return lambda x: torch.stack([-x[:, 0], -c * x[:, 1]], dim=1)


def _ssm(x: torch.Tensor, c: float) -> float:
    torch.manual_seed(0)
    return float(sliced_score_matching_vr(_linear_score(c), x).detach())


def test_ssm_is_unbounded_below_on_a_constant_pixel_and_bounded_once_perturbed() -> None:
    """Raw: dimension 1 is always 0, so its SSM term is -c E[v^2] = -c for every slope c (no minimum). Perturbed by
    N(0, s^2): the term is c^2 s^2 / 2 - c, smallest (-1 / 2 s^2) at the true score's slope c = 1 / s^2."""
    n, s = 200_000, 0.01
    g = torch.Generator().manual_seed(1)
    raw = torch.stack([torch.randn(n, generator=g), torch.zeros(n)], dim=1).double()
    perturbed = raw + torch.stack([torch.zeros(n), s * torch.randn(n, generator=g)], dim=1).double()
    # dimension 0 alone contributes E[x^2]/2 - E[v^2] = -1/2; the same v draws for every c (seeded), so compare
    raw_terms = [_ssm(raw, c) + 0.5 for c in (1e2, 1e4, 1e6)]
    assert raw_terms == pytest.approx([-1e2, -1e4, -1e6], rel=0.02)
    best = _ssm(perturbed, 1 / s**2) + 0.5
    assert best == pytest.approx(-1 / (2 * s**2), rel=0.02)
    assert _ssm(perturbed, 10 / s**2) + 0.5 > best and _ssm(perturbed, 0.1 / s**2) + 0.5 > best


@pytest.mark.parametrize(("channels", "size"), [(1, 16), (3, 32), (1, 28)])
def test_res_score_keeps_the_image_shape(channels: int, size: int) -> None:
    net = ResScore(channels, 8)
    x = torch.rand(2, channels, size, size)
    assert net(x).shape == x.shape


def test_res_score_needs_group_norm_widths() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        ResScore(1, 12)


def test_perturbation_comes_from_the_batch_generator() -> None:
    x = torch.zeros(4000, 1, 4, 4)
    (a,) = perturb(0.01)((x,), torch.Generator().manual_seed(3))
    (b,) = perturb(0.01)((x,), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert float(a.std()) == pytest.approx(0.01, rel=0.02)


def test_resize_keeps_native_size_and_constant_borders() -> None:
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 8:20, 8:20] = 1.0
    assert resize(x, 28) is x
    y = resize(x, 16)
    assert y.shape == (2, 1, 16, 16)
    assert float(y[..., 0, :].abs().max()) == 0.0  # border pixels stay exactly 0: the thin set survives
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def test_tail_cv_is_std_over_abs_mean_of_the_final_fraction() -> None:
    loss = np.array([100.0, -50.0, -1.0, -3.0, -1.0, -3.0, -1.0, -3.0])
    assert tail_cv(loss, 0.5) == pytest.approx(1.0 / 2.0)
    assert tail_cv(np.full(10, -7.0), 0.25) == 0.0


def _write_log(run: Run, name: str, losses: list[float]) -> None:
    lines = [json.dumps({"step": i + 1, "loss": v, "seconds": 0.0}) for i, v in enumerate(losses)]
    run.path(f"train_{name}.jsonl").write_text("\n".join(lines) + "\n")


def test_evaluate_rows_from_training_logs(tmp_path: Path) -> None:
    """Raw curves jump between -1 and -3 (CV 0.5), perturbed ones settle at -2 (CV 0): gap 0.5 in every seed."""
    run = _run(tmp_path)
    views = seed_runs(run)
    for r in views:
        _write_log(run, net_name("raw", r.seed), [5.0, 1.0] + [-1.0, -3.0] * 3)
        _write_log(run, net_name("perturbed", r.seed), [5.0, 1.0] + [-2.0] * 6)
    run.path(f"{net_name('raw', views[0].seed)}_stopped.json").write_text("{}")
    evaluate(run)
    rows = json.loads(run.path("metrics.json").read_text())["rows"]
    by = {(r["metric"], r["setting"].split(";")[0]): r for r in rows}
    assert by[(METRIC, "arm=raw")]["value"] == pytest.approx(0.5)
    assert by[(METRIC, "arm=perturbed")]["value"] == pytest.approx(0.0)
    assert by[("nonfinite_stop", "arm=raw")]["value"] == pytest.approx(1 / len(views))
    assert by[("nonfinite_stop", "arm=perturbed")]["value"] == 0.0
    diff = by[(f"{METRIC}_diff", "difference=raw_minus_perturbed")]
    assert diff["value"] == pytest.approx(0.5) and diff["stderr"] == pytest.approx(0.0)
    assert set(ARMS) == {"raw", "perturbed"}
    assert run.path("figures", "ssm_loss.png").exists()
