"""Stages shared by the image experiments (MNIST, CIFAR-10, dead leaves, bark): train, sample, bound, demos.

Images in [0, 1] with 256 grey levels are dequantised (uniform noise of one level, fixed per image) and
rescaled by one global mean and scale to unit variance (paper Sec. 3.2); K is reported in bits per pixel with
the colour channels summed, against the unit-variance Gaussian null.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from papers.sohl import common, data  # noqa: E402
from papers.sohl.gaussian import GaussianDiffusion  # noqa: E402
from repro.data.augment import dequantize  # noqa: E402
from repro.run import Run  # noqa: E402
from repro.sampling import load_samples, sample_shards, to_uint8  # noqa: E402
from repro.train import load_trained  # noqa: E402


@dataclass
class ImageData:
    """Splits in [0, 1], (N, C, H, W); `synthetic` marks a smoke-tier stand-in for real data."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    valid: torch.Tensor | None = None
    synthetic: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])


def prepared(run: Run, d: ImageData) -> tuple[torch.Tensor, torch.Tensor, data.UnitScale]:
    """Dequantised, unit-variance train and test tensors, and the scale (fitted on train)."""
    train = dequantize(d.train, torch.Generator().manual_seed(run.seed * 1000 + 2))
    test = dequantize(d.test, torch.Generator().manual_seed(run.seed * 1000 + 3))
    scale = data.UnitScale(train, shift_per_dim=False)
    return scale(train), scale(test), scale


def model_for(run: Run, d: ImageData) -> GaussianDiffusion:
    return common.gaussian_image_model(run.cfg, d.shape)


def train(run: Run, d: ImageData) -> None:
    x_train, _, scale = prepared(run, d)
    run.save_json("scale.json", scale.state())
    common.fit(run, model_for(run, d), x_train, run.cfg)


def sample(run: Run, d: ImageData) -> None:
    _, _, scale = prepared(run, d)
    model = load_trained(run, model_for(run, d))

    def fn(gen, n: int) -> torch.Tensor:
        x = model.sample(gen.randn(d.shape), noise=gen.randn_like)
        return to_uint8(scale.inverse(x).clamp(0, 1))

    sample_shards(run, "samples", n=run.cfg["n_samples"], batch_size=run.cfg["sample_batch"], fn=fn)


def evaluate_bound(run: Run, d: ImageData) -> list[dict]:
    """K, L_null and K - L_null in bits per pixel (channels summed) on the held-out split."""
    cfg = run.cfg
    _, x_test, _ = prepared(run, d)
    x_test = x_test[: cfg["n_test"]]
    model = load_trained(run, model_for(run, d))
    k = common.per_example_bound(model, x_test.to(run.device), cfg["eval_batch"], run.seed, n_t=cfg["eval_t"])
    pixels = d.shape[1] * d.shape[2]
    setting = {"T": cfg["T"], "eval_t": cfg["eval_t"] or "all"}
    rows = common.bound_rows(k, common.gaussian_null(x_test), pixels, "bits/pixel", d.name, setting, run.seed)
    run.log(
        f"K = {rows[0]['value']:.3f} +- {rows[0]['stderr']:.3f} bits/pixel, "
        f"K - L_null = {rows[2]['value']:.3f} +- {rows[2]['stderr']:.3f}"
    )
    return rows


def sample_figure(run: Run, d: ImageData) -> None:
    x = torch.from_numpy(load_samples(run, "samples")[:64]).permute(0, 3, 1, 2).float() / 255
    grid = make_grid(x, nrow=8, padding=1, pad_value=1.0).permute(1, 2, 0).numpy()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(grid, cmap="gray", interpolation="nearest")
    ax.axis("off")
    run.save_figure(fig, "samples", f"{d.name}: samples", f"Ancestral reverse diffusion, T = {run.cfg['T']}.")


@torch.no_grad()
def posterior_figure(run: Run, d: ImageData) -> None:
    """Denoising (noise variance `denoise_var` on unit-variance data) and inpainting of a central square (Sec. 2.5)."""
    cfg = run.cfg
    _, x_test, scale = prepared(run, d)
    model = load_trained(run, model_for(run, d))
    torch.manual_seed(run.seed + 3)
    x = x_test[:4].to(run.device)
    y = x + cfg["denoise_var"] ** 0.5 * torch.randn_like(x)
    denoised = model.sample(torch.randn_like(x), observed=y, obs_var=cfg["denoise_var"])
    mask = torch.ones_like(x)
    h, w = d.shape[1:]
    s = min(cfg["inpaint"], h, w)
    mask[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s] = 0
    inpainted = model.sample(torch.randn_like(x), known=x, mask=mask)
    rows = [x, y, denoised, x * mask, inpainted]
    titles = ["data", "noisy", "denoised", "masked", "inpainted"]
    fig, axes = plt.subplots(len(rows), 4, figsize=(6, 7.5))
    for i, r in enumerate(rows):
        imgs = scale.inverse(r).clamp(0, 1).cpu()
        for j in range(4):
            axes[i, j].imshow(np.squeeze(imgs[j].permute(1, 2, 0).numpy()), cmap="gray", vmin=0, vmax=1)
            axes[i, j].axis("off")
        axes[i, 0].set_title(titles[i], fontsize=8, loc="left")
    run.save_figure(
        fig,
        "posterior",
        f"{d.name}: denoising and inpainting",
        f"Posterior sampling (Sec. 2.5): denoising at noise variance {cfg['denoise_var']} on unit-variance "
        f"data, and inpainting of a central {s}x{s} square with the other pixels clamped at every step.",
    )


def evaluate(run: Run, d: ImageData, extra_rows: list[dict] | None = None) -> None:
    rows = evaluate_bound(run, d) + (extra_rows or [])
    run.save_metrics(rows, synthetic_data=d.synthetic)
    sample_figure(run, d)
    posterior_figure(run, d)
