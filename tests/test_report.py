"""The report: built from small results CSVs, claims.yaml files and run directories made here in tmp_path."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import matplotlib.pyplot as plt
import pytest
import yaml

from repro.report import build_figures, build_report
from repro.report.data import RESULT_COLUMNS, load_claims, load_results, load_runs
from repro.report.plots import claims_frame, plottable
from repro.report.summary import build_rows

CLAIMS = {
    "ncsn": [
        {
            "id": "ncsn.fig3.annealed",
            "experiment": "gmm",
            "dataset": "gmm2d",
            "metric": "weight_mode_a",
            "setting": {"sampler": "annealed"},
            "value": 0.2,
            "unit": "fraction",
            "source": "Fig. 3",
            "confidence": "read from figure",
            "protocol": "1280 particles, exact score, sigma 20 -> 1",
            "tiers": ["cpu", "paper"],
            "verdict": {"rule": "within", "tol": 0.03},
        },
        {
            "id": "ncsn.fig3.plain",
            "experiment": "gmm",
            "dataset": "gmm2d",
            "metric": "weight_mode_a",
            "setting": {"sampler": "plain"},
            "value": 0.2,
            "unit": "fraction",
            "source": "Fig. 3",
            "confidence": "read from figure",
            "protocol": "plain Langevin misses the weights",
            "tiers": ["cpu", "paper"],
            "verdict": {"rule": "beyond", "tol": 0.05},
        },
        {
            "id": "ncsn.table1.fid",
            "experiment": "cifar10",
            "dataset": "cifar10",
            "metric": "fid",
            "value": 25.32,
            "unit": "",
            "source": "Table 1",
            "confidence": "paper text",
            "protocol": "FID on 50k samples vs train",
            "tiers": ["paper"],
            "verdict": {"rule": "within", "tol": 2.0},
        },
        {
            "id": "ncsn.table1.is",
            "experiment": "cifar10",
            "dataset": "cifar10",
            "metric": "inception_score",
            "value": 8.87,
            "unit": "",
            "source": "Table 1",
            "confidence": "paper text",
            "protocol": "IS on 50k samples",
            "tiers": ["paper"],
            "verdict": {"rule": "within", "tol": 0.3},
        },
    ],
    "sohl": [
        {
            "id": "sohl.table1.swissroll",
            "experiment": "swissroll",
            "dataset": "swissroll",
            "metric": "K_minus_Lnull",
            "value": 6.45,
            "unit": "bits",
            "source": "Table 1",
            "confidence": "paper text",
            "protocol": "Gaussian diffusion T=40",
            "tiers": ["cpu", "paper"],
            "verdict": {"rule": "within", "tol": 0.5},
        },
        {
            "id": "sohl.table2.mnist_parzen",
            "experiment": "mnist",
            "dataset": "mnist",
            "metric": "parzen_ll",
            "value": 317,
            "unit": "bits",
            "source": "Table 2",
            "confidence": "paper text",
            "protocol": "Parzen window",
            "tiers": ["paper"],
            "verdict": {"rule": "none"},
            "reason": "needs the trained MNIST model",
        },
    ],
}


def _row(
    paper,
    experiment,
    *,
    tier="cpu",
    setting="",
    metric="m",
    value="",
    stderr="",
    claim_id="",
    claimed="",
    verdict="not comparable",
    comparable="false",
    reason="",
    wall="12.5",
    dataset="",
    unit="",
    source="",
):
    return {
        "paper": paper,
        "experiment": experiment,
        "dataset": dataset or experiment,
        "tier": tier,
        "setting": setting,
        "metric": metric,
        "value": value,
        "stderr": stderr,
        "unit": unit,
        "n_samples": "1280" if value else "",
        "seed": "0" if value else "",
        "claimed": claimed,
        "claim_source": source,
        "comparable": comparable,
        "verdict": verdict,
        "device": "cpu (2 threads)" if value else "",
        "wall_seconds": wall if value else "",
        "commit": "abc123def456" if value else "",
        "claim_id": claim_id,
        "reason": reason,
    }


RESULTS = {
    "ncsn_gmm.csv": [
        _row(
            "ncsn",
            "gmm",
            setting="sampler=annealed",
            metric="weight_mode_a",
            value="0.2043",
            stderr="0.011",
            claim_id="ncsn.fig3.annealed",
            claimed="0.2",
            verdict="reproduced",
            comparable="true",
            dataset="gmm2d",
            unit="fraction",
            source="Fig. 3",
        ),
        _row(
            "ncsn",
            "gmm",
            setting="sampler=plain",
            metric="weight_mode_a",
            value="0.4811",
            stderr="0.014",
            claim_id="ncsn.fig3.plain",
            claimed="0.2",
            verdict="reproduced",
            comparable="true",
            dataset="gmm2d",
            unit="fraction",
            source="Fig. 3",
        ),
        _row("ncsn", "gmm", setting="sampler=annealed", metric="nfe", value="1000", dataset="gmm2d"),
    ],
    "ncsn_cifar10.csv": [
        _row(
            "ncsn",
            "cifar10",
            metric="fid",
            value="61.2",
            stderr="",
            claim_id="ncsn.table1.fid",
            claimed="25.32",
            verdict="not comparable",
            source="Table 1",
            reason="FID on 1000 samples vs the paper's 50k",
        ),
        _row(
            "ncsn",
            "cifar10",
            metric="inception_score",
            claim_id="ncsn.table1.is",
            claimed="8.87",
            verdict="not comparable",
            source="Table 1",
        ),
    ],
    "sohl_swissroll.csv": [
        _row(
            "sohl",
            "swissroll",
            metric="K_minus_Lnull",
            value="4.91",
            stderr="0.08",
            unit="bits",
            claim_id="sohl.table1.swissroll",
            claimed="6.45",
            verdict="not reproduced",
            comparable="true",
            source="Table 1",
        ),
    ],
    "dlg_gmm.csv": [
        _row("dlg", "gmm", tier="smoke", setting=f"nfe={n}", metric="mmd", value=str(0.1 / n), verdict="smoke")
        for n in (10, 20, 40)
    ],
}

STAGES = {
    "ncsn/gmm": ("sample", "evaluate"),
    "ncsn/cifar10": ("train", "select", "sample", "evaluate"),
    "sohl/swissroll": ("train", "evaluate"),
    "dlg/gmm": ("sample", "evaluate"),
    "subspace/mnist": ("train", "sample", "evaluate"),
}
# tier, paper, experiment -> stage seconds, figures
RUNS = {
    ("cpu", "ncsn", "gmm"): ({"sample": 3.0, "evaluate": 1.25}, ["samples", "mode weights"]),
    ("cpu", "ncsn", "cifar10"): ({"train": 900.0, "select": 30.0, "sample": 120.0, "evaluate": 45.5}, ["grid"]),
    ("cpu", "sohl", "swissroll"): ({"train": 60.0, "evaluate": 2.0}, ["trajectory"]),
    ("smoke", "dlg", "gmm"): ({"sample": 0.5, "evaluate": 0.25}, []),
    ("cpu", "subspace", "mnist"): ({"train": 40.0}, []),  # still running: no metrics.json, no results
}


def _png(path: Path, seed: int) -> None:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [seed, seed + 1, seed * 0.5])
    ax.set_title(f"figure {seed}")
    fig.savefig(path, format="png", dpi=60)
    plt.close(fig)


def make_inputs(root: Path) -> tuple[Path, Path, Path]:
    """results/, runs/ and papers/ under `root`, shaped as collect, the stages and the claims files make them."""
    results, runs, papers = root / "results", root / "runs", root / "papers"
    results.mkdir(parents=True)
    for name, rows in RESULTS.items():
        with open(results / name, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    for paper, claims in CLAIMS.items():
        (papers / paper).mkdir(parents=True)
        (papers / paper / "claims.yaml").write_text(yaml.safe_dump({"claims": claims}, sort_keys=False))
    for i, ((tier, paper, exp), (stages, figs)) in enumerate(RUNS.items()):
        run = runs / tier / paper / exp
        (run / "figures").mkdir(parents=True)
        for stage, seconds in stages.items():
            stamp = {"stage": stage, "wall_seconds": seconds, "finished": f"2026-11-22T15:{i:02d}:00+0000"}
            (run / f"stage_{stage}.json").write_text(json.dumps(stamp))
        index = []
        for j, name in enumerate(figs):
            _png(run / "figures" / f"{name}.png", i + j)
            index.append({"name": name, "file": f"{name}.png", "title": f"{exp} {name}", "caption": f"About {name}."})
        (run / "figures" / "index.json").write_text(json.dumps(index))
        if "evaluate" in stages:
            (run / "metrics.json").write_text(
                json.dumps(
                    {
                        "paper": paper,
                        "experiment": exp,
                        "tier": tier,
                        "synthetic_data": exp == "cifar10",
                        "device": "cpu (2 threads)",
                        "wall_seconds": sum(stages.values()),
                        "commit": "abc123def456",
                        "versions": {"torch": "2.14.1", "numpy": "2.1.0"},
                        "rows": [],
                    }
                )
            )
    return results, runs, papers


class _Refs(HTMLParser):
    """Every <img src>, <a href>, element id, table and summary-table row class of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.ids: list[str] = []
        self.scripts = 0
        self.claim_rows = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        elif tag == "a":
            self.hrefs.append(a.get("href") or "")
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.links.append(a.get("href") or "")
        elif tag == "tr" and a.get("class") == "claim":
            self.claim_rows += 1


