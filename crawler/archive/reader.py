"""The stored archive as the CLI and web UI read it: search and one article."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from alerts.query import CompiledQuery
from alerts.rules import RuleSet
from crawler.archive.shapes import article_detail, article_summary
from crawler.config import Config
from crawler.config.errors import NotFoundError, QueryError
from storage.db import Database, open_database
from storage.queries import (
    ArticleFilter,
    count_articles,
    get_article,
    list_articles,
    near_duplicates,
)
from storage.querylang import QuerySyntaxError, parse_query
from storage.search import count_matches, search
from storage.versions import Version, article_versions


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
                results = []
                for row in list_articles(session, f):
                    summary = article_summary(row, self.rules)
                    if marked:  # the web UI marks each snippet's language (lang, dir)
                        summary["language"] = row.language
                    results.append(summary)
                return results
            # The rule matcher confirms the index's candidates: one meaning for a query.
            confirm = CompiledQuery(node).matches
            hits = search(session, node, f, now or datetime.now(UTC), confirm)
            results = []
            for h in hits:
                summary = article_summary(h.article, self.rules, h.snippet, h.rank)
                if marked and h.snippet:
                    summary["snippet_marked"] = h.snippet
                if marked:
                    summary["language"] = h.article.language
                results.append(summary)
            return results

    def count(self, f: ArticleFilter) -> int:
        """How many articles the search `f` finds in all (its limit and offset ignored)."""
        try:
            node = parse_query(f.query) if f.query and f.query.strip() else None
        except QuerySyntaxError as exc:
            raise QueryError(f"search query {f.query!r:.80}: {exc}") from None
        with self.db.read() as session:
            if node is None:
                return count_articles(session, f)
            return count_matches(session, node, f, CompiledQuery(node).matches)

    def show(self, article_id: int) -> dict[str, Any]:
        with self.db.read() as session:
            row = get_article(session, article_id)
            if row is None:
                raise NotFoundError(
                    f"no article with id {article_id}; find ids with `mediawatch search`"
                )
            return article_detail(
                row, self.rules, near_duplicates(session, row), article_versions(session, row)
            )

    def versions(self, article_id: int) -> list[Version]:
        """Every version of an article with its text, oldest first ([] if there is none)."""
        with self.db.read() as session:
            row = get_article(session, article_id)
            return article_versions(session, row) if row is not None else []
