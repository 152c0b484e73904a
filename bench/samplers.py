"""Sampler overhead: wall time ÷ (counted NFE × one forward pass of the same batch on the same device).

A ratio of 1 means the sampler costs nothing beyond its network evaluations; the excess is the sampler's own
arithmetic, noise draws and Python. Every sampler runs a small conv score net (on a GPU: the same, bigger batch).
With `--gpu`: NCSN++ CIFAR-10 sampling images/s with and without the speed options (needs CUDA).

    python -m bench.samplers [--gpu]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

import torch
from torch import nn

from bench import Result, device, emit, seconds
from repro import speed
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers import integrators, langevin, pc
from repro.diffusion.sde import append_zero, geometric_sigmas, karras_sigmas

SOURCE = "bench.samplers"


class ConvScore(nn.Module):
    """A small conv net with the score interface: s(x, sigma) = net(x) / sigma."""

    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.net(x) / sigma.view(-1, *([1] * (x.dim() - 1)))


def forward_seconds(fn: Callable[[], object], dev: torch.device, calls: int = 10) -> float:
    """Median time of one call, timed over blocks of `calls` calls."""

    def block() -> None:
        for _ in range(calls):
            fn()

    return seconds(block, dev, repeats=5) / calls


def _grid(n: int) -> torch.Tensor:
    return geometric_sigmas(n, 1.0, 0.01)


def repro_samplers(levels: int) -> dict[str, Callable[[Callable, torch.Tensor], torch.Tensor]]:
    """The engine's samplers at about `levels - 1` network evaluations each."""
    return {
        "annealed_langevin": lambda s, x: langevin.annealed_langevin(
            s, x, _grid(5).tolist(), n_steps=(levels - 1) // 5, eps=2e-5
        ),
        "euler_maruyama": lambda s, x: integrators.euler_maruyama(s, x, _grid(levels)),
        "reverse_diffusion": lambda s, x: integrators.reverse_diffusion(s, x, append_zero(_grid(levels - 1))),
        "probability_flow": lambda s, x: integrators.probability_flow(s, x, _grid(levels)),
        "karras_heun": lambda s, x: integrators.karras_heun(s, x, append_zero(karras_sigmas(levels // 2, 1.0))),
        "karras_stochastic": lambda s, x: integrators.karras_stochastic(
            s, x, append_zero(karras_sigmas(levels // 2, 1.0))
        ),
        "rk45": lambda s, x: integrators.rk45(s, x, torch.tensor([1.0, 0.01]), rtol=1e-3, atol=1e-3),
        "pc_sampler": lambda s, x: pc.pc_sampler(s, x, append_zero(_grid(levels // 2))),
    }


def sampler_results(
    batch: int = 16, size: int = 16, channels: int = 3, levels: int = 21, repeats: int = 5, label: str = ""
) -> list[Result]:
    """Every sampler's ratio; with a `label`, the rows are named `<sampler> [label]` and also give the overhead
    per network evaluation in microseconds, (wall - NFE x forward) / NFE."""
    dev = device()
    torch.manual_seed(0)
    net = ConvScore(channels).to(dev).eval().requires_grad_(False)
    x = torch.randn(batch, channels, size, size, device=dev)
    sigma = torch.full((batch,), 0.5, device=dev)
    out = []
    for name, run in repro_samplers(levels).items():
        t_fwd = forward_seconds(lambda: net(x, sigma), dev)  # next to each sampler: the machine's load drifts
        score = CountingScore(net)
        with torch.no_grad():
            wall = seconds(lambda run=run, score=score: run(score, x), dev, repeats=repeats)
        nfe = score.nfe // (repeats + 1)  # the counter saw the warm-up and every repeat
        note = f"NFE {nfe}, batch {batch}x{channels}x{size}x{size}, forward {t_fwd * 1e3:.3g} ms, {dev.type}"
        out.append(Result("sampler", name, "wall / (NFE x forward)", wall / (nfe * t_fwd), "ratio", note))
        if label:
            out.append(Result("sampler", name, "overhead per NFE", (wall / nfe - t_fwd) * 1e6, "us", note))
    out += _dlg_gibbs(net, x, forward_seconds(lambda: net(x, sigma), dev), dev, repeats)
    out += _subspace(net, x, forward_seconds(lambda: net(x, sigma), dev), dev, repeats)
    if label:
        for r in out:
            r.name = f"{r.name} [{label}]"
    return out


def _dlg_gibbs(net: nn.Module, x: torch.Tensor, t_fwd: float, dev: torch.device, repeats: int) -> list[Result]:
    """DLG's Gibbs sweep: a Langevin step with the score, then the noise-level classifier picks sigma."""
    from papers.dlg.classifier import SimpleCNN
    from papers.dlg.gibbs import ClassifierCalls, gibbs_sweep
    from repro.diffusion.sde import dlg_level_grid

    levels = dlg_level_grid(k=100).float().to(dev)
    clf_net = SimpleCNN(n_levels=100, channels=x.shape[1], image_size=x.shape[-1]).to(dev).eval().requires_grad_(False)
    t_clf = forward_seconds(lambda: clf_net(x), dev)
    sweeps = 20

    def chain(score, clf):
        y, s = x, torch.full((x.shape[0],), 0.5, device=dev)
        for _ in range(sweeps):
            y, s = gibbs_sweep(score, clf, levels, y, s, 1e-4)
        return y

    score, clf = CountingScore(net), ClassifierCalls(clf_net)
    with torch.no_grad():
        wall = seconds(lambda: chain(score, clf), dev, repeats=repeats)
    nfe, calls = score.nfe // (repeats + 1), clf.calls // (repeats + 1)
    return [
        Result(
            "sampler",
            "dlg_gibbs_sweep",
            "wall / (NFE x forward + classifier calls x its forward)",
            wall / (nfe * t_fwd + calls * t_clf),
            "ratio",
            f"NFE {nfe}, classifier calls {calls} ({t_clf * 1e3:.3g} ms each), {sweeps} sweeps",
        )
    ]


def _subspace(net: nn.Module, x: torch.Tensor, t_fwd: float, dev: torch.device, repeats: int) -> list[Result]:
    """Subspace diffusion: PC in the downsampled subspace, boundary Langevin, PC in the full space."""
    from papers.subspace.operators import down
    from papers.subspace.sampler import subspace_sample

    y = down(x, 1)
    sigma_y = torch.full((y.shape[0],), 0.5, device=dev)
    t_sub = forward_seconds(lambda: net(y, sigma_y), dev)
    full, sub = CountingScore(net), CountingScore(net)
    grid = append_zero(_grid(20))
    with torch.no_grad():
        wall = seconds(
            lambda: subspace_sample(full, sub, y, grid, n_sub=10, levels=1, sigma_perp=0.05), dev, repeats=repeats
        )
    n_full, n_sub = full.nfe // (repeats + 1), sub.nfe // (repeats + 1)
    return [
        Result(
            "sampler",
            "subspace_sample",
            "wall / (NFE x forward), per resolution",
            wall / (n_full * t_fwd + n_sub * t_sub),
            "ratio",
            f"NFE full {n_full} ({t_fwd * 1e3:.3g} ms), subspace {n_sub} ({t_sub * 1e3:.3g} ms)",
        )
    ]


def gpu_results(steps: int = 20) -> list[Result]:
    """NCSN++ CIFAR-10 reverse-diffusion sampling, images/s extrapolated to 1000 steps, per speed option."""
    from repro.nets.ncsnpp import ncsnpp_cifar10_ve_continuous

    dev = device()
    if dev.type != "cuda":
        return [Result("gpu", "ncsnpp_sampling", "images/s", float("nan"), "images/s", "needs a CUDA device")]
    variants = [
        ("fp32", 128, {}, False, False),
        ("tf32", 128, {}, True, False),
        ("tf32+channels_last", 128, {"channels_last": True}, True, False),
        ("tf32+channels_last+compile", 128, {"channels_last": True, "compile": True}, True, False),
        ("bf16 autocast+channels_last+compile", 128, {"channels_last": True, "compile": True}, True, True),
        ("bf16 autocast+channels_last+compile, batch 512", 512, {"channels_last": True, "compile": True}, True, True),
    ]
    out = []
    for name, batch, options, tf32, bf16 in variants:
        torch.manual_seed(0)
        speed.set_tf32(tf32)
        net = speed.prepare_for_inference(ncsnpp_cifar10_ve_continuous().to(dev), **options)
        x = torch.randn(batch, 3, 32, 32, device=dev)
        grid = append_zero(_grid(steps))
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

        def sample(net=net, x=x, grid=grid, ctx=ctx) -> None:
            with torch.no_grad(), ctx:
                integrators.reverse_diffusion(net, x, grid)

        wall = seconds(sample, dev, repeats=3, warmup=2)  # warm-up covers compilation
        out.append(
            Result(
                "gpu",
                f"ncsnpp_sampling[{name}]",
                "images/s at 1000 steps",
                batch / (wall * 1000 / steps),
                "images/s",
                f"{torch.cuda.get_device_name(dev)}",
            )
        )
    speed.set_tf32(False)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpu", action="store_true", help="also the NCSN++ CIFAR-10 images/s per speed option (CUDA)")
    args = p.parse_args()
    gpu = device().type == "cuda"
    if gpu:
        results = sampler_results(batch=256, size=32)
    else:
        torch.set_num_threads(1)  # CPU timings on a shared machine: one thread is steadier
        # the cpu tier's digit batches (the target), then a net so small that the samplers' own per-step
        # arithmetic and Python show (overhead in microseconds per evaluation)
        results = sampler_results(batch=64, size=28, channels=1)
        results += sampler_results(batch=8, size=16, channels=3, label="stress: 8x3x16x16")
    if args.gpu:
        results += gpu_results()
    emit(results, SOURCE)


if __name__ == "__main__":
    main()
