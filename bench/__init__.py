"""Benchmarks (not tests: they never run in CI and never fail a build). `python -m bench.run` runs them all.

Each benchmark module prints its rows and, when `$BENCH_CSV` names a file, writes them there as CSV with the
columns of `Result`, so the aggregator can gather modules run as subprocesses. Timings are medians of repeats,
because the machines they run on are often shared.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch


@dataclass
class Result:
    group: str  # sampler | train | eval | workflow | gpu
    name: str  # what was measured, e.g. "euler_maruyama"
    metric: str  # e.g. "wall / (NFE x forward)"
    value: float
    unit: str
    note: str = ""
    source: str = ""  # the bench module that measured it


COLUMNS = [f.name for f in fields(Result)]


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def timing_device() -> torch.device:
    """`device()`, set to one thread when it is the CPU: timings on a shared machine are steadier so."""
    dev = device()
    if dev.type == "cpu":
        torch.set_num_threads(1)
    return dev


def sync(dev: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock time covers it (a no-op on a CPU)."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def seconds(fn: Callable[[], object], dev: torch.device, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn()` over `repeats` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    sync(dev)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_table(results: Iterable[Result], file=sys.stdout) -> None:
    rows = [[r.group, r.name, r.metric, fmt(r.value), r.unit, r.note] for r in results]
    head = ["group", "name", "metric", "value", "unit", "note"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    widths[-1] = 0  # the note runs free
    for i, row in enumerate([head, *rows]):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip(), file=file)
        if i == 0:
            print("  ".join("-" * max(w, 4) for w in widths), file=file)


def write_csv(results: Iterable[Result], path: str | os.PathLike) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow(asdict(r))


def read_csv(path: str | os.PathLike, source: str = "") -> list[Result]:
    with open(path, newline="") as fh:
        out = []
        for row in csv.DictReader(fh):
            out.append(
                Result(
                    group=row.get("group", ""),
                    name=row.get("name", ""),
                    metric=row.get("metric", ""),
                    value=float(row["value"]),
                    unit=row.get("unit", ""),
                    note=row.get("note", ""),
                    source=row.get("source") or source,
                )
            )
        return out


def emit(results: list[Result], source: str) -> None:
    """Print the rows of one bench module and hand them to the aggregator through `$BENCH_CSV`."""
    for r in results:
        r.source = r.source or source
    print_table(results)
    if os.environ.get("BENCH_CSV"):
        write_csv(results, Path(os.environ["BENCH_CSV"]))
