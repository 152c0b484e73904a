"""Provenance: the commit, package versions and platform that runs record and the report shows."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

# The workflow's own outputs: a run rewriting them does not change the code that measures, so they never make it dirty.
OUTPUT_DIRS = ("results", "report")
PACKAGES = ("torch", "torchvision", "torch-fidelity", "numpy", "scipy", "pandas", "seaborn", "matplotlib", "snakemake")


def package_versions() -> dict[str, str]:
    """Installed versions read from package metadata (no heavy imports such as torch)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_info() -> dict[str, str]:
    return {
        "built (UTC)": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "commit": git_commit(),
        "platform": platform.platform(terse=True),
    }


def recorded_versions(metrics: dict | None) -> dict[str, str]:
    """Versions an evaluate stage recorded in metrics.json (key 'versions'), if it did."""
    found = (metrics or {}).get("versions")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _git(*args: str) -> str:
    cwd = Path(__file__).resolve().parent
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=cwd).stdout.strip()


def git_commit() -> str:
    """The checkout's commit, '+dirty' when tracked files other than the outputs differ from it; 'unknown' outside
    a git checkout."""
    try:
        commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
        outputs = [f":(top,exclude){d}" for d in OUTPUT_DIRS]
        changed = _git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", *outputs)
        return commit + ("+dirty" if changed else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
