"""Stages of the image experiments (MNIST, CIFAR-10, dead leaves, bark): train, sample, bound, demos.

Images in [0, 1] with 256 grey levels are dequantised (uniform noise of one level, fixed per image) and
rescaled by one global mean and scale to unit variance (paper Sec. 3.2); K is reported in bits per pixel with
the colour channels summed, against the unit-variance Gaussian null.

CIFAR-10, dead leaves and bark run the stage functions here (`module_name` in papers/sohl/__init__.py) and differ
only in their loader (`LOADERS`), which reads the config's `source:` section. Sample quality is the Parzen
log-likelihood of the test images under the samples (`parzen_rows`: MNIST's Table 2 protocol, and dead leaves').

K is a bound of the model itself, not a score of a generator's samples, so it has no sanity rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from papers.sohl import bark, cifar10, common, data, deadleaves  # noqa: E402
from papers.sohl.data import ImageData  # noqa: E402
from papers.sohl.gaussian import GaussianDiffusion, Schedule  # noqa: E402
from papers.sohl.nets import ImageReverseNet  # noqa: E402
from repro import typed  # noqa: E402
from repro.config import ExperimentConfig, read_from  # noqa: E402
from repro.data.augment import dequantize  # noqa: E402
from repro.data.base import SHAPES  # noqa: E402
from repro.metrics.parzen import DEFAULT_SIGMAS, parzen_evaluate  # noqa: E402
from repro.metrics.sanity import matched_noise, sanity_rows  # noqa: E402
from repro.run import MetricRow, Run  # noqa: E402
from repro.sampling import load_samples, sample_shards, to_uint8  # noqa: E402
from repro.train import load_trained  # noqa: E402
from repro.work import Net, Work, batches, image_inputs  # noqa: E402


@dataclass(frozen=True, kw_only=True)
class ImageNet:
    """The multi-scale convolutional + dense reverse network (papers/sohl/nets.py:ImageReverseNet)."""

    conv_layers: int
    conv_channels: int
    n_scales: int
    dense_hidden: int
    dense_layers: int  # linear layers of the dense pathway (the reference code's n_layers_dense_lower)
    dense_out: int
    pixel_layers: int
    pixel_hidden: int
    n_bumps: int


@dataclass(frozen=True, kw_only=True)
class ImageConfig(ExperimentConfig):
    """What every image experiment sets: model, training, evaluation and the posterior-sampling demos."""

    T: int
    beta1: float
    learned_beta: bool
    mean_param: str
    net: ImageNet
    training: dict[str, Any]  # the `training:` section, read by repro.train.TrainConfig.from_config
    n_train: int
    n_test: int  # the loaders draw the test split beside the training one (a synthetic stand-in: in one draw)
    eval_batch: int = read_from("evaluate")
    n_samples: int = read_from("sample")
    sample_batch: int = read_from("sample")
    eval_t: int = read_from("evaluate")  # stratified random steps per example for K; 0 = the exact sum over t
    denoise_var: float = read_from("evaluate")
    inpaint: int = read_from("evaluate")
    posterior_columns: int = read_from("evaluate", 4)  # test images denoised and inpainted in the posterior figure


@dataclass(frozen=True, kw_only=True)
class Config(ImageConfig):
    """CIFAR-10, dead leaves and bark: `source` holds the loader's own keys (its module's `Source`)."""

    source: dict[str, Any]


LOADERS: dict[str, Callable[[Run], ImageData]] = {
    "cifar10": cifar10.load,
    "deadleaves": deadleaves.load,
    "bark": bark.load,
}


def train(run: Run) -> None:
    train_on(run, LOADERS[run.experiment](run))


def sample(run: Run) -> None:
    sample_from(run, LOADERS[run.experiment](run))


PARZEN = frozenset({"deadleaves"})  # loaders with a validation split for the Parzen bandwidth


def evaluate(run: Run) -> None:
    d = LOADERS[run.experiment](run)
    evaluate_on(run, d, parzen_rows(run, d, DEFAULT_SIGMAS) if run.experiment in PARZEN else ())


def prepared(run: Run, d: ImageData) -> tuple[torch.Tensor, torch.Tensor, data.UnitScale]:
    """Dequantised, unit-variance train and test tensors, and the scale (fitted on train)."""
    train = dequantize(d.train, torch.Generator().manual_seed(run.seed * 1000 + 2))
    test = dequantize(d.test, torch.Generator().manual_seed(run.seed * 1000 + 3))
    scale = data.UnitScale(train, shift_per_dim=False)
    return scale(train), scale(test), scale


def reverse_net(cfg: ImageConfig, shape: tuple[int, int, int]) -> ImageReverseNet:
    """The reverse network of `cfg.net` for images of `shape` (C, H, W)."""
    n = cfg.net
    return ImageReverseNet(
        shape,
        cfg.T,
        n.conv_layers,
        n.conv_channels,
        n.n_scales,
        n.dense_hidden,
        n.dense_layers,
        n.dense_out,
        n.pixel_layers,
        n.pixel_hidden,
        n.n_bumps,
    )


def model_for(run: Run, d: ImageData) -> GaussianDiffusion:
    cfg: ImageConfig = run.cfg
    return GaussianDiffusion(reverse_net(cfg, d.shape), Schedule(cfg.T, cfg.beta1, cfg.learned_beta), cfg.mean_param)


def train_on(run: Run, d: ImageData) -> None:
    x_train, _, scale = prepared(run, d)
    run.save_json("scale.json", scale.state())
    common.fit(run, model_for(run, d), x_train, run.cfg.training)


def sample_from(run: Run, d: ImageData) -> None:
    _, _, scale = prepared(run, d)
    model = load_trained(run, model_for(run, d))

    def fn(gen, n: int) -> torch.Tensor:
        x = model.sample(gen.randn(d.shape), noise=gen.randn_like)
        return to_uint8(scale.inverse(x).clamp(0, 1))

    sample_shards(run, "samples", n=run.cfg.n_samples, batch_size=run.cfg.sample_batch, fn=fn)


def evaluate_bound(run: Run, d: ImageData) -> list[MetricRow]:
    """K, L_null and K - L_null in bits per pixel (channels summed) on the held-out split."""
    cfg: ImageConfig = run.cfg
    _, x_test, _ = prepared(run, d)
    x_test = x_test[: cfg.n_test]
    model = load_trained(run, model_for(run, d))
    k = common.per_example_bound(run, model, x_test.to(run.device), cfg.eval_batch, n_t=cfg.eval_t)
    pixels = d.shape[1] * d.shape[2]
    setting = {"T": cfg.T, "eval_t": cfg.eval_t or "all"}
    rows = common.bound_rows(k, common.gaussian_null(x_test), pixels, "bits/pixel", d.name, setting, run.seed)
    run.log(f"K = {common.plus_minus(rows[0])} bits/pixel, K - L_null = {common.plus_minus(rows[2])}")
    return rows


def sample_figure(run: Run, d: ImageData) -> None:
    x = torch.from_numpy(load_samples(run, "samples")[:64]).permute(0, 3, 1, 2).float() / 255
    grid = make_grid(x, nrow=8, padding=1, pad_value=1.0).permute(1, 2, 0).numpy()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(grid, cmap="gray", interpolation="nearest")
    ax.axis("off")
    run.save_figure(fig, "samples", f"{d.name}: samples", f"Ancestral reverse diffusion, T = {run.cfg.T}.")


@torch.no_grad()
def posterior_figure(run: Run, d: ImageData) -> None:
    """Denoising (noise variance `denoise_var` on unit-variance data) and inpainting of a central square (Sec. 2.5)."""
    cfg: ImageConfig = run.cfg
    _, x_test, scale = prepared(run, d)
    model = load_trained(run, model_for(run, d))
    torch.manual_seed(run.seed + 3)
    x = x_test[: cfg.posterior_columns].to(run.device)  # fewer when the test split is smaller
    cols = len(x)
    y = x + cfg.denoise_var**0.5 * torch.randn_like(x)
    denoised = model.sample(torch.randn_like(x), observed=y, obs_var=cfg.denoise_var)
    mask = torch.ones_like(x)
    h, w = d.shape[1:]
    s = min(cfg.inpaint, h, w)
    mask[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s] = 0
    inpainted = model.sample(torch.randn_like(x), known=x, mask=mask)
    rows = [x, y, denoised, x * mask, inpainted]
    titles = ["data", "noisy", "denoised", "masked", "inpainted"]
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.5 * cols, 7.5), squeeze=False)
    for i, r in enumerate(rows):
        imgs = scale.inverse(r).clamp(0, 1).cpu()
        for j in range(cols):
            axes[i, j].imshow(np.squeeze(imgs[j].permute(1, 2, 0).numpy()), cmap="gray", vmin=0, vmax=1)
            axes[i, j].axis("off")
        axes[i, 0].set_title(titles[i], fontsize=8, loc="left")
    run.save_figure(
        fig,
        "posterior",
        f"{d.name}: denoising and inpainting",
        f"Posterior sampling (Sec. 2.5): denoising at noise variance {cfg.denoise_var} on unit-variance "
        f"data, and inpainting of a central {s}x{s} square with the other pixels clamped at every step.",
    )


def parzen_rows(run: Run, d: ImageData, sigmas: Sequence[float]) -> list[MetricRow]:
    """Parzen log-likelihood (bits per image) of the test images under the model's samples, and its sanity rows.

    The bandwidth is chosen on the validation split for each set of centres. `sanity=real` takes as many
    training images as samples (the paper's "perfect model"; disjoint from validation and test), `sanity=noise`
    as many draws of noise matched to the training images' per-pixel mean and std.
    """
    n = run.cfg.n_samples
    samples = torch.from_numpy(load_samples(run, "samples")).permute(0, 3, 1, 2).float() / 255

    def score(centres: torch.Tensor) -> tuple[float, float]:
        res = parzen_evaluate(centres.flatten(1), d.valid.flatten(1), d.test.flatten(1), tuple(sigmas))
        run.log(
            f"Parzen, {res.n_centers} centres: {res.mean_bits:.1f} +- {res.stderr_bits:.1f} bits, sigma {res.sigma:.3f}"
        )
        return res.mean_bits, res.stderr_bits

    value, stderr = score(samples)
    setting = {"n_centres": n}
    model = MetricRow(
        dataset=d.name,
        setting={"model": "diffusion", **setting},
        metric="parzen_loglik",
        value=value,
        stderr=stderr,
        unit="bits",
        n_samples=len(samples),
        seed=run.seed,
    )
    real, noise = d.train[:n], matched_noise(d.train, n, run.seed)
    sanity = sanity_rows(
        {"parzen_loglik": ("bits", score)}, real, noise, dataset=d.name, seed=run.seed, setting=setting
    )
    return [model, *sanity]


def evaluate_on(run: Run, d: ImageData, extra_rows: Sequence[MetricRow] = ()) -> None:
    rows = evaluate_bound(run, d) + list(extra_rows)
    run.save_metrics(rows, synthetic_data=d.synthetic)
    sample_figure(run, d)
    posterior_figure(run, d)


# Steps of the bound per network call (times the eval batch): GaussianDiffusion.bound's default, which the
# evaluation (common.per_example_bound) leaves as it is.
T_CHUNK: int = inspect.signature(GaussianDiffusion.bound).parameters["t_chunk"].default

SOURCE_SHAPES: dict[type, Callable[[Any], tuple[int, int, int]]] = {
    cifar10.Source: lambda src: SHAPES[src.dataset],
    deadleaves.Source: lambda src: (1, src.size, src.size),
    bark.Source: lambda src: (1, src.crop, src.crop),
}


def source_shape(source: Mapping[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) of the images a loader returns, from its `source:` section: the loaders' `Source`s take disjoint
    keys, so the one the section builds is the experiment's (a config does not carry its experiment's name)."""
    for cls, shape in SOURCE_SHAPES.items():
        try:
            return shape(typed.build(cls, source, f"{cls.__module__}.Source"))
        except typed.ConfigTypeError:
            continue
    raise ValueError(f"source {dict(source)} holds no image loader's keys ({', '.join(LOADERS)})")


def net_name(cfg: ImageConfig, shape: tuple[int, int, int]) -> str:
    """Every setting of the reverse network (and its input size), so equal names mean equal networks."""
    n = cfg.net
    dense = f"dense {n.dense_layers}x{n.dense_hidden}->{n.dense_out}" if n.dense_hidden else "no dense"
    conv = f"conv {n.conv_layers}x{n.conv_channels} {n.n_scales} scales" if n.conv_layers else "no conv"
    return (
        f"sohl ImageReverseNet {'x'.join(map(str, shape))} T={cfg.T} {conv}, {dense}, "
        f"pixel {n.pixel_layers}x{n.pixel_hidden}, {n.n_bumps} bumps"
    )


def reverse_steps(T: int) -> Callable[[int, torch.device], torch.Tensor]:
    """A batch of steps t in 2..T, the ones the learned reverse kernels serve (net(x_t, t))."""
    return lambda batch, device: torch.randint(2, T + 1, (batch,), device=device)


def image_work(cfg: ImageConfig, shape: tuple[int, int, int]) -> list[Work]:
    """The reverse network's calls in the three stages, for images of `shape`; every count is read from `cfg`.

    train: one network call per step at the training batch (the loss draws one t per image). sample: ancestral
    sampling calls the network at t = T..2 (the last step is the fixed reversal of the first forward step), T - 1
    calls per batch of samples. evaluate: the bound K at `eval_t` stratified steps per test image (all T - 1 when
    0), `T_CHUNK` steps per call, each repeated over the eval batch; and the posterior figure's denoising and
    inpainting, T - 1 calls each on `posterior_columns` test images. Left out: the Parzen scores (kernel
    arithmetic on the samples, no network), data loading and dequantisation, the loss's, bound's and sampler's
    own arithmetic, the figures. A last partial batch is priced as a full one.
    """
    net = Net(net_name(cfg, shape), lambda: reverse_net(cfg, shape), image_inputs(shape, reverse_steps(cfg.T)))
    steps, n_test = cfg.training["steps"], cfg.n_test
    t_per_image = cfg.eval_t or cfg.T - 1
    eval_batch, chunk = min(cfg.eval_batch, n_test), min(t_per_image, T_CHUNK)
    sampling = f"ancestral sampling, {cfg.T - 1} network steps"
    return [
        Work("train", f"-K loss, one t per image, {steps} steps", "train", steps, cfg.training["batch_size"], net),
        Work(
            "sample",
            f"{sampling}, {cfg.n_samples} samples",
            "forward",
            batches(cfg.n_samples, cfg.sample_batch) * (cfg.T - 1),
            min(cfg.sample_batch, cfg.n_samples),
            net,
        ),
        Work(
            "evaluate",
            f"bound K, {t_per_image} steps x {n_test} test images, {chunk} steps x {eval_batch} images a call",
            "forward",
            batches(n_test, cfg.eval_batch) * batches(t_per_image, T_CHUNK),
            chunk * eval_batch,
            net,
        ),
        Work(
            "evaluate",
            f"posterior figure: denoising and inpainting, {sampling} each",
            "forward",
            2 * (cfg.T - 1),
            min(cfg.posterior_columns, n_test),
            net,
        ),
    ]


def work(cfg: Config) -> list[Work]:
    """CIFAR-10, dead leaves or bark, whichever `source:` is for: `image_work` at the loader's image shape."""
    return image_work(cfg, source_shape(cfg.source))
