"""Full-text search in the database (SQLite FTS5 or PostgreSQL), best first.

The query language has one meaning, the rule matcher's (alerts.query): the database finds
candidates with the query's positive side, relaxed (storage.querylang.relaxed: NEAR as AND,
exclusions left out), and `confirm`, the matcher the caller passes in, keeps those the query
really matches (whole words, acronym case, NEAR, prefixes, title:, exclusions). So a search
finds exactly the stored articles a topic with the same query matches.

Ranking, documented in the README:

    final = 0.60 × relevance + 0.25 × topic + 0.15 × recency

relevance is the text match (FTS5 bm25 with the title weighted 3×, or PostgreSQL ts_rank)
scaled to (0, 1] over the candidates; topic is min(score, 10) / 10; recency halves every
14 days since publication. Text ranking cost grows with the number of hits, so on both
databases the WINDOW newest candidates that pass the filters are ranked together (finding
them newest-first is cheap at any hit count), and confirmed best first until the page is
full; when a window runs out before the page is full, the next older window follows. A word
found in most of the archive ranks its recent matches, which is what a monitoring desk wants.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Join

from storage.models import ArticleRow
from storage.queries import ArticleFilter, filter_clauses
from storage.querylang import Node, index_keys, positive_terms, relaxed, to_fts5, to_tsquery

WINDOW = 1000
COUNT_EXACT = 10_000
CONFIRM_BATCH = 200
HALF_LIFE_DAYS = 14.0
MARK_START, MARK_END = "\x02", "\x03"

# The date recency counts from: publication, else first sighting (one date to parse a row).
_DATED = func.coalesce(ArticleRow.published, ArticleRow.first_seen).label("dated")

# Whether a stored title and text match the query (the rule matcher); None: the index's word.
Confirm = Callable[[str, str], bool]


@dataclass
class Hit:
    """One search result: the article, its marked snippet, its rank."""

    article: ArticleRow
    snippet: str | None  # with MARK_START / MARK_END around matched words
    rank: float


def rank_value(relevance: float, score: float, published: datetime | None, now: datetime) -> float:
    """The documented ranking formula (see the module docstring)."""
    topic = min(score, 10.0) / 10.0
    if published is None:
        recency = 0.0
    else:
        age_days = max((now - published).total_seconds() / 86400, 0.0)
        recency = math.pow(0.5, age_days / HALF_LIFE_DAYS)
    return 0.60 * relevance + 0.25 * topic + 0.15 * recency


def search(
    session: Session, query: Node, f: ArticleFilter, now: datetime, confirm: Confirm | None = None
) -> list[Hit]:
    """Articles matching `query` and the filters, best first, with marked snippets."""
    needed = f.offset + f.limit
    narrow = _Narrowing(session, query)
    found: list[tuple[int, float]] = []
    older_than: int | None = None
    while len(found) < needed:
        window = narrow.candidates(f, max(WINDOW, f.limit), older_than)
        if not window:
            break
        top = max(c.relevance for c in window) or 1.0
        ranked = sorted(
            ((c.id, rank_value(c.relevance / top, c.score, c.dated, now)) for c in window),
            key=lambda pair: (-pair[1], -pair[0]),
        )
        pos = 0
        while pos < len(ranked) and len(found) < needed:
            # About twice what is still wanted: most candidates are confirmed.
            size = min(max(2 * (needed - len(found)), 20), CONFIRM_BATCH)
            batch, pos = ranked[pos : pos + size], pos + size
            kept = _confirmed(session, [i for i, _ in batch], confirm)
            found += [(i, rank) for i, rank in batch if i in kept]
        if len(window) < max(WINDOW, f.limit):
            break
        older_than = min(c.id for c in window)
    page = found[f.offset : needed]
    ids = [i for i, _ in page]
    rows = {r.id: r for r in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))}
    snippets = narrow.snippets(ids)
    return [Hit(rows[i], snippets.get(i), rank) for i, rank in page if i in rows]


def count_matches(
    session: Session, query: Node, f: ArticleFilter, confirm: Confirm | None = None
) -> int:
    """How many articles match `query` and the filters: every match, not only the ranked
    window, so that "1–20 of 347" is the true total.

    Every candidate is confirmed up to COUNT_EXACT of them; beyond that (a word in most of a
    large archive) the newest COUNT_EXACT are confirmed and the rest counted at the same rate,
    so the total of a huge result stays an estimate that takes a second, not a minute."""
    narrow = _Narrowing(session, query)
    candidates = narrow.count(f)
    if confirm is None:
        return candidates
    # The newest candidates in one pass of the index (a pass per window re-read every hit).
    ids = [c.id for c in narrow.candidates(f, min(candidates, COUNT_EXACT), None, ranked=False)]
    total = sum(
        len(_confirmed(session, ids[at : at + WINDOW], confirm))
        for at in range(0, len(ids), WINDOW)
    )
    seen = len(ids)
    if seen >= candidates or not seen:
        return total
    return total + round((candidates - seen) * total / seen)


def _confirmed(session: Session, ids: list[int], confirm: Confirm | None) -> set[int]:
    if confirm is None or not ids:
        return set(ids)
    rows = session.execute(
        select(ArticleRow.id, ArticleRow.title, ArticleRow.text).where(ArticleRow.id.in_(ids))
    )
    return {i for i, title, body in rows if confirm(title or "", body or "")}


class _IndexFirst(Join):
    """articles_fts joined to articles with the index read first, row by row (a CROSS JOIN:
    SQLite keeps that order). Left to choose, SQLite walks an outlet or date index over the
    whole archive and asks FTS5 about each row: 230 s for a count at 40,000 articles."""

    inherit_cache = True


class _IndexFirstDated(_IndexFirst):
    """The same, each article's filter columns read from ix_articles_story_dates (id,
    published, first_seen, duplicate_of_id, outlet_id, language), not from its row: a count
    of a word in 988,582 of 1,000,000 articles of one outlet took 129 s reading rows and
    6 s reading that index."""

    inherit_cache = True


@compiles(_IndexFirst, "sqlite")
def _cross_join(element: _IndexFirst, compiler: Any, **kw: Any) -> str:
    joined: str = compiler.visit_join(element, **kw)
    if isinstance(element, _IndexFirstDated):
        return joined.replace(
            " JOIN articles ", " CROSS JOIN articles INDEXED BY ix_articles_story_dates ", 1
        )
    return joined.replace(" JOIN ", " CROSS JOIN ", 1)


def _fts_articles(dated: bool = False) -> tuple[Any, Any]:
    """The FTS5 table and its join to articles, the index first (`dated`: for a query that
    needs only the filter columns and ids)."""
    fts = table("articles_fts", column("rowid", Integer))
    join = _IndexFirstDated if dated else _IndexFirst
    return fts, join(fts, ArticleRow.__table__, ArticleRow.id == fts.c.rowid)


class _Narrowing:
    """The query's relaxed positive side as one database asks it."""

    def __init__(self, session: Session, query: Node) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.node = relaxed(query)
        self.rows: float | None = None  # PostgreSQL's estimate of the articles, once asked
        if self.postgres:
            self._postgres_queries(query)
        else:
            self.fts = to_fts5(self.node) if self.node is not None else None
        self.prefix = any(t.prefix for t in positive_terms(query))

    def _postgres_queries(self, query: Node) -> None:
        """The tsquery for English rows (stemmed, no stop words) and for the others, each
        term's words parsed by PostgreSQL itself, as its index parsed the text ("U.S." is one
        lexeme there, "the" none: a term of stop words only narrows nothing and is left to
        `confirm`)."""
        words, prefixes = index_keys(query)
        english: dict[str, str] = {}
        simple: dict[str, str] = {}
        if words or prefixes:
            probe = text(
                "SELECT w, plainto_tsquery('english', w)::text, plainto_tsquery('simple', w)::text "
                "FROM unnest(CAST(:w AS text[])) AS w UNION ALL "
                "SELECT '*' || w, to_tsquery('english', quote_literal(w) || ':*')::text, "
                "to_tsquery('simple', quote_literal(w) || ':*')::text "
                "FROM unnest(CAST(:p AS text[])) AS w"
            )
            for key, in_english, in_simple in self.session.execute(
                probe, {"w": words, "p": prefixes}
            ):
                english[key], simple[key] = in_english, in_simple
        node = self.node
        self.english = to_tsquery(node, english) if node is not None else ""
        self.simple = to_tsquery(node, simple) if node is not None else ""

    def _postgres_branches(self) -> list[tuple[ColumnElement[bool], Any, bool]]:
        """(rows, condition, uses the index) for English rows and for the others."""
        vector: Any = literal_column("articles.search_vector")
        is_english = ArticleRow.language == "en"
        branches: list[tuple[ColumnElement[bool], Any, bool]] = []
        for config, q, rows in (
            ("english", self.english, is_english),
            ("simple", self.simple, ArticleRow.language.is_distinct_from("en")),
        ):
            if q:
                tsq = func.to_tsquery(literal_column(f"'{config}'::regconfig"), literal(q))
                branches.append((rows, and_(rows, vector.op("@@")(tsq)), True))
            else:
                branches.append((rows, rows, False))
        return branches

    def _postgres_match(self) -> tuple[ColumnElement[bool], Any]:
        vector: Any = literal_column("articles.search_vector")
        is_english = ArticleRow.language == "en"
        parts: list[ColumnElement[bool]] = []
        ranks: list[tuple[Any, Any]] = []
        for config, q, rows in (
            ("english", self.english, is_english),
            ("simple", self.simple, ArticleRow.language.is_distinct_from("en")),
        ):
            if q:
                tsq = func.to_tsquery(literal_column(f"'{config}'::regconfig"), literal(q))
                parts.append(and_(rows, vector.op("@@")(tsq)))
                ranks.append((rows, func.ts_rank(vector, tsq)))
            else:
                parts.append(rows)
                ranks.append((rows, literal(0.0)))
        relevance = case(*ranks, else_=literal(0.0))
        return or_(*parts), relevance

    def candidates(
        self, f: ArticleFilter, limit: int, older_than: int | None, ranked: bool = True
    ) -> list[Any]:
        """The `limit` newest candidates passing the filters (below id `older_than`)."""
        if self.postgres:
            return self._postgres_candidates(f, limit, older_than, ranked)
        return self._sqlite_candidates(f, limit, older_than, ranked)

    def _sqlite_candidates(
        self, f: ArticleFilter, limit: int, older_than: int | None, ranked: bool
    ) -> list[Any]:
        """One pass of the index, newest first, so bm25 is computed for at most `limit` rows."""
        fts, joined = _fts_articles(dated=not ranked)
        relevance = (-func.bm25(literal_column("articles_fts"), 3.0, 1.0)).label("relevance")
        columns: list[Any] = [ArticleRow.id]
        if ranked:
            columns += [relevance, ArticleRow.score, _DATED]
        stmt = (
            select(*columns)
            .select_from(joined)
            .where(text("articles_fts MATCH :q").bindparams(q=self.fts))
            .where(*filter_clauses(f))
            .where(fts.c.rowid < older_than if older_than is not None else true())
            .order_by(fts.c.rowid.desc())
            .limit(limit)
        )
        return list(self.session.execute(stmt).all())

    def _postgres_settings(self) -> None:
        """For this transaction: the GIN index over a sequential scan (see below), and no JIT
        (the seqscan penalty makes every plan look costly enough to compile: 0.5 s wasted)."""
        self.session.execute(text("SET LOCAL enable_seqscan = off"))
        self.session.execute(text("SET LOCAL jit = off"))

    def _common(self, stmt: Any, limit: int) -> bool:
        """Whether the planner expects the rows of `stmt` to be so many that walking the
        primary key backwards finds `limit` of them sooner than the GIN index finds them all.

        Measured costs: about 12 µs a row for the walk (it detoasts each row's tsvector to
        test it), 0.5 µs a hit for the index and heap; the walk reads limit × rows / hits
        rows, so it wins when hits² > 24 × limit × rows."""
        bind = self.session.get_bind()
        compiled = stmt.compile(dialect=bind.dialect, compile_kwargs={"render_postcompile": True})
        conn = self.session.connection()
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params)
        hits = float(plan.scalar_one()[0]["Plan"]["Plan Rows"])
        if self.rows is None:
            self.rows = float(
                conn.exec_driver_sql(
                    "SELECT reltuples FROM pg_class WHERE oid = 'articles'::regclass"
                ).scalar_one()
            )
        return hits * hits > 24 * limit * max(self.rows, 1.0)

    def _postgres_candidates(
        self, f: ArticleFilter, limit: int, older_than: int | None, ranked: bool
    ) -> list[Any]:
        """English rows stemmed, others (Urdu, Hindi...) not.

        Two planner traps, measured at 30,000 articles: the tsvector is TOASTed, so the planner
        thinks a sequential scan is cheap when it detoasts every row (233 ms for a one-hit word
        against 4 ms through the GIN index), hence enable_seqscan off for this transaction; and
        ts_rank over every hit of a common word detoasts them all, hence the window, ordered by
        `id + 0` so that the planner cannot walk the primary key backwards instead.
        """
        self._postgres_settings()
        _, relevance = self._postgres_match()
        # One query per branch, not one OR: under an OR the planner re-checks `@@` on every
        # heap row the bitmap finds, detoasting each tsvector (1 s for a word in 15 % of
        # 150,000 articles, against 30 ms). A branch without a tsquery (stop words only)
        # walks the primary key backwards and stops at `limit`, and so does a branch whose
        # word the planner expects in so many rows that reading `limit` of them newest first
        # is cheaper than collecting every hit and sorting (12 ms against 117 ms for a word
        # in every one of 200,000 articles).
        parts = []
        for _, condition, indexed in self._postgres_branches():
            stmt = (
                select(ArticleRow.id)
                .where(condition, *filter_clauses(f))
                .where(ArticleRow.id < older_than if older_than is not None else true())
            )
            walk = not indexed or self._common(stmt, limit)
            parts.append(
                stmt.order_by(ArticleRow.id.desc() if walk else (ArticleRow.id + 0).desc()).limit(
                    limit
                )
            )
        both = union_all(*(p.subquery().select() for p in parts)).subquery("both")
        newest = select(both.c.id).order_by(both.c.id.desc()).limit(limit).subquery("newest")
        columns: list[Any] = [ArticleRow.id]
        if ranked:
            columns += [
                relevance.label("relevance"),
                ArticleRow.score,
                _DATED,
            ]
        stmt = select(*columns).join(newest, newest.c.id == ArticleRow.id)
        return list(self.session.execute(stmt).all())

    def count(self, f: ArticleFilter) -> int:
        """The candidates passing the filters (what the index alone finds)."""
        if self.postgres:
            self._postgres_settings()
            return sum(
                int(
                    self.session.scalar(
                        select(func.count())
                        .select_from(ArticleRow)
                        .where(condition, *filter_clauses(f))
                    )
                    or 0
                )
                for _, condition, _ in self._postgres_branches()
            )
        else:
            fts, joined = _fts_articles(dated=True)
            clauses = filter_clauses(f)
            # Without filters the index alone counts (its rows are the articles' own ids).
            stmt = (
                select(func.count())
                .select_from(joined if clauses else fts)
                .where(text("articles_fts MATCH :q").bindparams(q=self.fts))
                .where(*clauses)
            )
        return int(self.session.scalar(stmt) or 0)

    def snippets(self, ids: list[int]) -> dict[int, str]:
        """A window of each article's text around the candidates' words, marked."""
        if not ids:
            return {}
        if self.postgres:
            rows = self.session.execute(
                text(
                    "SELECT id, ts_headline(CASE WHEN language = 'en' THEN "
                    "'english'::regconfig ELSE 'simple'::regconfig END, text, CASE WHEN "
                    "language = 'en' THEN to_tsquery('english', :e) ELSE "
                    "to_tsquery('simple', :s) END, "
                    "'StartSel=\x02, StopSel=\x03, MaxWords=35, MinWords=15, MaxFragments=1') "
                    "FROM articles WHERE id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"e": self.english, "s": self.simple, "ids": ids},
            ).all()
        elif self.prefix:
            # FTS5 merges every word's list under a prefix for each rowid it is asked about
            # (0.8 s for 20 rows of tax* at 400,000 articles), so one pass over the page's
            # rowid range instead, the ids only filtered (`+rowid`: not handed to FTS5).
            rows = self.session.execute(
                text(
                    "SELECT rowid, snippet(articles_fts, -1, :start, :end, '…', 32) "
                    "FROM articles_fts WHERE articles_fts MATCH :q "
                    "AND rowid BETWEEN :low AND :high AND +rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {
                    "q": self.fts,
                    "ids": ids,
                    "low": min(ids),
                    "high": max(ids),
                    "start": MARK_START,
                    "end": MARK_END,
                },
            ).all()
        else:
            rows = self.session.execute(
                text(
                    "SELECT rowid, snippet(articles_fts, -1, :start, :end, '…', 32) "
                    "FROM articles_fts WHERE articles_fts MATCH :q AND rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"q": self.fts, "ids": ids, "start": MARK_START, "end": MARK_END},
            ).all()
        return {int(i): str(s) for i, s in rows}
