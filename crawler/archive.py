"""The stored archive as the CLI and web UI read it: search and one article."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alerts.rules import RuleSet
from crawler.config import Config
from crawler.errors import NotFoundError
from crawler.presenting import article_detail, article_summary
from storage.db import Database
from storage.queries import ArticleFilter, get_article, list_articles, near_duplicates


class Archive:
    def __init__(self, db: Database, rules: RuleSet) -> None:
        self.db = db
        self.rules = rules

    @classmethod
    @contextmanager
    def open(cls, config: Config) -> Iterator["Archive"]:
        db = Database(config.database.url)
        db.upgrade()
        try:
            yield cls(db, RuleSet(config.topics))
        finally:
            db.dispose()

    def search(self, f: ArticleFilter) -> list[dict[str, Any]]:
        with self.db.read() as session:
            return [article_summary(row, self.rules, f.query) for row in list_articles(session, f)]

    def show(self, article_id: int) -> dict[str, Any]:
        with self.db.read() as session:
            row = get_article(session, article_id)
            if row is None:
                raise NotFoundError(
                    f"no article with id {article_id}; find ids with `mediawatch search`"
                )
            return article_detail(row, self.rules, near_duplicates(session, row))
