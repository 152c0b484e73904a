"""The results CSV contract of ARCHITECTURE.md, checked row by row."""

import csv
import json
import math
import re
from pathlib import Path

from repro import claims
from repro.claims import VERDICTS
from repro.collect import COLUMNS
from repro.config import TIERS
from repro.metrics.sanity import ranking_violations
from repro.registry import PAPERS

SETTING = re.compile(r"^([^=;]+=[^;]*)(;[^=;]+=[^;]*)*$")


def check_results_csv(path: Path, runs_root: Path | None = None) -> list[dict[str, str]]:
    """Assert the schema; with `runs_root`, also that every value is the one its run measured."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS, f"{path}: columns {reader.fieldnames}"
        rows = list(reader)
    assert rows, f"{path} has no rows"
    paper, experiment = path.stem.split("_", 1)
    measured = _measured(runs_root, rows[0]["tier"], paper, experiment) if runs_root else None
    rules = {c.id: c for c in claims.load(paper)}
    for i, r in enumerate(rows):
        where = f"{path}:{i + 2}"
        claims.check_verdict(r, rules.get(r["claim_id"]), where)
        assert r["paper"] == paper in PAPERS and r["experiment"] == experiment, where
        assert r["tier"] in TIERS and r["verdict"] in VERDICTS and r["comparable"] in ("True", "False"), where
        assert r["setting"] == "" or SETTING.match(r["setting"]), f"{where}: setting {r['setting']!r}"
        if r["value"] == "":
            assert r["claim_id"], f"{where}: a row without a value must be an unmeasured claim"
            continue
        value = float(r["value"])
        assert math.isfinite(value) or r["verdict"] != "reproduced", where
        if r["verdict"] == "reproduced":
            assert r["comparable"] == "True" and r["claimed"] != "", where
        if r["tier"] == "smoke":
            assert r["verdict"] == "smoke", where
        if measured is not None:
            key = (r["dataset"], r["metric"], r["setting"])
            assert key in measured and float(measured[key]) == value, f"{where}: {key} not measured as {value}"
    for c in rules.values():
        claims.check_one_measurement(c, [r["setting"] for r in rows if r["claim_id"] == c.id and r["value"] != ""])
    problems = ranking_violations(rows) if rows[0]["verdict"] not in ("smoke", "rehearsal") else []  # junk models
    assert not problems, f"{path}: a quality metric does not rank real < models < noise: {problems}"
    return rows


def _measured(runs_root: Path, tier: str, paper: str, experiment: str) -> dict[tuple[str, str, str], float]:
    metrics = json.loads((runs_root / tier / paper / experiment / "metrics.json").read_text())
    measured = {}
    for m in metrics["rows"]:
        key = (m["dataset"], m["metric"], m["setting"])
        assert key not in measured, f"{paper}/{experiment}: two measured rows share {key}"
        measured[key] = m["value"]
    return measured
