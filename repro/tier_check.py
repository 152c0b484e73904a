"""What a tier needs and lacks: `repro check [--tier T]` (the check itself: `repro.check`).

Apart from `repro.check` because it reads every experiment's config, and the config loader uses `repro.check`.
"""

from __future__ import annotations

import os
import sys

from repro import check, config, registry


def tier_needs(tier: str) -> dict[str, list[str]]:
    """Item -> the experiments (paper/name) of `tier` that need it (their configs' `needs`), `cuda` for the
    paper tier's GPU stages."""
    needs: dict[str, list[str]] = {}
    for key, exp in sorted(registry.experiments().items()):
        cfg = config.load_tier(exp.paper, tier).get(exp.name)
        if cfg is None:
            continue
        names = list(cfg.get("needs", []))
        if tier == "paper" and exp.gpu_stages:
            names.append("cuda")
        for name in names:
            needs.setdefault(name, []).append(key)
    return needs


def missing_for_tier(tier: str, data_root: str | os.PathLike) -> list[str]:
    """One line per item `tier` needs and that is absent: the item, who needs it, its path and its fix."""
    lines = []
    for name, users in tier_needs(tier).items():
        if check.present(name, data_root):
            continue
        if name == "cuda":
            where, how = "no CUDA device visible", "run the paper tier on a machine with an NVIDIA GPU"
        else:
            where, how = str(check.path(name, data_root)), check.fix(name, data_root)
        lines.append(f"{name} (needed by {', '.join(users)}): {where}; {how}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print what is present; with `--tier T`, exit 1 naming each item that tier needs and is missing."""
    import argparse

    parser = argparse.ArgumentParser(prog="repro check", description="what is present, and how to get the rest")
    parser.add_argument("data_root", nargs="?", default=os.environ.get("REPRO_DATA", "data"))
    parser.add_argument("--tier", choices=("smoke", "cpu", "paper"), default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(check.format_table(check.check(args.data_root)))
    if args.tier is None:
        return 0
    lacking = missing_for_tier(args.tier, args.data_root)
    if not lacking:
        print(f"\nthe {args.tier} tier has everything it needs under {args.data_root}")
        return 0
    print(f"\nthe {args.tier} tier is missing {len(lacking)} item(s):\n  " + "\n  ".join(lacking))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
