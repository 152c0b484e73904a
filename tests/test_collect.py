"""Claims, verdict rules and the tidy results CSV."""

import csv
import io
import json

import pytest

from repro import claims
from repro.collect import COLUMNS, rows_for, to_csv


def _claim(**kw):
    base = dict(
        id="x.c",
        paper="x",
        experiment="e",
        dataset="d",
        metric="m",
        value=0.2,
        unit="",
        source="Fig. 3",
        confidence="paper text",
        protocol="p",
        tiers=("cpu", "paper"),
        rule="within",
        tol=0.03,
        setting={"sampler": "annealed"},
    )
    return claims.Claim(**{**base, **kw})


def _metrics(tier="cpu", synthetic=False, rows=None):
    rows = rows or [
        {
            "dataset": "d",
            "setting": "sampler=annealed;n=1280",
            "metric": "m",
            "value": 0.21,
            "stderr": 0.01,
            "unit": "",
            "n_samples": 1280,
            "seed": "0-9",
        }
    ]
    return {
        "paper": "x",
        "experiment": "e",
        "tier": tier,
        "synthetic_data": synthetic,
        "device": "cpu",
        "wall_seconds": 1.0,
        "commit": "abc",
        "rows": rows,
    }


@pytest.mark.parametrize(
    ("rule", "tol", "value", "expected"),
    [
        ("within", 0.03, 0.21, "reproduced"),
        ("within", 0.03, 0.25, "not reproduced"),
        ("beyond", 0.1, 0.5, "reproduced"),
        ("beyond", 0.1, 0.25, "not reproduced"),
        ("at_most", 0.0, 0.19, "reproduced"),
        ("at_most", 0.0, 0.21, "not reproduced"),
        ("at_least", 0.05, 0.16, "reproduced"),
        ("at_least", 0.05, 0.14, "not reproduced"),
    ],
)
def test_verdict_rules(rule, tol, value, expected):
    verdict, comparable, _ = _claim(rule=rule, tol=tol).verdict(value, "cpu", synthetic=False)
    assert verdict == expected and comparable


def test_smoke_synthetic_and_other_tier_are_never_reproduced():
    c = _claim(tiers=("paper",))
    assert c.verdict(0.2, "smoke", False)[0] == "smoke"
    assert c.verdict(0.2, "paper", True)[0] == "smoke"
    verdict, comparable, reason = c.verdict(0.2, "cpu", False)
    assert verdict == "not comparable" and not comparable and "paper" in reason


def test_rows_join_claims_and_keep_unmeasured_claims():
    measured_claim = _claim()
    unmeasured = _claim(id="x.fid", metric="fid", value=25.32, setting={}, tiers=("paper",))
    other_experiment = _claim(id="x.other", experiment="f")
    rows = rows_for(_metrics(), [measured_claim, unmeasured, other_experiment])
    assert [r["claim_id"] for r in rows] == ["x.c", "x.fid"]
    assert rows[0]["value"] == 0.21 and rows[0]["claimed"] == 0.2 and rows[0]["verdict"] == "reproduced"
    assert rows[1]["value"] == "" and rows[1]["claimed"] == 25.32 and rows[1]["verdict"] == "not comparable"


def test_setting_must_contain_the_claim_pairs():
    c = _claim(setting={"sampler": "langevin"})
    rows = rows_for(_metrics(), [c])
    assert rows[0]["claim_id"] == "" and rows[0]["verdict"] == "not comparable"
    assert rows[1]["claim_id"] == "x.c" and rows[1]["value"] == ""


def test_dataset_must_match_one_of_the_claim_datasets():
    rows = rows_for(_metrics(), [_claim(dataset="other")])
    assert rows[0]["claim_id"] == "" and rows[1]["claim_id"] == "x.c" and rows[1]["value"] == ""
    assert rows_for(_metrics(), [_claim(dataset="other/d")])[0]["claim_id"] == "x.c"


def test_csv_has_exactly_the_schema_columns():
    text = to_csv(rows_for(_metrics(tier="smoke"), [_claim()]))
    table = list(csv.DictReader(io.StringIO(text)))
    assert tuple(table[0]) == COLUMNS
    assert table[0]["verdict"] == "smoke" and table[0]["comparable"] == "False"


