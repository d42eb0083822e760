"""Topic queries: every operator, table-driven, on the rule matcher; syntax errors; scoring."""

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.assessment import assess
from alerts.query import CompiledQuery, Prepared
from alerts.rules import RuleSet, TermMatch
from crawler.config import Topic
from crawler.config.errors import ConfigError
from crawler.config.model import config_from_dict, load_config
from storage.querylang import QuerySyntaxError, parse_query, relaxed, to_fts5, to_tsquery


def words(n: int) -> str:
    """n filler words that match nothing."""
    return " ".join(["filler"] * n)


# (query, title, text, matches)
CASES = [
    # NEAR: either order, at most n words between, counted exactly at the boundary
    ("TTP NEAR/3 attack", "", f"TTP {words(3)} attack", True),
    ("TTP NEAR/3 attack", "", f"TTP {words(4)} attack", False),
    ("TTP NEAR/3 attack", "", f"attack {words(3)} TTP", True),
    ("TTP NEAR/3 attack", "", f"attack {words(4)} TTP", False),
    ("TTP NEAR/0 attack", "", "the TTP attack", True),
    ("TTP NEAR/0 attack", "", "the TTP's attack", False),  # "s" is a word between
    ("attack NEAR/0 TTP", "", "the TTP attack", True),
    # a phrase is one side; the distance runs from its last word
    ('"grey list" NEAR/2 FATF', "", f"grey list {words(2)} FATF", True),
    ('"grey list" NEAR/2 FATF', "", f"FATF {words(2)} grey list", True),
    ('"grey list" NEAR/2 FATF', "", f"FATF {words(3)} grey list", False),
    # both sides in one field: a title word is not near a text word
    ("TTP NEAR/5 attack", "TTP", "attack", False),
    ("TTP NEAR/5 attack", "TTP attack", "", True),
    # one word cannot be both sides
    ("terror* NEAR/3 terrorism", "", "terrorism", False),
    ("terror* NEAR/3 terrorism", "", "terrorist terrorism", True),
    # NEAR of ORs, nested, chained
    ("(TTP OR Taliban) NEAR/2 (attack OR ambush)", "", "Taliban staged an ambush", True),
    ("(TTP OR Taliban) NEAR/2 (attack OR ambush)", "", "Taliban staged a big ambush", False),
    ("(a1 NEAR/1 b1) NEAR/1 c1", "", "a1 x b1 y c1", True),
    ("(a1 NEAR/1 b1) NEAR/1 c1", "", "a1 x b1 y z c1", False),
    ("(a1 NEAR/1 b1) NEAR/1 c1", "", "c1 y a1 x b1", True),
    ("a1 NEAR/1 b1 NEAR/1 c1", "", "a1 x b1 y c1", True),
    # prefix: a word starting with it, whole-word start, case as for terms
    ("terror*", "", "counter-terrorism", True),
    ("terror*", "", "Terrorists struck", True),
    ("terror*", "", "counterterrorism", False),
    ("TTP*", "", "the TTPs", True),
    ("TTP*", "", "the ttps", False),
    ("taliban*", "", "طالبان", False),
    ("طالب*", "", "طالبان نے", True),
    # title: only in the title
    ("title:FATF", "FATF meets", "nothing", True),
    ("title:FATF", "Meeting", "the FATF said", False),
    ('title:"grey list"', "Off the grey-list", "", True),
    ('title:"grey list"', "Off", "the grey list", False),
    ("title:terror*", "Terrorism rises", "", True),
    ("-title:FATF grey", "grey notes", "FATF", True),
    ("-title:FATF grey", "FATF grey notes", "", False),
    # the matching rules of terms hold inside a query
    ("TTP", "", "ttp", False),  # acronyms in capitals are case-sensitive
    ("ttp", "", "TTP", True),
    ("TTP", "", "XTTP and TTPX", False),  # whole words
    ("TTP", "", "see https://x.org/TTP-attack", False),  # URLs ignored
    ("FATF", "", "ＦＡＴＦ", True),  # NFKC
    ('"تحریک طالبان"', "", "تحريك طالبان", True),  # Urdu letter folding
    ("हम", "", "हमारा", False),
    ("Tehreek-e-Taliban", "", "Tehreek e Taliban", True),
    # boolean structure
    ("TTP attack", "", "TTP attack", True),
    ("TTP attack", "", "TTP", False),
    ("TTP OR FATF", "", "FATF", True),
    ("FATF -cricket", "", "FATF and cricket", False),
    ("FATF NOT (cricket OR hockey)", "", "FATF and hockey", False),
    ("FATF NOT (cricket OR hockey)", "", "FATF and tennis", True),
    ("(TTP NEAR/3 attack) -cricket", "", "TTP attack", True),
    ("(TTP NEAR/3 attack) -cricket", "", "TTP attack cricket", False),
    ("FATF -(grey NEAR/1 list)", "", "FATF grey list", False),
    ("FATF -(grey NEAR/1 list)", "", f"FATF grey {words(2)} list", True),
    ("((((FATF))))", "", "FATF", True),
]


