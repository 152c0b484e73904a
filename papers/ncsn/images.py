"""Pieces shared by NCSN's image experiments: config, data, noise levels, training, sampling, inpainting, figures.

Training follows the official `AnnealRunner`: uniform dequantisation x*255/256 + U/256, random horizontal flips
where the config says so (`flip`: CIFAR-10, CelebA), DSM over `n_levels` geometric levels `sigma_begin` ->
`sigma_end` with lambda(sigma) = sigma^2 and one uniform level per sample, Adam (the `training:` section).
Sampling (`sampling:`) is annealed Langevin from U[0,1] with no final denoising; images are stored as uint8 after
clamping to [0, 1]. `synthetic_n` > 0 replaces the data by a deterministic stand-in of that many images (smoke).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from repro.config import ExperimentConfig, read_from
from repro.diffusion.sde import geometric_sigmas
from repro.run import MetricRow, Run
from repro.work import Net, Work, image_inputs, level_labels
from repro.work import batches as n_batches


@dataclass(frozen=True, kw_only=True)
class Annealed:
    """Annealed Langevin: `n_steps_each` steps per level, step eps (scaled by sigma_i^2 / sigma_L^2)."""

    n_steps_each: int
    eps: float
    convention: str


@dataclass(frozen=True, kw_only=True)
class ImageConfig(ExperimentConfig):
    """The keys every NCSN image experiment has."""

    dataset: str
    synthetic_n: int
    ngf: int
    sigma_begin: float
    sigma_end: float
    n_levels: int
    flip: bool
    training: dict[str, Any]
    sampling: Annealed  # also read by ncsn/cifar10's select stage: marked per experiment where it is not
    n_samples: int = read_from("sample")
    sample_batch: int  # also read by ncsn/cifar10's select stage: marked per experiment where it is not
    grid: int = read_from("evaluate")


@dataclass(frozen=True, kw_only=True)
class Inpaint:
    n_refs: int
    n_per_ref: int


@dataclass(frozen=True, kw_only=True)
class InpaintingConfig(ImageConfig):
    """An image experiment that also draws inpaintings (Alg. 2): CIFAR-10, CelebA."""

    inpaint: Inpaint = read_from("sample")
    test_dsm_n: int = read_from("evaluate", 500)  # held-out images of the per-level DSM loss


def levels(cfg: ImageConfig) -> torch.Tensor:
    """sigma_1 > ... > sigma_L, geometric (float64 linspace in log, then float32, as the official code)."""
    return geometric_sigmas(cfg.n_levels, cfg.sigma_begin, cfg.sigma_end).to(torch.float32)


def is_synthetic(cfg: ImageConfig) -> bool:
    return cfg.synthetic_n > 0


def load_images(run: Run, split: str = "train") -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images in [0,1] (N,C,H,W), labels or None): the real split, or a deterministic stand-in (smoke)."""
    cfg = run.cfg
    if is_synthetic(cfg):
        from repro.data.synthetic import synthetic_like

        offset = {"train": 0, "valid": 1, "test": 2}[split]
        d = synthetic_like(cfg.dataset, cfg.synthetic_n, seed=run.seed * 3 + offset)
    else:
        from repro.data.load import load_dataset

        d = load_dataset(cfg.dataset, run.data_root, split=split)
    return d.images, d.labels


def build_net(cfg: ImageConfig, n_levels: int, channels: int):
    from repro.nets.refinenet import CondRefineNetDilated

    return CondRefineNetDilated(channels, cfg.ngf, n_levels)


def train_net(run: Run, name: str, images: torch.Tensor, sigmas: torch.Tensor):
    """DSM training of a fresh RefineNet (seeded by the run) on `images` with noise levels `sigmas`."""
    from repro.data.augment import image_transform
    from repro.data.batches import TensorBatches
    from repro.diffusion.losses import dsm_loss
    from repro.train import TrainConfig, train

    cfg = run.cfg
    tc = TrainConfig.from_config(cfg.training, name, log_every=min(100, cfg.training["steps"]))
    batches = TensorBatches(
        images, tc.batch_size, seed=run.seed, transform=image_transform(dequant=True, flip=cfg.flip)
    )
    torch.manual_seed(run.seed)
    net = build_net(cfg, len(sigmas), images.shape[1])
    levels_on_device = sigmas.to(run.device)
    return train(run, net, lambda model, x: dsm_loss(model, x, levels_on_device), batches, tc)