def _parse(html: str) -> _Refs:
    refs = _Refs()
    refs.feed(html)
    return refs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path, Path, float]:
    root = tmp_path_factory.mktemp("report")
    results, runs, papers = make_inputs(root)
    start = time.perf_counter()
    index = build_report(results, runs, root / "report", papers_root=papers, stages=STAGES)
    return index, results, runs, papers, time.perf_counter() - start


def _all_claim_ids() -> set[str]:
    return {c["id"] for claims in CLAIMS.values() for c in claims}


def test_page_has_every_claim_row_with_reason_where_needed(built):
    index, *_ = built
    html = index.read_text()
    refs = _parse(html)
    # 6 claims in claims.yaml, all of which appear exactly once (5 from CSVs, 1 added as not run)
    assert refs.claim_rows == len(_all_claim_ids())
    for cid in _all_claim_ids():
        assert f"<code>{cid}</code>" in html
    # the one claim no CSV mentions is shown as not run, with the reason
    assert "not run: no row of results/sohl_mnist.csv has it" in html
    # collect's own reason is kept; a missing one is derived from the rule
    assert "FID on 1000 samples vs the paper&#x27;s 50k" in html
    assert "measured 4.91 vs claimed 6.45 fails the rule within, tol 0.5" in html
    assert "not measured at the cpu tier" in html  # ncsn.table1.is: empty value
    # how close: delta and relative delta of the swiss-roll claim (4.91 - 6.45 = -1.54, -23.9%)
    assert "-1.54 (-23.9%)" in html