@pytest.mark.parametrize(("query", "title", "text", "expected"), CASES)
def test_operators(query: str, title: str, text: str, expected: bool) -> None:
    assert CompiledQuery(query).matches(title, text) is expected
    topic = Topic(id="q", name="Q", query=query)
    assert bool(RuleSet([topic]).match(title, text)) is expected


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("TTP NEAR/5 -cricket", "NOT (or -) cannot be inside NEAR"),
        ("-cricket NEAR/5 TTP", "NOT (or -) cannot be inside NEAR"),
        ("TTP NEAR/5 (attack -cricket)", "NOT (or -) cannot be inside NEAR"),
        ("TTP NEAR/5 (attack OR NOT cricket)", "cannot be one side of OR"),
        ("TTP NEAR/5 (attack ambush)", "not an AND"),
        ("TTP NEAR attack", "NEAR needs a distance"),
        ("TTP NEAR/x attack", "NEAR needs a distance"),
        ("TTP NEAR/5000 attack", "at most 1000"),
        ("NEAR/5 attack", "needs a term on both sides"),
        ("attack NEAR/5", "needs a term on both sides"),
        ("attack NEAR/5 OR x", "needs a term on both sides"),
        ("te*", "at least 3 letters"),
        ("*", "only ends a word"),
        ("ter*ror", "only ends a word"),
        ("terror**", "only ends a word"),
        ("title:", 'title: needs a word or a "phrase"'),
        ('title:""', "no letters or digits"),
        ('"open', "closing quote"),
        ("-FATF", "at least one word that is not excluded"),
    ],
)
def test_syntax_errors_say_what_is_wrong(query: str, words: str) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        CompiledQuery(query)
    assert words in str(error.value)


QUERY_PIECES = [
    "(",
    ")",
    '"',
    "-",
    " ",
    "OR",
    "NOT",
    "NEAR/3",
    "NEAR/0",
    "NEAR",
    "NEAR/",
    "title:",
    "*",
    "terror",
    "TTP",
    "ab",
    ":",
    "/",
    "تحریک",
    "\u0301",
    "\x00",
]
queries = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(QUERY_PIECES)).map("".join))


@given(queries, st.text(max_size=80))
@settings(max_examples=1500, deadline=None)
def test_any_query_compiles_or_is_our_syntax_error(query: str, text: str) -> None:
    """Never another exception: a compiled query runs and renders for both databases."""
    try:
        compiled = CompiledQuery(query)
    except QuerySyntaxError:
        return
    compiled.matches(text, text)
    compiled.explain(Prepared.of(text, text))
    narrowing = relaxed(compiled.node)
    assert narrowing is not None  # a valid query always has something to look up
    to_fts5(narrowing), to_tsquery(narrowing)


ARTICLE_WORDS = ["TTP", "ttp", "Terror", "terrorism", "ab", "AB", "the", "list", "grey", "x9"]
ARTICLE_GAPS = [" ", "-", ". ", "/", "_", " https://e.org/ttp ", "\n", "ﬁ", "K", "é"]


QUERY_WORDS = ["TTP", "ttp", "terror*", "ab", '"grey list"', "x9", "the", "ﬁ", "title:list"]
QUERY_GLUE = [" ", " OR ", " -", " NEAR/2 ", " (", ") "]
article_queries = st.lists(
    st.tuples(st.sampled_from(QUERY_GLUE), st.sampled_from(QUERY_WORDS)), min_size=1, max_size=5
).map(lambda pairs: "".join(glue + word for glue, word in pairs))


@given(
    st.one_of(queries, article_queries),
    st.lists(st.sampled_from(ARTICLE_WORDS + ARTICLE_GAPS), max_size=30).map("".join),
    st.lists(st.sampled_from(ARTICLE_WORDS + ARTICLE_GAPS), max_size=8).map("".join),
)
@settings(max_examples=3000, deadline=None)
def test_the_quick_look_for_missing_words_never_changes_a_match(
    query: str, text: str, title: str
) -> None:
    """matches() turns away an ASCII article lacking a query word before folding it: the
    answer must be the full matcher's, on ASCII articles and others alike."""
    try:
        compiled = CompiledQuery(query)
    except QuerySyntaxError:
        return
    assert compiled.matches(title, text) == compiled.holds(Prepared.of(title, text))