def train_ncsn(run: Run) -> None:
    """The one NCSN of an image experiment, trained on its training split."""
    train_net(run, "ncsn", load_images(run, "train")[0], levels(run.cfg))


def load_net(run: Run, name: str, n_levels: int, channels: int):
    from repro.train import load_trained

    return load_trained(run, build_net(run.cfg, n_levels, channels), name)


def uniform_start_fn(
    net, sigmas: torch.Tensor, shape: tuple[int, ...], draw: Callable, counter: dict | None
) -> Callable:
    """`fn(gen, n)` for `repro.sampling.sample_shards`: `draw(score, x0, noise)` from U[0,1], uint8 output.

    The score counts its evaluations; the last count goes to `counter["nfe"]` when a counter is given.
    """
    from repro.diffusion.nfe import CountingScore
    from repro.nets.refinenet import LevelScore
    from repro.sampling import to_uint8

    level_score = LevelScore(net, sigmas).to(next(net.parameters()).device)

    def fn(gen, n: int) -> torch.Tensor:
        score = CountingScore(level_score)
        x = draw(score, gen.rand(shape), gen.randn_like)
        if counter is not None:
            counter["nfe"] = score.nfe
        return to_uint8(x)

    return fn


def annealed_fn(
    net, sigmas: torch.Tensor, shape: tuple[int, ...], sampling: Annealed, counter: dict | None = None
) -> Callable:
    """`fn(gen, n)` for `repro.sampling.sample_shards`: annealed Langevin from U[0,1], uint8 output."""
    from repro.diffusion.samplers.langevin import annealed_langevin

    def draw(score, x0: torch.Tensor, noise: Callable) -> torch.Tensor:
        return annealed_langevin(
            score,
            x0,
            sigmas.tolist(),
            n_steps=sampling.n_steps_each,
            eps=sampling.eps,
            convention=sampling.convention,
            noise=noise,
        )

    return uniform_start_fn(net, sigmas, shape, draw, counter)


def langevin_setting(sampler: str, convention: str, eps: float, n_steps: int, **noise: float) -> dict[str, Any]:
    """The recorded setting of a Langevin sampler that starts from U[0,1] and ends without denoising."""
    return {
        "sampler": sampler,
        "convention": convention,
        "eps": eps,
        "T": n_steps,
        **noise,
        "init": "uniform",
        "denoise": "none",
    }


def sampling_setting(cfg: ImageConfig) -> dict[str, Any]:
    s = cfg.sampling
    return langevin_setting("annealed", s.convention, s.eps, s.n_steps_each, L=cfg.n_levels)


def sample_and_inpaint(run: Run, net, shape: tuple[int, ...], refs_split: str) -> None:
    """`n_samples` annealed Langevin samples (their NFE in nfe.json), then inpaintings of references drawn from
    `refs_split` (inpainting.npz)."""
    from repro.sampling import sample_shards

    cfg, sigmas = run.cfg, levels(run.cfg)
    counter: dict = {}
    sample_shards(
        run,
        "samples",
        cfg.n_samples,
        cfg.sample_batch,
        annealed_fn(net, sigmas.to(run.device), shape, cfg.sampling, counter),
    )
    if counter:  # empty when every shard already existed (a resumed job)
        run.save_json("nfe.json", counter)
    images = load_images(run, refs_split)[0]
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(run.seed))
    rows = inpaint(run, net, sigmas.to(run.device), images[order[: cfg.inpaint.n_refs]])
    with open(run.path("inpainting.npz"), "wb") as fh:
        np.savez(fh, images=rows)


