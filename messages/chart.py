"""The weekly trend chart (PNG): one point per week, the baseline as a dashed line.

Rates only, no names: the chart travels with the report into chat.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from messages.status import done_rate, missed_rate


def contacts_chart(path: Path, title: str, weeks: list[date], counts: list[dict[str, int]],
                   baseline: float | None, partial: datetime | None = None) -> Path:
    """The status chart: missed or not recorded, and completed, per week. `partial`: the last
    week is in progress, its figures run to that (local) time."""
    series = {"missed or not recorded": [missed_rate(w) for w in counts],
              "completed": [done_rate(w) for w in counts]}
    return weekly_chart(path, title, weeks, series, baseline, partial)


def weekly_chart(path: Path, title: str, weeks: list[date],
                 series: dict[str, list[float | None]], baseline: float | None,
                 partial: datetime | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    x = list(range(len(weeks)))  # numeric x: a week with no contacts keeps its place
    done = len(weeks) - 1 if partial and weeks else len(weeks)  # complete weeks
    for name, values in series.items():
        ys = [float("nan") if v is None else v for v in values]
        [line] = ax.plot(x[:done], ys[:done], marker="o", label=name)
        if done < len(weeks):  # the week so far: a dashed segment to a hollow marker
            ax.plot(x[done - 1 if done else 0:], ys[done - 1 if done else 0:], linestyle="--",
                    color=line.get_color())
            ax.plot(x[done:], ys[done:], marker="o", markerfacecolor="white", linestyle="none",
                    color=line.get_color(), clip_on=False)  # 0 % and 100 % stay whole
    labels = [f"w/c {w:%-d %b}" for w in weeks]
    if done < len(weeks):
        labels[-1] += f"\nso far (to {partial:%a %H:%M})"
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.5, len(weeks) - 0.5)
    if baseline is not None:
        ax.axhline(baseline, linestyle="--", color="grey", linewidth=1,
                   label=f"baseline {baseline:.1f} %")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("% of planned contacts")
    ax.set_ylim(0, 100)
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    # The plotted numbers ride along as PNG text, so a reader (or a test) can check the chart.
    described = "; ".join(f"{name}: " + ", ".join("-" if v is None else f"{v:.1f}" for v in values)
                          for name, values in series.items())
    meta = {"Title": title,
            "Description": f"weeks: {', '.join(w.isoformat() for w in weeks)}; {described}"}
    if done < len(weeks):  # the last week is drawn partial: say so, and how far it runs
        meta["Partial"] = f"{weeks[-1].isoformat()} to {partial:%Y-%m-%dT%H:%M}"
        meta["Description"] += f"; partial: {meta['Partial']}"
    fig.savefig(path, format="png", metadata=meta)
    return path
