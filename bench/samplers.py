"""Sampler overhead: wall time ÷ the time of the network evaluations inside that same run.

The evaluations are timed where they happen (`repro.diffusion.nfe.TimedScore`: host clock on a CPU, CUDA events
on a GPU), so the ratio cannot fall below 1 and does not depend on a forward timed on its own. A ratio of 1 means
the sampler costs nothing beyond its network evaluations; the excess is the sampler's own arithmetic, noise draws
and Python. Samplers run under `torch.inference_mode`, as the project samples (`repro.sampling`, the papers'
sample stages), which skips autograd's bookkeeping (on a CPU ~12 us per evaluation of a small net's PC or RK45
run), interleaved over several repeats; each row gives the median and the spread. Every sampler runs a small conv
score net (on a GPU: the same, bigger batch). On a CPU also each sampler's own work per evaluation whatever the
network: the aten ops it dispatches outside the score (deterministic) and its arithmetic with a free score (best of
many runs).
With `--gpu`: NCSN++ CIFAR-10 sampling images/s with and without the speed options (needs CUDA).

    python -m bench.samplers [--gpu]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bench import Result, device, emit, seconds, sync, timing_device
from repro import speed
from repro.diffusion.nfe import CountingScore, OpsOutsideScore, TimedScore
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


@dataclass(frozen=True)
class Measured:
    """One run of a sampler: its wall time, the time of the network evaluations inside it, and their counts."""

    wall: float
    forwards: float
    calls: dict[str, int]  # evaluations per network (score; DLG's classifier; subspace's two resolutions)

    @property
    def evaluations(self) -> int:
        return sum(self.calls.values())


Case = Callable[[], Measured]


def _timed_run(fn: Callable[[], object], timers: dict[str, TimedScore], dev: torch.device) -> Measured:
    """One run of `fn` under inference mode: its wall time and the time of the evaluations of `timers` in it."""
    sync(dev)
    t0 = time.perf_counter()
    with torch.inference_mode():
        fn()
    sync(dev)
    wall = time.perf_counter() - t0
    return Measured(wall, sum(t.seconds for t in timers.values()), {k: t.nfe for k, t in timers.items()})


def _grid(n: int) -> torch.Tensor:
    return geometric_sigmas(n, 1.0, 0.01)


def repro_samplers(levels: int) -> dict[str, Callable[[Callable, torch.Tensor], torch.Tensor]]:
    """The engine's samplers at about `levels - 1` network evaluations each. Their sigma grids are inputs, built
    here once like `x` (cold, a numpy grid takes ~0.15 ms, which at 20 evaluations of a sub-millisecond forward
    would be charged to the sampler); what a sampler does with its grid is timed."""
    langevin_levels = _grid(5).tolist()
    geometric, geometric_zero = _grid(levels), append_zero(_grid(levels - 1))
    karras, pc_grid = append_zero(karras_sigmas(levels // 2, 1.0)), append_zero(_grid(levels // 2))
    span = torch.tensor([1.0, 0.01])
    return {
        "annealed_langevin": lambda s, x: langevin.annealed_langevin(
            s, x, langevin_levels, n_steps=(levels - 1) // 5, eps=2e-5
        ),
        "euler_maruyama": lambda s, x: integrators.euler_maruyama(s, x, geometric),
        "reverse_diffusion": lambda s, x: integrators.reverse_diffusion(s, x, geometric_zero),
        "probability_flow": lambda s, x: integrators.probability_flow(s, x, geometric),
        "karras_heun": lambda s, x: integrators.karras_heun(s, x, karras),
        "karras_stochastic": lambda s, x: integrators.karras_stochastic(s, x, karras),
        "rk45": lambda s, x: integrators.rk45(s, x, span),  # score_sde's tolerances, rtol = atol = 1e-5
        "pc_sampler": lambda s, x: pc.pc_sampler(s, x, pc_grid),
    }


def sampler_case(run: Callable, net: nn.Module, x: torch.Tensor, dev: torch.device) -> Case:
    """A timed run of `run(score, x)` with `net` as the score, its evaluations timed in the run."""

    def case() -> Measured:
        score = TimedScore(net)
        return _timed_run(lambda: run(score, x), {"NFE": score}, dev)

    return case


def _dlg_gibbs_case(net: nn.Module, x: torch.Tensor, dev: torch.device) -> Case:
    """DLG's Gibbs sweep: a Langevin step with the score, then the noise-level classifier picks sigma."""
    from papers.dlg.classifier import SimpleCNN
    from papers.dlg.gibbs import ClassifierCalls, gibbs_sweep
    from repro.diffusion.sde import dlg_level_grid

    levels = dlg_level_grid(k=100).float().to(dev)
    clf_net = SimpleCNN(n_levels=100, channels=x.shape[1], image_size=x.shape[-1]).to(dev).eval().requires_grad_(False)

    def case() -> Measured:
        score, clf = TimedScore(net), TimedScore(clf_net)
        calls = ClassifierCalls(clf)

        def chain() -> None:
            y, s = x, torch.full((x.shape[0],), 0.5, device=dev)
            for _ in range(20):
                y, s = gibbs_sweep(score, calls, levels, y, s, 1e-4)

        return _timed_run(chain, {"NFE": score, "classifier calls": clf}, dev)

    return case


