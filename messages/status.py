"""What the weekly status says: a short block per team and one for all teams, each line one
measure, so it reads on a phone. Figures only: no client refs, no names."""
from __future__ import annotations

from datetime import date, datetime

from messages import timeliness
from messages.actions import RAG_MARK, RAG_WORD
from messages.reply import Block, Reply


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _vs(now: float | None, then: float | None, what: str) -> str:
    if now is None or then is None:
        return f"{what} —"
    delta = now - then
    arrow = "▲" if delta > 0.05 else "▼" if delta < -0.05 else "="
    return f"{arrow} {abs(delta):.1f} pts vs {what} {then:.1f} %"


def _due(c: dict[str, int]) -> int:
    """Planned contacts whose window has closed or that have an outcome: what rates count."""
    return c["planned"] - c.get("pending", 0)


def missed_rate(c: dict[str, int]) -> float | None:
    """Missed or never recorded, as a share of the planned contacts that are due by now."""
    return 100 * (c["missed"] + c["unrecorded"]) / _due(c) if _due(c) else None


def done_rate(c: dict[str, int]) -> float | None:
    return 100 * c["done"] / _due(c) if _due(c) else None


def on_time_rate(c: dict[str, int]) -> float | None:
    """Done within the contract window, as a share of done."""
    return 100 * c["on_time"] / c["done"] if c["done"] else None


def _missed_line(f) -> str:
    """The missed-visit rate with its trend, or, on too few contacts for a rate to mean
    anything, the counts alone (no percentage, no arrow)."""
    c, least = f.contacts, f.min_contacts
    if _due(c) < least:
        return (f"Missed or not recorded: {c['missed'] + c['unrecorded']} of {_due(c)} due "
                f"(no rate or trend on fewer than {least} contacts)")
    then = missed_rate(f.trend) if _due(f.trend) >= least else None
    base = "baseline" + (" (first 4 weeks)" if f.baseline_from.startswith("first") else "")
    return (f"Missed-visit rate {pct(missed_rate(c))}: {_vs(missed_rate(c), then, 'previous 4 weeks')}; "
            f"{_vs(missed_rate(c), f.baseline_pct, base)}")


def _on_time_line(f) -> str:
    c = f.contacts
    if c["done"] < f.min_contacts:
        return f"On time (within the contract window): {c['on_time']} of {c['done']} done"
    return f"On time (within the contract window): {pct(on_time_rate(c))} of done"


def block(f, weeks: float) -> Block:
    c = f.contacts
    lines = [f"{c['planned']} planned · {c['done']} done · {c['missed']} missed · "
             f"{c['unrecorded']} not recorded"
             + (f" · {c['pending']} still due" if c.get("pending") else "")]
    lines.append(_missed_line(f))
    lines.append(_on_time_line(f))
    if f.reasons:
        lines.append("Missed reasons: " + " · ".join(
            f"{code} {n}" for code, n in sorted(f.reasons.items(), key=lambda kv: (-kv[1], kv[0]))))
    meds = f"Medicines late entries: {f.meds_late}"
    if f.meds_baseline is not None:
        per_week = f.meds_late / weeks
        change = (per_week - f.meds_baseline) / f.meds_baseline * 100 if f.meds_baseline else 0.0
        meds += (f" ({per_week:.1f}/week, {change:+.0f} % vs baseline {f.meds_baseline:g}; "
                 f"target {f.meds_target:.1f}/week)")
    lines.append(meds + f" · duties not recorded: {f.meds_unrecorded}")
    i = f.incidents
    closed = f"{i['in_time']} of {i['opened']}" + (f" ({100 * i['in_time'] / i['opened']:.0f} %)"
                                                    if i["opened"] else "")
    lines.append(f"Incidents learned from within 7 days: {closed}"
                 + (f"; {i['in_clock']} still in clock" if i["in_clock"] else ""))
    learn = f.learning
    lines.append(f"Learning points: {learn['points']}, read {learn['acks']} of {learn['expected']}"
                 + (f" ({100 * learn['acks'] / learn['expected']:.0f} %)" if learn["expected"] else ""))
    e = f.escalations
    median = e["median_seconds"]
    lines.append(f"Escalations: {e['opened']} opened · {e['acked']} acknowledged"
                 + (f", median {median / 60:.0f} min" if median is not None else "")
                 + f" · {e['open_now']} open now ({e['unresolved']} unresolved)")
    lines.append("CAP actions: " + " · ".join(f"{RAG_MARK[k]} {f.actions.get(k, 0)} {RAG_WORD[k]}"
                                               for k in RAG_MARK))
    lines += timeliness.lines(f)
    if getattr(f, "documentation", None) and f.documentation.get("sampled"):
        lines.append(documentation_line(f.documentation))
    if getattr(f, "referrals", None) and f.referrals.get("received"):
        lines.append(referrals_line(f.referrals))
    return Block(text=f"{f.name}\n" + "\n".join(lines))


def documentation_line(d: dict) -> str:
    """The documentation samples drawn in the period (CAP: defects logged by type)."""
    defects = sum(d["defects"].values())
    by_type = " · ".join(f"{code} {n}" for code, n in
                         sorted(d["defects"].items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"Documentation sample: {d['sampled']} drawn · {d['audited']} audited · "
            f"{defects} defect{'s' if defects != 1 else ''}" + (f" ({by_type})" if by_type else "")
            + f" · {d['increased']} staff on increased sampling")


def referrals_line(r: dict[str, int]) -> str:
    """The front door (issue 17 §3): referrals received, how decided, and the sample's
    wrong-basis rate (wrong, of those validated)."""
    wrong = f" ({100 * r['wrong'] / r['validated']:.0f} %)" if r["validated"] else ""
    return (f"Front door: {r['received']} referral{'' if r['received'] == 1 else 's'} · "
            f"{r['pending']} pending · "
            f"{r['authorised']} authorised · {r['declined']} declined · {r['sampled']} sampled, "
            f"{r['validated']} validated, {r['wrong']} wrong basis{wrong}")


def report(figures: list, first: date, last: date, weeks: float,
           so_far: datetime | None = None) -> Reply:
    span = f"{first:%a %-d %b} – {last:%a %-d %b %Y}" if first != last else f"{first:%a %-d %b %Y}"
    if so_far is not None:  # the last day is not over: say how far the figures run
        span += f" so far (to {so_far:%a %H:%M})"
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text=f"Weekly status · {span}"),
        *(block(f, weeks) for f in figures),
        Block(kind="context", text="Missed-visit rate = missed + not recorded, of planned "
                                   "contacts due by now. "
                                   "Evidence pack: status export")])


def unknown_team(key: str, keys: list[str]) -> str:
    return (f"No team {key!r} you can see. Use one of: {', '.join(keys)}. "
            f"Example: status team {keys[0] if keys else 'north'} last week")
