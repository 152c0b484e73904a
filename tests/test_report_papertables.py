"""The papers' tables in the report: paper cells from claims.yaml, ours from results rows, unmeasured cells say so."""

from __future__ import annotations

import csv
import re
from html import unescape
from pathlib import Path

import yaml

from repro.report import build_report
from repro.report.data import RESULT_COLUMNS, load_claims
from repro.report.papertables import TABLES

COMMON = {"confidence": "paper text", "protocol": "as the paper", "unit": "FID"}
CLAIMS = {
    "ncsn": [
        {"id": "ncsn.cifar.is", "metric": "is", "value": 8.87, "stderr": 0.12, "unit": "IS", "tiers": ["paper"]},
        {"id": "ncsn.cifar.fid", "metric": "fid", "value": 25.32, "tiers": ["paper"]},
        {"id": "ncsn.table1.sngan.fid", "metric": "baseline_fid_sngan", "value": 21.7, "tiers": ["paper"]},
    ],
    "dlg": [
        {
            "id": "dlg.v1.cifar.nfe10",
            "metric": "fid_pytorch_fid",
            "setting": {"integrator": "kar1", "dlg": "on", "budget": 10},
            "value": 3.86,
            "tiers": ["paper"],
        },
        {
            "id": "dlg.f3.kar1.off.nfe1000",
            "metric": "fid_pytorch_fid",
            "setting": {"integrator": "kar1", "dlg": "off", "budget": 1000},
            "value": 4.15,
            "tiers": ["paper"],
        },
    ],
}
RULES = {"ncsn.cifar.fid": {"rule": "at_most", "tol": 5.0}, "dlg.v1.cifar.nfe10": {"rule": "within", "tol": 0.5}}
CONFIGS = {("ncsn", "cpu"): ["mnist"], ("ncsn", "paper"): ["mnist", "cifar10"], ("dlg", "paper"): ["cifar10"]}


def _papers(root: Path) -> Path:
    for paper, claims in CLAIMS.items():
        full = [
            {
                **COMMON,
                "experiment": "cifar10",
                "dataset": "cifar10",
                "source": f"Table 1 ({c['id']})",
                "verdict": RULES.get(c["id"], {"rule": "none"}),
                **c,
            }
            for c in claims
        ]
        (root / paper / "configs").mkdir(parents=True)
        (root / paper / "claims.yaml").write_text(yaml.safe_dump({"claims": full}))
    for (paper, tier), names in CONFIGS.items():
        (root / paper / "configs" / f"{tier}.yaml").write_text(yaml.safe_dump({n: {} for n in names}))
    return root


def _row(paper: str, experiment: str, tier: str, metric: str, value: float, **extra: str) -> dict[str, str]:
    row = dict.fromkeys(RESULT_COLUMNS, "")
    row.update(
        paper=paper,
        experiment=experiment,
        dataset=experiment,
        tier=tier,
        metric=metric,
        value=str(value),
        comparable="false",
        verdict="not comparable",
        device="cpu",
        wall_seconds="10",
        commit=f"c0ffee{tier}",
        seed="0",
        n_samples="500",
    )
    row.update(extra)
    return row


