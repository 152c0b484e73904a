"""dlg's declared GPU work (`repro.work`) at the paper tier: the counts derived by hand from
papers/dlg/configs/paper.yaml and defaults.yaml, a cross-check against the calls `sample_points` really makes,
and every declared network runs its inputs on the CPU."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import torch
from conftest import run_declared_net

from papers.dlg.images import Point, sample_points
from repro import config, registry, typed
from repro.run import Run
from repro.work import Work

NCSNPP_CIFAR = "NCSN++ VE nf 128 ch_mult (1, 2, 2, 2) x4 blocks 3x32x32"
NCSNPP_CELEBAHQ = (
    "NCSN++ VE nf 128 ch_mult (1, 1, 2, 2, 2, 2, 2) x2 blocks progressive output_skip progressive_input input_skip "
    "3x256x256"
)
SIMPLECNN, SIMPLECNN256 = "DLG SimpleCNN K=1000 3x32x32", "DLG SimpleCNN256 K=1000 3x256x256"
KAR_INIT = 2 * 20 - 3  # KAR2 initialisation with init_levels 20: NFE 2 (L - 1) - 1


def _cfg(name: str, tier: str = "paper"):
    exp = registry.experiments(("dlg",))[f"dlg/{name}"]
    raw = config.load_tier("dlg", tier)[name]
    return exp, typed.build(exp.config_class(), raw, f"dlg {tier} tier: {name}")


def _work(name: str) -> list[Work]:
    exp, cfg = _cfg(name)
    return exp.work(cfg)


def _table(units: list[Work]) -> list[tuple[str, str, int, int, str | None]]:
    return [(w.stage, w.kind, w.count, w.batch, w.net.name if w.net else None) for w in units]


def _rk45(figure: int, n_skip: int, tol: float) -> int:
    """The declared RK45 estimate: the figure's per-sample NFE less Tweedie and sweeps, scaled by (tol/1e-5)^-1/5."""
    return math.ceil((figure - 1 - n_skip) * (tol / 1e-5) ** -0.2)


def test_cifar10() -> None:
    batches, rounds = 50000 // 500, 50000 // 200  # sample batches of 500; rounds of 200 persistent chains
    setup = KAR_INIT + 10 + 10  # once per DLG point: KAR2 init + burn-in [[10, 0.5], [10, 0.5]]
    # plain fixed-step budgets (each = integrator NFE + Tweedie per batch): kar1, pfode, kar2, rd, em
    plain = (20 + 50 + 100 + 1000) + (100 + 200 + 1000) + (20 + 50 + 100 + 200 + 1000) + 2 * (100 + 200 + 1000)
    # DLG fixed-step budgets per round: kar1, pfode, kar2, rd, em (17 points)
    dlg = (10 + 16 + 20 + 50) + (50 + 100 + 200) + (10 + 20 + 50 + 100) + (100 + 200 + 600) + (100 + 200 + 400)
    # RK45 (figure: 180 plain, 60 with DLG at 1e-5), rk45_skip 10 sweeps with DLG, + Tweedie
    rk45_plain = _rk45(180, 0, 1e-5) + 1
    assert rk45_plain == 180
    rk45_dlg = sum(10 + _rk45(60, 10, tol) + 1 for tol in (1e-3, 1e-4, 1e-5))
    assert rk45_dlg == (10 + 20 + 1) + (10 + 31 + 1) + (10 + 49 + 1)
    # n_skip per DLG point: round(0.2 budget), plus what Karras's odd NFE cannot use (kar1 16: 3 -> 4)
    n_skip = (2 + 4 + 4 + 10) + (10 + 20 + 40) + (2 + 4 + 10 + 20) + (20 + 40 + 120) + (20 + 40 + 80) + 3 * 10
    assert _table(_work("cifar10")) == [  # both networks are the releases: nothing trained
        ("sample", "forward", batches * plain, 500, NCSNPP_CIFAR),
        ("sample", "forward", batches * rk45_plain, 500, NCSNPP_CIFAR),
        ("sample", "forward", 17 * setup + rounds * dlg, 200, NCSNPP_CIFAR),
        ("sample", "forward", 3 * setup + rounds * rk45_dlg, 200, NCSNPP_CIFAR),
        ("sample", "forward", 20 * (1 + 20) + rounds * n_skip, 200, SIMPLECNN),
        ("evaluate", "inception", 39 * 50000, 50, None),  # pytorch-fid's batch of 50
        ("evaluate", "inception", 50000, 50, None),  # the CIFAR-10 train split, no fid_stats file
    ]


def test_celebahq() -> None:
    batches, rounds = 10000 // 20, 10000 // 20
    setup = KAR_INIT + 50 + 20  # burn-in [[50, 1.6], [20, 0.8]]
    rk45_dlg = 10 + _rk45(127, 10, 1e-5) + 1  # figure: 378 plain, 127 with DLG
    assert rk45_dlg == 127
    # n_skip: kar1 20 -> 4, pfode 146 -> 29, kar2 48 -> 10 (the notebook's N 20), kar2 160 -> 32, rd 130 -> 26,
    # em 106 -> 21, rk45 -> 10
    n_skip = 4 + 29 + 10 + 32 + 26 + 21 + 10
    assert _table(_work("celebahq")) == [
        ("sample", "forward", batches * 5 * 400, 20, NCSNPP_CELEBAHQ),
        ("sample", "forward", batches * 378, 20, NCSNPP_CELEBAHQ),
        ("sample", "forward", 6 * setup + rounds * (20 + 146 + 48 + 160 + 130 + 106), 20, NCSNPP_CELEBAHQ),
        ("sample", "forward", setup + rounds * rk45_dlg, 20, NCSNPP_CELEBAHQ),
        ("sample", "forward", 7 * (1 + 70) + rounds * n_skip, 20, SIMPLECNN256),
        ("evaluate", "inception", 13 * 10000, 50, None),
        ("evaluate", "inception", 30000, 50, None),  # n_reference
    ]


