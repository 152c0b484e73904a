"""Do the GPU speed settings change the samples? The same seeds sampled in fp32 and under each setting.

1. The paper networks, RefineNet ngf 128 (annealed Langevin, NCSN's 10 levels x `--steps-each`) and NCSN++
   CIFAR-10 (score_sde's PC sampler, `--steps` steps), untrained weights (no checkpoint can be fetched on the lent
   machines): the per-sample RMS difference of the saved uint8 images from fp32's, in grey levels (0..255), beside
   a second fp32 run (the GPU's own run-to-run floor).
2. The digit analogue, with the metric: ncsn/mnist trained at `--tier` (cpu: the cpu tier's RefineNet and LeNet,
   through `python -m repro train`), then `--sets` sets of `--n` samples, each set on its own seeds and the same
   seeds under every setting; `is_lenet` per set. A setting's effect is the mean paired difference from fp32; the
   metric's own spread is the standard deviation of the fp32 sets. The rule, fixed before any GPU run: a setting
   is harmless when |effect| + 2 stderr(effect) is below that spread (`harmless`).

    python -m bench.equivalence [--steps 1000] [--steps-each 100] [--n 8] [--sets 4]

Settings: `tf32`, `channels_last`, `bf16` (autocast), `fast` (all three), as `repro.speed` applies them. On a CPU
TF32 and bf16 autocast are no-ops (differences exactly 0); only channels_last picks other kernels.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from bench import Result, device, emit
from repro import speed

SOURCE = "bench.equivalence"
SETTINGS = {  # name -> (tf32, bf16 autocast, channels_last); "fp32 again" measures the floor
    "fp32 again": (False, False, False),
    "tf32": (True, False, False),
    "channels_last": (False, False, True),
    "bf16": (False, True, False),
    "fast": (True, True, True),
}
Sampler = Callable[[nn.Module, list[int]], torch.Tensor]  # (net, per-sample seeds) -> uint8 images


@contextlib.contextmanager
def applied(name: str, net: nn.Module, dev: torch.device) -> Iterator[None]:
    """`net` and the process under setting `name` (or fp32) for the block; fp32 and contiguous weights after."""
    tf32, bf16, channels_last = SETTINGS.get(name, (False, False, False))
    speed.set_tf32(tf32)
    net.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    try:
        with torch.no_grad(), speed.autocast(bf16, dev):
            yield
    finally:
        speed.set_tf32(False)
        net.to(memory_format=torch.contiguous_format)


def rms_grey_levels(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample RMS difference of two uint8 image batches, in grey levels."""
    return (a.double() - b.double()).flatten(1).square().mean(1).sqrt()


def harmless(effect: list[float], spread: float) -> bool:
    """The rule: the paired mean difference, two standard errors wide, stays inside the fp32 seed-to-seed spread."""
    mean = statistics.fmean(effect)
    stderr = statistics.stdev(effect) / len(effect) ** 0.5 if len(effect) > 1 else float("inf")
    return abs(mean) + 2 * stderr < spread


def refinenet_sampler(dev: torch.device, steps_each: int) -> tuple[nn.Module, Sampler]:
    """RefineNet ngf 128 on 3x32x32 with NCSN's CIFAR-10 sampler (10 levels 1 -> 0.01, eps 2e-5, from U[0,1])."""
    from papers.ncsn.images import Annealed, annealed_fn
    from repro.diffusion.sde import geometric_sigmas
    from repro.nets.refinenet import CondRefineNetDilated

    sigmas = geometric_sigmas(10, 1.0, 0.01).float().to(dev)
    net = CondRefineNetDilated(3, 128, 10).to(dev).eval().requires_grad_(False)
    return net, _seeded(
        annealed_fn(net, sigmas, (3, 32, 32), Annealed(n_steps_each=steps_each, eps=2e-5, convention="code")), dev
    )


def ncsnpp_sampler(dev: torch.device, steps: int) -> tuple[nn.Module, Sampler]:
    """NCSN++ CIFAR-10 (VE, continuous) with score_sde's PC sampler: `steps` levels 50 -> 0.01, one corrector step
    at snr 0.16, the noise-free mean at the end."""
    from repro.diffusion.samplers.pc import pc_sampler
    from repro.diffusion.sde import append_zero, geometric_sigmas
    from repro.nets.ncsnpp import ncsnpp_cifar10_ve_continuous
    from repro.sampling import to_uint8

    grid = append_zero(geometric_sigmas(steps, 50.0, 0.01)).float().to(dev)
    net = ncsnpp_cifar10_ve_continuous().to(dev).eval().requires_grad_(False)

    def fn(gen, n: int) -> torch.Tensor:
        return to_uint8(pc_sampler(net, gen.randn((3, 32, 32)) * 50.0, grid, noise=gen.randn_like))

    return net, _seeded(fn, dev)


