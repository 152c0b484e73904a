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


def rows_for(metrics: dict[str, Any], paper_claims: list[claims.Claim]) -> list[dict[str, Any]]:
    """Join measured rows with the experiment's claims; unmatched claims become rows without a value."""
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
            verdict, comparable, reason = c.verdict(float(m["value"]), tier, synthetic)
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
            verdict = "smoke" if tier == "smoke" or synthetic else "not comparable"
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
        if c.id in matched:
            continue
        if tier == "smoke" or synthetic:
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


def collect(metrics_path: Path, out: Path) -> Path:
    metrics = json.loads(Path(metrics_path).read_text())
    rows = rows_for(metrics, claims.load(metrics["paper"]))
    atomic.write_text(out, to_csv(rows))
    return out
