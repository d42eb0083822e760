"""`mediawatch demo`: the whole path offline, in one command, on two demo outlets."""

import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import click

from crawler.config import Config, load_config
from crawler.config.errors import MediawatchError
from crawler.demo.site import DemoArticle, FixtureSite
from crawler.service.once import CycleSummary, crawl_once

OUTLETS = {
    "demo-herald": ("Demo Herald", "PK", "/feed/opinion.xml", "/opinion"),
    "demo-chronicle": ("Demo Chronicle", "IN", "/sitemap-news.xml", None),
}
CANONICAL_BASE = "http://127.0.0.1"  # the demo articles' URLs: the host without the run's port
DEMO_DIR = "mediawatch-demo"  # the demo's own folder: config, archive and outbox
MARK = "# Written by `mediawatch demo`."


class DemoRefused(MediawatchError):
    """The demo's folder holds something that is not the demo's: it is left alone."""


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
    """Start the demo site; return it and the [[outlets]] entries pointing at it.

    The site gets a new port each run, but each page names a canonical URL without one
    (`http://127.0.0.1/demo-herald/...`, the same host, so the crawler takes it): an article
    keeps one URL from run to run, and a second demo finds it already stored.
    """
    site = FixtureSite().start()
    site.add("/robots.txt", _robots())
    outlets = []
    for outlet_id, articles in demo_articles(now).items():
        name, country, source, listing = OUTLETS[outlet_id]
        prefix = f"/{outlet_id}"
        for a in articles:
            a.path = prefix + a.path
            a.canonical = CANONICAL_BASE + a.path
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


def run_demo(directory: str | None) -> None:
    """Serve the demo outlets, crawl them, and tell the user what happened.

    The demo keeps to its own folder (./mediawatch-demo/, or `directory`): its config file,
    its archive (demo.db) and its outbox. A real archive, a real configuration and real
    subscribers are never touched, and a folder holding anything but the demo's is refused.
    Run again, it stores nothing new: the demo articles' URLs do not change.
    """
    now = datetime.now(UTC)
    folder = Path(directory or DEMO_DIR).resolve()
    config_path, database_path = folder / "mediawatch.toml", folder / "demo.db"
    _refuse_foreign(config_path, database_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoRefused(f"cannot create the demo's folder {folder}: {exc.strerror}") from None
    site, outlets = build_site(now)
    try:
        raw = {
            # Relative to the config file, so the folder can be moved as a whole.
            "database": {"url": f"sqlite:///{database_path.name}"},
            "crawl": {"download_delay": 0, "interval": "2m"},
            "email": {"outbox_dir": "outbox"},
            "catalogue": {"include": []},
            **outlets,
        }
        config_path.write_text(to_toml(raw), encoding="utf-8")
        config = load_config(str(config_path))
        click.echo(f"demo archive: {database_path} (your own archive is not used)", err=True)
        click.echo(f"demo outlets serving on {site.base}; crawling them now…", err=True)
        summary = crawl_once(config, config.active_outlets(), progress=True)
    finally:
        site.stop()
    _report(summary, config, Path(config.email.outbox_dir), _shown(config_path))


def _shown(path: Path) -> Path:
    """`path` relative to the current directory when it is below it (shorter to type)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _refuse_foreign(config_path: Path, database_path: Path) -> None:
    """DemoRefused when the folder holds a configuration the demo did not write, or an archive
    with articles of other outlets: the demo writes only what is its own."""
    if config_path.exists():
        try:
            first = config_path.read_text(encoding="utf-8").split("\n", 1)[0]
        except (OSError, UnicodeDecodeError):
            first = ""
        if first != MARK:
            raise DemoRefused(
                f"{config_path} is not the demo's configuration, and the demo will not replace "
                "it; run `mediawatch demo --dir FOLDER` with a folder of its own"
            )
    if not database_path.exists():
        return
    from crawler.archive.filters import stored_values
    from storage.db import open_database

    with open_database(f"sqlite:///{database_path}", create=False) as db:
        outlets, _ = stored_values(db)
    foreign = sorted(set(outlets) - set(OUTLETS))
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise DemoRefused(
            f"{database_path} holds articles of other outlets ({shown}), and the demo writes "
            "only into an archive of its own; run `mediawatch demo --dir FOLDER` with a new folder"
        )


def _report(summary: CycleSummary, config: Config, outbox: Path, config_path: Path) -> None:
    from crawler.archive.reader import Archive
    from storage.queries import ArticleFilter

    with Archive.open(config) as archive:
        articles = archive.search(ArticleFilter(limit=50))
    again = (
        " (the rest were stored by an earlier demo)" if len(articles) > summary.new_articles else ""
    )
    click.echo(
        f"\nCrawled {len(summary.outlets)} demo outlets: {summary.new_articles} new articles"
        f"{again}.\n"
    )
    click.echo(f"{'ID':>3}  {'SCORE':>5}  {'TOPICS':15}  {'OUTLET':15}  TITLE")
    ranked = sorted(articles, key=lambda a: -a["score"])
    for a in ranked:
        click.echo(
            f"{a['id']:>3}  {a['score']:>5.2f}  {','.join(a['topics']) or '-':15}  "
            f"{a['outlet']:15}  {a['title']}"
        )
    emails = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    click.echo(f"\n{summary.alerts_queued} alerts queued; {len(emails)} alert emails in {outbox}")
    click.echo("The syndicated copy of the CISMOA op-ed is stored but not alerted twice;")
    click.echo("the article older than max_age_days was skipped; reader comments and")
    click.echo("'most read' boxes did not count as mentions.\n")
    prefix = f"mediawatch --config {config_path}"
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
