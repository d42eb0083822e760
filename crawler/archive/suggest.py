"""`topics suggest`: a new topic proposed from example articles, as a [[topics]] block.

Candidates are the examples' words and two-word phrases (no stop words, at least 3 letters).
Each is scored by how many examples hold it (squared: a term in every example is what they
share), how often (1 + ln tf), and how rare it is in the archive (BM25's idf, from the
full-text index). The best three become `terms` (one mention matches); the next six become a
`query` that needs one of the first three of them and one of the other three in the same
article (two weaker signals together). The block is checked against the configuration's
Topic model before it is printed, so it loads as written.
"""

import json
import math
import re
from collections import Counter
from typing import Any

import regex
from pydantic import ValidationError

from alerts.rules import is_acronym
from crawler.config import Config
from crawler.config.errors import NotFoundError
from crawler.config.model import Topic
from storage.db import Database
from storage.models import ArticleRow
from storage.similar import STOPWORDS, article_count, document_counts
from storage.textnorm import fold

_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}]+)?")
TERMS = 3
QUERY_TERMS = 6
MAX_CANDIDATES = 60


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _useful(word: str) -> bool:
    return len(word) >= 3 and not word.isdigit() and word.lower() not in STOPWORDS


def _candidates(texts: list[str]) -> tuple[Counter[str], Counter[str], dict[str, Counter[str]]]:
    """Per lowercase candidate: examples holding it, mentions, and its spellings."""
    coverage: Counter[str] = Counter()
    mentions: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for body in texts:
        words = _words(body)
        found: set[str] = set()
        grams = [[w] for w in words] + [
            [a, b] for a, b in zip(words, words[1:], strict=False) if _useful(a) and _useful(b)
        ]
        for gram in grams:
            if not all(_useful(w) for w in gram):
                continue
            surface = " ".join(gram)
            key = surface.lower()
            mentions[key] += 1
            spellings.setdefault(key, Counter())[surface] += 1
            found.add(key)
        coverage.update(found)
    return coverage, mentions, spellings


def _spelling(forms: Counter[str]) -> str:
    """The usual spelling; lowercase unless written as an acronym or a name (capitals are
    case-sensitive only for acronyms, so a name's capital is just what readers expect)."""
    surface, _ = forms.most_common(1)[0]
    if is_acronym(surface) or surface[:1].isupper():
        return surface
    return surface.lower()


def suggest_terms(db: Database, texts: list[str]) -> list[str]:
    """The examples' most distinctive words and phrases, best first."""
    coverage, mentions, spellings = _candidates(texts)
    # Phrases must occur more than once to be worth a look; words are always candidates.
    keys = [k for k in mentions if " " not in k or mentions[k] > 1]
    keys.sort(key=lambda k: (-coverage[k], -mentions[k], k))
    keys = keys[: MAX_CANDIDATES * 3]
    with db.read() as session:
        n = max(article_count(session), 1)
        df = document_counts(session, keys, cap=n + 1)
    scored = []
    for k in keys:
        d = max(df.get(k, 0), coverage[k])
        idf = math.log(1 + (n - d + 0.5) / (d + 0.5))
        scored.append((coverage[k] ** 2 * (1 + math.log(mentions[k])) * idf, k))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    chosen: list[str] = []
    for _, key in scored:
        # A word inside a chosen phrase (or a phrase around a chosen word) adds nothing.
        if any(re.search(rf"\b{re.escape(key)}\b", c) or key in c.split() for c in chosen):
            continue
        if any(c in key.split() for c in chosen):
            continue
        chosen.append(key)
        if len(chosen) == TERMS + QUERY_TERMS:
            break
    return [_spelling(spellings[k]) for k in chosen]


def _slug(term: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")[:40] or "suggested"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _quoted(term: str) -> str:
    return '"' + term.replace('"', "") + '"'


def _toml(value: Any) -> str:
    # A JSON string or list of strings is a valid TOML basic string or array.
    return json.dumps(value, ensure_ascii=False)


def suggest_topic(db: Database, config: Config, ids: list[int], topic_id: str | None) -> str:
    """The [[topics]] block proposed from these stored articles, ready to paste."""
    texts = []
    with db.read() as session:
        for i in ids:
            row = session.get(ArticleRow, i)
            if row is None:
                raise NotFoundError(f"no article with id {i}; find ids with `mediawatch search`")
            texts.append(f"{row.title}\n{row.title}\n{row.text}")
    terms = suggest_terms(db, texts)
    if not terms:
        raise NotFoundError("the example articles have no words to build a topic from")
    strong, weak = terms[:TERMS], terms[TERMS:]
    block: dict[str, Any] = {
        "id": topic_id or _slug(terms[0], {t.id for t in config.topics}),
        "name": terms[0],
        "terms": strong,
    }
    if len(weak) >= 2:
        half = (len(weak) + 1) // 2
        left, right = weak[:half], weak[half:]
        block["query"] = " ".join(
            "(" + " OR ".join(_quoted(t) for t in side) + ")" for side in (left, right)
        )
    try:
        Topic.model_validate(block)
    except ValidationError:
        block.pop("query", None)
        block["terms"] = terms
        Topic.model_validate(block)
    examples = ", ".join(str(i) for i in ids)
    lines = [
        f"# Suggested by `mediawatch topics suggest` from article(s) {examples}. `terms`: one",
        "# mention of any matches; `query`: a word from each bracket in the same article.",
        "# Edit freely, then try it: `mediawatch rules test --topic "
        f"{block['id']}` with this block in your configuration.",
        "[[topics]]",
        *(f"{key} = {_toml(value)}" for key, value in block.items()),
        "weight = 1.0",
    ]
    return "\n".join(lines)
