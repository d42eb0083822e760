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
14 days since publication. On SQLite bm25 scores a phrase by its words, and a word found in
more than half of the newest SAMPLE articles adds nothing (_Narrowing._sqlite_ranking), so
a query of such words alone ranks by topic and recency. Text ranking cost grows with the
number of hits, so on both databases the WINDOW newest candidates that pass the filters are
ranked together (finding them newest-first is cheap at any hit count), and confirmed best
first until the page is full; when a window runs out before the page is full, the next older
window follows. A word found in most of the archive ranks its recent matches, which is what
a monitoring desk wants.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import Join
from sqlalchemy.sql.visitors import InternalTraversal

from storage.models import ArticleRow
from storage.queries import ArticleFilter, filter_clauses
from storage.querylang import (
    And,
    Node,
    Or,
    Term,
    english_prefix,
    index_keys,
    positive_terms,
    relaxed,
    to_fts5,
    to_tsquery,
)
from storage.searchkeys import KEYED, TO_KEY, term_keys

WINDOW = 1000
SAMPLE = 1000  # the newest articles that tell a word found in most of the archive (SQLite)
RANKED = 32  # words of a query that rank results (SQLite) and place snippets (PostgreSQL)
COUNT_EXACT = 10_000
CONFIRM_BATCH = 200
HALF_LIFE_DAYS = 14.0
# The documented formula's weights and topic cap, for rank_value and _postgres_ranked alike.
RELEVANCE_WEIGHT, TOPIC_WEIGHT, RECENCY_WEIGHT = 0.60, 0.25, 0.15
TOPIC_CAP = 10.0
MARK_START, MARK_END = "\x02", "\x03"

# The date recency counts from: publication, else first sighting (one date to parse a row).
_DATED = func.coalesce(ArticleRow.published, ArticleRow.first_seen).label("dated")

# Whether a stored title and text match the query (the rule matcher); None: the index's word.
Confirm = Callable[[str, str], bool]

# Where FTS5's tokenizer surely splits a term (white space, ASCII punctuation): its words.
_FTS5_SEPARATORS = re.compile(r"[\s\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")


class _Candidate(NamedTuple):
    """A window's row as ranked() ranks it on SQLite, relevance from a second statement."""

    id: int
    relevance: float
    score: float
    dated: Any


class _Branch(NamedTuple):
    """One part of the articles a search asks separately (English rows, the others; rows
    keyed by this version and the rest): what they must match, the same asked of the lead
    first (a walk row by row), whether an index finds them, and the tsquery that ranks them
    ('' when none does)."""

    condition: ColumnElement[bool]
    lead_first: Any
    indexed: bool
    query: str


@dataclass
class Hit:
    """One search result: the article, its marked snippet, its rank."""

    article: ArticleRow
    snippet: str | None  # with MARK_START / MARK_END around matched words
    rank: float


def rank_value(relevance: float, score: float, published: datetime | None, now: datetime) -> float:
    """The documented ranking formula (see the module docstring)."""
    age = None if published is None else (now - published).total_seconds()
    return _rank(relevance, score, age)


def _rank(relevance: float, score: float, age_seconds: float | None) -> float:
    """rank_value of an article `age_seconds` old (None: undated, no recency)."""
    topic = min(score, TOPIC_CAP) / TOPIC_CAP
    if age_seconds is None:
        recency = 0.0
    else:
        # Python's pow gives 0.0 where PostgreSQL's raised an underflow (a piece dated 1970).
        recency = math.pow(0.5, max(age_seconds / 86400, 0.0) / HALF_LIFE_DAYS)
    return RELEVANCE_WEIGHT * relevance + TOPIC_WEIGHT * topic + RECENCY_WEIGHT * recency


