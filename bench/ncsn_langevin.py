"""NCSN annealed Langevin overhead: wall time / the forwards timed inside the same run; target <= 1.05.

The score is the real NCSN RefineNet (small width) behind `LevelScore`, so the ratio covers the sigma-to-level
lookup, the noise draws and the update arithmetic of `repro.diffusion.samplers.langevin.annealed_langevin`. The
forwards are timed where they happen (`bench.samplers.sampler_case`), so the ratio cannot fall below 1; the row gives
the median over repeated runs and their spread.

    python -m bench.ncsn_langevin [--ngf 16] [--batch 16] [--steps 5]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench import Result, emit, timing_device
from bench.samplers import interleaved, ratio_stats, sampler_case
from repro.diffusion.samplers.langevin import annealed_langevin
from repro.diffusion.sde import geometric_sigmas
from repro.nets.refinenet import CondRefineNetDilated, LevelScore

SOURCE = "bench.ncsn_langevin"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="Langevin steps per level (10 levels)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    dev = timing_device()
    torch.manual_seed(0)
    sigmas = geometric_sigmas(10, 1.0, 0.01).float()
    score = LevelScore(CondRefineNetDilated(3, args.ngf).eval(), sigmas).to(dev)
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev)

    sample = lambda s, v: annealed_langevin(s, v, sigmas.tolist(), n_steps=args.steps)  # noqa: E731
    runs = interleaved({"ncsn": sampler_case(sample, score, x, dev)}, args.repeats)["ncsn"]
    ratio, spread = ratio_stats(runs)
    forward = statistics.median(m.forwards / m.evaluations for m in runs)
    note = (
        f"RefineNet ngf {args.ngf}, batch {args.batch}, {args.size}px, NFE {runs[0].evaluations}, spread "
        f"{spread:.3f} over {args.repeats} runs, {torch.get_num_threads()} threads"
    )
    emit(
        [
            Result(
                "sampler",
                "ncsn_annealed_langevin",
                "wall / (forwards timed in the run)",
                ratio,
                "ratio",
                note,
            ),
            Result("sampler", "ncsn_refinenet_forward", "forward (timed in the run)", forward * 1e3, "ms", note),
        ],
        SOURCE,
    )


if __name__ == "__main__":
    main()
