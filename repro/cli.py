"""`python -m repro` / `repro`: every workflow stage as a command that Snakemake runs and a person can run."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from repro import atomic, config, registry, typed
from repro.registry import STAGE_ORDER


class GpuRequiredError(RuntimeError):
    pass


def default_data_root() -> Path:
    return Path(os.environ.get("REPRO_DATA", "data"))


REHEARSAL_HELP = (
    "the paper rehearsal: the paper tier's config with papers/<paper>/configs/rehearsal.yaml laid over it "
    "(a handful of steps and samples, stand-ins for absent downloads), under <runs-root>/rehearsal/"
)


def process_count(text: str) -> int:
    """argparse type of `--nproc`: a whole number of processes, at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of processes (e.g. --nproc 4, one per GPU), got {text!r}"
        ) from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (one process per GPU), got {n}")
    return n


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tier", choices=config.TIERS, default="cpu", help="smoke | cpu | paper (default: cpu)")
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="artifacts root (default: runs)")
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="datasets, Inception weights, official checkpoints (default: $REPRO_DATA or ./data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGE_ORDER:
        p = sub.add_parser(stage, help=f"run the {stage} stage of one experiment")
        p.add_argument("experiment", help="paper/experiment, e.g. ncsn/gmm")
        _common(p)
        p.add_argument("--threads", type=int, default=None, help="CPU threads of torch and BLAS (default: all cores)")
        p.add_argument(
            "--allow-cpu",
            action="store_true",
            help="run a paper-tier GPU stage on the CPU anyway (it will be very slow)",
        )
        p.add_argument(
            "--nproc",
            type=process_count,
            default=1,
            help="data-parallel training processes (relaunched under torchrun, one per GPU)",
        )
        p.add_argument(
            "--config-file",
            type=Path,
            default=None,
            help="use this YAML instead of papers/<paper>/configs/<tier>.yaml (same schema)",
        )
        p.add_argument("--rehearsal", action="store_true", help=REHEARSAL_HELP)
    p = sub.add_parser("collect", help="metrics.json + claims.yaml → results/<paper>_<experiment>.csv")
    p.add_argument("experiment")
    _common(p)
    p.add_argument("--results", type=Path, default=Path("results"), help="folder of the CSV (default: results)")
    p.add_argument("--out", type=Path, default=None, help="the CSV path (default: <results>/<paper>_<exp>.csv)")
    p.add_argument("--rehearsal", action="store_true", help="collect the paper rehearsal (every verdict 'rehearsal')")
    for name, text in (
        ("figures", "draw the cross-paper summary figures"),
        ("report", "regenerate report/ from results/*.csv and the run folders"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--results", type=Path, default=Path("results"))
        p.add_argument("--runs-root", type=Path, default=Path("runs"))
        p.add_argument("--out", type=Path, default=Path("report"))
    p = sub.add_parser("list", help="experiments per paper and tier, with their stages and needs")
    p.add_argument("--tier", choices=config.TIERS, default=None)
    p = sub.add_parser("check", help="what is present: CUDA, datasets, Inception weights, official checkpoints")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument(
        "--tier", choices=config.TIERS, default=None, help="exit 1 naming each item this tier needs that is missing"
    )
    return parser


def run_stage(
    stage: str,
    key: str,
    tier: str,
    runs_root: Path,
    data_root: Path,
    allow_cpu: bool = False,
    config_file: Path | None = None,
    rehearsal: bool = False,
) -> Path:
    """Validate, check downloads, refuse GPU-sized work on a CPU, run the stage, write its stamp.

    A rehearsal (paper tier) reads the paper config with its rehearsal cut, runs on its own data root under
    `<runs_root>/rehearsal/data` (present downloads linked in, stand-ins for the absent ones) and is never refused
    for want of a GPU: it is a handful of steps."""
    from repro.run import REHEARSAL, Run

    exp = registry.get(key)
    if rehearsal and tier != "paper":
        raise config.ConfigError(f"--rehearsal rehearses the paper tier; got --tier {tier}")
    cfg = config.load(exp.paper, exp.name, tier, config_file, rehearsal=rehearsal, data_root=data_root)
    fn = exp.stage_function(stage)
    source = config_file or config.config_path(exp.paper, tier)
    if rehearsal:
        source = f"{config.rehearsal_path(exp.paper)} (laid over {source})"
    typed_cfg = typed.build(exp.config_class(), cfg, f"{source}: {exp.name}")
    if rehearsal:
        from repro import check

        data_root = check.prepare_rehearsal_data(cfg.get("needs", []), data_root, Path(runs_root) / REHEARSAL / "data")
    else:
        _require_downloads(cfg.get("needs", []), data_root, f"{source}: {exp.name}.needs")
    if tier == "paper" and stage in exp.gpu_stages and not allow_cpu and not rehearsal:
        import torch

        if not torch.cuda.is_available():
            raise GpuRequiredError(
                f"{key} {stage} at the paper tier is sized for a GPU and no CUDA device is visible; it would take "
                f"days on a CPU. Run it on a GPU machine, or pass --allow-cpu (Snakemake: --config allow_cpu=true) "
                f"to run it here anyway."
            )
    from repro import distributed
    from repro.rng import seed_everything

    run = Run(exp.paper, exp.name, tier, typed_cfg, runs_root=runs_root, data_root=data_root, rehearsal=rehearsal)
    distributed.setup(run.device)  # joins the process group under torchrun and pins this rank's GPU
    main_rank = distributed.is_main()
    t0 = time.time()
    if main_rank:
        run.log(f"stage {stage} started on {run.device_name()}")
    seed_everything(run.seed)  # before the stage builds anything
    fn(run)
    stamp = run.path(f"stage_{stage}.json")
    if main_rank:
        atomic.write_json(
            stamp,
            {
                "stage": stage,
                "wall_seconds": round(time.time() - t0, 3),
                "device": run.device_name(),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        run.log(f"stage {stage} finished in {time.time() - t0:.1f} s")
    distributed.finish()
    return stamp


def _require_downloads(needs: list[str], data_root: Path, where: str) -> None:
    if not needs:
        return
    from repro import check

    missing = [
        f"{name}: expected at {check.path(name, data_root)}; {check.fix(name, data_root)}"
        for name in needs
        if not check.present(name, data_root)
    ]
    if missing:
        raise FileNotFoundError(f"{where}: required files are missing:\n  " + "\n  ".join(missing))


def cmd_list(tier: str | None) -> None:
    tiers = (tier,) if tier else config.TIERS
    for key, exp in sorted(registry.experiments().items()):
        present = [t for t in tiers if exp.name in config.load_tier(exp.paper, t)]
        if not present:
            continue
        needs = {t: config.load_tier(exp.paper, t)[exp.name].get("needs", []) for t in present}
        need_text = "; ".join(f"{t}: {', '.join(n)}" for t, n in needs.items() if n)
        print(
            f"{key:24s} tiers={','.join(present):18s} stages={'>'.join(exp.stages):28s} "
            f"target=results/{exp.paper}_{exp.name}.csv" + (f"  needs[{need_text}]" if need_text else "")
        )


def limit_threads(n: int) -> None:
    """torch's and the BLAS libraries' (numpy's OpenBLAS, MKL) CPU threads: an eigh of numpy's on every core beside
    a busy torch would slow both."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a.startswith("--nproc") for a in argv):
        from repro import distributed

        parser = build_parser()
        parser.parse_args(argv)  # a bad --nproc (or any bad argument) is a usage error, not a traceback
        try:
            code = distributed.relaunch(argv)  # reruns this command under torchrun when --nproc > 1
        except ValueError as err:  # more processes than GPUs
            parser.error(str(err))
        if code is not None:
            return code
    args = build_parser().parse_args(argv)
    data_root = getattr(args, "data_root", None) or default_data_root()
    try:
        if args.command in STAGE_ORDER:
            if args.threads:
                limit_threads(args.threads)
            run_stage(
                args.command,
                args.experiment,
                args.tier,
                args.runs_root,
                data_root,
                args.allow_cpu,
                args.config_file,
                rehearsal=args.rehearsal,
            )
        elif args.command == "collect":
            from repro.collect import collect
            from repro.run import run_root

            exp = registry.get(args.experiment)
            metrics = run_root(args.runs_root, args.tier, exp.paper, exp.name, args.rehearsal) / "metrics.json"
            if not metrics.exists():
                again = " --rehearsal" if args.rehearsal else ""
                raise FileNotFoundError(
                    f"{metrics} is missing: run `repro evaluate {exp.key} --tier {args.tier}{again}`"
                )
            out = args.out or args.results / f"{exp.paper}_{exp.name}.csv"
            print(collect(metrics, out, rehearsal=args.rehearsal))
        elif args.command in ("figures", "report"):
            from repro import report

            fn = report.build_figures if args.command == "figures" else report.build_report
            print(fn(args.results, args.runs_root, args.out))
        elif args.command == "list":
            cmd_list(args.tier)
        elif args.command == "check":
            from repro import tier_check

            return tier_check.main([str(data_root)] + (["--tier", args.tier] if args.tier else []))
    except (config.ConfigError, KeyError, FileNotFoundError, GpuRequiredError, ValueError, RuntimeError) as err:
        if os.environ.get("REPRO_DEBUG"):
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"repro {args.command}: error: {msg}\n(set REPRO_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    return 0