def test_a_query_match_counts_the_positive_terms_mentions() -> None:
    topic = Topic(
        id="ttp", name="TTP", query='(TTP OR "Pakistani Taliban") NEAR/5 attack* -cricket'
    )
    rules = RuleSet([topic])
    title, text = "TTP attacks", "The TTP claimed the attack. Later the TTP spoke. No cricket."
    assert rules.match(title, text) == []  # cricket excludes it
    text = "The TTP claimed the attack. Later the TTP spoke; attacks went on."
    found = {m.term: (m.title_count, m.text_count) for m in rules.match(title, text)}
    # every mention of a named term counts, near or not; the excluded term never does
    assert found == {"attack*": (1, 2), "TTP": (1, 2)}
    page = assess(title, text, rules)
    assert page.total == round(math.log2(1 + 4) + 2 * math.log2(1 + 2), 4)  # 4 body, 2 title
    assert page.score.topics[0].body_mentions == 4


def test_a_topic_matches_when_its_terms_or_its_query_do() -> None:
    topic = Topic(id="fatf", name="FATF", terms=["FATF"], query='"grey list" NEAR/3 Pakistan')
    rules = RuleSet([topic])
    assert rules.match("", "the FATF met") == [TermMatch("fatf", "FATF", 0, 1)]
    assert rules.match("", "Pakistan left the grey list") == [
        TermMatch("fatf", '"grey list"', 0, 1),
        TermMatch("fatf", "Pakistan", 0, 1),
    ]
    both = rules.match("", "FATF: Pakistan left the grey list")
    assert [m.term for m in both] == ["FATF", '"grey list"', "Pakistan"]
    assert rules.match("", "Pakistan and the list") == []


def test_a_query_term_named_by_the_terms_too_is_counted_once() -> None:
    topic = Topic(id="fatf", name="FATF", terms=["FATF"], query="FATF NEAR/3 Pakistan")
    found = RuleSet([topic]).match("", "The FATF told Pakistan")
    assert found == [TermMatch("fatf", "FATF", 0, 1), TermMatch("fatf", "Pakistan", 0, 1)]


def test_longer_query_terms_hide_shorter_ones_inside_them() -> None:
    found = RuleSet([Topic(id="f", name="F", query='"FATF grey list" OR "grey list"')]).match(
        "", "The FATF grey list and the grey list."
    )
    assert {m.term: m.count for m in found} == {'"FATF grey list"': 1, '"grey list"': 1}


def test_explain_shows_each_clause_and_the_matched_words_in_context() -> None:
    topic = Topic(id="ttp", name="TTP", query="(TTP OR Taliban) NEAR/3 (attack OR ambush) -cricket")
    text = "In Khyber the TTP claimed an attack on a convoy; officials condemned it."
    clause = RuleSet([topic]).explain_queries("Convoy hit", text)["ttp"]
    lines = list(clause.lines())
    assert lines[0] == "✓ (TTP OR Taliban) NEAR/3 (attack OR ambush) -cricket"
    assert "  ✓ (TTP OR Taliban) NEAR/3 (attack OR ambush)" in lines
    assert any("text: In Khyber the [TTP claimed an attack] on a convoy;" in ln for ln in lines)
    assert "      ✗ Taliban" in lines
    assert "  ✓ -cricket" in lines and "    ✗ cricket" in lines
    data = clause.as_json()
    near = data["clauses"][0]
    assert near["matched"] and near["contexts"][0]["field"] == "text"
    assert "[TTP claimed an attack]" in near["contexts"][0]["text"]
    assert [c["clause"] for c in near["clauses"]] == ["TTP OR Taliban", "attack OR ambush"]


