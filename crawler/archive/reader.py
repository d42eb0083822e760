"""The stored archive as the CLI and web UI read it: search and one article."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from alerts.rules import RuleSet
from crawler.archive.shapes import article_detail, article_summary
from crawler.config import Config
from crawler.config.errors import NotFoundError, QueryError
from storage.db import Database, open_database
from storage.queries import ArticleFilter, get_article, list_articles, near_duplicates
from storage.querylang import QuerySyntaxError, parse_query
from storage.search import search


class Archive:
    """Search and show stored articles, as the CLI and the web UI present them."""

    def __init__(self, db: Database, rules: RuleSet) -> None:
        self.db = db
        self.rules = rules

    @classmethod
    @contextmanager
    def open(cls, config: Config, create: bool = False) -> Iterator["Archive"]:
        """The archive of `config`'s database, opened (and migrated) for the `with` block;
        reading never creates a database unless `create` says so."""
        with open_database(config.database.url, create=create) as db:
            yield cls(db, RuleSet(config.topics))

    def search(
        self, f: ArticleFilter, now: datetime | None = None, marked: bool = False
    ) -> list[dict[str, Any]]:
        """Full-text search, best first; with no query, every article (filtered), newest first."""
        try:
            return self._search(f, now, marked)
        except QuerySyntaxError as exc:
            shown = f.query if len(f.query or "") <= 80 else f"{(f.query or '')[:80]}…"
            raise QueryError(f"search query {shown!r}: {exc}") from None

    def _search(self, f: ArticleFilter, now: datetime | None, marked: bool) -> list[dict[str, Any]]:
        node = parse_query(f.query) if f.query and f.query.strip() else None
        with self.db.read() as session:
            if node is None:
                return [article_summary(row, self.rules) for row in list_articles(session, f)]
            hits = search(session, node, f, now or datetime.now(UTC))
            results = []
            for h in hits:
                summary = article_summary(h.article, self.rules, h.snippet, h.rank)
                if marked and h.snippet:
                    summary["snippet_marked"] = h.snippet
                results.append(summary)
            return results

    def show(self, article_id: int) -> dict[str, Any]:
        with self.db.read() as session:
            row = get_article(session, article_id)
            if row is None:
                raise NotFoundError(
                    f"no article with id {article_id}; find ids with `mediawatch search`"
                )
            return article_detail(row, self.rules, near_duplicates(session, row))
