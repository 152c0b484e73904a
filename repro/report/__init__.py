"""The comparison report: `build_report(results_dir, runs_root, out_dir)` writes report/index.html and README.md."""

from repro.report.build import build_figures, build_report

__all__ = ["build_figures", "build_report"]