def test_every_figure_is_included_and_no_reference_is_broken(built):
    index, _, runs, _, _ = built
    out = index.parent
    refs = _parse(index.read_text())
    assert refs.scripts == 0 and refs.links == [], "the page must be static and self-contained"
    assert all(not s.startswith(("http:", "https:", "//", "/")) for s in refs.imgs + refs.hrefs)
    for src in refs.imgs:
        assert (out / unquote(src)).is_file(), f"broken image {src}"
    for href in refs.hrefs:
        if href.startswith("#"):
            assert href[1:] in refs.ids, f"broken anchor {href}"
        else:
            assert (out / unquote(href)).is_file(), f"broken link {href}"
    assert len(refs.ids) == len(set(refs.ids)), "duplicate element ids"
    expected = set()
    for index_json in runs.glob("*/*/*/figures/index.json"):
        tier, paper, exp = index_json.parts[-5:-2]
        for entry in json.loads(index_json.read_text()):
            rel = f"figures/{tier}/{paper}/{exp}/{entry['file']}"
            expected.add(rel)
            assert (out / rel).read_bytes() == (index_json.parent / entry["file"]).read_bytes()
    assert len(expected) == 4 and expected <= {unquote(s) for s in refs.imgs}
    # the report's own seaborn figures: claims for papers with comparable numeric rows, timing for all
    own = {s for s in refs.imgs if s.startswith("figures/report/")}
    assert own == {
        "figures/report/ncsn_claims.png",
        "figures/report/sohl_claims.png",
        "figures/report/ncsn_timing.png",
        "figures/report/sohl_timing.png",
        "figures/report/dlg_timing.png",
        "figures/report/subspace_timing.png",
        "figures/report/workflow_timing.png",
    }


def test_readme_lists_every_claim_and_resolves_images(built):
    index, *_ = built
    text = (index.parent / "README.md").read_text()
    for cid in _all_claim_ids():
        assert f"`{cid}`" in text
    import re

    targets = re.findall(r"\]\(([^)]+)\)", text)
    assert "figures/report/ncsn_claims.png" in targets
    for target in targets:
        assert (index.parent / unquote(target)).is_file(), f"README links to missing {target}"


