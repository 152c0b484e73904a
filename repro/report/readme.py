"""Render the report model as a Markdown summary (report/README.md) that renders on a code-hosting site."""

from __future__ import annotations

from urllib.parse import quote

from repro.report import fmt
from repro.report.claimlines import ClaimLine, claim_lines, shown_statuses, status_counts
from repro.report.model import ReportModel, ShownFigure
from repro.report.preregistration import rule_text


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def image(fig: ShownFigure) -> str:
    where = f" ({fig.experiment}, {fig.tier} tier)" if fig.tier else ""
    alt = fig.title.replace("[", "(").replace("]", ")")
    return f"![{alt}]({quote(fig.src)})\n\n*{fig.title}{where}.* {fig.caption}".rstrip()


def _line(line: ClaimLine) -> list[str]:
    """One Markdown summary line per claim (the range when it has several measurements)."""
    r, rng, drange = line.first, line.value_range, line.delta_range
    if rng is None:
        ours, delta, prov = "not measured", fmt.MISSING, fmt.MISSING
    elif line.n == 1:
        one = line.measured[0]
        ours = fmt.value_pm(one) + (f" {one.unit}" if one.unit else "")
        delta, prov = fmt.delta(one), fmt.provenance(one) or fmt.MISSING
    else:
        ours = f"{fmt.value_range(*rng, r.unit)} (range of {line.n} measurements)"
        delta = fmt.delta_range(*drange) if drange else fmt.MISSING
        prov = f"commit {', '.join(sorted({m.commit for m in line.measured if m.commit})) or '?'}"
    verdict = f"**{line.shown}**" + (
        f" ({line.n_reproduced} of {line.n} {'pass' if line.is_check else 'reproduced'})" if line.n > 1 else ""
    )
    reason = line.reasons()
    if line.is_check:
        reason = f"check: {r.why}" + (f"; {reason}" if reason else "")
    return [
        r.paper,
        f"`{r.claim_id}`" + (" (check)" if line.is_check else ""),
        f"{r.metric} · {r.dataset}",
        f"{r.source} ({r.confidence})".strip(),
        fmt.claimed(r),
        ours,
        delta,
        ", ".join(line.tiers) or fmt.MISSING,
        r.protocol or fmt.MISSING,
        verdict,
        reason,
        prov,
    ]


def _preregistration(model: ReportModel) -> str:
    log = model.preregistration
    if log is None:
        return "Not checked: the report was built without claims files."
    if not log.available:
        return f"Not checked: {log.note}."
    if not log.changes:
        return f"No rule changed after its first result ({log.checked} claims with committed results checked)."
    return table(
        ["Claim", "First-result commit", "Rule then", "Rule now"],
        [[f"`{c.claim_id}`", f"`{c.commit[:12]}`", rule_text(c.then), rule_text(c.now)] for c in log.changes],
    )


def render(model: ReportModel, title: str) -> str:
    out = [
        f"# {title}",
        "",
        f"Tiers: {', '.join(model.tiers) or 'none'} · built {model.build.get('built (UTC)', '')} UTC at commit "
        f"`{model.build.get('commit', '')}` · regenerate with `python -m repro report` · full page: "
        "[index.html](index.html)",
        "",
    ]
    if model.warnings:
        out += ["> **Problems found**", ">"] + [f"> - {w}" for w in model.warnings] + [""]
    lines = claim_lines(model.rows)
    statuses = shown_statuses(lines)

    def counts_row(name: str, plines: list[ClaimLine]) -> list[str]:
        pc, pk = status_counts(plines), status_counts(plines, "check")
        return [name, *[str(pc.get(v, 0)) for v in statuses], str(sum(pk.values()))]

    out += [
        "## At a glance",
        "",
        "Counts are of claims, not of results rows (a claim measured at many settings counts once); checks "
        "(identities, closed forms, bounds by construction) are counted apart, never as reproductions.",
        "",
        table(
            ["Paper", *[f"claims {v}" for v in statuses], "checks"],
            [counts_row(p, claim_lines(model.paper_rows(p))) for p in model.papers]
            + [[f"**{c}**" for c in counts_row("all", lines)]],
        ),
        "",
    ]
    if "smoke" in model.tiers:
        out += ["> Smoke-tier rows prove the pipeline runs; their numbers are not evidence.", ""]

    out += ["## Summary of claims", ""]
    rows = [_line(line) for line in lines]
    head = [
        "Paper",
        "Claim",
        "Metric · dataset",
        "Source (confidence)",
        "Paper value (or our threshold)",
        "Ours ± stderr",
        "Δ",
        "Tier",
        "Protocol",
        "Verdict",
        "Reason",
        "Provenance",
    ]
    out += [table(head, rows) if rows else "No claims found.", ""]

    for paper in model.papers:
        out += [f"## {fmt.paper_title(paper)}", ""]
        for fig in (model.claim_figures.get(paper), model.timing_figures.get(paper)):
            if fig:
                out += [image(fig), ""]
        for experiment in model.experiments(paper):
            figs = model.experiment_figures.get(f"{paper}/{experiment}", [])
            if figs:
                out += [f"### {paper}/{experiment}", ""] + [line for f in figs for line in (image(f), "")]

    out += ["## Pre-registration", "", _preregistration(model), ""]
    out += ["## Workflow progress and timing", ""]
    out += [
        table(
            ["Tier", "Experiment", "Stages (seconds)", "Wall", "Status"],
            [
                [
                    p.tier,
                    f"{p.paper}/{p.experiment}",
                    ", ".join(f"{s} {v:.1f}" for s, v in p.stages.items()) or fmt.MISSING,
                    fmt.seconds(p.wall),
                    p.status,
                ]
                for p in model.progress
            ],
        )
        if model.progress
        else "Nothing has run yet.",
        "",
    ]
    if "" in model.timing_figures:
        out += [image(model.timing_figures[""]), ""]
    out += [
        "## Provenance",
        "",
        table(["Item", "Value"], [[k, v] for k, v in {**model.build, **model.versions}.items()]),
        "",
        "Results files: " + (", ".join(f"[{f}]({quote(f)})" for f in model.data_files) or "none"),
        "",
    ]
    return "\n".join(out)
