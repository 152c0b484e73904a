"""A stored verdict is never trusted: the report and the results schema recompute it from value and rule."""

import csv
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from results_schema import check_results_csv

from repro.report.build import build_report

RESULTS = ROOT / "results"


def _edited(tmp_path: Path, name: str, claim_id: str, **cells: str) -> Path:
    """A copy of the committed results with some cells of one claim's row changed."""
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out)
    path = out / name
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    hit = [r for r in rows if r["claim_id"] == claim_id and r["value"] != ""]
    assert hit, f"{name} has no measured row of {claim_id}"
    hit[0].update(cells)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    "name, claim_id, cells, message",
    [
        ("sohl_heartbeat.csv", "sohl.heart.K", {"value": "-9.0"}, r"'sohl.heart.K' says 'reproduced', but value -9"),
        ("sohl_heartbeat.csv", "sohl.heart.K", {"value": "abc"}, r"value 'abc' of 'sohl.heart.K' is not a number"),
        ("ncsn_gmm.csv", "ncsn.fig3.annealed", {"verdict": "not reproduced"}, r"gives 'reproduced'"),
    ],
)
def test_a_tampered_row_is_refused_naming_file_row_and_claim(tmp_path, name, claim_id, cells, message):
    path = _edited(tmp_path, name, claim_id, **cells)
    with pytest.raises(ValueError, match=message) as err:
        build_report(path.parent, tmp_path / "runs", tmp_path / "report")
    assert f"{path}:" in str(err.value)
    assert not (tmp_path / "report" / "index.html").exists()
    with pytest.raises((AssertionError, ValueError), match=message):
        check_results_csv(path)


def test_the_committed_results_pass_the_recomputation(tmp_path):
    for path in sorted(RESULTS.glob("*.csv")):
        check_results_csv(path)


def test_a_row_with_cells_cut_is_refused_naming_file_and_line(tmp_path):
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out)
    path = out / "sohl_heartbeat.csv"
    lines = path.read_text().splitlines()
    lines[2] = ",".join(lines[2].split(",")[:-3])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"{path}:3: 20 cells expected"):
        build_report(out, tmp_path / "runs", tmp_path / "report")