def test_timing_and_provenance(built):
    index, *_ = built
    html = index.read_text()
    # ncsn/cifar10 stage stamps: 900 + 30 + 120 + 45.5 = 1095.5 s = 18.3 min; subspace/mnist is a third done
    assert "18.3 min" in html
    assert "running: 1/3 stages" in html
    assert "pending" in html
    assert "2026-11-22T15:01:00+0000" in html  # when ncsn/cifar10's last stage finished
    # versions at report time and as metrics.json recorded them
    from importlib.metadata import version

    assert f"<td>{version('numpy')}</td>" in html
    assert "torch 2.14.1, numpy 2.1.0" in html
    # every measured number carries its provenance line
    assert "n=1280 · seed 0 · cpu (2 threads) · 12.5 s · commit abc123def456" in html
    assert "synthetic data" in html


def test_regeneration_is_fast(built):
    *_, seconds = built
    assert seconds < 30, f"building the report took {seconds:.1f} s (limit 30 s on 2 cores)"


def test_rebuild_removes_stale_figures_and_lists_missing_ones(tmp_path):
    results, runs, papers = make_inputs(tmp_path)
    out = tmp_path / "report"
    (out / "captions").mkdir(parents=True)
    (out / "captions" / "keep.rst").write_text("not ours to delete")
    build_report(results, runs, out, papers_root=papers, stages=STAGES)
    old = out / "figures/cpu/ncsn/gmm/mode weights.png"
    assert old.is_file()
    # the mode-weights figure disappears from its index; the samples figure's PNG goes missing
    fig_dir = runs / "cpu/ncsn/gmm/figures"
    index = json.loads((fig_dir / "index.json").read_text())
    (fig_dir / "index.json").write_text(json.dumps([e for e in index if e["name"] != "mode weights"]))
    (fig_dir / "samples.png").unlink()
    html = build_report(results, runs, out, papers_root=papers, stages=STAGES).read_text()
    assert not old.exists()
    assert (out / "captions" / "keep.rst").is_file()
    assert "Problems found" in html and "samples.png, which does not exist" in html
    refs = _parse(html)
    assert all((out / unquote(s)).is_file() for s in refs.imgs)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rows: rows[0].update(verdict="maybe"), "verdict 'maybe'"),
        (lambda rows: rows[0].update(comparable="perhaps"), "column 'comparable'"),
    ],
)
def test_bad_results_row_names_file_and_value(tmp_path, edit, message):
    results, runs, papers = make_inputs(tmp_path)
    rows = [dict(r) for r in RESULTS["ncsn_gmm.csv"]]
    edit(rows)
    with open(results / "ncsn_gmm.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ValueError, match=rf"ncsn_gmm.csv:2: .*{message}"):
        build_report(results, runs, tmp_path / "report", papers_root=papers, stages=STAGES)


def test_bad_header_and_bad_figure_index_are_named(tmp_path):
    results, runs, papers = make_inputs(tmp_path)
    (results / "broken.csv").write_text("paper,value\nncsn,1\n")
    with pytest.raises(ValueError, match="broken.csv: header"):
        build_report(results, runs, tmp_path / "report", papers_root=papers, stages=STAGES)
    (results / "broken.csv").unlink()
    (runs / "cpu/sohl/swissroll/figures/index.json").write_text(json.dumps([{"name": "x", "file": "../x.png"}]))
    with pytest.raises(ValueError, match=r"swissroll/figures/index.json: entry .* lacks \['title', 'caption'\]"):
        build_report(results, runs, tmp_path / "report", papers_root=papers, stages=STAGES)


def test_only_comparable_numeric_claims_are_plotted(tmp_path):
    """Smoke, not-comparable and unmeasured rows are never drawn against a claim."""
    results, runs, papers = make_inputs(tmp_path)
    rows = build_rows(load_results(results), load_claims(papers), load_runs(runs))
    frame = claims_frame(plottable(rows))
    assert list(frame["claim"]) == ["sohl.table1.swissroll", "ncsn.fig3.annealed", "ncsn.fig3.plain"]
    # (4.91 - 6.45) / 6.45 = -23.88 %, stderr 0.08 / 6.45 = 1.24 %, accepted band ± 0.5 / 6.45 = 7.75 %
    assert frame["delta_pct"].iloc[0] == pytest.approx(-23.876, abs=1e-3)
    assert frame["err_pct"].iloc[0] == pytest.approx(1.2403, abs=1e-4)
    assert frame["tol_pct"].iloc[0] == pytest.approx(7.7519, abs=1e-4)


# ---- end to end in a real browser ----------------------------------------------------------------------------

BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,2400",
)


