"""Keyword matching: every rule of the contract's "Matching and scoring", table-driven."""

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from alerts.rules import RuleSet, is_acronym, term_pattern
from crawler.config import DEFAULT_TOPICS, Topic


def count(term: str, text: str) -> int:
    return len(term_pattern(term).findall(text))


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        # whole words only
        ("TTP", "the TTP claimed it", 1),
        ("TTP", "see https://x.org and http://y", 0),
        ("TTP", "TTPs and TTP's", 1),
        ("TTP", "XTTP TTPX", 0),
        ("FATF", "(FATF)", 1),
        # acronyms are case-sensitive, other terms are not
        ("TTP", "ttp and Ttp", 0),
        ("grey list", "the Grey List and the GREY LIST", 2),
        ("Pakistani Taliban", "pakistani taliban", 1),
        # hyphens and runs of white space are alike
        ("grey list", "grey-list, grey  list, grey\nlist, grey–list", 4),
        (
            "Tehreek-e-Taliban Pakistan",
            "Tehreek e Taliban Pakistan and Tehreek-e-Taliban-Pakistan",
            2,
        ),
        # NFKC: full-width letters and ligatures match their plain forms
        ("FATF", "ＦＡＴＦ", 1),
        ("financial", "ﬁnancial", 1),
        # other scripts, with their own word boundaries
        ("तालिबान", "पाकिस्तानी तालिबान ने", 1),
        ("तालिबान", "तालिबानी", 0),
        ("পাকিস্তান", "পাকিস্তান সরকার", 1),
        ("تحریک طالبان پاکستان", "کالعدم تحریک طالبان پاکستان نے", 1),
        # Arabic-script variants (ك/ک, ي/ی) and harakat are folded
        ("تحریک طالبان پاکستان", "تحريك طالبان پاکستان", 1),
        ("تحریک", "تَحریک", 1),
        # a Devanagari vowel sign is part of the word (stdlib re gets this wrong)
        ("हम", "हमारा", 0),
    ],
)
def test_term_matching(term: str, text: str, expected: int) -> None:
    from alerts.rules import normalise

    assert count(term, normalise(text)) == expected


def test_acronyms() -> None:
    assert is_acronym("TTP") and is_acronym("FATF") and is_acronym("COMCASA")
    assert not is_acronym("grey list") and not is_acronym("Taliban") and not is_acronym("A")


def rules(**kw: object) -> RuleSet:
    return RuleSet([Topic(**{"id": "t", "name": "T", "terms": ["TTP"], **kw})])  # type: ignore[arg-type]


def test_context_gates_acronyms_only() -> None:
    gated = rules(terms=["TTP", "Pakistani Taliban"], context=["militant", "Khyber"])
    assert gated.match("", "The TTP said so.") == []
    assert [m.term for m in gated.match("", "The TTP militant said so.")] == ["TTP"]
    assert [m.term for m in gated.match("", "Pakistani Taliban said so.")] == ["Pakistani Taliban"]
    assert gated.match("Khyber", "The TTP said so.")[0].text_count == 1


def test_exclude_phrases_are_not_counted() -> None:
    r = rules(exclude=["tactics, techniques and procedures"])
    assert r.match("", "Analysts map tactics, techniques and procedures (TTPs) of gangs.") == []
    assert r.match("", "Tactics, techniques and procedures (TTP) here") == []
    assert r.match("", "tactics, techniques and procedures; the TTP attacked")[0].text_count == 1


def test_urls_are_not_mentions() -> None:
    assert rules().match("", "read https://example.org/ttp-TTP-attack and www.x.org/TTP") == []


def test_title_and_body_are_counted_apart() -> None:
    m = rules().match("TTP attack", "The TTP and the TTP.")[0]
    assert (m.title_count, m.text_count, m.count, m.in_title) == (1, 2, 3, True)


def test_longer_terms_win_over_the_shorter_terms_inside_them() -> None:
    r = RuleSet([Topic(id="f", name="F", terms=["grey list", "FATF grey list"])])
    found = {m.term: m.count for m in r.match("", "The FATF grey list and the grey list.")}
    assert found == {"FATF grey list": 1, "grey list": 1}