def inpaint(run: Run, net, sigmas: torch.Tensor, refs: torch.Tensor) -> np.ndarray:
    """Alg. 2 on `refs` (N,C,H,W in [0,1]): the left half is kept, `n_per_ref` completions each; uint8 output.

    Returns (n_refs, n_per_ref + 1, H, W, C): the masked reference first, then the completions.
    """
    from repro.diffusion.samplers.langevin import annealed_langevin_inpaint
    from repro.nets.refinenet import LevelScore
    from repro.rng import StackedGenerator
    from repro.sampling import sample_seed, to_uint8

    cfg = run.cfg
    k, s = cfg.inpaint.n_per_ref, cfg.sampling
    refs = refs[: cfg.inpaint.n_refs].to(run.device)
    known = refs.repeat_interleave(k, dim=0)
    mask = torch.zeros_like(known[:1], dtype=torch.bool)
    mask[..., : known.shape[-1] // 2] = True
    gen = StackedGenerator([sample_seed(run.seed + 1, i) for i in range(len(known))], device=run.device)
    with torch.inference_mode():
        x = annealed_langevin_inpaint(
            LevelScore(net, sigmas).to(run.device),
            gen.rand(known.shape[1:]),
            sigmas.tolist(),
            known=known,
            mask=mask,
            n_steps=s.n_steps_each,
            eps=s.eps,
            convention=s.convention,
            noise=gen.randn_like,
        )
    shown = torch.where(mask, refs, torch.zeros_like(refs))
    out = torch.cat([shown[:, None], x.view(len(refs), k, *refs.shape[1:])], dim=1)
    u8 = to_uint8(out.flatten(0, 1))
    return u8.view(len(refs), k + 1, *u8.shape[1:]).cpu().numpy()


def nfe_row(run: Run, setting: dict[str, Any], n_samples: int) -> MetricRow:
    """Score evaluations per sample of the `samples` set (nfe.json, written by `sample_and_inpaint`)."""
    nfe = run.load_json("nfe.json")["nfe"]
    return MetricRow(
        dataset=run.cfg.dataset,
        setting=setting,
        metric="nfe",
        value=float(nfe),
        unit="evaluations",
        n_samples=n_samples,
        seed=run.seed,
    )


def save_results(run: Run, rows: list[MetricRow], samples: np.ndarray, label: str, grid_title: str) -> None:
    """metrics.json, the sample grid and the inpainting figure of a run made by `sample_and_inpaint`."""
    cfg = run.cfg
    run.save_metrics(rows, synthetic_data=is_synthetic(cfg))
    grid_figure(run, "samples", samples, cfg.grid, grid_title, "Uncurated annealed Langevin samples.")
    inpaint_figure(run, np.load(run.root / "inpainting.npz")["images"], label)


def grid_figure(run: Run, name: str, images: np.ndarray, n: int, title: str, caption: str) -> None:
    """A square grid of the first `n` uint8 images (N,H,W,C)."""
    side = max(1, math.isqrt(min(n, len(images))))
    h, w, c = images.shape[1:]
    tiled = images[: side * side].reshape(side, side, h, w, c).transpose(0, 2, 1, 3, 4).reshape(side * h, side * w, c)
    _show(run, name, tiled, title, caption)


def inpaint_figure(run: Run, rows: np.ndarray, dataset: str) -> None:
    """One row per reference image: the kept left half, then the completions."""
    n_refs, k1, h, w, c = rows.shape
    _show(
        run,
        "inpainting",
        rows.transpose(0, 2, 1, 3, 4).reshape(n_refs * h, k1 * w, c),
        f"Inpainting (Alg. 2), {dataset}",
        "First column: the observed left half (right half blank); other columns: completions by annealed Langevin "
        "with the known pixels reset to a noisy copy of the observation at every step.",
    )


def _show(run: Run, name: str, tiled: np.ndarray, title: str, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w, c = tiled.shape
    fig, ax = plt.subplots(figsize=(max(3, w / 40), max(3, h / 40)))
    ax.imshow(
        tiled[..., 0] if c == 1 else tiled, cmap="gray" if c == 1 else None, vmin=0, vmax=255, interpolation="nearest"
    )
    ax.axis("off")
    run.save_figure(fig, name, title, caption)


def test_dsm_rows(run: Run, net, sigmas: torch.Tensor, images: torch.Tensor) -> list[MetricRow]:
    """Held-out DSM loss per level on `test_dsm_n` images (the acceptance check of the official checkpoint)."""
    from repro.data.augment import dequantize
    from repro.diffusion.losses import dsm_loss

    g = torch.Generator().manual_seed(run.seed + 7)
    x = dequantize(images[: run.cfg.test_dsm_n], g).to(run.device)
    rows = []
    for i, sigma in enumerate(sigmas.tolist()):
        torch.manual_seed(run.seed + 100 + i)
        with torch.no_grad():
            loss = dsm_loss(net, x, sigmas.to(run.device), labels=torch.full((len(x),), i, device=run.device))
        rows.append(
            MetricRow(
                dataset=run.cfg.dataset,
                setting={"level": i, "sigma": round(sigma, 6)},
                metric="dsm_loss_test",
                value=float(loss),
                unit="loss",
                n_samples=len(x),
                seed=run.seed,
            )
        )
    return rows


def seed_runs(run: Run) -> list[Run]:
    """One view of the run per seed (`seeds` from the config's seed): same folder, the config's seed replaced, so
    training and sample seeds follow."""
    return [
        dataclasses.replace(run, cfg=dataclasses.replace(run.cfg, seed=s))
        for s in range(run.seed, run.seed + run.cfg.seeds)
    ]


# Declared GPU work (`repro.work`): the units the image experiments' stages share.


def score_net(cfg: ImageConfig, n_levels: int, shape: tuple[int, int, int]) -> Net:
    """The RefineNet as `build_net` makes it and as DSM, the samplers (through `LevelScore`) and the held-out loss
    call it: net(x, level indices)."""
    return Net(
        f"NCSN CondRefineNetDilated ngf {cfg.ngf} {'x'.join(map(str, shape))} L={n_levels}",
        lambda: build_net(cfg, n_levels, shape[0]),
        image_inputs(shape, level_labels(n_levels)),
    )


def train_work(cfg: ImageConfig, net: Net, what: str, n_nets: int = 1) -> Work:
    """`n_nets` DSM trainings of `net` (one per seed), `training.steps` Adam steps each at `training.batch_size`."""
    steps = cfg.training["steps"]
    return Work("train", f"{what}, {n_nets} x {steps} steps", "train", n_nets * steps, cfg.training["batch_size"], net)


def annealed_nfe(cfg: ImageConfig) -> int:
    """Score calls of one annealed Langevin batch: L levels x T steps (no final denoising)."""
    return cfg.n_levels * cfg.sampling.n_steps_each


def annealed_work(cfg: ImageConfig, stage: str, n: int, net: Net, n_sets: int = 1) -> Work:
    """`n_sets` sets of `n` annealed Langevin samples, drawn in batches of `sample_batch` (`sample_shards`)."""
    s = cfg.sampling
    return Work(
        stage,
        f"annealed Langevin {cfg.n_levels} levels x {s.n_steps_each} steps, {n_sets} x {n} samples",
        "forward",
        n_sets * n_batches(n, cfg.sample_batch) * annealed_nfe(cfg),
        cfg.sample_batch,
        net,
    )


def sample_and_inpaint_work(cfg: InpaintingConfig, net: Net) -> list[Work]:
    """`sample_and_inpaint`: the samples, then Alg. 2 on all n_refs x n_per_ref completions in one batch."""
    k = cfg.inpaint
    what = f"inpainting (Alg. 2) {cfg.n_levels} levels x {cfg.sampling.n_steps_each} steps, {k.n_refs} x {k.n_per_ref}"
    return [
        annealed_work(cfg, "sample", cfg.n_samples, net),
        Work("sample", what, "forward", annealed_nfe(cfg), k.n_refs * k.n_per_ref, net),
    ]


def held_out_dsm_work(cfg: InpaintingConfig, net: Net) -> Work:
    """`test_dsm_rows`: one no-grad call per level on the first `test_dsm_n` held-out images."""
    what = f"held-out DSM loss, 1 call per level on {cfg.test_dsm_n} images"
    return Work("evaluate", what, "forward", cfg.n_levels, cfg.test_dsm_n, net)