def _chromium() -> tuple[str, str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary and driver:
        return binary, driver
    reason = "chromium and chromedriver are not installed (Debian: apt-get install -y chromium chromium-driver)"
    if os.environ.get("REPRO_NO_BROWSER") == "1":
        pytest.skip(f"REPRO_NO_BROWSER=1: {reason}")
    pytest.fail(f"{reason}; set REPRO_NO_BROWSER=1 to skip the browser test")


def test_page_renders_in_headless_chromium(built, tmp_path):
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    index, *_ = built
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="repro-chromium-", dir=tmp_path)
    options.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get(index.resolve().as_uri())
        state = browser.execute_script(
            """
            const imgs = Array.from(document.images);
            return {
              ready: document.readyState,
              images: imgs.length,
              broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
              tables: Array.from(document.querySelectorAll('table')).map(t => t.tBodies[0].rows.length),
              summaryHeight: document.querySelector('table.summary').getBoundingClientRect().height,
              claimRows: document.querySelectorAll('table.summary tr.claim').length,
            };
            """
        )
        # at 1280 px the Verdict and Reason cells of every summary line lie inside the viewport (no scrolling)
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )
        fit = browser.execute_script(
            """
            const head = Array.from(document.querySelectorAll('table.summary thead th')).map(t => t.textContent);
            const [v, r] = [head.indexOf('Verdict'), head.indexOf('Reason')];
            const rows = Array.from(document.querySelectorAll('table.summary tr.claim'));
            const badges = Array.from(document.querySelectorAll('.tablewrap .badge')).filter(
              b => b.getBoundingClientRect().right > b.closest('.tablewrap').getBoundingClientRect().right + 0.5);
            return {
              width: window.innerWidth, verdict: v, reason: r, clippedBadges: badges.length,
              cells: rows.map(row => [row.id, row.cells[v].getBoundingClientRect().left,
                                      row.cells[v].getBoundingClientRect().right,
                                      row.cells[r].getBoundingClientRect().right]),
            };
            """
        )
        shot = Path(os.environ.get("REPRO_SCREENSHOT") or tmp_path / "report.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        # the whole page in one picture: make the viewport as tall as the content
        height = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1440, "height": min(int(height), 16000), "deviceScaleFactor": 1, "mobile": False},
        )
        assert browser.save_screenshot(str(shot)), "screenshot failed"
    finally:
        browser.quit()
    assert state["ready"] == "complete"
    assert state["images"] == 11 and state["broken"] == []
    assert state["tables"] and all(n > 0 for n in state["tables"]), state["tables"]
    assert state["claimRows"] == len(_all_claim_ids()) and state["summaryHeight"] > 100
    assert shot.stat().st_size > 10_000
    assert fit["width"] == 1280 and fit["verdict"] >= 0 and len(fit["cells"]) == len(_all_claim_ids())
    outside = [c for c in fit["cells"] if c[1] < 0 or c[2] > 1280 or c[3] > 1280]
    assert outside == [], f"Verdict/Reason cells outside a 1280 px viewport: {outside}"
    assert fit["clippedBadges"] == 0, "verdict badges clipped by their table"


def test_snakemake_captions_render_as_restructured_text():
    """The caption files render as Snakemake renders them (Jinja2, then docutils) without warnings."""
    from types import SimpleNamespace

    import jinja2
    from docutils.core import publish_parts

    captions = Path(__file__).resolve().parents[1] / "report" / "captions"
    files = sorted(captions.glob("*.rst"))
    assert {f.name for f in files} >= {
        "workflow.rst",
        "results.rst",
        "experiment_figures.rst",
        "report_page.rst",
        "timing.rst",
    }
    snakemake = SimpleNamespace(
        wildcards=SimpleNamespace(paper="ncsn", exp="gmm"), config={"tier": "cpu", "report": "report"}
    )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for path in files:
        text = env.from_string(path.read_text()).render(snakemake=snakemake, categories={}, files={})
        body = publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})["body"]
        assert "{{" not in body and len(body) > 200, path.name
    assert "papers/ncsn/claims.yaml" in env.from_string((captions / "results.rst").read_text()).render(
        snakemake=snakemake
    )


def test_build_figures_draws_only_the_cross_paper_figures(tmp_path):
    results, runs, papers = make_inputs(tmp_path)
    folder = build_figures(results, runs, tmp_path / "report", papers_root=papers)
    assert sorted(p.name for p in folder.iterdir()) == [
        "dlg_timing.png",
        "ncsn_claims.png",
        "ncsn_timing.png",
        "sohl_claims.png",
        "sohl_timing.png",
        "subspace_timing.png",
        "workflow_timing.png",
    ]
    assert not (tmp_path / "report" / "index.html").exists()