def _seeded(fn: Callable, dev: torch.device) -> Sampler:
    """A `repro.sampling`-style `fn(gen, n)` as (net, seeds) -> images, one generator per sample."""
    from repro.rng import StackedGenerator

    return lambda net, seeds: fn(StackedGenerator(seeds, dev), len(seeds))


def paper_net_rows(dev: torch.device, n: int, steps: int, steps_each: int) -> list[Result]:
    out = []
    cases = {
        f"RefineNet ngf 128, annealed Langevin 10 x {steps_each}": lambda: refinenet_sampler(dev, steps_each),
        f"NCSN++ CIFAR-10, PC {steps} steps": lambda: ncsnpp_sampler(dev, steps),
    }
    for case, build in cases.items():
        torch.manual_seed(0)
        net, sample = build()
        seeds = list(range(n))
        with applied("fp32", net, dev):
            reference = sample(net, seeds)
        for name in SETTINGS:
            with applied(name, net, dev):
                rms = rms_grey_levels(sample(net, seeds), reference)
            note = f"max {rms.max():.3g}, {n} samples, untrained weights, {dev.type}"
            out.append(
                Result(
                    "equivalence", f"{case} [{name}]", "RMS vs fp32 (median)", rms.median().item(), "grey levels", note
                )
            )
        del net, sample
    return out


def train_digit_model(runs_root: Path, tier: str) -> None:
    """The ncsn/mnist train stage at `tier`, through the CLI as the workflow runs it."""
    cmd = [sys.executable, "-m", "repro", "train", "ncsn/mnist", "--tier", tier, "--runs-root", str(runs_root)]
    subprocess.run(cmd, check=True)


def digit_rows(dev: torch.device, tier: str, sets: int, n: int) -> list[Result]:
    from papers.ncsn.images import annealed_fn, levels, load_net
    from papers.ncsn.mnist import net_name
    from repro import config, registry, typed
    from repro.metrics.classifier import is_lenet, load_classifier
    from repro.run import Run

    exp = registry.get("ncsn/mnist")
    with tempfile.TemporaryDirectory() as tmp:
        train_digit_model(Path(tmp), tier)
        cfg = typed.build(exp.config_class(), config.load(exp.paper, exp.name, tier), f"{tier}: ncsn/mnist")
        run = Run(exp.paper, exp.name, tier, cfg, runs_root=Path(tmp))
        sigmas = levels(cfg)  # the ncsn arm's
        net = load_net(run, net_name("ncsn", run), len(sigmas), 1).eval().requires_grad_(False)
        clf = load_classifier(run.path("classifier.pt"))
    sample = _seeded(annealed_fn(net, sigmas.to(dev), (1, 28, 28), cfg.sampling), dev)
    values: dict[str, list[float]] = {}
    for name in ("fp32", *SETTINGS):
        for k in range(sets):
            with applied(name, net, dev):
                images = sample(net, [10_000 * (k + 1) + i for i in range(n)])
            values.setdefault(name, []).append(is_lenet(clf, images.cpu().numpy())[0])
    spread = statistics.stdev(values["fp32"])
    where = f"{sets} sets of {n} samples, ncsn/mnist at the {tier} tier, {dev.type}"
    out = [Result("equivalence", "digits is_lenet [fp32]", "spread over seed sets (std)", spread, "is_lenet", where)]
    for name in SETTINGS:
        effect = [a - b for a, b in zip(values[name], values["fp32"], strict=True)]
        verdict = "harmless" if harmless(effect, spread) else "not shown harmless"
        note = f"{verdict} (|effect| + 2 stderr vs spread {spread:.3g}); {where}"
        out.append(
            Result(
                "equivalence",
                f"digits is_lenet [{name}]",
                "effect: mean paired difference from fp32",
                statistics.fmean(effect),
                "is_lenet",
                note,
            )
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000, help="NCSN++ PC steps (score_sde: 1000)")
    p.add_argument("--steps-each", type=int, default=100, help="RefineNet Langevin steps per level (NCSN: 100)")
    p.add_argument("--n", type=int, default=8, help="samples per set")
    p.add_argument("--sets", type=int, default=4, help="seed sets of the digit analogue")
    p.add_argument("--tier", default="cpu", help="the tier of the digit analogue's ncsn/mnist (cpu; smoke to test)")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: paper,digits")
    p.add_argument("--gpu", action="store_true", help="accepted for bench.run")
    args = p.parse_args(argv)
    dev = device()
    skip = set(filter(None, args.skip.split(",")))
    results = [] if "paper" in skip else paper_net_rows(dev, args.n, args.steps, args.steps_each)
    if "digits" not in skip:
        results += digit_rows(dev, args.tier, args.sets, args.n)
    emit(results, SOURCE)


if __name__ == "__main__":
    main()