def _write(results: Path, name: str, rows: list[dict[str, str]]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / name, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _build(tmp_path: Path, paper_tier: bool) -> str:
    papers, results = _papers(tmp_path / "papers"), tmp_path / "results"
    _write(results, "ncsn_mnist.csv", [_row("ncsn", "mnist", "cpu", "fid_lenet", 370.5, setting="sampler=annealed")])
    if paper_tier:
        claim = {"comparable": "true", "verdict": "reproduced"}
        _write(
            results,
            "ncsn_cifar10.csv",
            [
                _row(
                    "ncsn",
                    "cifar10",
                    "paper",
                    "fid",
                    27.5,
                    setting="sampler=annealed",
                    claim_id="ncsn.cifar.fid",
                    **claim,
                )
            ],
        )
        kar1 = "integrator=kar1;dlg=on;budget=10;n_skip=2;N=4"
        _write(
            results,
            "dlg_cifar10.csv",
            [
                _row(
                    "dlg",
                    "cifar10",
                    "paper",
                    "fid_pytorch_fid",
                    3.9,
                    setting=kar1,
                    claim_id="dlg.v1.cifar.nfe10",
                    **claim,
                ),
                _row("dlg", "cifar10", "paper", "nfe", 10.0, setting=kar1),
            ],
        )
    index = build_report(results, tmp_path / "runs", tmp_path / "report", papers_root=papers, stages={})
    return index.read_text()


def _table(html: str, key: str) -> str:
    start = html.index(f'id="table-{key}"')
    return html[start : html.index("<h3", start + 1) if "<h3" in html[start + 1 :] else len(html)]


def _cells(table_html: str, label: str) -> list[str]:
    """The text of every cell of the first row whose cells include `label`, tags dropped."""
    for row in re.findall(r"<tr>(.*?)</tr>", table_html, re.S):
        cells = [unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        texts = [" ".join(c) for c in cells]
        if label in texts:
            return texts
    raise AssertionError(f"no row labelled {label!r}")


def test_measured_cell_shows_our_value_tier_and_commit_and_the_paper_cell_equals_claims(tmp_path):
    html = _build(tmp_path, paper_tier=True)
    claims = load_claims(tmp_path / "papers")
    assert "<h2>The papers' tables</h2>" in html and 'href="#papertables"' in html
    ncsn = _table(html, "ncsn_table1")
    _, _, is_paper, is_ours, fid_paper, fid_ours = _cells(ncsn, "NCSN (the paper's model)")
    assert fid_paper.startswith(f"{claims['ncsn.cifar.fid']['value']:g} FID")
    assert is_paper.startswith(f"{claims['ncsn.cifar.is']['value']:g} ± {claims['ncsn.cifar.is']['stderr']:g} IS")
    assert fid_ours.startswith("27.5") and "paper tier" in fid_ours and "commit c0ffeepaper" in fid_ours
    assert "not comparable" not in fid_ours  # a comparable paper-tier row
    assert is_ours == "not measured (paper tier)"
    # a cited baseline is never measured; a baseline the table needs but claims.yaml lacks says so
    sngan = _cells(ncsn, "SNGAN")
    assert sngan[4].startswith("21.7 FID") and sngan[5] == "not measured (a cited baseline; no tier runs it)"
    assert _cells(ncsn, "PixelCNN")[2] == "— claim ncsn.table1.pixelcnn.is is not in claims.yaml"
    # the paper tier measured a DLG point: its figure is drawn and shown, with our value in the table
    assert (tmp_path / "report" / "figures" / "report" / "dlg_fig3_cifar10_vs_nfe.png").stat().st_size > 5000
    assert 'src="figures/report/dlg_fig3_cifar10_vs_nfe.png"' in html
    on10 = _cells(_table(html, "dlg_fig3"), "10")
    assert on10[3].startswith(f"{claims['dlg.v1.cifar.nfe10']['value']:g} FID") and on10[4].startswith("3.9 paper tier")


def test_cpu_only_results_leave_paper_cells_unmeasured_and_analogues_apart(tmp_path):
    html = _build(tmp_path, paper_tier=False)
    ncsn = _table(html, "ncsn_table1")
    _, _, _, is_ours, _, fid_ours = _cells(ncsn, "NCSN (the paper's model)")
    assert is_ours == fid_ours == "not measured (paper tier)"
    # the cpu analogue sits in its own table with its tier and commit, never in the paper's column
    analogue = ncsn[ncsn.index("Our analogue") :]
    assert "370.5" in analogue and "c0ffeecpu" in analogue
    assert "370.5" not in ncsn[: ncsn.index("Our analogue")]
    dlg = _table(html, "dlg_fig3")
    assert _cells(dlg, "1000")[4] == "not measured (paper tier)"
    assert "No fid_pytorch_fid-against-NFE figure" in dlg and "vs_nfe.png" not in html


def test_every_declared_claim_id_exists_in_the_committed_claims():
    """A table naming a claim that claims.yaml lacks would show an empty paper cell."""
    claims = load_claims(Path(__file__).resolve().parent.parent / "papers")
    missing = sorted(c for t in TABLES for c in t.claim_ids if c not in claims)
    assert missing == []