def search(
    session: Session, query: Node, f: ArticleFilter, now: datetime, confirm: Confirm | None = None
) -> list[Hit]:
    """Articles matching `query` and the filters, best first, with marked snippets."""
    needed = f.offset + f.limit
    narrow = _Narrowing(session, query)
    found: list[tuple[int, float]] = []
    older_than: int | None = None
    while len(found) < needed:
        ranked = narrow.ranked(f, max(WINDOW, f.limit), older_than, now)
        if not ranked:
            break
        pos, checked, confirmed = 0, 0, 0
        while pos < len(ranked) and len(found) < needed:
            # About twice what is still wanted while most candidates are confirmed; more,
            # at the rate seen, when few are (a word sharing its stem with a commoner one).
            rate = confirmed / checked if checked else 1.0
            size = min(max(round(2 * (needed - len(found)) / max(rate, 0.02)), 20), CONFIRM_BATCH)
            batch, pos = ranked[pos : pos + size], pos + size
            kept = _confirmed(session, [i for i, _ in batch], confirm)
            found += [(i, rank) for i, rank in batch if i in kept]
            checked, confirmed = checked + len(batch), confirmed + len(kept)
        if len(ranked) < max(WINDOW, f.limit):
            break
        older_than = min(i for i, _ in ranked)
    page = found[f.offset : needed]
    ids = [i for i, _ in page]
    rows = {r.id: r for r in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))}
    snippets = narrow.snippets([rows[i] for i in ids if i in rows])
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
    ids = narrow.candidates(f, min(candidates, COUNT_EXACT), None)
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
    SQLite keeps that order; left to choose, SQLite walks an outlet or date index over the
    whole archive and asks FTS5 about each row: 230 s for a count at 40,000 articles), each
    article's columns read from ix_articles_story_dates (id, published, first_seen,
    duplicate_of_id, outlet_id, language, and score since migration 0013: what a window is
    ranked by), not from its row: a count of a word in 988,582 of 1,000,000 articles of one
    outlet took 129 s reading rows and 6 s reading that index."""

    inherit_cache = True


@compiles(_IndexFirst, "sqlite")
def _cross_join(element: _IndexFirst, compiler: Any, **kw: Any) -> str:
    joined: str = compiler.visit_join(element, **kw)
    return joined.replace(
        " JOIN articles ", " CROSS JOIN articles INDEXED BY ix_articles_story_dates ", 1
    )


class _Explain(Executable, ClauseElement):
    """EXPLAIN (FORMAT JSON) of a statement, compiled through SQLAlchemy's statement cache
    like the statement itself (compiled afresh each time, it took 2.4 ms a plan)."""

    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


def _fts_articles() -> tuple[Any, Any]:
    """The FTS5 table and its join to articles, the index first, for a query that needs only
    ix_articles_story_dates' columns (ids, filters, dates and score)."""
    fts = table("articles_fts", column("rowid", Integer))
    return fts, _IndexFirst(fts, ArticleRow.__table__, ArticleRow.id == fts.c.rowid)