def test_variants() -> None:
    """A classifier trained here adds its training; a statistics file drops the reference pass; torch-fidelity
    runs at its batch of 100; a synthetic stand-in (sliced W2 on pixels) uses no Inception."""
    for name, steps in (("cifar10", 100000), ("celebahq", 150000)):
        exp, cfg = _cfg(name)
        trained = dataclasses.replace(cfg, classifier=dataclasses.replace(cfg.classifier, source="train"))
        assert _table(exp.work(trained))[0] == (
            "train",
            "train",
            steps,
            100,
            SIMPLECNN if name == "cifar10" else SIMPLECNN256,
        )
        units = exp.work(dataclasses.replace(cfg, fid_stats="stats.npz", fid_protocol="torch-fidelity"))
        assert [(w.count, w.batch) for w in units if w.kind == "inception"] == [(len(cfg.points) * cfg.n_samples, 100)]
        assert not [w for w in exp.work(dataclasses.replace(cfg, data="synthetic")) if w.kind == "inception"]


def test_smoke_trains_both_nets() -> None:
    """The smoke tier trains the tiny score net and the classifier (5 steps at batch 16 each)."""
    exp, cfg = _cfg("cifar10", "smoke")
    assert _table(exp.work(cfg))[:2] == [
        ("train", "train", 5, 16, "DLG SimpleCNN K=1000 3x32x32"),
        ("train", "train", 5, 16, "DLG TinyScoreNet width 16 3x32x32"),
    ]


def test_units_are_in_gpu_stages() -> None:
    for name in ("cifar10", "celebahq"):
        exp, cfg = _cfg(name)
        assert {w.stage for w in exp.work(cfg)} <= set(exp.gpu_stages), name


def test_declared_calls_match_sample_points(tmp_path: Path) -> None:
    """On the smoke config with every fixed-step integrator in both arms (a partial last batch, a cut last round),
    the calls `sample_points` makes of each network at each batch are those declared (the last batch priced full).
    The counts do not depend on the image size: the nets run at 16x16 to keep the test cheap."""
    from papers.dlg.official import classifier_spec, score_spec

    exp, cfg = _cfg("cifar10", "smoke")
    points = tuple(
        Point(integrator=i, dlg=d, budget=8) for i in ("kar1", "pfode", "kar2", "rd", "em") for d in (False, True)
    )
    cfg = dataclasses.replace(
        cfg, points=points, n_samples=20, batch_size=8, dlg=dataclasses.replace(cfg.dlg, chains=7)
    )
    role = {"DLG TinyScoreNet width 16 3x32x32": "score", "DLG SimpleCNN K=1000 3x32x32": "classifier"}
    declared = Counter()
    for w in exp.work(cfg):
        if w.stage == "sample":
            declared[role[w.net.name], w.batch] += w.count
    shape = (3, 16, 16)
    seen, nets = Counter(), {}
    for name, spec in (("score", score_spec(cfg, shape)), ("classifier", classifier_spec(cfg, shape))):
        torch.manual_seed(0)
        nets[name] = spec.build().eval()
        # a call at the partial last batch (20 = 8 + 8 + 4) is priced as one at the full batch of 8
        nets[name].register_forward_hook(
            lambda m, a, o, name=name: seen.update([(name, {4: 8}.get(a[0].shape[0], a[0].shape[0]))])
        )
    run = Run("dlg", "cifar10", "smoke", cfg, runs_root=tmp_path)
    sample_points(run, nets["score"], nets["classifier"], cfg.levels(), shape)
    assert seen == declared
    assert declared["score", 8] == 5 * 3 * 8  # 5 plain points x 3 batches x budget 8
    init, burn, rounds = 2 * 5 - 3, 2 + 2, 3  # KAR2 with init_levels 5; burn-in [[2, .5], [2, .5]]; ceil(20 / 7)
    assert declared["score", 7] == 5 * (init + burn + rounds * 8)
    assert declared["classifier", 7] == 5 * (1 + burn + rounds * 2)  # n_skip round(0.2 x 8) = 2 for all five


def test_every_net_runs_its_inputs() -> None:
    """Each distinct network (by name) builds and maps its inputs at batch 2: a score of the image's shape, or
    logits over the levels."""
    exp, smoke = _cfg("cifar10", "smoke")
    units = _work("cifar10") + _work("celebahq") + exp.work(smoke)
    nets = {w.net.name: w.net for w in units if w.net is not None}
    assert len(nets) == 5
    torch.manual_seed(0)
    for name, net in nets.items():
        out, args = run_declared_net(net)
        want = args[0].shape if len(args) == 2 else (2, 1000)
        assert isinstance(out, torch.Tensor) and out.shape == want, name
        assert torch.isfinite(out).all(), name