def _subspace_case(net: nn.Module, x: torch.Tensor, dev: torch.device) -> Case:
    """Subspace diffusion: PC in the downsampled subspace, boundary Langevin, PC in the full space."""
    from papers.subspace.operators import down
    from papers.subspace.sampler import subspace_sample

    y, grid = down(x, 1), append_zero(_grid(20))

    def case() -> Measured:
        full, sub = TimedScore(net), TimedScore(net)
        run = lambda: subspace_sample(full, sub, y, grid, n_sub=10, levels=1, sigma_perp=0.05)  # noqa: E731
        return _timed_run(run, {"NFE full": full, "NFE subspace": sub}, dev)

    return case


def ratio_stats(runs: list[Measured]) -> tuple[float, float]:
    """The median of wall / (forwards timed in the run) over `runs`, and their spread (max - min)."""
    ratios = [m.wall / m.forwards for m in runs]
    return statistics.median(ratios), max(ratios) - min(ratios)


def interleaved(cases: dict[str, Case], repeats: int) -> dict[str, list[Measured]]:
    """Every case once to warm up, then `repeats` rounds of every case in turn: a drift in the machine's load
    spreads over all cases instead of biasing the last ones."""
    for case in cases.values():
        case()
    runs: dict[str, list[Measured]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            runs[name].append(case())
    return runs


def sampler_results(
    batch: int = 16, size: int = 16, channels: int = 3, levels: int = 21, repeats: int = 7, label: str = ""
) -> list[Result]:
    """Every sampler's wall time over the network evaluations timed inside the same run (median over interleaved
    repeats, with their spread); with a `label`, the rows are named `<sampler> [label]` and also give the overhead
    per network evaluation in microseconds."""
    dev = device()
    torch.manual_seed(0)
    net = ConvScore(channels).to(dev).eval().requires_grad_(False)
    x = torch.randn(batch, channels, size, size, device=dev)
    cases = {name: sampler_case(run, net, x, dev) for name, run in repro_samplers(levels).items()}
    cases["dlg_gibbs_sweep"] = _dlg_gibbs_case(net, x, dev)
    cases["subspace_sample"] = _subspace_case(net, x, dev)
    out = []
    for name, runs in interleaved(cases, repeats).items():
        ratio, spread = ratio_stats(runs)
        m = runs[0]
        counts = ", ".join(f"{k} {v}" for k, v in m.calls.items())
        note = (
            f"{counts}, batch {batch}x{channels}x{size}x{size}, forward {m.forwards / m.evaluations * 1e3:.3g} ms, "
            f"spread {spread:.3f} over {repeats} interleaved runs, {dev.type}"
        )
        what = "wall / (forwards timed in the run)"
        out.append(Result("sampler", name, what, ratio, "ratio", note))
        if label:
            overhead = statistics.median([(r.wall - r.forwards) / r.evaluations for r in runs]) * 1e6
            out.append(Result("sampler", name, "overhead per evaluation", overhead, "us", note))
    if label:
        for r in out:
            r.name = f"{r.name} [{label}]"
    return out


def _best_seconds(fn: Callable[[], object], dev: torch.device, repeats: int) -> float:
    """The fastest of `repeats` runs of `fn` (after one warm-up)."""
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            sync(dev)
            t0 = time.perf_counter()
            fn()
            sync(dev)
            times.append(time.perf_counter() - t0)
    return min(times[1:])


def sampler_own_work(
    batch: int = 8, size: int = 16, channels: int = 3, levels: int = 21, repeats: int = 200
) -> list[Result]:
    """Each sampler's own work per network evaluation, whatever the network: the aten ops it dispatches outside
    the score (`OpsOutsideScore`, deterministic, so it compares across machines and loads) and the wall time of
    a run with a free score (`x -> x`), best of `repeats` (the least disturbed run of a shared machine)."""
    dev = device()
    x = torch.randn(batch, channels, size, size, device=dev)
    out = []
    for name, run in repro_samplers(levels).items():
        counted = CountingScore(lambda v, sigma: v)
        with torch.inference_mode(), OpsOutsideScore() as mode:
            run(mode.wrap(counted), x)
        best = _best_seconds(lambda run=run: run(lambda v, sigma: v, x), dev, repeats)
        note = f"NFE {counted.nfe}, batch {batch}x{channels}x{size}x{size}, {dev.type}"
        out.append(
            Result(
                "sampler",
                name,
                "aten ops outside the network per evaluation (whole run)",
                mode.ops / counted.nfe,
                "ops",
                note,
            )
        )
        out.append(
            Result(
                "sampler",
                name,
                "own arithmetic per evaluation (free score, best run)",
                best / counted.nfe * 1e6,
                "us",
                f"{note}, best of {repeats}",
            )
        )
    return out


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
            with torch.inference_mode(), ctx:
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
    gpu = timing_device().type == "cuda"
    if gpu:
        results = sampler_results(batch=256, size=32)
    else:
        # the cpu tier's digit batches (the target), then a net so small that the samplers' own per-step
        # arithmetic and Python show (overhead in microseconds per evaluation)
        results = sampler_results(batch=64, size=28, channels=1)
        # a stress run takes ~25 ms, so more repeats are cheap and steady the median against the host's drift
        results += sampler_results(batch=8, size=16, channels=3, repeats=25, label="stress: 8x3x16x16")
        results += sampler_own_work(batch=8, size=16, channels=3)
    if args.gpu:
        results += gpu_results()
    emit(results, SOURCE)


if __name__ == "__main__":
    main()
