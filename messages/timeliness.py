"""The status lines for timeliness by contact kind (contract standards), the routes check and
cover for gaps: counts only, no refs, no names."""
from __future__ import annotations


def kinds_line(by_kind: dict[str, dict[str, int]]) -> str | None:
    """Done within the window, of done, per kind (in the order given: the kinds' usual one)."""
    shown = [k for k in by_kind if by_kind[k].get("done")]
    if not shown:
        return None
    return "On time by kind: " + " · ".join(
        f"{k.replace('_', ' ')} {by_kind[k]['on_time']} of {by_kind[k]['done']}" for k in shown)


def routes_line(routes: dict[str, int]) -> str | None:
    if not routes or not sum(routes.values()):
        return None
    on_time = routes.get("on_time", 0)
    return (f"Routes confirmed: {on_time} day{'' if on_time == 1 else 's'} on time · "
            f"{routes.get('late', 0)} late · {routes.get('none', 0)} not confirmed")


def cover_line(covers: int) -> str:
    return f"Cover for gaps: {covers} contact{'' if covers == 1 else 's'} covered"


def lines(f) -> list[str]:
    """What the weekly status adds at the end of a team's block (handlers/status Figures)."""
    out = [kinds_line(f.by_kind), routes_line(f.routes), cover_line(f.covers)]
    return [line for line in out if line]
