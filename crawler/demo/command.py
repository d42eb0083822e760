"""`mediawatch demo`: the whole path offline, in one command, on two demo outlets."""

import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import click

from crawler.config import Config, config_from_dict
from crawler.demo.site import DemoArticle, FixtureSite
from crawler.service.once import CycleSummary, crawl_once

OUTLETS = {
    "demo-herald": ("Demo Herald", "PK", "/feed/opinion.xml", "/opinion"),
    "demo-chronicle": ("Demo Chronicle", "IN", "/sitemap-news.xml", None),
}


def _paragraphs(text: str) -> list[str]:
    if text.startswith("file:"):
        raw = (
            resources.files("crawler.demo")
            .joinpath("content", text[5:])
            .read_text(encoding="utf-8")
        )
        sentences = [s.strip() + "." for s in raw.replace("\n", " ").split(". ") if s.strip()]
        return [
            " ".join(sentences[i : i + 4]).replace("..", ".") for i in range(0, len(sentences), 4)
        ]
    return [p.strip().replace("\n", " ") for p in text.strip().split("\n\n")]


def demo_articles(now: datetime) -> dict[str, list[DemoArticle]]:
    """The demo outlets' articles, dated relative to `now`."""
    data = tomllib.loads(
        resources.files("crawler.demo")
        .joinpath("content", "articles.toml")
        .read_text(encoding="utf-8")
    )
    by_outlet: dict[str, list[DemoArticle]] = {key: [] for key in OUTLETS}
    for a in data["articles"]:
        by_outlet[a["outlet"]].append(
            DemoArticle(
                path=a["path"],
                title=a["title"],
                author=a["author"],
                published=now - timedelta(hours=a["hours_ago"]),
                paragraphs=_paragraphs(a["text"]),
                comments=a.get("comments", []),
                sidebar=a.get("sidebar", []),
            )
        )
    return by_outlet


def build_site(now: datetime) -> tuple[FixtureSite, dict[str, Any]]:
    """Start the demo site; return it and the [[outlets]] entries pointing at it."""
    site = FixtureSite().start()
    site.add("/robots.txt", _robots())
    outlets = []
    for outlet_id, articles in demo_articles(now).items():
        name, country, source, listing = OUTLETS[outlet_id]
        prefix = f"/{outlet_id}"
        for a in articles:
            a.path = prefix + a.path
            site.add_article(a, name)
        entry: dict[str, Any] = {"id": outlet_id, "name": name, "country": country}
        if source.startswith("/feed"):
            site.add_rss(prefix + source, name, articles)
            entry["feeds"] = [site.url(prefix + source)]
        else:
            site.add_sitemap(prefix + source, articles, news=True)
            entry["sitemaps"] = [site.url(prefix + source)]
        if listing:
            site.add_listing(prefix + listing, name, articles)
            entry["listings"] = [site.url(prefix + listing)]
            entry["article_url_pattern"] = r"/opinion/\d+/"
        outlets.append(entry)
    return site, {"outlets": outlets}


def _robots() -> Any:
    from crawler.demo.site import Page

    return Page(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")


def run_demo(directory: str | None, configured: bool) -> None:
    """Serve the demo outlets, crawl them, and tell the user what happened.

    With no configuration anywhere (a fresh install) the demo uses the same defaults as every
    other command (./mediawatch.db, ./outbox/), so plain `mediawatch search` finds what it
    stored. With a configuration, or with `directory`, it keeps to its own folder and its own
    config file, so a real archive and real subscribers are never touched.
    """
    now = datetime.now(UTC)
    config_path: Path | None = None
    if directory is None and not configured:
        database, outbox = "sqlite:///mediawatch.db", "outbox"
    else:
        folder = Path(directory or "mediawatch-demo").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder / "mediawatch.toml"
        database, outbox = f"sqlite:///{folder / 'demo.db'}", str(folder / "outbox")
    site, outlets = build_site(now)
    try:
        raw = {
            "database": {"url": database},
            "crawl": {"download_delay": 0, "interval": "2m"},
            "email": {"outbox_dir": outbox},
            "catalogue": {"include": []},
            **outlets,
        }
        if config_path is not None:
            config_path.write_text(to_toml(raw), encoding="utf-8")
        config = config_from_dict(raw, str(config_path or "(demo)"))
        click.echo(f"demo outlets serving on {site.base}; crawling them now…", err=True)
        summary = crawl_once(config, config.active_outlets(), progress=True)
    finally:
        site.stop()
    _report(summary, config, Path(outbox), config_path)


def _report(summary: CycleSummary, config: Config, outbox: Path, config_path: Path | None) -> None:
    from crawler.archive.reader import Archive
    from storage.queries import ArticleFilter

    with Archive.open(config) as archive:
        articles = archive.search(ArticleFilter(limit=50))
    click.echo(
        f"\nCrawled {len(summary.outlets)} demo outlets: {summary.new_articles} new articles.\n"
    )
    click.echo(f"{'ID':>3}  {'SCORE':>5}  {'TOPICS':14}  {'OUTLET':15}  TITLE")
    ranked = sorted(articles, key=lambda a: -a["score"])
    for a in ranked:
        click.echo(
            f"{a['id']:>3}  {a['score']:>5.2f}  {','.join(a['topics']) or '-':14}  "
            f"{a['outlet']:15}  {a['title']}"
        )
    emails = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    click.echo(f"\n{summary.alerts_queued} alerts queued; {len(emails)} alert emails in {outbox}")
    click.echo("The syndicated copy of the CISMOA op-ed is stored but not alerted twice;")
    click.echo("the article older than max_age_days was skipped; reader comments and")
    click.echo("'most read' boxes did not count as mentions.\n")
    prefix = f"mediawatch --config {config_path}" if config_path else "mediawatch"
    click.echo("Look around:")
    click.echo(f"  {prefix} search CISMOA")
    if ranked:
        click.echo(f"  {prefix} show {ranked[0]['id']}")
    click.echo(f"  {prefix} digest --preview --since 1d")
    click.echo(f"  {prefix} web        (then open http://127.0.0.1:8000/)")


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML writing for the demo's own configuration."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["# Written by `mediawatch demo`."]
    for key, section in data.items():
        if isinstance(section, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {value(v)}" for k, v in section.items()]
        else:
            for item in section:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"
