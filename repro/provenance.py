"""Provenance: the commit, package versions and platform that runs record and the report shows."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

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


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        return (out.stdout.strip() or "unknown") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
