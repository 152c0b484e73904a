"""Pieces shared by NCSN's image experiments: data, noise levels, training, sampling, inpainting, figures.

Training follows the official `AnnealRunner`: uniform dequantisation x*255/256 + U/256, random horizontal flips
where the config says so (CIFAR-10, CelebA), DSM over L geometric levels with lambda(sigma) = sigma^2 and one
uniform level per sample, Adam. Sampling is annealed Langevin from U[0,1] with no final denoising; images are
stored as uint8 after clamping to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from repro.run import Run


def levels(cfg: dict) -> torch.Tensor:
    """sigma_1 > ... > sigma_L, geometric (float64 linspace in log, then float32, as the official code)."""
    s = np.exp(np.linspace(math.log(cfg["sigma_begin"]), math.log(cfg["sigma_end"]), cfg["n_levels"]))
    return torch.tensor(s, dtype=torch.float32)


def is_synthetic(cfg: dict) -> bool:
    return cfg["synthetic_n"] > 0


def load_images(run: Run, split: str = "train") -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images in [0,1] (N,C,H,W), labels or None): the real split, or a deterministic stand-in (smoke)."""
    cfg = run.cfg
    if is_synthetic(cfg):
        from repro.data.synthetic import synthetic_like

        offset = {"train": 0, "valid": 1, "test": 2}[split]
        d = synthetic_like(cfg["dataset"], cfg["synthetic_n"], seed=run.seed * 3 + offset)
    else:
        from repro.data.load import load_dataset

        d = load_dataset(cfg["dataset"], run.data_root, split=split)
    return d.images, d.labels


def build_net(cfg: dict, n_levels: int, channels: int):
    from repro.nets.refinenet import CondRefineNetDilated

    return CondRefineNetDilated(channels, cfg["ngf"], n_levels)


def train_net(run: Run, name: str, images: torch.Tensor, sigmas: torch.Tensor):
    """DSM training of a fresh RefineNet (seeded by the run) on `images` with noise levels `sigmas`."""
    from repro.data.augment import image_transform
    from repro.data.batches import TensorBatches
    from repro.diffusion.losses import dsm_loss
    from repro.train import TrainConfig, train

    cfg, t = run.cfg, run.cfg["train"]
    batches = TensorBatches(
        images, t["batch_size"], seed=run.seed, transform=image_transform(dequant=True, flip=cfg["flip"])
    )
    torch.manual_seed(run.seed)
    net = build_net(cfg, len(sigmas), images.shape[1])
    levels_on_device = sigmas.to(run.device)
    tc = TrainConfig(
        steps=t["steps"],
        lr=t["lr"],
        batch_size=t["batch_size"],
        ckpt_every=t["ckpt_every"],
        keep_every=t.get("keep_every"),
        log_every=min(100, t["steps"]),
        name=name,
    )
    return train(run, net, lambda model, x: dsm_loss(model, x, levels_on_device), batches, tc)


def load_net(run: Run, name: str, n_levels: int, channels: int):
    from repro.train import load_trained

    return load_trained(run, build_net(run.cfg, n_levels, channels), name)


def annealed_fn(
    net, sigmas: torch.Tensor, shape: tuple[int, ...], sampling: dict, counter: dict | None = None
) -> Callable:
    """`fn(gen, n)` for `repro.sampling.sample_shards`: annealed Langevin from U[0,1], uint8 output."""
    from repro.diffusion.nfe import CountingScore
    from repro.diffusion.samplers.langevin import annealed_langevin
    from repro.nets.refinenet import LevelScore
    from repro.sampling import to_uint8

    level_score = LevelScore(net, sigmas).to(next(net.parameters()).device)

    def fn(gen, n: int) -> torch.Tensor:
        score = CountingScore(level_score)
        x = annealed_langevin(
            score,
            gen.rand(shape),
            sigmas.tolist(),
            n_steps=sampling["n_steps_each"],
            eps=sampling["eps"],
            convention=sampling["convention"],
            noise=gen.randn_like,
        )
        if counter is not None:
            counter["nfe"] = score.nfe
        return to_uint8(x)

    return fn


def sampling_setting(cfg: dict) -> dict:
    s = cfg["sampling"]
    return {
        "sampler": "annealed",
        "convention": s["convention"],
        "eps": s["eps"],
        "T": s["n_steps_each"],
        "L": cfg["n_levels"],
        "init": "uniform",
        "denoise": "none",
    }


def inpaint(run: Run, net, sigmas: torch.Tensor, refs: torch.Tensor) -> np.ndarray:
    """Alg. 2 on `refs` (N,C,H,W in [0,1]): the left half is kept, `n_per_ref` completions each; uint8 output.

    Returns (n_refs, n_per_ref + 1, H, W, C): the masked reference first, then the completions.
    """
    from repro.diffusion.samplers.langevin import annealed_langevin_inpaint
    from repro.nets.refinenet import LevelScore
    from repro.rng import StackedGenerator
    from repro.sampling import sample_seed, to_uint8

    cfg, k = run.cfg, run.cfg["inpaint"]["n_per_ref"]
    refs = refs[: cfg["inpaint"]["n_refs"]].to(run.device)
    known = refs.repeat_interleave(k, dim=0)
    mask = torch.zeros_like(known[:1], dtype=torch.bool)
    mask[..., : known.shape[-1] // 2] = True
    gen = StackedGenerator([sample_seed(run.seed + 1, i) for i in range(len(known))], device=run.device)
    s = cfg["sampling"]
    with torch.no_grad():
        x = annealed_langevin_inpaint(
            LevelScore(net, sigmas).to(run.device),
            gen.rand(known.shape[1:]),
            sigmas.tolist(),
            known=known,
            mask=mask,
            n_steps=s["n_steps_each"],
            eps=s["eps"],
            convention=s["convention"],
            noise=gen.randn_like,
        )
    shown = torch.where(mask, refs, torch.zeros_like(refs))
    out = torch.cat([shown[:, None], x.view(len(refs), k, *refs.shape[1:])], dim=1)
    u8 = to_uint8(out.flatten(0, 1))
    return u8.view(len(refs), k + 1, *u8.shape[1:]).cpu().numpy()


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


def test_dsm_rows(run: Run, net, sigmas: torch.Tensor, images: torch.Tensor, dataset: str, n: int = 500) -> list:
    """Held-out DSM loss per level (the acceptance check of the official checkpoint), as metric rows."""
    from repro.data.augment import dequantize
    from repro.diffusion.losses import dsm_loss

    g = torch.Generator().manual_seed(run.seed + 7)
    x = dequantize(images[:n], g).to(run.device)
    rows = []
    for i, sigma in enumerate(sigmas.tolist()):
        torch.manual_seed(run.seed + 100 + i)
        with torch.no_grad():
            loss = dsm_loss(net, x, sigmas.to(run.device), labels=torch.full((len(x),), i, device=run.device))
        rows.append(
            {
                "dataset": dataset,
                "setting": {"level": i, "sigma": round(sigma, 6)},
                "metric": "dsm_loss_test",
                "value": float(loss),
                "stderr": None,
                "unit": "loss",
                "n_samples": len(x),
                "seed": run.seed,
            }
        )
    return rows
