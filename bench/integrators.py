"""The six DLG integrators: wall time / the score forwards timed inside the same run, and a Gibbs sweep's cost.

Each integrator runs as DLG configures it (papers/dlg/denoise.py) on a small conv score net from sigma 20,
with N chosen for about `--nfe` score evaluations (RK45: tolerance 1e-3, whatever NFE it takes). The forwards are
timed where they happen (`bench.samplers.sampler_case`), so a ratio cannot fall below 1; a ratio near 1 means the
integrator's own arithmetic is negligible (RK45 syncs with the host once per step). Each row is the median of
`--repeats` interleaved runs after a warm-up. The Gibbs sweep is
one Langevin step plus one SimpleCNN classifier call and an argmax; its ratio to one score evaluation says what
DLG's classifier calls (not counted in the paper's NFE) cost on top.

    python -m bench.integrators [--batch 64] [--nfe 20]
"""

from __future__ import annotations

import argparse

import torch

from bench import Result, emit, seconds, timing_device
from bench.samplers import interleaved, ratio_stats, sampler_case
from papers.dlg.classifier import SimpleCNN
from papers.dlg.denoise import INTEGRATORS, denoise, spec
from papers.dlg.gibbs import gibbs_sweep
from papers.dlg.nets import TinyScoreNet
from repro.diffusion.sde import dlg_level_grid


@torch.no_grad()
def measure(batch: int, width: int, nfe: int, repeats: int) -> list[Result]:
    dev = timing_device()
    torch.manual_seed(0)
    net = TinyScoreNet(1, width).to(dev).eval()
    x0 = 20.0 * torch.randn(batch, 1, 28, 28, device=dev)
    sig = torch.full((batch,), 20.0, device=dev)
    forward = seconds(lambda: net(x0, sig), dev, repeats=5 * repeats)
    note = f"batch {batch}, TinyScoreNet width {width}, {torch.get_num_threads()} threads, {dev.type}"
    out = [Result("sampler", "score forward", "one forward pass", forward, "s", note)]
    cases = {}
    for name in INTEGRATORS:
        n = 0 if spec(name).adaptive else spec(name).n_for_nfe(nfe)
        cases[name] = sampler_case(
            lambda s, v, name=name, n=n: denoise(name, s, v, sig, n=n, sigma_min=0.01, tol=1e-3), net, x0, dev
        )
    for name, runs in interleaved(cases, repeats).items():
        ratio, spread = ratio_stats(runs)
        out.append(
            Result(
                "sampler",
                f"dlg:{name}",
                "wall / (forwards timed in the run)",
                ratio,
                "ratio",
                f"NFE {runs[0].evaluations}, spread {spread:.3f} over {repeats} interleaved runs; {note}",
            )
        )
    clf = SimpleCNN(1000, channels=1, image_size=28).to(dev).eval()
    levels = dlg_level_grid(0.01, 20.0).float().to(dev)
    sweep = seconds(lambda: gibbs_sweep(net, clf, levels, x0, sig, 0.5), dev, repeats=5 * repeats)
    classify = seconds(lambda: clf(x0), dev, repeats=5 * repeats)
    out.append(
        Result(
            "sampler",
            "dlg:gibbs_sweep",
            "sweep / score forward",
            sweep / forward,
            "ratio",
            f"1 score eval + 1 classifier call; classifier alone {classify / forward:.3g} x forward; {note}",
        )
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--nfe", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    emit(measure(a.batch, a.width, a.nfe, a.repeats), "integrators")


if __name__ == "__main__":
    main()
