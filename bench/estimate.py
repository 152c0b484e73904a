"""End to end, how long each paper-tier target takes on this device: its declared work (`repro.work`) priced by
timing one of each distinct unit (a training step, a forward, an Inception image) and multiplying.

    python -m bench.estimate --dry                     # the work only (counts; any machine)
    python -m bench.estimate [--settings fp32,fast]    # on a CUDA machine: priced, rows in group "estimate"

Settings: `fp32` is strict fp32 (the paper tier's default today); `fast` is TF32 + bf16 autocast + channels_last
(the candidates of `repro.speed`, compile left out: its compile time per network would dominate a short session).
Each unit is timed after a warm-up, under `cudnn.benchmark` as `repro.train.train` runs it, median of `--repeats`.
What the declarations leave out (data loading, loss arithmetic, checkpoints, the samplers' own per-step work) makes
every estimate a lower bound; `bench.samplers` bounds the samplers' part at a few per cent.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

from bench import Result, device, emit, seconds
from repro import speed
from repro.registry import STAGE_ORDER
from repro.work import Net, Work, batches, paper_tier

SOURCE = "bench.estimate"
SETTINGS = ("fp32", "fast")
GOAL_HOURS = {"ncsn/cifar10": 6.0}  # issue 16: NCSN CIFAR-10 end to end on one H200


def _outputs_square_mean(out) -> torch.Tensor:
    """A scalar from whatever the network returns (a tensor or a tuple of them), for a backward pass."""
    parts = out if isinstance(out, tuple | list) else (out,)
    return sum(p.float().square().mean() for p in parts if torch.is_tensor(p))


def unit_call(kind: str, net: Net, batch: int, dev: torch.device, setting: str) -> Callable[[], object]:
    """One unit of `kind` for `net` at `batch` under `setting`, ready to time."""
    fast = setting == "fast"
    model = net.build().to(dev)
    if fast:
        model.to(memory_format=torch.channels_last)
    args = net.inputs(batch, dev)
    autocast = speed.autocast(fast, dev)
    if kind == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step() -> None:
            with autocast:
                loss = _outputs_square_mean(model(*args))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return step
    model.eval().requires_grad_(False)

    def forward() -> None:
        with torch.inference_mode(), autocast:
            model(*args)

    return forward


def inception_call(batch: int, dev: torch.device, weights: Path) -> Callable[[], object]:
    """torch-fidelity's Inception on a batch of 32x32 uint8 images (weights: the real file or random ones)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    model = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(weights)
    )
    model = model.to(dev).eval()
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, device=dev)

    def forward() -> None:
        with torch.inference_mode():
            model(images)

    return forward


def price_units(
    work: dict[str, list[Work]], setting: str, repeats: int, budget: float, weights: Path | None
) -> dict[tuple[str, str, int], float]:
    """Seconds per call for every distinct (kind, net, batch) in `work`, until `budget` seconds are spent; the
    units not reached are left out."""
    from bench.fid import random_inception_weights

    dev = device()
    speed.set_tf32(setting == "fast")
    torch.backends.cudnn.benchmark = True
    prices: dict[tuple[str, str, int], float] = {}
    deadline = time.monotonic() + budget
    with tempfile.TemporaryDirectory() as tmp:
        for w in (w for items in work.values() for w in items):
            if w.unit in prices or time.monotonic() > deadline:
                continue
            if w.kind == "inception":
                call = inception_call(w.batch, dev, weights or random_inception_weights(Path(tmp) / "inception.pt"))
            else:
                call = unit_call(w.kind, w.net, w.batch, dev, setting)
            prices[w.unit] = seconds(call, dev, repeats, warmup=2)
            del call
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            print(f"  {setting}: {w.kind} {w.unit[1]} batch {w.batch}: {prices[w.unit]:.4g} s", flush=True)
    speed.set_tf32(False)
    return prices


def stage_seconds(items: list[Work], prices: dict[tuple[str, str, int], float]) -> tuple[dict[str, float], int]:
    """Seconds per stage of one target, and how many of its units had no price."""
    per_stage: dict[str, float] = defaultdict(float)
    unpriced = 0
    for w in items:
        if w.unit not in prices:
            unpriced += 1
            continue
        calls = batches(w.count, w.batch) if w.kind == "inception" else w.count  # Inception counts images
        per_stage[w.stage] += calls * prices[w.unit]
    return dict(per_stage), unpriced


def estimate_rows(work: dict[str, list[Work]], prices: dict, setting: str, where: str) -> list[Result]:
    out, total, missing = [], 0.0, 0
    for key, items in work.items():
        per_stage, unpriced = stage_seconds(items, prices)
        hours = sum(per_stage.values()) / 3600
        total, missing = total + hours, missing + unpriced
        stages = ", ".join(f"{s} {per_stage[s] / 3600:.3g} h" for s in STAGE_ORDER if s in per_stage)
        goal = f"; goal <= {GOAL_HOURS[key]:g} h" if key in GOAL_HOURS else ""
        gap = f"; {unpriced} of {len(items)} work items unpriced (budget spent)" if unpriced else ""
        note = f"{stages}{goal}{gap}, {where}"
        out.append(Result("estimate", key, f"hours end to end ({setting})", hours, "h", note))
    gap = f"; {missing} work items unpriced" if missing else ""
    out.append(Result("estimate", "paper tier", f"hours end to end ({setting})", total, "h", f"{where}{gap}"))
    return out


def unit_rows(prices: dict, setting: str, where: str) -> list[Result]:
    return [
        Result("estimate", f"{kind} {name} batch {batch}", f"seconds per call ({setting})", price, "s", where)
        for (kind, name, batch), price in prices.items()
    ]


def work_rows(work: dict[str, list[Work]]) -> list[Result]:
    """The declared work itself (no timing): one row per item."""
    return [
        Result(
            "work",
            key,
            f"{w.stage}: {w.kind} {w.net.name if w.net else 'Inception'} batch {w.batch}",
            float(w.count),
            {"train": "steps", "forward": "calls", "inception": "images"}[w.kind],
            w.what,
        )
        for key, items in work.items()
        for w in items
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry", action="store_true", help="list the declared work only; time nothing")
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {SETTINGS}")
    p.add_argument("--only", default=None, help="comma-separated targets, e.g. ncsn/cifar10 (default: all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=150.0, help="seconds of timing per setting (default 150)")
    p.add_argument("--weights", type=Path, default=None, help="the real Inception weights file (else random)")
    p.add_argument("--gpu", action="store_true", help="accepted for bench.run; pricing needs CUDA either way")
    args = p.parse_args(argv)
    work = paper_tier()
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(work))
        if unknown:
            raise SystemExit(f"bench.estimate: unknown targets {unknown}; known: {', '.join(work)}")
        work = {k: v for k, v in work.items() if k in args.only.split(",")}
    results = work_rows(work)
    if not args.dry:
        dev = device()
        if dev.type != "cuda":
            raise SystemExit("bench.estimate: pricing needs a CUDA device (full-size batches); use --dry here")
        where = torch.cuda.get_device_name(dev)
        for setting in args.settings.split(","):
            if setting not in SETTINGS:
                raise SystemExit(f"bench.estimate: unknown setting {setting!r}; known: {SETTINGS}")
            prices = price_units(work, setting, args.repeats, args.budget, args.weights)
            results += unit_rows(prices, setting, where) + estimate_rows(work, prices, setting, where)
    emit(results, SOURCE)


if __name__ == "__main__":
    main()
