"""The evidence pack's HTML report: one self-contained file (inline CSS, the chart as a data
URI, no scripts, no links out) that opens from a USB stick or an email attachment."""
from __future__ import annotations

import base64
from html import escape

CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.meta{color:#555}
img{max-width:100%}.none{color:#777;font-style:italic}"""


def html(title: str, subtitle: str, generated: str, tables: list, chart_png: bytes | None,
         summary: list[tuple[str, str]]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(title)}</h1><p class='meta'>{escape(subtitle)}<br>"
             f"Generated {escape(generated)}. Client references are opaque; the care record "
             f"holds identities. Each table is also a CSV file of the same name.</p>"]
    if summary:
        parts.append("<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
                                         for k, v in summary) + "</table>")
    if chart_png:
        data = base64.b64encode(chart_png).decode("ascii")
        parts.append(f"<h2>Weekly trend</h2><img alt='Weekly missed-visit and completion rates' "
                     f"src='data:image/png;base64,{data}'>")
    parts.append("<h2>Contents</h2><ul>" + "".join(
        f"<li>{escape(t.title)} ({len(t.rows)} rows, {escape(t.name)}.csv)</li>" for t in tables)
        + "</ul>")
    for t in tables:
        parts.append(f"<h2>{escape(t.title)}</h2>")
        if not t.rows:
            parts.append("<p class='none'>None in this period.</p>")
            continue
        head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                       for row in t.rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
