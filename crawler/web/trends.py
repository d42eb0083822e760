"""`/trends` and `/api/trends`: stories over time as server-drawn SVG line charts (no
JavaScript, so the Content-Security-Policy stays as it is), the numbers in a table, and share
of voice by outlet and by country. Every label is escaped: outlet names and ids come from
configuration, but nothing here trusts that.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from crawler.archive.clock import display_zone
from crawler.archive.reader import Archive
from crawler.archive.trends import (
    TrendQuery,
    share_of_voice,
    spike_rows,
    trend_query,
    trend_rows,
)
from crawler.config import Config
from crawler.config.errors import MediawatchError
from storage.trends import GroupBy, Interval

WIDTH, HEIGHT = 720, 170
TRENDS_OPENAPI: dict[str, Any] = {
    "summary": "Matching stories per day or week (as `mediawatch trends --format json`)",
    "parameters": [
        {
            "name": n,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": d,
        }
        for n, d in [
            ("topic", "topic id; repeat for several (default: all)"),
            ("by", "topic, outlet, country or language (default topic)"),
            ("since", "date (2026-03-01) or age (default 90d)"),
            ("interval", "day or week (default day)"),
        ]
    ],
    "responses": {
        "200": {
            "description": 'an array of {"period": "YYYY-MM-DD", "key", "stories"}',
            "content": {"application/json": {"schema": {"type": "array"}}},
        },
        "400": {"description": "a malformed or unknown parameter"},
    },
}
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 26


@dataclass(frozen=True)
class Series:
    """One line of a chart: a key's stories in each period, and its spikes' periods."""

    key: str
    label: str
    counts: list[int]
    spikes: dict[int, str]  # period index -> what the marker's tooltip says


def line_chart(periods: list[str], series: Series, caption: str) -> Markup:
    """An SVG line chart of one series: axes, the 0 and maximum labels, three dates along the
    bottom, and a marked circle on each spike."""
    n = len(periods)
    top = max(max(series.counts, default=0), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return TOP + plot_h * (1 - v / top)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.counts))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(caption)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(caption)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}" stroke="#888"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" '
        'stroke="#888"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" '
        'stroke="#ddd"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h + 4}" text-anchor="end" font-size="11">0</text>',
    ]
    for i in sorted({0, n // 2, n - 1}) if n else []:
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11">'
            f"{escape(periods[i])}</text>"
        )
    if n == 1:
        parts.append(
            f'<circle class="point" cx="{x(0):.1f}" cy="{y(series.counts[0]):.1f}" r="3" '
            'fill="#12355b"/>'
        )
    else:
        parts.append(
            f'<polyline class="line" points="{points}" fill="none" stroke="#12355b" '
            'stroke-width="2"/>'
        )
    for i, tip in sorted(series.spikes.items()):
        parts.append(
            f'<circle class="spike" cx="{x(i):.1f}" cy="{y(series.counts[i]):.1f}" r="6" '
            f'fill="#c0392b" stroke="#fff" stroke-width="1.5"><title>{escape(tip)}</title>'
            "</circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar(share: float) -> Markup:
    """A share of voice as a small SVG bar (a width attribute: inline styles are refused)."""
    width = max(0.0, min(share, 1.0)) * 200
    return Markup(
        '<svg class="bar" viewBox="0 0 200 12" width="200" height="12" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="0" width="{width:.1f}" height="12" fill="#12355b"/></svg>'
    )


class TrendPages:
    """The trends page and its JSON, over the web UI's archive and templates."""

    def __init__(self, config: Config, archive: Archive, templates: Jinja2Templates) -> None:
        self.config = config
        self.archive = archive
        self.templates = templates
        self.topic_names = {t.id: t.name for t in config.topics}
        self.outlets = {o.id: o.name for o in config.active_outlets()}
        # `since` without a zone is read in the display zone, as the search parameters are
        # (crawler.web.params) and as `mediawatch trends --since` reads it.
        self.zone = display_zone(config)

    def routes(self) -> list[Route]:
        return [Route("/trends", self.page), Route("/api/trends", self.api)]

    def _query(self, request: Request, now: datetime) -> TrendQuery:
        q = request.query_params
        return trend_query(
            now,
            list(self.topic_names),
            [t for t in q.getlist("topic") if t],
            q.get("by") or None,
            q.get("since") or None,
            q.get("interval") or None,
            since_name="since",
            zone=self.zone,
        )

    def api(self, request: Request) -> Response:
        try:
            q = self._query(request, datetime.now(UTC))
        except MediawatchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(trend_rows(self.archive.db, q))

    def page(self, request: Request) -> Response:
        now = datetime.now(UTC)
        params = request.query_params
        context: dict[str, Any] = {
            "q": params,
            "chosen": set(params.getlist("topic")),
            "topic_names": self.topic_names,
            "groups": [g.value for g in GroupBy],
            "intervals": [i.value for i in Interval],
            "error": None,
            "charts": [],
        }
        try:
            q = self._query(request, now)
        except MediawatchError as exc:
            context["error"] = str(exc)
            return self.templates.TemplateResponse(request, "trends.html", context, status_code=400)
        rows = trend_rows(self.archive.db, q)
        periods = list(dict.fromkeys(r["period"] for r in rows))
        keys = list(dict.fromkeys(r["key"] for r in rows))
        table = {(r["period"], r["key"]): r["stories"] for r in rows}
        marks = self._spike_marks(q, now, periods) if q.by == GroupBy.TOPIC else {}
        charts = []
        for key in keys:
            series = Series(
                key,
                self._label(q.by, key),
                [table[(p, key)] for p in periods],
                marks.get(key, {}),
            )
            caption = f"{series.label}: stories per {q.interval.value}"
            charts.append(
                {"key": key, "label": series.label, "svg": line_chart(periods, series, caption)}
            )
        context.update(
            {
                "query": q,
                "charts": charts,
                "periods": periods,
                "keys": [(k, self._label(q.by, k)) for k in keys],
                "table": table,
                "by_outlet": self._voice(q, GroupBy.OUTLET),
                "by_country": self._voice(q, GroupBy.COUNTRY),
                "json_url": "/api/trends?" + urlencode([(k, v) for k, v in params.multi_items()]),
                "spike_count": sum(len(m) for m in marks.values()),
            }
        )
        return self.templates.TemplateResponse(request, "trends.html", context)

    def _spike_marks(
        self, q: TrendQuery, now: datetime, periods: list[str]
    ) -> dict[str, dict[int, str]]:
        """For each topic, the periods holding one of its recorded spikes, with a tooltip."""
        index = {p: i for i, p in enumerate(periods)}
        since = q.since.astimezone(UTC).date().isoformat()
        marks: dict[str, dict[int, str]] = {}
        for s in spike_rows(self.archive.db, since, q.topics):
            period = s["day"]
            if q.interval == Interval.WEEK:
                day = datetime.fromisoformat(s["day"]).date()
                period = day.fromordinal(day.toordinal() - day.weekday()).isoformat()
            if period in index:
                tip = (
                    f"Spike {s['day']}: {s['stories']} stories (baseline {s['baseline']:.1f} a day)"
                )
                marks.setdefault(s["topic"], {})[index[period]] = tip
        return marks

    def _voice(self, q: TrendQuery, by: GroupBy) -> list[dict[str, Any]]:
        out = share_of_voice(self.archive.db, q, by)
        for row in out:
            row["label"] = self._label(by, row["key"])
            row["bar"] = bar(row["share"])
        return out

    def _label(self, by: GroupBy, key: str) -> str:
        if by == GroupBy.TOPIC:
            return self.topic_names.get(key, key)
        if by == GroupBy.OUTLET:
            return self.outlets.get(key, key)
        return key or "(unknown)"