def test_default_topics_on_the_sample_op_ed() -> None:
    from tests.conftest import CISMOA_OPED

    found = RuleSet(DEFAULT_TOPICS).match("Renewing CISMOA", CISMOA_OPED)
    topics = {m.topic for m in found}
    assert topics == {"cismoa", "ttp", "fatf"}


@given(st.text())
def test_matching_never_raises(text: str) -> None:
    RuleSet(DEFAULT_TOPICS).match(text, text)


@given(
    st.text(alphabet=st.characters(categories=["L", "N", "M"]), min_size=1),
    st.text(alphabet=st.characters(categories=["L", "N", "M"])),
)
def test_ttp_never_matches_inside_a_longer_word(before: str, after: str) -> None:
    assert count("TTP", before + "TTP" + after) == 0
    assert count("TTP", after + "TTP" + before) == 0


def test_the_latin_fast_path_splits_words_as_the_rules_define_them() -> None:
    """storage.textnorm splits Latin text with the stdlib's \\w: it must agree with WORD_CHARS on
    every character of the ranges it is used for."""
    import re

    import regex

    from storage.textnorm import _NOT_LATIN, WORD_CHARS

    latin = [chr(c) for c in range(0x110000) if not _NOT_LATIN.match(chr(c))]
    assert len(latin) > 600
    word = regex.compile(WORD_CHARS)
    assert [c for c in latin if bool(word.match(c)) != bool(re.match(r"\w", c))] == []


@pytest.mark.parametrize(
    "text",
    [
        "The TTP, the FATF’s “grey list” — and Ünal’s café.",
        "پاکستان میں TTP کے حملے",
        "पाकिस्तानी TTP हमला",
        "İstanbul ΟΔΟΣ TTP",
    ],
)
def test_split_words_alternates_gaps_and_words(text: str) -> None:
    import regex

    from alerts.terms import WORD_CHARS, split_words

    assert split_words(text) == regex.split(rf"({WORD_CHARS}+)", text)


def reference_match(topics: list[Topic], title: str, text: str) -> list[tuple[str, str, int, int]]:
    """The matcher as it was before one dictionary held every term: a loop over each topic's
    terms, longest first, blanking out what each one found. The fast matcher must agree."""
    from alerts.terms import exclude_pattern, normalise, strip_urls

    def blank(m: "regex.Match[str]") -> str:
        return " " * len(m.group())

    title, text = strip_urls(normalise(title)), strip_urls(normalise(text))
    found = []
    for topic in topics:
        t, x = title, text
        for phrase in topic.exclude:
            t, x = exclude_pattern(phrase).sub(blank, t), exclude_pattern(phrase).sub(blank, x)
        context = not topic.context or any(
            term_pattern(c).search(t) or term_pattern(c).search(x) for c in topic.context
        )
        for term in sorted(topic.terms, key=lambda s: len(normalise(s)), reverse=True):
            if is_acronym(term) and not context:
                continue
            t, n_title = term_pattern(term).subn(blank, t)
            x, n_text = term_pattern(term).subn(blank, x)
            if n_title or n_text:
                found.append((topic.id, term, n_title, n_text))
    return found


VOCABULARY = ["TTP", "ttp", "grey", "list", "FATF", "Taliban", "e", "Tehreek", "attack", "a"]
PIECES = [*VOCABULARY, " ", " ", "-", ", ", "–", "\n", "(", ")", "'s", ".", "https://x.org/TTP"]
REFERENCE_TOPICS = [
    *DEFAULT_TOPICS,
    Topic(id="g", name="G", terms=["grey list", "FATF grey list", "list", "a grey"]),
    Topic(
        id="t",
        name="T",
        terms=["TTP", "Tehreek-e-Taliban", "ttp attack", "TTP's"],
        context=["attack"],
        exclude=["grey list", "(TTP)"],
    ),
]


@given(
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
)
def test_the_fast_matcher_agrees_with_the_term_by_term_loop(text: str, title: str) -> None:
    rules = RuleSet(REFERENCE_TOPICS)
    fast = [(m.topic, m.term, m.title_count, m.text_count) for m in rules.match(title, text)]
    assert sorted(fast) == sorted(reference_match(REFERENCE_TOPICS, title, text))