def test_every_paper_claims_file_is_valid():
    from repro.registry import PAPERS

    for paper in PAPERS:
        for c in claims.load(paper):
            assert c.paper == paper
            if c.rule != "none":
                float(c.value)  # numeric claims have a numeric value to compare


def test_a_truncated_metrics_json_fails_collect_naming_the_file(tmp_path, capsys):
    from repro.cli import main

    metrics = tmp_path / "runs" / "cpu" / "ncsn" / "gmm" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps(_metrics())[:57])
    argv = ["collect", "ncsn/gmm", "--tier", "cpu", "--runs-root", str(tmp_path / "runs"), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{metrics}: not valid JSON" in err and "Traceback" not in err
    metrics.write_text(json.dumps({**_metrics(), "rows": [{"metric": "m"}]}))
    assert main(argv) == 2
    assert f"{metrics}: row 0 lacks dataset" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_results_row_with_cells_cut_names_file_and_line(tmp_path):
    from repro.collect import read_results_csv

    path = tmp_path / "x_e.csv"
    lines = to_csv(rows_for(_metrics(), [_claim(), _claim(id="x.fid", metric="fid", setting={})])).splitlines()
    path.write_text("\n".join(lines) + "\n")
    assert [r["claim_id"] for r in read_results_csv(path)] == ["x.c", "x.fid"]
    lines[2] = ",".join(next(csv.reader([lines[2]]))[:-3])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{path}:3: {len(COLUMNS) - 3} cells, the header has {len(COLUMNS)}"):
        read_results_csv(path)


@pytest.mark.parametrize(("value", "says"), [("abc", "whole number"), ("0", "at least 1"), ("-3", "at least 1")])
def test_bad_nproc_is_a_usage_error_not_a_traceback(capsys, value, says):
    from repro.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "ncsn/gmm", "--tier", "smoke", "--nproc", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --nproc" in err and says in err and "Traceback" not in err


def _two_arms(second="sampler=annealed;n=2560"):
    row = _metrics()["rows"][0]
    return _metrics(rows=[row, {**row, "setting": second, "value": 0.5}])


def test_a_claim_matching_two_rows_is_refused_naming_claim_and_rows():
    with pytest.raises(ValueError, match=r"claim x\.c matches 2 measured rows.*n=1280.*n=2560"):
        rows_for(_two_arms(), [_claim()])


def test_a_claim_measured_over_a_key_gets_one_verdict_per_value():
    out = rows_for(_two_arms(), [_claim(over=("n",))])
    assert [(r["setting"], r["verdict"]) for r in out] == [
        ("sampler=annealed;n=1280", "reproduced"),
        ("sampler=annealed;n=2560", "not reproduced"),
    ]
    with pytest.raises(ValueError, match=r"measured over \['n'\]"):
        rows_for(_two_arms(second="sampler=annealed;n=1280;k=1"), [_claim(over=("n",))])


def test_a_bf16_or_tf32_run_records_its_numerics_in_every_rows_setting(tmp_path):
    """A reduced-precision option anywhere in the config (here a nested training section) marks every row, so a fast
    row and an fp32 row never share a setting, while a claim's pairs still match it; fp32 adds nothing."""
    from repro.run import MetricRow, Run

    row = MetricRow(dataset="d", metric="m", value=0.21, n_samples=1, seed=0, setting={"sampler": "annealed"})
    settings = {}
    for name, cfg in {
        "fp32": {"seed": 0, "net": {"training": {"bf16": False, "tf32": False}}},
        "fast": {"seed": 0, "net": {"training": {"tf32": True}}, "classifier": {"training": {"bf16": True}}},
    }.items():
        run = Run("x", "e", "cpu", cfg, runs_root=tmp_path / name)
        run.save_metrics([row, {**row.as_dict(), "metric": "n", "setting": "sampler=annealed"}])
        settings[name] = [r["setting"] for r in json.loads((run.root / "metrics.json").read_text())["rows"]]
    assert settings["fp32"] == ["sampler=annealed"] * 2
    assert settings["fast"] == ["sampler=annealed;numerics=bf16+tf32"] * 2
    assert _claim().matches({"dataset": "d", "metric": "m", "setting": settings["fast"][0]})