class _Narrowing:
    """The query's relaxed positive side as one database asks it."""

    def __init__(self, session: Session, query: Node) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.node = relaxed(query)
        self.rows = 1.0  # PostgreSQL's estimate of the articles (_postgres_facts)
        self.top = 1  # one more than the newest id
        self.unkeyed = False  # whether some articles lack this version's search_keys
        self.index_scans = True  # enable_indexscan, as this transaction has it
        if self.postgres:
            self._postgres_queries(query)
        else:
            self.fts = to_fts5(self.node) if self.node is not None else None
            self.ranking: str | None = None  # what ranks a window (_sqlite_ranking), once known
            self.ranking_known = False
        self.prefix = any(t.prefix for t in positive_terms(query))

    def _postgres_queries(self, query: Node) -> None:
        """The tsquery for English rows (stemmed, no stop words) and for the others, each
        term's words parsed by PostgreSQL itself, as its index parsed the text ("U.S." is one
        lexeme there, "the" none: in English rows a stop word is found through its search
        key, _narrowed)."""
        words, prefixes = index_keys(query)
        english: dict[str, str] = {}
        simple: dict[str, str] = {}
        self._postgres_facts()
        if words or prefixes:
            probe = text(
                "SELECT w, plainto_tsquery('english', w)::text, plainto_tsquery('simple', w)::text "
                "FROM unnest(CAST(:w AS text[])) AS w UNION ALL "
                "SELECT '*' || w, "
                "coalesce(to_tsquery('english', quote_literal(e) || ':*')::text, ''), "
                "to_tsquery('simple', quote_literal(w) || ':*')::text "
                "FROM unnest(CAST(:p AS text[]), CAST(:e AS text[])) AS x(w, e)"
            )
            # English rows are asked each prefix as english_prefix cuts it (stems, stop words).
            cut = [english_prefix(p) for p in prefixes]
            for key, in_english, in_simple in self.session.execute(
                probe, {"w": words, "p": prefixes, "e": cut}
            ):
                english[key], simple[key] = in_english, in_simple
        self.lexemes = {"english": english, "simple": simple}
        # Where snippets are cut (_postgres_snippets): the words and prefixes as typed.
        self.typed = [w.lower() for w in (*words, *prefixes)]
        node = self.node
        self.english = to_tsquery(node, english) if node is not None else ""
        self.simple = to_tsquery(node, simple) if node is not None else ""

    def _postgres_branches(self) -> list["_Branch"]:
        """The branches (_Branch) of English rows and of the others. rank_vector holds a part
        of search_vector (migration 0014), so a row whose lead matches matches: read row by
        row, its TOASTed vector is skipped.

        A phrase is looked up by its word pairs' search_keys (storage.searchkeys), an English
        stop word or a word the stemmer changes ("buttons", held as 'button' with "button")
        in English rows by its own key, other terms by the tsquery. Rows without this
        version's keys (written before migration 0015, emptied by 0016 or 0017, or keyed by
        an older version still running) are a branch of their own while there are any,
        asked the tsquery alone through ix_articles_unkeyed: ORed into one condition, the
        keys of every hit were read back from TOAST to test it again (200 ms for 6,888 hits).
        A walk row by row asks the tsquery alone: the matcher decides anyway."""
        vector: Any = literal_column("articles.search_vector")
        lead: Any = literal_column("articles.rank_vector")
        held: Any = literal_column("articles.search_keys")
        is_english = ArticleRow.language == "en"
        keyed = self.node is not None and _has_keys(self.node)
        branches: list[_Branch] = []
        for english, q, rows in (
            (True, self.english, is_english),
            (False, self.simple, ArticleRow.language.is_distinct_from("en")),
        ):
            lexemes = self.lexemes["english" if english else "simple"]
            tsq = _tsquery(q)
            every = [vector.op("@@")(tsq)] if q else []
            lead_first = and_(rows, or_(lead.op("@@")(tsq), vector.op("@@")(tsq))) if q else rows
            node = self.node if keyed else None
            by_keys = _narrowed(node, lexemes, english) if node is not None else None
            if by_keys is None:
                branches.append(_Branch(and_(rows, *every), lead_first, bool(every), q))
                continue
            if not self.unkeyed:
                branches.append(_Branch(and_(rows, by_keys), lead_first, True, q))
                continue
            # Disjoint, as count() sums them: a term asked by the tsquery in by_keys (ORed
            # with a phrase) matches unkeyed rows too. Rows keyed by an older version (a
            # daemon not yet restarted after the upgrade) lack this version's keys: unkeyed.
            marker = literal([KEYED], postgresql.ARRAY(Integer))
            current = and_(held.is_not(None), held.op("@>")(marker))
            branches.append(_Branch(and_(rows, current, by_keys), lead_first, True, q))
            unkeyed = and_(rows, text(f"({TO_KEY})"), *every)
            branches.append(_Branch(unkeyed, lead_first, True, q))
        return branches

    def ranked(
        self, f: ArticleFilter, limit: int, older_than: int | None, now: datetime
    ) -> list[tuple[int, float]]:
        """The window: the `limit` newest candidates (below id `older_than`) as (id, rank),
        best first (rank_value, ties newest first); on PostgreSQL each candidate's numbers
        come from the statement that finds it (_postgres_ranked)."""
        if self.postgres:
            return self._postgres_ranked(f, limit, older_than, now)
        window = self._sqlite_candidates(f, limit, older_than, ranked=True)
        top = max((c.relevance for c in window), default=0.0) or 1.0
        return sorted(
            ((c.id, rank_value(c.relevance / top, c.score, c.dated, now)) for c in window),
            key=lambda pair: (-pair[1], -pair[0]),
        )

    def candidates(self, f: ArticleFilter, limit: int, older_than: int | None) -> list[int]:
        """The ids of the `limit` newest candidates passing the filters (below `older_than`)."""
        if self.postgres:
            return self._postgres_candidates(f, limit, older_than)
        return [c.id for c in self._sqlite_candidates(f, limit, older_than, ranked=False)]

    def _sqlite_candidates(
        self, f: ArticleFilter, limit: int, older_than: int | None, ranked: bool
    ) -> list[Any]:
        """One pass of the index, newest first, each row's filter columns, score and dates read
        from ix_articles_story_dates; then bm25 for at most `limit` rows (_sqlite_relevance)."""
        fts, joined = _fts_articles()
        columns: list[Any] = [ArticleRow.id]
        if ranked:
            columns += [ArticleRow.score, _DATED]
        stmt = (
            select(*columns)
            .select_from(joined)
            .where(text("articles_fts MATCH :q").bindparams(q=self.fts))
            .where(*filter_clauses(f))
            .where(fts.c.rowid < older_than if older_than is not None else true())
            .order_by(fts.c.rowid.desc())
            .limit(limit)
        )
        rows = list(self.session.execute(stmt).all())
        if not ranked or not rows:
            return rows
        relevance = self._sqlite_relevance([r.id for r in rows])
        return [_Candidate(r.id, relevance.get(r.id, 0.0), r.score, r.dated) for r in rows]

    def _sqlite_relevance(self, ids: list[int]) -> dict[int, float]:
        """bm25 of the window's rows that the ranking query (_sqlite_ranking) matches.

        The rowid range is handed to FTS5 (one pass), the ids only filtered (`+rowid`): FTS5
        would run the query once per id of an IN list, counting each word's articles again."""
        ranking = self._sqlite_ranking()
        if ranking is None:
            return {}
        rows = self.session.execute(
            text(
                "SELECT rowid, -bm25(articles_fts, 3.0, 1.0) FROM articles_fts "
                "WHERE articles_fts MATCH :q AND rowid BETWEEN :low AND :high AND +rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"q": ranking, "ids": ids, "low": min(ids), "high": max(ids)},
        )
        return {int(i): float(r) for i, r in rows}

    def _sqlite_ranking(self) -> str | None:
        """The query that ranks: the relaxed query with each phrase's words ANDed, less every
        word found in more than half of the newest SAMPLE articles (None: no word left).

        bm25 weighs a term by how many articles hold it, and FTS5 counts those when it ranks
        by reading every one: 1.1 s for the phrase "display width" (positions checked) in
        994,558 of 1,000,000 articles, 108 ms for its two words. A word's count needs no
        positions; a word in most articles weighs nothing (bm25 floors its weight at 1e-6),
        so it is left out and never counted: 42 ms saved for "display" alone."""
        if self.ranking_known:
            return self.ranking
        self.ranking_known = True
        if self.node is None:
            return None
        words = _words_apart(self.node)
        newest = "SELECT id FROM articles ORDER BY id DESC LIMIT :n"
        low, sampled = self.session.execute(
            text(f"SELECT min(id), count(*) FROM ({newest}) AS newest"), {"n": SAMPLE}
        ).one()
        held = text(
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH :q AND rowid >= :low"
        )
        terms = list(dict.fromkeys(_terms(words)))
        # A pasted paragraph as a query: its first RANKED words rank, one count each.
        common = set(terms[RANKED:])
        for term in terms[:RANKED]:
            if 2 * (self.session.scalar(held, {"q": to_fts5(term), "low": low}) or 0) > sampled:
                common.add(term)
        kept = _without(words, common)
        self.ranking = to_fts5(kept) if kept is not None else None
        return self.ranking

    def _postgres_facts(self) -> None:
        """This transaction's planner settings, then the facts a search needs: two round
        trips, where each fact once took one of its own (0.2-1 ms apiece).

        The settings: the GIN index over a sequential scan (see _postgres_candidates), no JIT
        (the seqscan penalty makes every plan look costly enough to compile: 0.5 s wasted),
        custom plans. Set first, in a statement of their own, so that the facts are planned
        with them: before an archive's first ANALYZE (a restored backup, a fresh bulk load)
        the planner took the unkeyed articles for most of the table and scanned it all to
        find one (0.7 s at 58,000 articles, for every search). The facts: the planner's
        estimate of the articles; one more than the newest id; whether any article lacks
        this version's search_keys (through ix_articles_unkeyed)."""
        self.session.connection().exec_driver_sql(
            "SET LOCAL enable_seqscan = off; SET LOCAL jit = off; "
            "SET LOCAL plan_cache_mode = force_custom_plan"
        )
        rows, top, self.unkeyed = self.session.execute(
            text(
                "SELECT (SELECT reltuples FROM pg_class WHERE oid = 'articles'::regclass), "
                f"(SELECT max(id) FROM articles), EXISTS (SELECT 1 FROM articles WHERE {TO_KEY})"
            )
        ).one()
        self.top = int(top or 0) + 1
        # -1 before the first ANALYZE (0 for an empty table): then the newest id, about as
        # many, not a count, which reads them all.
        self.rows = float(rows) if rows and rows > 0 else float(self.top)

    def _planned(self, stmt: Any) -> float:
        """The rows the planner expects `stmt` to find."""
        # Its result is the plan, not the statement's columns, which a cached compilation
        # would map (SQLAlchemy's ORM sets the same option for its own statements).
        options = {"_result_disable_adapt_to_context": True}
        conn = self.session.connection()
        plan = conn.execute(_Explain(stmt), execution_options=options).scalar_one()
        return float(plan[0]["Plan"]["Plan Rows"])

    def _postgres_candidates(
        self, f: ArticleFilter, limit: int, older_than: int | None, ranked: bool = False
    ) -> list[Any]:
        """English rows stemmed, others (Urdu, Hindi...) not: each branch's newest `limit`,
        then the newest `limit` of them: their ids, or (`ranked`) rows of id, relevance,
        score and the date recency counts from (seconds since 1970).

        The tsvector is TOASTed, so the planner thinks a sequential scan is cheap when it
        detoasts every row (233 ms for a one-hit word against 4 ms through the GIN index at
        30,000 articles), hence enable_seqscan off for this transaction."""
        found: dict[int, Any] = {}
        for branch in self._postgres_branches():
            newest = sorted(found, reverse=True)
            # Older than the `limit`-th found so far: not among the newest `limit`.
            floor = newest[limit - 1] if len(newest) >= limit > 0 else None
            # By id: a walk row by row finds keyed and unkeyed rows alike.
            for row in self._newest(f, limit, older_than, floor, branch, ranked):
                found[row.id if ranked else row] = row
        kept = sorted(found, reverse=True)[:limit]
        return [found[i] for i in kept] if ranked else kept

    def _postgres_ranked(
        self, f: ArticleFilter, limit: int, older_than: int | None, now: datetime
    ) -> list[tuple[int, float]]:
        """rank_value over the window, best first, from the numbers the candidates' own
        statement read (_newest): ranked by a statement of its own, the window's 1,000 rows
        were looked up again by id (6 ms, a third of it ts_rank twice a row for the window's
        maximum) and their 1,000 ids sent there and back."""
        window = self._postgres_candidates(f, limit, older_than, ranked=True)
        top = max((rel for _, rel, _, _ in window), default=0.0) or 1.0
        at = now.timestamp()
        # Plain tuples sorted as they are, ties newest first: 1 ms for 1,000 rows, against 4
        # with the rows' named columns and a key function.
        ranked = [(_rank(rel / top, score, at - dated), i) for i, rel, score, dated in window]
        ranked.sort(reverse=True)
        return [(i, rank) for rank, i in ranked]

    def _newest(
        self,
        f: ArticleFilter,
        limit: int,
        older_than: int | None,
        floor: int | None,
        branch: "_Branch",
        ranked: bool,
    ) -> list[Any]:
        """One branch's `limit` newest rows (below `older_than`, above `floor`): their ids,
        or (`ranked`) rows of id, relevance, score and date, the relevance computed for those
        rows alone (a subquery: in the statement's own columns it was computed for every
        hit before the newest were sorted out).

        Measured at 200,000 articles: a walk of the primary key backwards, row by row, costs
        about 12 µs a row (it detoasts the row's tsvector unless its lead, rank_vector,
        already matches), so it suits a branch without a tsquery (stop words only) and a word
        in so many rows that `limit` of them come soon: hits² > 24 × limit × rows. Otherwise
        the GIN index finds the hits, and for a common word the heap is read only for those
        in a range of the newest ids expected to hold `limit` of them (the index's bitmap
        ANDed with the primary key's: 48 ms against 300 ms for a word in 53,660 articles,
        reading every hit's row for its language); a range holding too few is widened. The
        estimate of a search key's articles is good only for the 10,000 commonest keys
        (migration 0017 sets the statistics target); any other is taken for 0.5 % of them."""
        bounds = [
            *filter_clauses(f),
            ArticleRow.id < older_than if older_than is not None else true(),
            ArticleRow.id > floor if floor is not None else true(),
        ]
        condition = branch.condition
        planned = select(ArticleRow.id).where(*bounds, condition)
        hits = self._planned(planned) if branch.indexed else 0.0
        total = max(self.rows, 1.0)

        def rows(walk: bool) -> Any:
            """The window's columns: its rows' leads (rank_vector) as they are walked, in
            order; where the hits are sorted, their places (ctid), so that the sort moves
            narrow rows, and the leads of the `limit` it keeps are read by place after it
            (the benchmark's 25 common words' windows: 428 ms in all with every candidate's
            lead through the sort, 385 by place)."""
            if not ranked:
                return select(ArticleRow.id).where(*bounds)
            held: Any = literal_column("articles.rank_vector" if walk else "articles.ctid")
            found = [ArticleRow.id, held.label("place_or_lead"), ArticleRow.score, _DATED]
            return select(*found).where(*bounds)

        def read(stmt: Any, walk: bool) -> list[Any]:
            if not ranked:
                return list(self.session.scalars(stmt))
            window = stmt.subquery()
            source: Any = window
            lead: Any = window.c.place_or_lead
            if not walk and branch.query:
                row = ArticleRow.__table__.alias("ranked_row")
                place: Any = literal_column("ranked_row.ctid")
                source = window.join(row, place == window.c.place_or_lead)
                lead = literal_column("ranked_row.rank_vector")
            # ts_rank over rank_vector, the title and the text's lead (migration 0014), kept
            # in the row: over search_vector, which TOAST holds, ranking a window of a
            # common word read back 1,000 vectors (100 ms).
            relevance = func.ts_rank(lead, _tsquery(branch.query)) if branch.query else 0.0
            # Core rows (the ORM's would cost some 3 µs a row more), fetched all at once (one
            # at a time, as iterating the result fetches them, cost 1 ms more for 1,000).
            columns = select(
                window.c.id,
                cast(relevance, Float).label("rel"),
                window.c.score,
                cast(func.extract("epoch", window.c.dated), Float).label("dated"),
            ).select_from(source)
            return list(self.session.connection().execute(columns).all())

        if not branch.indexed or hits * hits > 24 * limit * total:
            self._index_scans(True)
            walked = rows(walk=True).where(branch.lead_first)
            return read(walked.order_by(ArticleRow.id.desc()).limit(limit), walk=True)
        # `id + 0`: the planner cannot walk the primary key backwards instead.
        newest = rows(walk=False).where(condition).order_by((ArticleRow.id + 0).desc()).limit(limit)
        top = older_than if older_than is not None else self.top
        span = int(3 * limit * total / max(hits, 1.0))
        self._index_scans(False)  # bitmaps, ANDed
        found: list[Any] = []
        # The span's bitmap costs some 0.1 µs an id, a hit's row 1.8: below hits² of about
        # limit × rows / 6 (5,800 hits for 1,000 of 200,000 articles) every hit's row is read
        # instead ("display form", in 5,279: 19.8 ms with the span's 113,657 ids, 9.5 without).
        while hits > 2 * limit and 6 * hits * hits > limit * total and top - span > (floor or 0):
            found = read(newest.where(ArticleRow.id >= top - span), walk=False)
            if len(found) >= limit:
                break
            span *= 4
        else:
            found = read(newest, walk=False)
        return found

    def _index_scans(self, on: bool) -> None:
        """Plain index scans on or off for this transaction, asked only when that changes;
        left as the window left them (the statements after it ask for ids, which bitmaps
        find as well)."""
        if self.index_scans != on:
            value = "on" if on else "off"
            self.session.connection().exec_driver_sql(f"SET LOCAL enable_indexscan = {value}")
            self.index_scans = on

    def count(self, f: ArticleFilter) -> int:
        """The candidates passing the filters (what the index alone finds)."""
        if self.postgres:
            return sum(
                int(
                    self.session.scalar(
                        select(func.count())
                        .select_from(ArticleRow)
                        .where(condition, *filter_clauses(f))
                    )
                    or 0
                )
                for condition in (b.condition for b in self._postgres_branches())
            )
        else:
            fts, joined = _fts_articles()
            clauses = filter_clauses(f)
            # Without filters the index alone counts (its rows are the articles' own ids).
            stmt = (
                select(func.count())
                .select_from(joined if clauses else fts)
                .where(text("articles_fts MATCH :q").bindparams(q=self.fts))
                .where(*clauses)
            )
        return int(self.session.scalar(stmt) or 0)

    def _postgres_snippets(self, rows: list[ArticleRow]) -> dict[int, str]:
        """ts_headline over the stretch of each text where the query's words are densest.

        ts_headline parses all the text it is given (2 ms for 800 words: 40 ms a page), so it
        is given about EXCERPT characters (the page's rows are loaded already) where the
        query's words as typed, looked for as word starts, are densest: the matcher found them
        in the text, and their stems are the query's. Looked for by their stems, "easing"
        ('eas') found "easy" first, the stretch showed no match, and the whole text was
        parsed again (30 ms a page). English articles are marked by the English query, or
        by the simple one when the English query is empty (stop words, which the English
        index leaves out, or a prefix it cannot look up)."""
        starts = self.typed[:RANKED]
        english = bool(self.english)
        rows_found = self.session.execute(
            text(
                "SELECT id, ts_headline(CASE WHEN :english AND lang = 'en' THEN "
                "'english'::regconfig ELSE 'simple'::regconfig END, body, "
                "CASE WHEN :english AND lang = 'en' THEN "
                "CAST(:e AS tsquery) ELSE CAST(:s AS tsquery) END, "
                "'StartSel=\x02, StopSel=\x03, MaxWords=35, MinWords=15, MaxFragments=1') "
                "FROM unnest(CAST(:ids AS integer[]), CAST(:langs AS text[]), "
                "CAST(:bodies AS text[])) AS page(id, lang, body)"
            ),
            {
                "english": english,
                "e": self.english,
                "s": self.simple,
                "ids": [r.id for r in rows],
                "langs": [r.language for r in rows],
                "bodies": [_densest(r.text or "", starts) for r in rows],
            },
        ).all()
        return {int(i): str(s) for i, s in rows_found}

    def snippets(self, rows: list[ArticleRow]) -> dict[int, str]:
        """A window of each article's text around the candidates' words, marked (the page's
        rows, loaded already: looked up again by id, 20 cost 1 ms)."""
        if not rows:
            return {}
        if self.postgres:
            return self._postgres_snippets(rows)
        ids = [r.id for r in rows]
        if self.prefix:
            # FTS5 merges every word's list under a prefix for each rowid it is asked about
            # (0.8 s for 20 rows of tax* at 400,000 articles), so one pass over the page's
            # rowid range instead, the ids only filtered (`+rowid`: not handed to FTS5).
            found = self.session.execute(
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
            found = self.session.execute(
                text(
                    "SELECT rowid, snippet(articles_fts, -1, :start, :end, '…', 32) "
                    "FROM articles_fts WHERE articles_fts MATCH :q AND rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"q": self.fts, "ids": ids, "start": MARK_START, "end": MARK_END},
            ).all()
        return {int(i): str(s) for i, s in found}


def _words_apart(node: Node) -> Node:
    """`node` with every term of several words (a phrase, "U.S.", "grey-list") made the AND
    of its words: each article holding the term holds them all."""
    if isinstance(node, Term):
        words = [w for w in _FTS5_SEPARATORS.split(node.text) if w]
        if len(words) < 2:
            return node
        last = len(words) - 1
        return And(
            tuple(
                Term(w, prefix=node.prefix and at == last, title=node.title)
                for at, w in enumerate(words)
            )
        )
    if isinstance(node, And):
        return And(tuple(_words_apart(i) for i in node.items))
    if isinstance(node, Or):
        return Or(tuple(_words_apart(i) for i in node.items))
    return node


EXCERPT = 600


def _densest(body: str, starts: list[str]) -> str:
    """About EXCERPT characters of `body` (whole words) where most of `starts` (lower case)
    begin words; its start when none does."""
    if len(body) <= EXCERPT:
        return body
    # The first few hundred of each word's places: a common word's thousands change nothing.
    low = body.lower()
    hits = sorted(
        (at, n) for n, start in enumerate(starts) for at in _word_starts(body, low, start)
    )
    hits = hits[:500]
    if not hits:
        return body[: body.find(" ", EXCERPT) if " " in body[EXCERPT:] else len(body)]
    best, best_at, end = 0, 0, 0
    for at, (pos, _) in enumerate(hits):
        while end < len(hits) and hits[end][0] < pos + EXCERPT // 2:
            end += 1
        near = len({n for _, n in hits[at:end]})
        if near > best:
            best, best_at = near, pos
    lo = max(body.rfind(" ", 0, max(best_at - EXCERPT // 3, 0)), 0)
    hi = body.find(" ", min(lo + EXCERPT, len(body)))
    return body[lo : hi if hi >= 0 else len(body)]


def _word_starts(body: str, low: str, start: str, most: int = 200) -> list[int]:
    """Where `start` begins a word of `body`, case aside (at most `most` places). str.find on
    the lowered text: a case-blind regex with a look-behind took 200 µs an article (4 ms a
    page); a text whose lowering changes its length ("İ") is searched by the regex."""
    if not start:
        return []
    if len(low) != len(body):
        pattern = re.compile(r"(?<!\w)" + re.escape(start), re.I)
        return [m.start() for m in islice(pattern.finditer(body), most)]
    found: list[int] = []
    at = low.find(start)
    while at >= 0 and len(found) < most:
        before = low[at - 1] if at else " "
        if not (before.isalnum() or before == "_"):
            found.append(at)
        at = low.find(start, at + 1)
    return found


def _terms(node: Node) -> list[Term]:
    """The terms of a relaxed query (no exclusion, no NEAR left)."""
    if isinstance(node, Term):
        return [node]
    return [t for i in node.items for t in _terms(i)] if isinstance(node, And | Or) else []


def _without(node: Node, left_out: set[Term]) -> Node | None:
    """`node` less the terms `left_out` (None: nothing left)."""
    if isinstance(node, Term):
        return None if node in left_out else node
    if not isinstance(node, And | Or):
        return node
    items = [k for k in (_without(i, left_out) for i in node.items) if k is not None]
    if len(items) < 2:
        return items[0] if items else None
    return And(tuple(items)) if isinstance(node, And) else Or(tuple(items))


def _has_keys(node: Node) -> bool:
    """Whether a term of the relaxed `node` has search_keys (a phrase, an English stop word, a
    word the English stemmer changes)."""
    if isinstance(node, Term):
        return bool(term_keys(node.text, node.prefix))
    return isinstance(node, And | Or) and any(_has_keys(i) for i in node.items)


def _tsquery(q: str) -> Any:
    """A tsquery of lexemes as the index holds them (the probe's output), taken as they are:
    to_tsquery('english', …) would stem them again, and some stems change ("easing" is
    'eas', which the stemmer makes 'ea': no article held it)."""
    return cast(literal(q), postgresql.TSQUERY)


def _narrowed(node: Node, lexemes: dict[str, str], english: bool) -> ColumnElement[bool] | None:
    """The relaxed `node` asked of keyed rows: a phrase (or, in `english` rows, a stop word or
    a word the stemmer changes) by its search_keys, any other term by the tsquery of its
    `lexemes` (None: nothing narrows). Other languages' index holds stop words and words as
    written, and its partial GIN index is small: through the keys, "with" read 80,000
    postings of English articles to find no other."""
    if isinstance(node, Term):
        if keys := term_keys(node.text, node.prefix, english):
            held: Any = literal_column("articles.search_keys")
            return held.op("@>")(literal(keys, postgresql.ARRAY(Integer)))
        if not (q := to_tsquery(node, lexemes)):
            return None
        vector: Any = literal_column("articles.search_vector")
        return vector.op("@@")(_tsquery(q))
    items = node.items if isinstance(node, And | Or) else ()
    parts = [_narrowed(i, lexemes, english) for i in items]
    known = [p for p in parts if p is not None]
    if isinstance(node, And) and known:
        return and_(*known)
    if isinstance(node, Or) and known and len(known) == len(parts):
        return or_(*known)
    return None
