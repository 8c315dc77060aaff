"""The report page: its sections, chart placeholders and the self-contained HTML document."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recsys_cli.results.html_report.markup import Raw, esc


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass
class Page:
    """The report being built: sections of HTML and the chart specifications they place."""

    title: str
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # (anchor, title, html)
    charts: dict[str, dict] = field(default_factory=dict)

    def chart(self, chart, caption: str) -> Raw:
        """Place an Altair chart: its spec goes to the page's data, a placeholder here."""
        key = f"chart-{len(self.charts) + 1}"
        self.charts[key] = _clean(chart.to_dict())
        return Raw(
            f'<figure><div class="chart" id="{key}" data-chart></div>'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )

    def section(self, title: str, parts: Iterable[str]) -> None:
        anchor = f"s{len(self.sections) + 1}"
        self.sections.append((anchor, title, "".join(parts)))

    def render(self) -> str:
        import vl_convert

        specs = json.dumps(self.charts, allow_nan=False, separators=(",", ":"))
        toc = "".join(
            f'<li><a href="#{anchor}">{esc(title)}</a></li>' for anchor, title, _ in self.sections
        )
        body = "".join(
            f'<section id="{anchor}"><h2>{esc(title)}</h2>{content}</section>'
            for anchor, title, content in self.sections
        )
        made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        from recsys_cli import __version__

        return _TEMPLATE.format(
            title=esc(self.title),
            style=_STYLE,
            bundle=vl_convert.javascript_bundle().replace("</script", "<\\/script"),
            made=esc(f"made {made} by rank (recsys-cli) {__version__}"),
            toc=toc,
            body=body,
            specs=specs.replace("</", "<\\/"),  # never closes the script element early
            draw=_DRAW,
        )


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
margin:0 auto;max-width:1280px;padding:24px 32px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 8px;padding-top:12px;
border-top:2px solid #e3e6ec}h3{font-size:15px;margin:22px 0 6px;color:#3b4358}
.meta{color:#68708a;font-size:12px}nav ol{columns:2;font-size:13px;margin:8px 0 0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px;margin:6px 0}
dt{color:#68708a}dd{margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;
word-break:break-all}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 4px}
th,td{padding:3px 9px;border-bottom:1px solid #e3e6ec;text-align:left;white-space:nowrap}
th{background:#f3f5f9;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafbfd}
td b{color:#0b5cad}td small{color:#68708a;font-size:11px}
summary{cursor:pointer;color:#0b5cad;margin:6px 0}.scroll{overflow-x:auto;max-width:100%}
figure{margin:10px 0 18px}figcaption{color:#68708a;font-size:12px;max-width:1100px}
.note{color:#68708a;font-size:12.5px;margin:4px 0}
.chart[data-error]{color:#b00020;font-family:monospace;white-space:pre-wrap}
#report-errors:empty{display:none}#report-errors{color:#b00020;border:1px solid #b00020;
padding:8px;margin:12px 0}
"""

_DRAW = """
(function () {
  const specs = JSON.parse(document.getElementById("chart-specs").textContent);
  const errors = document.getElementById("report-errors");
  window.addEventListener("error", (event) => {
    errors.textContent += "script error: " + event.message + "\\n";
  });
  const drawn = Object.entries(specs).map(([id, spec]) => {
    const element = document.getElementById(id);
    return vegaEmbed(element, spec, {actions: false, renderer: "svg"})
      .then(() => { element.dataset.rendered = "true"; })
      .catch((error) => {
        element.dataset.error = "true";
        element.textContent = "this plot could not be drawn: " + error;
        errors.textContent += id + ": " + error + "\\n";
      });
  });
  Promise.all(drawn).then(() => { document.body.dataset.charts = "done"; });
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{bundle}</script>
</head>
<body>
<header><h1>{title}</h1><div class="meta">{made}</div>
<nav><ol>{toc}</ol></nav></header>
<div id="report-errors"></div>
{body}
<script id="chart-specs" type="application/json">{specs}</script>
<script>{draw}</script>
</body>
</html>
"""
