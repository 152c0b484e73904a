"""One prepared session on a CUDA machine: the `gpu` test lane, the paper rehearsal on the GPU and the GPU
benchmarks (speed, end-to-end estimate, fp32-vs-fast equivalence), each part under its own time limit, with a
summary rewritten after every part (see README.md here).

    python -m bench.gpu.run --out DIR [--parts tests,rehearsal,bench,estimate,equivalence] [--limits 240,300,...]

The rehearsal runs every stage of every paper-tier experiment through the CLI (no Snakemake needed), then collects
its CSV under DIR/runs/rehearsal/results; the summary says which experiment failed in which stage.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("tests", "rehearsal", "bench", "estimate", "equivalence")
DEFAULT_LIMITS = {"tests": 240, "rehearsal": 300, "bench": 240, "estimate": 240, "equivalence": 240}
# import name -> distribution: what the three parts import beyond torch (a GPU image may lack some; carry wheels)
NEEDS = {
    "torch_fidelity": "torch-fidelity",
    "pytorch_fid": "pytorch-fid",
    "jsonschema": "jsonschema",
    "mlxtend": "mlxtend",
    "yaml": "pyyaml",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "seaborn": "seaborn",
    "threadpoolctl": "threadpoolctl",
    "pytest": "pytest",
}


def missing_packages() -> list[str]:
    return [dist for name, dist in NEEDS.items() if importlib.util.find_spec(name) is None]


def machine() -> dict[str, str]:
    import torch

    cuda = torch.cuda.is_available()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "gpu": torch.cuda.get_device_name(0) if cuda else "none (torch.cuda.is_available() is False)",
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "python": platform.python_version(),
        "commit": commit.stdout.strip() or "unknown (no git checkout)",
    }


def _run(cmd: list[str], log: Path, deadline: float) -> tuple[int | None, float]:
    """Run `cmd` appending to `log` until `deadline` (monotonic); returns (exit code or None if cut, seconds)."""
    start = time.monotonic()
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        try:
            done = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=max(deadline - start, 1))
            code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    return code, time.monotonic() - start


def _failures(log: Path, markers: tuple[str, ...]) -> list[str]:
    return [line.strip() for line in log.read_text().splitlines() if line.startswith(markers)][:30]


def part_tests(out: Path, limit: float) -> dict:
    log = out / "tests.log"
    code, wall = _run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rfEs"], log, time.monotonic() + limit)
    return {"exit": code, "seconds": round(wall, 1), "failures": _failures(log, ("FAILED", "ERROR"))}


def paper_experiments() -> list[str]:
    from repro import config, registry

    return [k for k, e in registry.experiments().items() if e.name in config.load_tier(e.paper, "paper")]


def part_rehearsal(out: Path, limit: float) -> dict:
    """Every stage of every paper experiment with --rehearsal, then collect; stops where the limit runs out."""
    from repro import registry

    log, deadline, runs = out / "rehearsal.log", time.monotonic() + limit, out / "runs"
    common = ["--tier", "paper", "--rehearsal", "--runs-root", str(runs)]
    done: dict[str, str] = {}
    for key in paper_experiments():
        status = "ok"
        for stage in [*registry.get(key).stages, "collect"]:
            extra = ["--results", str(runs / "rehearsal" / "results")] if stage == "collect" else []
            code, wall = _run([sys.executable, "-m", "repro", stage, key, *common, *extra], log, deadline)
            if code != 0:
                status = f"{stage}: {'cut at the time limit' if code is None else f'exit {code}'} after {wall:.0f} s"
                break
        done[key] = status
        if time.monotonic() >= deadline:
            break
    not_reached = [k for k in paper_experiments() if k not in done]
    return {
        "experiments": done,
        "not_reached": not_reached,
        "failures": [f"{k}: {s}" for k, s in done.items() if s != "ok"],
    }


def bench_part(modules: str) -> Callable[[Path, float], dict]:
    """A part running `bench.run --gpu --only modules`, merging its rows into DIR/bench.csv (the parts share it)."""

    def part(out: Path, limit: float) -> dict:
        log = out / "bench.log"
        cmd = [sys.executable, "-m", "bench.run", "--gpu", "--only", modules, "--csv", str(out / "bench.csv")]
        code, wall = _run(cmd, log, time.monotonic() + limit)
        return {"exit": code, "seconds": round(wall, 1), "failures": _failures(log, ("Traceback", "Error"))}

    return part


RUNNERS = {
    "tests": part_tests,
    "rehearsal": part_rehearsal,
    "bench": bench_part("samplers,train_step"),
    "estimate": bench_part("estimate"),
    "equivalence": bench_part("equivalence"),
}


def write_summary(out: Path, summary: dict) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = ["# GPU session summary", ""]
    lines += [f"- {k}: {v}" for k, v in summary["machine"].items()]
    lines += [f"- missing packages: {', '.join(summary['missing']) or 'none'}", ""]
    for name, part in summary["parts"].items():
        lines += [f"## {name} (limit {part['limit']} s, wall {part['wall']:.0f} s)", ""]
        lines += [f"- {k}: {v}" for k, v in part["result"].items() if k != "failures"]
        lines += ["- failures:" if part["result"]["failures"] else "- failures: none"]
        lines += [f"  - `{f}`" for f in part["result"]["failures"]] + [""]
    (out / "summary.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--limits", default=None, help="seconds per part, comma-separated in --parts order")
    args = p.parse_args(argv)
    parts = args.parts.split(",")
    unknown = [x for x in parts if x not in RUNNERS]
    if unknown:
        p.error(f"unknown parts {unknown}; known: {', '.join(PARTS)}")
    limits = [float(x) for x in args.limits.split(",")] if args.limits else [DEFAULT_LIMITS[x] for x in parts]
    if len(limits) != len(parts):
        p.error(f"--limits gives {len(limits)} values for {len(parts)} parts")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"machine": machine(), "missing": missing_packages(), "parts": {}}
    write_summary(args.out, summary)
    if summary["missing"]:
        print(f"missing packages: {', '.join(summary['missing'])}: carry them as wheels (bench/gpu/README.md)")
        return 2
    for name, limit in zip(parts, limits, strict=True):
        start = time.monotonic()
        result = RUNNERS[name](args.out, limit)
        summary["parts"][name] = {"limit": limit, "wall": time.monotonic() - start, "result": result}
        write_summary(args.out, summary)
        print(f"{name}: {result.get('exit', '')} {len(result['failures'])} failure(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
