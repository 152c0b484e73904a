"""metrics.json + claims.yaml → results/<paper>_<experiment>.csv, one tidy row per measured number."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from repro import atomic, claims

COLUMNS = (
    "paper",
    "experiment",
    "dataset",
    "tier",
    "setting",
    "metric",
    "value",
    "stderr",
    "unit",
    "n_samples",
    "seed",
    "claimed",
    "claim_source",
    "comparable",
    "verdict",
    "device",
    "wall_seconds",
    "commit",
    "claim_id",
    "reason",
)


def rows_for(
    metrics: dict[str, Any], paper_claims: list[claims.Claim], rehearsal: bool = False
) -> list[dict[str, Any]]:
    """Join measured rows with the experiment's claims; unmatched claims become rows without a value.

    In a paper rehearsal every row's verdict is 'rehearsal' and nothing is comparable."""
    exp, tier, synthetic = metrics["experiment"], metrics["tier"], metrics.get("synthetic_data", False)
    own = [c for c in paper_claims if c.experiment == exp]
    base = {
        "paper": metrics["paper"],
        "experiment": exp,
        "tier": tier,
        "device": metrics["device"],
        "wall_seconds": metrics["wall_seconds"],
        "commit": metrics["commit"],
    }
    out: list[dict[str, Any]] = []
    matched: set[str] = set()
    for m in metrics["rows"]:
        measured = {
            **base,
            **{k: m[k] for k in ("dataset", "setting", "metric", "value", "stderr", "unit", "n_samples", "seed")},
        }
        hits = [c for c in own if c.matches(m)]
        for c in hits:
            matched.add(c.id)
            verdict, comparable, reason = c.verdict(float(m["value"]), tier, synthetic, rehearsal)
            out.append(
                {
                    **measured,
                    "claimed": c.value,
                    "claim_source": c.source_text,
                    "comparable": comparable,
                    "verdict": verdict,
                    "claim_id": c.id,
                    "reason": reason,
                }
            )
        if not hits:
            verdict = "rehearsal" if rehearsal else "smoke" if tier == "smoke" or synthetic else "not comparable"
            out.append(
                {
                    **measured,
                    "claimed": "",
                    "claim_source": "",
                    "comparable": False,
                    "verdict": verdict,
                    "claim_id": "",
                    "reason": "no claim in the paper for this number",
                }
            )
    for c in own:
        claims.check_one_measurement(c, [r["setting"] for r in out if r["claim_id"] == c.id])
    for c in own:
        if c.id in matched:
            continue
        if rehearsal:
            verdict, reason = "rehearsal", claims.REHEARSAL_REASON
        elif tier == "smoke" or synthetic:
            verdict, reason = "smoke", "smoke tier: not measured against the claim"
        elif c.rule == "none":
            verdict, reason = "not comparable", c.reason or "no comparable protocol"
        else:
            verdict, reason = "not comparable", f"not measured at the {tier} tier (needs: {'/'.join(c.tiers)})"
        out.append(
            {
                **base,
                "dataset": c.dataset,
                "setting": ";".join(f"{k}={v}" for k, v in c.setting.items()),
                "metric": c.metric,
                "value": "",
                "stderr": "",
                "unit": c.unit,
                "n_samples": "",
                "seed": "",
                "claimed": c.value,
                "claim_source": c.source_text,
                "comparable": False,
                "verdict": verdict,
                "claim_id": c.id,
                "reason": reason,
            }
        )
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in COLUMNS})
    return buf.getvalue()


METRICS_KEYS = ("paper", "experiment", "tier", "device", "wall_seconds", "commit", "rows")
ROW_KEYS = ("dataset", "setting", "metric", "value", "stderr", "unit", "n_samples", "seed")


def collect(metrics_path: Path, out: Path, rehearsal: bool = False) -> Path:
    """Write the results CSV of one `metrics.json`; every error about the input names the file."""
    metrics = read_metrics(Path(metrics_path))
    try:
        rows = rows_for(metrics, claims.load(metrics["paper"]), rehearsal)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{metrics_path}: {type(err).__name__}: {err}") from err
    except ValueError as err:
        raise ValueError(f"{metrics_path}: {err}") from err
    atomic.write_text(out, to_csv(rows))
    return out


def read_metrics(path: Path) -> dict[str, Any]:
    """`metrics.json`, checked for its keys; a truncated or malformed file is an error naming it."""
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); rerun the evaluate stage to rewrite it") from err
    if not isinstance(metrics, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(metrics).__name__}")
    missing = [k for k in METRICS_KEYS if k not in metrics]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    if not isinstance(metrics["rows"], list):
        raise ValueError(f"{path}: 'rows' must be a list")
    for i, row in enumerate(metrics["rows"]):
        absent = [k for k in ROW_KEYS if not isinstance(row, dict) or k not in row]
        if absent:
            raise ValueError(f"{path}: row {i} lacks {', '.join(absent)}")
    return metrics


def read_results_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a results CSV; a header other than COLUMNS or a row with another cell count names file:line."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if tuple(header or ()) != COLUMNS:
            raise ValueError(f"{path}:1: header {header} differs from the results schema {list(COLUMNS)}")
        rows = []
        for cells in reader:
            if len(cells) != len(COLUMNS):
                raise ValueError(
                    f"{path}:{reader.line_num}: {len(cells)} cells, the header has {len(COLUMNS)} "
                    "(a cut or edited row; rerun `repro collect`)"
                )
            rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows
