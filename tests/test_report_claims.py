"""The report counts claims, not rows; checks are not reproductions; thresholds we chose are labelled ours."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from repro.report import build_report
from repro.report.claimlines import claim_lines, combined_status, status_counts
from repro.report.data import RESULT_COLUMNS, load_claims, load_results
from repro.report.plots import claims_frame, plottable
from repro.report.summary import build_rows


def _claim(cid: str, metric: str, value: float, rule: str, tol: float, **extra) -> dict:
    return {
        "id": cid,
        "experiment": "toy",
        "dataset": "toy",
        "metric": metric,
        "value": value,
        "unit": "ratio",
        "source": "Sec. 3",
        "confidence": "paper text",
        "protocol": "exact scores",
        "tiers": ["cpu"],
        "verdict": {"rule": rule, "tol": tol},
        **extra,
    }


CLAIMS = [
    _claim("toy.divergence", "divergence", 0.0, "at_most", 0.001, setting={"sde": "ve"}),
    _claim("toy.cost", "cost", 1.0, "at_most", 0.0, kind="check", threshold="ours", reason="at most 1 by design"),
    _claim("toy.ratio", "ratio", 5.0, "at_least", 0.0, threshold="ours"),
    _claim("toy.fid", "fid", 2.0, "within", 0.1),
    _claim("toy.unmeasured", "is", 9.0, "within", 0.1),
]


def _row(cid: str, metric: str, value: str, verdict: str, claimed: str, setting: str = "") -> dict[str, str]:
    return {
        **dict.fromkeys(RESULT_COLUMNS, ""),
        "paper": "toy",
        "experiment": "toy",
        "dataset": "toy",
        "tier": "cpu",
        "setting": setting,
        "metric": metric,
        "value": value,
        "unit": "ratio",
        "n_samples": "100",
        "seed": "0",
        "claimed": claimed,
        "comparable": "true",
        "verdict": verdict,
        "device": "cpu",
        "wall_seconds": "1.0",
        "commit": "abc",
        "claim_id": cid,
    }


def _inputs(root: Path, divergences: list[float]) -> tuple[Path, Path]:
    results, papers = root / "results", root / "papers"
    results.mkdir(parents=True)
    (papers / "toy").mkdir(parents=True)
    (papers / "toy" / "claims.yaml").write_text(yaml.safe_dump({"claims": CLAIMS}, sort_keys=False))
    rows = [
        _row(
            "toy.divergence",
            "divergence",
            str(d),
            "reproduced" if d <= 0.001 else "not reproduced",
            "0.0",
            f"sde=ve;t={t}",
        )
        for t, d in enumerate(divergences)
    ]
    rows += [
        _row("toy.cost", "cost", "0.5", "reproduced", "1.0"),
        _row("toy.ratio", "ratio", "7.5", "reproduced", "5.0"),
        _row("toy.fid", "fid", "2.05", "reproduced", "2.0"),
    ]
    with open(results / "toy_toy.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return results, papers


def _lines(results: Path, papers: Path):
    return claim_lines(build_rows(load_results(results), load_claims(papers), []))


def test_a_claim_measured_at_many_settings_is_one_line_with_its_range(tmp_path):
    results, papers = _inputs(tmp_path, [0.0, 0.0002, 0.0004, 0.0001])
    lines = {line.claim_id: line for line in _lines(results, papers)}
    assert list(lines) == ["toy.divergence", "toy.cost", "toy.ratio", "toy.fid", "toy.unmeasured"]
    div = lines["toy.divergence"]
    assert (div.n, div.n_reproduced, div.status) == (4, 4, "reproduced")
    assert div.value_range == (0.0, 0.0004)
    assert div.setting_text() == "sde=ve; t varies (4 settings)"
    assert lines["toy.unmeasured"].status == "not measured"
    assert lines["toy.cost"].shown == "check passed"
    counts = status_counts(list(lines.values()))
    assert counts == {"reproduced": 3, "not measured": 1}  # the check is not a claim
    assert status_counts(list(lines.values()), "check") == {"reproduced": 1}


def test_one_failing_measurement_fails_the_claim(tmp_path):
    results, papers = _inputs(tmp_path, [0.0, 0.5, 0.0])
    div = _lines(results, papers)[0]
    assert div.status == "not reproduced" and (div.n, div.n_reproduced) == (3, 2)
    assert div.reasons().startswith("1 of 3 measurements fail")
    assert combined_status([]) == "not measured"


def test_page_and_readme_count_claims_label_checks_and_our_thresholds(tmp_path):
    results, papers = _inputs(tmp_path, [0.0] * 21)
    index = build_report(results, tmp_path / "runs", tmp_path / "report", papers_root=papers, stages={})
    html = index.read_text()
    readme = (index.parent / "README.md").read_text()
    # 21 + 3 measured rows, but 3 reproduced claims (and one check counted apart)
    assert '<div class="n">3</div><div class="l">claims reproduced' in html
    assert '<div class="n">1</div><div class="l">claims not measured' in html
    assert "checks (not counted): 1 pass, 0 fail" in html
    assert html.count('<tr class="claim') == 5
    assert "21 of 21 reproduced" in html and "range of 21 measurements" in html
    assert "our threshold 5.0 ratio" in html and "our threshold 5.0 ratio" in readme
    assert "check passed" in html and "at most 1 by design" in html
    assert "| **all** | **3** | **0** | **0** | **1** | **1** |" in readme
    assert "paper 5.0" not in html + readme


def test_claims_figure_says_our_threshold(tmp_path):
    results, papers = _inputs(tmp_path, [0.0])
    rows = build_rows(load_results(results), load_claims(papers), [])
    frame = claims_frame(plottable(rows)).set_index("claim")
    assert frame.loc["toy.ratio", "text"] == "ours 7.5 · our threshold 5.0 ratio"
    assert frame.loc["toy.cost (check)", "text"] == "ours 0.5 · our threshold 1.0 ratio"
    assert frame.loc["toy.fid", "text"] == "ours 2.05 · paper 2.0 ratio"


def test_an_at_most_bound_on_the_papers_line_is_still_drawn():
    """tol 0: the bound lies on the paper's line at 0, so a triangle marks the accepted side."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from repro.report.plots import _claims_axes

    frame = pd.DataFrame(
        [
            {
                "claim": "c",
                "delta_pct": -5.0,
                "err_pct": 0.0,
                "tol_pct": 0.0,
                "rule": "at_most",
                "verdict": "reproduced",
                "text": "t",
            }
        ]
    )
    fig = _claims_axes(frame, "t")
    marks = [ln for ln in fig.axes[0].lines if ln.get_marker() == "<"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [0.0]
