"""Render the report model as one static, self-contained HTML page (inline CSS, no scripts, relative images)."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from urllib.parse import quote

from repro.provenance import recorded_versions
from repro.report import fmt
from repro.report.data import VERDICTS, stage_rank
from repro.report.model import Progress, ReportModel, ShownFigure
from repro.report.summary import Row, claim_rows, verdict_counts

STYLE = (Path(__file__).with_name("style.css")).read_text()
COLLAPSE_AFTER = 15  # measurement tables longer than this start folded


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", p) for p in parts)


def claim_anchor(row: Row) -> str:
    return anchor("claim", row.claim_id, row.tier, row.dataset, row.metric, row.setting)


def badge(verdict: str) -> str:
    return f'<span class="badge {anchor(verdict).replace("_", "-")}">{escape(verdict)}</span>'


def _table(head: list[str], body: list[str], cls: str = "", widths: list[int] | None = None, fit: bool = False) -> str:
    """A table in a scrolling wrapper; `widths` are column width hints in percent, `fit` sizes it to its content."""
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    cols = "".join(f'<col style="width:{w}%">' for w in widths) if widths else ""
    return (
        f'<div class="tablewrap{" fit" if fit else ""}"><table class="{cls}">'
        f"{f'<colgroup>{cols}</colgroup>' if cols else ''}"
        f"<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def clip(text: str, limit: int = 90) -> str:
    """Long text folded after about `limit` characters into a <details> element (no script needed to open it)."""
    if len(text) <= limit:
        return escape(text)
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return f'<details class="clip"><summary>{escape(text[:cut])} …</summary>… {escape(text[cut:].lstrip())}</details>'


def _figure(fig: ShownFigure, wide: bool = False) -> str:
    where = f' <span class="muted">({escape(fig.experiment)}, {escape(fig.tier)} tier)</span>' if fig.tier else ""
    src = escape(quote(fig.src))
    return (
        f'<figure{" class=wide" if wide else ""}><a href="{src}"><img src="{src}" alt="{escape(fig.title)}"></a>'
        f"<figcaption><b>{escape(fig.title)}</b>{where}<br>{escape(fig.caption)}</figcaption></figure>"
    )


def _claim_cell(row: Row, model_experiments: set[str]) -> str:
    exp = escape(f"{row.paper}/{row.experiment}")
    if f"{row.paper}/{row.experiment}" in model_experiments:
        exp = f'<a href="#{anchor("exp", row.paper, row.experiment)}">{exp}</a>'
    setting = f'<br><span class="muted">{escape(row.setting)}</span>' if row.setting else ""
    return (
        f"<td><code>{escape(row.claim_id)}</code><br>{escape(row.metric)} · {escape(row.dataset)}"
        f'<br><span class="muted">{exp}</span>{setting}</td>'
    )


def _summary_row(row: Row, experiments: set[str]) -> str:
    prov = fmt.provenance(row)
    prov_html = f'<br><span class="muted">{escape(prov)}</span>' if prov else ""
    confidence = f'<div class="muted">{clip(row.confidence, 60)}</div>' if row.confidence else ""
    return (
        f'<tr class="claim" id="{claim_anchor(row)}">'
        f"{_claim_cell(row, experiments)}"
        f"<td>{clip(row.source or fmt.MISSING, 60)}{confidence}</td>"
        f'<td class="num">{escape(fmt.claimed(row))}</td>'
        f'<td><span class="num">{escape(fmt.value_pm(row))}</span> {escape(row.unit if row.value is not None else "")}'
        f"{prov_html}</td>"
        f'<td class="num">{escape(fmt.delta(row))}</td>'
        f'<td class="nowrap">{escape(row.tier or fmt.MISSING)}</td>'
        f'<td class="protocol">{clip(row.protocol or fmt.MISSING)}</td>'
        f"<td>{badge(row.verdict)}</td>"
        f'<td class="reason">{escape(row.reason if row.verdict in ("not comparable", "not reproduced") else "")}</td>'
        "</tr>"
    )


SUMMARY_WIDTHS = [17, 14, 7, 16, 8, 4, 14, 8, 12]
SUMMARY_HEAD = [
    "Claim",
    "Source · confidence",
    "Paper",
    "Ours (± stderr) · provenance",
    "Δ (ours − paper)",
    "Tier",
    "Protocol (paper)",
    "Verdict",
    "Reason",
]


def summary_section(model: ReportModel) -> str:
    experiments = {f"{p}/{e}" for p in model.papers for e in model.experiments(p)}
    body = []
    for paper in model.papers:
        rows = claim_rows(model.paper_rows(paper))
        if not rows:
            continue
        body.append(
            f'<tr class="group"><th colspan="{len(SUMMARY_HEAD)}">'
            f'<a href="#{anchor("paper", paper)}">{escape(fmt.paper_title(paper))}</a></th></tr>'
        )
        body += [_summary_row(r, experiments) for r in rows]
    if not body:
        return '<section id="summary"><h2>Summary of claims</h2><p class="note">No claims found.</p></section>'
    return (
        '<section id="summary"><h2>Summary of claims</h2>'
        '<p class="lead">Every claim of every paper: where the paper states it, the paper\'s value, ours with '
        "its provenance, the difference, the protocol the claim needs and the verdict of the rule written in "
        "<code>papers/&lt;paper&gt;/claims.yaml</code> before running. Claims we could not run stay as rows."
        f"</p>{_table(SUMMARY_HEAD, body, 'summary', SUMMARY_WIDTHS)}</section>"
    )


def glance_section(model: ReportModel) -> str:
    counts = verdict_counts(model.rows)
    cards = "".join(
        f'<div class="card {anchor(v).replace("_", "-")}"><div class="n">{counts.get(v, 0)}</div>'
        f'<div class="l">{escape(v)}</div></div>'
        for v in VERDICTS
    )
    body = []
    for paper in model.papers:
        pc = verdict_counts(model.paper_rows(paper))
        cells = "".join(f'<td class="num">{pc.get(v, 0)}</td>' for v in VERDICTS)
        body.append(
            f'<tr><td><a href="#{anchor("paper", paper)}">{escape(paper)}</a></td>{cells}'
            f'<td class="num">{sum(pc.values())}</td></tr>'
        )
    tiers = "".join(f"<li><b>{escape(t)}</b>: {escape(fmt.TIER_NOTES.get(t, ''))}</li>" for t in model.tiers)
    smoke = (
        (
            '<p class="note">Smoke-tier rows prove that the pipeline runs end to end; their numbers are not '
            "evidence for or against any claim.</p>"
        )
        if "smoke" in model.tiers
        else ""
    )
    return (
        '<section id="glance"><h2>At a glance</h2>'
        f'<div class="cards">{cards}</div>'
        f"{_table(['Paper', *VERDICTS, 'claim rows'], body, 'counts', fit=True)}"
        f"<h4>Tiers in this report</h4><ul>{tiers or '<li>none</li>'}</ul>{smoke}</section>"
    )


MEASURE_HEAD = [
    "Dataset",
    "Setting",
    "Metric",
    "Value ± stderr",
    "Unit",
    "n",
    "Seed",
    "Tier",
    "Device",
    "Wall",
    "Commit",
    "Claim",
    "Verdict",
]


def _measure_row(row: Row) -> str:
    claim = f'<a href="#{claim_anchor(row)}"><code>{escape(row.claim_id)}</code></a>' if row.claim_id else ""
    synth = ' <span class="muted">(synthetic data)</span>' if row.synthetic else ""
    return (
        f"<tr><td>{escape(row.dataset)}</td><td>{_code(row.setting)}</td><td>{escape(row.metric)}</td>"
        f'<td class="num">{escape(fmt.value_pm(row))}</td><td>{escape(row.unit)}</td>'
        f'<td class="num">{escape(row.n_samples)}</td><td>{escape(row.seed)}</td><td>{escape(row.tier)}{synth}</td>'
        f'<td>{escape(row.device)}</td><td class="num">{escape(fmt.seconds(row.wall_seconds))}</td>'
        f"<td>{_code(row.commit)}</td><td>{claim}</td><td>{badge(row.verdict)}</td></tr>"
    )


def _experiment_block(model: ReportModel, paper: str, experiment: str) -> str:
    rows = [r for r in model.paper_rows(paper) if r.experiment == experiment and r.value is not None]
    figs = model.experiment_figures.get(f"{paper}/{experiment}", [])
    prog = [p for p in model.progress if p.paper == paper and p.experiment == experiment]
    status = "; ".join(f"{p.tier}: {p.status}, {fmt.seconds(p.wall)}" for p in prog) or "not run"
    parts = [
        f'<h3 id="{anchor("exp", paper, experiment)}">{escape(paper)}/{escape(experiment)}</h3>',
        f'<p class="muted">{escape(status)}</p>',
    ]
    if figs:
        parts.append(f'<div class="figs">{"".join(_figure(f) for f in figs)}</div>')
    if rows:
        table = _table(MEASURE_HEAD, [_measure_row(r) for r in rows], "measurements")
        if len(rows) > COLLAPSE_AFTER:
            table = f"<details><summary>All {len(rows)} measurements with provenance</summary>{table}</details>"
        parts.append(table)
    elif not figs:
        parts.append('<p class="muted">No measurements or figures yet.</p>')
    return "".join(parts)


def paper_section(model: ReportModel, paper: str) -> str:
    counts = verdict_counts(model.paper_rows(paper))
    line = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts.get(v)) or "no claims"
    parts = [
        f'<section id="{anchor("paper", paper)}"><div class="paperhead"><h2>{escape(fmt.paper_title(paper))}</h2>'
        f'<span class="muted">{escape(line)}</span></div>'
    ]
    claims, timing = model.claim_figures.get(paper), model.timing_figures.get(paper)
    own = ([_figure(claims, wide=True)] if claims else []) + ([_figure(timing)] if timing else [])
    if paper not in model.claim_figures:
        parts.append(
            '<p class="muted">No claimed-vs-measured figure: no comparable claim has a numeric measured '
            "value at these tiers.</p>"
        )
    if own:
        parts.append(f'<div class="figs">{"".join(own)}</div>')
    parts += [_experiment_block(model, paper, e) for e in model.experiments(paper)]
    return "".join(parts) + "</section>"


def _progress_row(p: Progress, stage_names: list[str]) -> str:
    cells = []
    for s in stage_names:
        if s in p.stages:
            cells.append(f'<td class="num">{escape(fmt.seconds(p.stages[s]))}</td>')
        else:
            cells.append(f'<td class="num muted">{"pending" if s in p.expected else fmt.MISSING}</td>')
    return (
        f'<tr><td>{escape(p.tier)}</td><td><a href="#{anchor("exp", p.paper, p.experiment)}">'
        f"{escape(p.paper)}/{escape(p.experiment)}</a></td>{''.join(cells)}"
        f'<td class="num">{escape(fmt.seconds(p.stage_total))}</td>'
        f'<td class="num">{escape(fmt.seconds(p.csv_wall))}</td><td>{escape(p.status)}</td>'
        f'<td class="nowrap muted">{escape(p.finished or fmt.MISSING)}</td></tr>'
    )


def timing_section(model: ReportModel) -> str:
    names = sorted({s for p in model.progress for s in (*p.stages, *p.expected)}, key=stage_rank)
    head = ["Tier", "Experiment", *names, "Sum of stages", "CSV wall_seconds", "Status", "Last stage finished"]
    total = sum(p.wall or 0.0 for p in model.progress)
    fig = model.timing_figures.get("")
    return (
        '<section id="timing"><h2>Workflow progress and timing</h2>'
        f'<p class="lead">Stage times come from <code>runs/&lt;tier&gt;/&lt;paper&gt;/&lt;experiment&gt;/'
        f"stage_&lt;name&gt;.json</code>; the CSV column is the time the results rows record. "
        f"Total wall time of everything shown: <b>{escape(fmt.seconds(total))}</b>.</p>"
        f"{_table(head, [_progress_row(p, names) for p in model.progress]) if model.progress else ''}"
        f"{_figure(fig, wide=True) if fig else ''}</section>"
    )


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>" if text else fmt.MISSING


def _kv(items: dict[str, str]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items.items()) + "</dl>"


def _versions_row(versions: dict[str, str]) -> str:
    return "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in versions.values()) + "</tr>"


def provenance_section(model: ReportModel) -> str:
    body = []
    for run in model.runs:
        rows = [
            r
            for r in model.rows
            if (r.tier, r.paper, r.experiment) == (run.tier, run.paper, run.experiment) and r.value is not None
        ]
        meta = run.metrics or {}
        seeds = ", ".join(sorted({r.seed for r in rows if r.seed})) or fmt.MISSING
        samples = ", ".join(sorted({r.n_samples for r in rows if r.n_samples}, key=lambda s: (len(s), s)))
        versions = recorded_versions(run.metrics)
        body.append(
            f"<tr><td>{escape(run.tier)}</td><td>{escape(run.key)}</td><td>{_code(str(meta.get('commit', '')))}"
            f"</td><td>{escape(str(meta.get('device', fmt.MISSING)))}</td>"
            f"<td>{'yes' if meta.get('synthetic_data') else ('no' if meta else fmt.MISSING)}</td>"
            f"<td>{escape(seeds)}</td><td>{escape(samples or fmt.MISSING)}</td>"
            f'<td class="num">{escape(fmt.seconds(meta.get("wall_seconds")))}</td>'
            f"<td>{escape(', '.join(f'{k} {v}' for k, v in versions.items()) or 'not recorded')}</td></tr>"
        )
    head = [
        "Tier",
        "Experiment",
        "Commit",
        "Device",
        "Synthetic data",
        "Seeds",
        "Samples",
        "Wall (metrics.json)",
        "Versions recorded by the run",
    ]
    files = "".join(f'<li><a href="{escape(quote(f))}">{escape(f)}</a></li>' for f in model.data_files)
    return (
        '<section id="provenance"><h2>Provenance</h2>'
        '<p class="lead">What each run recorded in its <code>metrics.json</code>; every number in the tables '
        "above also carries its own commit, device, seed, sample count and wall time.</p>"
        f"{_table(head, body) if body else '<p class=muted>No run directories found.</p>'}"
        "<h4>Environment when this report was built</h4>"
        f"{_kv(model.build)}<h4>Package versions (report time)</h4>"
        f"{_table(list(model.versions), [_versions_row(model.versions)], 'versions')}"
        f"<h4>Results files</h4><ul>{files or '<li>none</li>'}</ul></section>"
    )


def render(model: ReportModel, title: str) -> str:
    nav = ['<a href="#glance">At a glance</a>', '<a href="#summary">Summary</a>']
    nav += [f'<a href="#{anchor("paper", p)}">{escape(p)}</a>' for p in model.papers]
    nav += ['<a href="#timing">Timing</a>', '<a href="#provenance">Provenance</a>']
    warnings = ""
    if model.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in model.warnings)
        warnings = (
            f'<section id="warnings"><div class="note warn"><b>Problems found</b><ul>{items}</ul></div></section>'
        )
        nav.append('<a href="#warnings">Problems</a>')
    tiers = ", ".join(model.tiers) or "none"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{STYLE}</style>
</head>
<body>
<header class="top"><h1>{escape(title)}</h1>
<p>Tiers: {escape(tiers)} · built {escape(model.build.get("built (UTC)", ""))} UTC at commit
<code>{escape(model.build.get("commit", ""))}</code> · regenerate with <code>python -m repro report</code></p></header>
<nav>{" ".join(nav)}</nav>
<main>
{warnings}
{glance_section(model)}
{summary_section(model)}
{"".join(paper_section(model, p) for p in model.papers)}
{timing_section(model)}
{provenance_section(model)}
<footer>Generated by <code>repro.report.build_report</code> from <code>results/*.csv</code> and the run directories;
nothing is retrained. Claimed values come only from <code>papers/&lt;paper&gt;/claims.yaml</code>.</footer>
</main>
</body>
</html>
"""
