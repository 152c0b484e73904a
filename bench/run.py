"""Run every benchmark and gather its rows into one table and `bench/results.csv` (CPU) or
`bench/results_gpu.csv` (a CUDA machine).

    python -m bench.run                 # CPU: samplers, training loop, evaluation, workflow
    python -m bench.run --gpu           # on a CUDA machine: also the speed options, the end-to-end estimate and
                                        # the fp32-vs-fast equivalence (bench.estimate, bench.equivalence)
    python -m bench.run --only samplers,train_step

The modules run now replace their own rows in the file; the other modules' rows stay, so a partial run or a GPU
session never drops what another run measured.

Each module runs as its own subprocess (`python -m bench.<module>`), so one failing benchmark only loses its own
rows. Modules hand their rows over through `$BENCH_CSV` (see `bench/__init__.py`); a module that prints its own
table or CSV instead is gathered from its CSV file or, failing that, reported with its last printed line.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import Result, print_table, read_csv, write_csv

HERE = Path(__file__).resolve().parent
OWN = ("samplers", "train_step", "workflow")  # take --gpu
GPU_ONLY = ("estimate", "equivalence")  # full-size networks: run with --gpu (or named in --only)
OTHERS = ("ncsn_langevin", "integrators", "sohl", "fid")  # written by the samplers' and metrics' owners
# Without CUDA the other modules run at small sizes, so the whole run stays within minutes on a busy CPU.
CPU_ARGS = {
    "ncsn_langevin": ["--ngf", "8", "--size", "16", "--batch", "8", "--steps", "2"],
    "integrators": ["--batch", "8", "--width", "16"],
}


def modules(only: list[str] | None, gpu: bool = False) -> list[str]:
    present = [m for m in (*OTHERS, *OWN, *GPU_ONLY) if (HERE / f"{m}.py").exists()]
    if not (gpu or only):
        present = [m for m in present if m not in GPU_ONLY]
    if only:
        unknown = sorted(set(only) - set(present))
        if unknown:
            raise SystemExit(f"bench.run: unknown or absent modules {unknown}; present: {present}")
        present = [m for m in present if m in only]
    return present


def run_module(name: str, gpu: bool, timeout: float) -> list[Result]:
    """One module in a subprocess; its rows from $BENCH_CSV, its own CSV file, or its last printed line."""
    source = f"bench.{name}"
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out_csv = Path(tmp) / "rows.csv"
        cmd = [sys.executable, "-m", source] + (["--gpu"] if gpu and name in OWN + GPU_ONLY else [])
        if not torch.cuda.is_available():
            cmd += CPU_ARGS.get(name, [])
        env = {**os.environ, "BENCH_CSV": str(out_csv)}
        if not torch.cuda.is_available():
            env["OMP_NUM_THREADS"] = "1"  # CPU: one thread per benchmark is steadier on a shared machine
        print(f"== {source}", flush=True)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent)
        except subprocess.TimeoutExpired:
            return [Result("error", source, "exit", math.nan, "", f"timed out after {timeout:.0f} s", source)]
        print(done.stdout, end="", flush=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return [Result("error", source, "exit", float(done.returncode), "", last[:200], source)]
        if out_csv.exists():
            return read_csv(out_csv, source)
    own_csv = [p for p in HERE.glob(f"{name}*.csv") if p.stat().st_mtime >= started]
    if own_csv:
        return read_foreign_csv(own_csv[0], source)
    return parse_printed(done.stdout, source)


PRINTED = re.compile(
    r"^(?P<name>[^:=]+):\s*(?P<note>.*?)(?P<metric>wall / \([^)]*\))\s*=\s*(?P<value>[-+0-9.eE]+)(?P<rest>.*)$"
)


def parse_printed(stdout: str, source: str) -> list[Result]:
    """Rows from printed lines like `name: ..., wall / (NFE x forward) = 1.03 (...)`; else the last line."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    out = []
    for line in lines:
        m = PRINTED.match(line)
        if m:
            note = f"{m['note'].strip(' ,')} {m['rest'].strip()}".strip()
            out.append(
                Result(
                    "sampler",
                    m["name"].strip(),
                    m["metric"],
                    float(m["value"]),
                    "ratio",
                    "; ".join([note, *[ln for ln in lines if ln != line][:1]]),
                    source,
                )
            )
    return out or [Result("other", source, "printed", math.nan, "", (lines or ["no output"])[-1][:200], source)]


def read_foreign_csv(path: Path, source: str) -> list[Result]:
    """A CSV in another layout: a value column ('value' or 'ratio'), a name column, the rest into the note."""
    if "group" in path.read_text().splitlines()[0]:
        return read_csv(path, source)
    out = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            key = "value" if "value" in row else "ratio" if "ratio" in row else None
            name_key = next((k for k in ("name", "sampler", "benchmark", "case") if k in row), None)
            rest = {k: v for k, v in row.items() if k not in (key, name_key, "metric", "unit")}
            out.append(
                Result(
                    "other",
                    row.get(name_key, "") if name_key else source,
                    row.get("metric", key or ""),
                    float(row[key]) if key and row[key] else math.nan,
                    row.get("unit", ""),
                    ";".join(f"{k}={v}" for k, v in rest.items()),
                    source,
                )
            )
    return out


def machine_row(when: str, names: list[str]) -> Result:
    load = os.getloadavg()[0]
    return Result(
        "machine",
        f"load average ({when})",
        "1-min load",
        load,
        "runnable tasks",
        f"{os.cpu_count()} cores; load above the core count means the timings are contended; "
        f"the latest run: {', '.join(names)}",
        "bench.run",
    )


def merged(previous: list[Result], fresh: list[Result]) -> list[Result]:
    """`fresh` replaces every row of the modules (sources) it holds, the machine rows included; the rows of the
    other modules keep their place."""
    sources = {r.source for r in fresh}
    kept = [r for r in previous if r.source not in sources]
    return [r for r in fresh if r.group == "machine"] + kept + [r for r in fresh if r.group != "machine"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=None, help="comma-separated module names (default: every bench module)")
    p.add_argument("--gpu", action="store_true", help="also the GPU speed-option benchmarks (needs CUDA)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per module (default 1800)")
    default_csv = HERE / ("results_gpu.csv" if torch.cuda.is_available() else "results.csv")
    p.add_argument("--csv", type=Path, default=default_csv, help=f"where to merge the rows (default {default_csv})")
    args = p.parse_args(argv)
    names = modules(args.only.split(",") if args.only else None, args.gpu)
    results = [machine_row("start", names)]
    for name in names:
        results += run_module(name, args.gpu, args.timeout)
    results.append(machine_row("end", names))
    print("\n== all benchmarks")
    print_table(results)
    write_csv(merged(read_csv(args.csv) if args.csv.exists() else [], results), args.csv)
    print(f"\nmerged into {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
