"""Join results rows with claims.yaml into the rows the report shows (claims first, then other measurements)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repro.report.data import RunDir, paper_rank, parse_bool, parse_float


@dataclass(frozen=True)
class Row:
    """One measured number or one claim, with everything needed to judge and trace it."""

    paper: str
    experiment: str
    dataset: str
    tier: str
    setting: str
    metric: str
    unit: str
    value: float | None
    stderr: float | None
    n_samples: str
    seed: str
    device: str
    wall_seconds: float | None
    commit: str
    claim_id: str
    claimed: str
    source: str
    confidence: str
    protocol: str
    comparable: bool
    verdict: str
    reason: str
    synthetic: bool
    csv_file: str
    rule: str = ""
    tol: float | None = None
    kind: str = "claim"  # 'check': cannot fail when our code is right; never counted as a reproduction
    threshold: str = "paper"  # 'ours': the claimed value is a threshold we chose, not the paper's number
    why: str = ""  # for a check: why it cannot fail (the claim's `reason`)

    @property
    def claimed_value(self) -> float | None:
        return parse_float(self.claimed)

    @property
    def delta(self) -> float | None:
        """Measured minus claimed, when both are numbers."""
        claimed = self.claimed_value
        return None if self.value is None or claimed is None else self.value - claimed


def _rule(claim: dict[str, Any]) -> dict[str, Any]:
    """The claim's verdict rule and tolerance (for drawing the accepted band), its kind and whose threshold it is."""
    kind = str(claim.get("kind", "claim"))
    why = str(claim.get("reason", "")) if kind == "check" else ""
    labels = {"kind": kind, "threshold": str(claim.get("threshold", "paper")), "why": why}
    rule = claim.get("verdict")
    if not isinstance(rule, dict):
        return labels
    return {"rule": str(rule.get("rule", "")), "tol": parse_float(rule.get("tol")), **labels}


def _rule_text(claim: dict[str, Any]) -> str:
    rule = claim.get("verdict") or {}
    if not isinstance(rule, dict) or not rule.get("rule"):
        return ""
    return f"rule {rule['rule']}" + (f", tol {rule['tol']}" if "tol" in rule else "")


def default_reason(row: dict[str, str], claim: dict[str, Any]) -> str:
    """A one-line reason for rows that collect left without one."""
    verdict, value, tier = row["verdict"], parse_float(row["value"]), row["tier"]
    if verdict == "not reproduced":
        rule = _rule_text(claim)
        return f"measured {row['value']} vs claimed {row['claimed']}" + (f" fails the {rule}" if rule else "")
    if verdict != "not comparable":
        return ""
    if claim.get("reason"):
        return str(claim["reason"])
    if value is None:
        return f"not measured at the {tier} tier" if tier else "not measured: the experiment has not been run"
    tiers = claim.get("tiers")
    if isinstance(tiers, list) and tier not in tiers:
        return f"the {tier} tier is not one of the claim's comparable tiers ({', '.join(map(str, tiers))})"
    return "protocol differs from the paper's (see claims.yaml)"


def _claim_setting(claim: dict[str, Any]) -> str:
    setting = claim.get("setting") or {}
    return ";".join(f"{k}={v}" for k, v in setting.items()) if isinstance(setting, dict) else str(setting)


def build_rows(results: list[dict[str, str]], claims: dict[str, dict[str, Any]], runs: list[RunDir]) -> list[Row]:
    """Every results row, plus a 'not run' row for each claims.yaml claim that no CSV mentions."""
    synthetic = {(r.tier, r.paper, r.experiment): bool((r.metrics or {}).get("synthetic_data")) for r in runs}
    rows = []
    for r in results:
        claim = claims.get(r["claim_id"], {}) if r["claim_id"] else {}
        rows.append(
            Row(
                paper=r["paper"],
                experiment=r["experiment"],
                dataset=r["dataset"],
                tier=r["tier"],
                setting=r["setting"],
                metric=r["metric"],
                unit=r["unit"],
                value=parse_float(r["value"]),
                stderr=parse_float(r["stderr"]),
                n_samples=r["n_samples"],
                seed=r["seed"],
                device=r["device"],
                wall_seconds=parse_float(r["wall_seconds"]),
                commit=r["commit"],
                claim_id=r["claim_id"],
                claimed=r["claimed"],
                source=str(claim["source"]) if claim else r["claim_source"],
                confidence=str(claim.get("confidence", "")),
                protocol=str(claim.get("protocol", "")),
                comparable=parse_bool(r["comparable"], r["_file"]),
                verdict=r["verdict"],
                reason=r["reason"] or default_reason(r, claim),
                synthetic=synthetic.get((r["tier"], r["paper"], r["experiment"]), False),
                csv_file=r["_file"],
                **_rule(claim),
            )
        )
    seen = {row.claim_id for row in rows}
    for cid, claim in claims.items():
        if cid in seen:
            continue
        rows.append(
            Row(
                paper=claim["_paper"],
                experiment=str(claim.get("experiment", "")),
                dataset="/".join(d) if isinstance(d := claim.get("dataset", ""), list) else str(d),
                tier="",
                setting=_claim_setting(claim),
                metric=str(claim.get("metric", "")),
                unit=str(claim.get("unit", "")),
                value=None,
                stderr=None,
                n_samples="",
                seed="",
                device="",
                wall_seconds=None,
                commit="",
                claim_id=cid,
                claimed=str(claim.get("value", "")),
                source=str(claim.get("source", "")),
                confidence=str(claim.get("confidence", "")),
                protocol=str(claim.get("protocol", "")),
                comparable=False,
                verdict="not comparable",
                reason=f"not run: no row of results/{claim['_paper']}_{claim.get('experiment', '?')}.csv has it",
                synthetic=False,
                csv_file="",
                **_rule(claim),
            )
        )
    order = {cid: c["_order"] for cid, c in claims.items()}
    return sorted(
        rows,
        key=lambda row: (
            paper_rank(row.paper),
            order.get(row.claim_id, 10**6),
            row.claim_id,
            row.experiment,
            row.tier,
            row.setting,
            row.metric,
        ),
    )


def claim_rows(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.claim_id]


def papers(rows: list[Row], runs: list[RunDir]) -> list[str]:
    return sorted({row.paper for row in rows} | {run.paper for run in runs}, key=paper_rank)
