"""Every results CSV committed under results/ follows the schema of ARCHITECTURE.md."""

import pytest
from conftest import ROOT
from results_schema import check_results_csv

CSVS = sorted((ROOT / "results").glob("*.csv"))


@pytest.mark.parametrize("path", CSVS, ids=[p.name for p in CSVS])
def test_committed_results_csv_follows_the_schema(path):
    rows = check_results_csv(path)
    assert {r["tier"] for r in rows} <= {"cpu", "paper"}, "smoke results are never committed"
