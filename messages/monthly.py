"""What the monthly governance report says, and its chart. Figures, team names and action refs
only: no client refs, no names. Each trend compares the report month with the month before:
▲ up, ▼ down, = flat."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from messages.reply import Block, Reply

EXAMPLE = "status month · status month last · status month 2026-10"
MAX_REFS = 10


def bad_month(text: str) -> str:
    return f"Can't read {text!r} as a month: use YYYY-MM or last. Example: {EXAMPLE}"


def future_month(first: date) -> str:
    return f"{first:%B %Y} is in the future. Example: {EXAMPLE}"


def trend(now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return ""
    return " ▲ up" if now > then else " ▼ down" if now < then else " = flat"


def _row(values: list, shown=str) -> str:
    return " · ".join("—" if v is None else shown(v) for v in values)


def _read_rate(learn: dict[str, int]) -> float | None:
    return 100 * learn["acks"] / learn["expected"] if learn["expected"] else None


def _minutes(esc: dict) -> float | None:
    s = esc["median_seconds"]
    return None if s is None else s / 60


def _totals(m) -> list[int]:
    """All incidents per month, every category."""
    return [sum(c) for c in zip(*m.incidents.values())] if m.incidents else [0] * len(m.months)


def report(m) -> Reply:
    month = f"{m.months[-1]:%B %Y}"
    if m.so_far:
        month += f" so far (to {m.end:%a %-d %b %H:%M})"
    months = " · ".join(f"{d:%b}" for d in m.months)
    last = m.months[-1]
    inc = [f"Incidents by category, by month ({months}):"]
    totals = _totals(m)
    for category, values in m.incidents.items():
        inc.append(f"{category}: {_row(values)}{trend(values[-1], values[-2])}")
    inc.append(f"all: {_row(totals)}{trend(totals[-1], totals[-2])}")
    if len(m.teams) > 1:
        inc.append(f"{last:%b} by team: " + " · ".join(f"{t} {n}" for t, n in m.by_team.items()))
    repeats = (f"Repeat events (an incident in a category its team already had that month): "
               f"{_row(m.repeats)}{trend(m.repeats[-1], m.repeats[-2])}")
    if m.repeat_detail:
        repeats += f"\n{last:%b}: " + " · ".join(f"{c} ×{n} {t}" for c, t, n in m.repeat_detail)
    when = f"{m.end:%a %-d %b %H:%M}" if m.so_far else f"the end of {last:%B}"
    shown = m.overdue[:MAX_REFS]
    more = f" +{len(m.overdue) - MAX_REFS} more" if len(m.overdue) > MAX_REFS else ""
    overdue = (f"Overdue actions at {when}: {len(m.overdue)}"
               + (f": {', '.join(shown)}{more}" if m.overdue else ""))
    rates = [_read_rate(x) for x in m.learning]
    now = m.learning[-1]
    learning = (f"Learning points read, by month: {_row(rates, lambda v: f'{v:.0f} %')}"
                f"{trend(rates[-1], rates[-2])}; {last:%b}: {now['acks']} of {now['expected']} "
                f"({now['points']} points)")
    late = [x["late"] for x in m.meds]
    meds = (f"Medicines late, by month: {_row(late)}{trend(late[-1], late[-2])}; "
            f"missed in {last:%b}: {m.meds[-1]['missed']}")
    mins = [_minutes(e) for e in m.escalations]
    e = m.escalations[-1]
    esc = (f"Escalations, median time to acknowledge, by month: "
           f"{_row(mins, lambda v: f'{v:.0f} min')}{trend(mins[-1], mins[-2])}; "
           f"{last:%b}: {e['opened']} opened, {e['acked']} acknowledged")
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text=f"Monthly governance report · {month}"),
        Block(text="\n".join(inc)),
        Block(text="\n".join([repeats, overdue, learning, meds, esc])),
        Block(kind="context", text=f"Teams: {', '.join(m.teams)}. Trend: {last:%b} against "
                                   f"{m.months[-2]:%b}. Weekly detail: status last week")])


def monthly_chart(path: Path, m) -> Path:
    """Counts per month: incidents, repeat events, medicines late. The numbers ride along as
    PNG text, so a reader (or a test) can check the chart."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    from matplotlib.figure import Figure

    totals = _totals(m)
    series = {"incidents": totals, "repeat events": m.repeats,
              "medicines late": [x["late"] for x in m.meds]}
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    x = list(range(len(m.months)))
    for name, values in series.items():
        ax.plot(x, values, marker="o", label=name)
    labels = [f"{d:%b %Y}" for d in m.months]
    if m.so_far:
        labels[-1] += "\nso far"
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.5, len(x) - 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(0, max(5, *(max(v) for v in series.values())) * 1.15)  # counts: whole numbers
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("count")
    ax.set_title(f"Monthly governance to {m.months[-1]:%B %Y}", fontsize=10)
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    described = "; ".join(f"{name}: " + ", ".join(map(str, values))
                          for name, values in series.items())
    meta = {"Title": f"Monthly governance to {m.months[-1]:%B %Y}",
            "Description": f"months: {', '.join(f'{d:%Y-%m}' for d in m.months)}; {described}"}
    fig.savefig(path, format="png", metadata=meta)
    return path