def test_config_topic_with_only_a_query() -> None:
    config = config_from_dict(
        {"topics": [{"id": "ttp", "name": "TTP", "query": "TTP NEAR/10 attack"}]}, "x.toml"
    )
    assert config.topics[0].terms == [] and config.topics[0].query == "TTP NEAR/10 attack"


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ({"query": "TTP NEAR/5 -cricket"}, "topics[0] (id 't').query: is not a valid query: NOT"),
        ({"query": "te*"}, "topics[0] (id 't').query: is not a valid query: 'te*': a prefix"),
        ({"query": "  "}, "topics[0] (id 't').query: is empty"),
        ({}, "topics[0] (id 't'): topic 't' has neither terms nor a query"),
        ({"terms": []}, "has neither terms nor a query"),
    ],
)
def test_config_errors_name_the_file_key_and_problem(
    tmp_path: Path, topic: dict[str, object], words: str
) -> None:
    path = tmp_path / "mediawatch.toml"
    body = "".join(
        f"{k} = {v!r}\n".replace("'", '"') if isinstance(v, str) else f"{k} = []\n"
        for k, v in topic.items()
    )
    path.write_text(f'[[topics]]\nid = "t"\nname = "T"\n{body}', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(path) in str(error.value) and words in str(error.value)


def test_parse_tree_of_the_readme_example() -> None:
    from storage.querylang import And, Near, Not, Or, Term

    node = parse_query('(TTP OR "Tehreek-e-Taliban") NEAR/15 (attack OR ambush OR Khyber) -cricket')
    assert node == And(
        (
            Near(
                Or((Term("TTP"), Term("Tehreek-e-Taliban", phrase=True))),
                Or((Term("attack"), Term("ambush"), Term("Khyber"))),
                15,
            ),
            Not(Term("cricket")),
        )
    )


def test_rules_explain_prints_the_query_clauses(tmp_path: Path) -> None:
    import json

    from tests.conftest import run_cli

    config = tmp_path / "mediawatch.toml"
    config.write_text(
        '[[topics]]\nid = "ttp"\nname = "TTP"\n'
        "query = '(TTP OR \"Pakistani Taliban\") NEAR/5 (attack* OR ambush) -cricket'\n",
        encoding="utf-8",
    )
    page = tmp_path / "page.txt"
    page.write_text(
        "TTP in Khyber\n\nOfficials said the TTP claimed the attacks on two convoys in Khyber. "
        "The Pakistani Taliban had threatened more. " * 3,
        encoding="utf-8",
    )
    text = run_cli("rules", "explain", str(page), "--config", str(config), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "query of ttp: matches" in out
    assert '  ✓ (TTP OR "Pakistani Taliban") NEAR/5 (attack* OR ambush) -cricket' in out
    assert "text: Officials said the [TTP claimed the attacks] on two convoys" in out
    assert "✗ cricket" in out and "score =" in out
    as_json = run_cli(
        "rules", "explain", str(page), "--config", str(config), "--format", "json", cwd=tmp_path
    )
    data = json.loads(as_json.stdout)
    [query] = data["queries"]
    assert query["topic"] == "ttp" and query["matched"] is True
    near = query["clauses"][0]
    assert near["clause"] == '(TTP OR "Pakistani Taliban") NEAR/5 (attack* OR ambush)'
    assert any("[TTP claimed the attacks]" in c["text"] for c in near["contexts"])
    assert {m["term"] for m in data["matches"]} == {"TTP", "attack*", '"Pakistani Taliban"'}


def test_the_readme_queries_of_the_default_topics_match_the_sample_op_ed() -> None:
    """The README's three default topics written as queries parse, and find in the demo's
    CISMOA op-ed what the default terms find."""
    import tomllib

    from crawler.config import DEFAULT_TOPICS
    from tests.conftest import CISMOA_OPED, REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("three default topics, written as queries:\n\n```\n")[1].split("```")[0]
    config = config_from_dict(tomllib.loads(block), "README.md")
    assert [t.id for t in config.topics] == ["cismoa", "ttp", "fatf"]
    by_query = {m.topic for m in RuleSet(config.topics).match("Renewing CISMOA", CISMOA_OPED)}
    by_terms = {m.topic for m in RuleSet(DEFAULT_TOPICS).match("Renewing CISMOA", CISMOA_OPED)}
    assert by_query == by_terms == {"cismoa", "ttp", "fatf"}


def test_a_pathological_near_stays_fast() -> None:
    """A search box is hostile: "the NEAR/1000 the" over a long text stops at its first pair."""
    import time

    text = "the " * 20_000
    start = time.perf_counter()
    assert CompiledQuery("the NEAR/1000 the").matches("", text)
    assert CompiledQuery("(the NEAR/1000 the) NEAR/1000 the").matches("", text)
    clause = CompiledQuery("the NEAR/1000 the").explain(Prepared.of("", text))
    assert clause.occurrences == 10_000 and len(clause.contexts) == 3
    assert time.perf_counter() - start < 20
