"""The workflow's own cost: the smoke tier from a clean directory, then a no-op rerun (Snakemake finds nothing to do).

    python -m bench.workflow [--cores 2]

Runs `snakemake --cores N --config tier=smoke --directory <temp> --snakefile <repo>/Snakefile` twice in a fresh
temporary directory. The rerun's time is Snakemake building the DAG (importing the registry, validating configs)
and checking file times: it should be seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Result, emit

SOURCE = "bench.workflow"
REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, cores: int, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--config",
        "tier=smoke",
        "--directory",
        str(workdir),
        "--snakefile",
        str(REPO / "Snakefile"),
    ]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    return time.perf_counter() - t0, done


def _why(done: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return f"failed (exit {done.returncode}): {(errors or lines or ['no output'])[0].strip()[:160]}"


def workflow_results(cores: int = 2, timeout: float = 1800) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench_wf_") as tmp:
        workdir = Path(tmp)
        first, done = snakemake(workdir, cores, timeout)
        jobs = sum(1 for ln in done.stderr.splitlines() if ln.startswith("localrule ") or ln.startswith("rule "))
        out = [
            Result(
                "workflow",
                "smoke tier, clean directory",
                "wall time",
                first,
                "s",
                f"{jobs} jobs, --cores {cores}" if done.returncode == 0 else _why(done),
            )
        ]
        if done.returncode != 0:
            return out
        again, done = snakemake(workdir, cores, timeout)
        nothing = "Nothing to be done" in done.stdout + done.stderr
        out.append(
            Result(
                "workflow",
                "smoke tier, no-op rerun",
                "wall time",
                again,
                "s",
                ("nothing to be done" if nothing else "WARNING: the rerun ran jobs")
                if done.returncode == 0
                else _why(done),
            )
        )
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cores", type=int, default=2)
    emit(workflow_results(p.parse_args().cores), SOURCE)


if __name__ == "__main__":
    main()
