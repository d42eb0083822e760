"""Stored articles as the emails show them."""

from alerts.render import EmailArticle
from alerts.rules import RuleSet
from alerts.snippets import snippet
from storage.models import ArticleRow


def email_article(row: ArticleRow, rules: RuleSet, outlet_names: dict[str, str]) -> EmailArticle:
    """A stored article as an alert or digest shows it: outlet name, terms, snippet."""
    topics = sorted({m.topic for m in row.matches})
    return EmailArticle(
        id=row.id,
        title=row.title or row.url,
        url=row.url,
        outlet=outlet_names.get(row.outlet_id, row.outlet_id),
        author=row.author,
        published=row.published,
        score=row.score,
        topics=topics,
        terms=[
            (m.topic, m.term, m.title_count + m.text_count, m.title_count > 0)
            for m in sorted(row.matches, key=lambda m: (m.topic, m.term))
        ],
        snippet=snippet(row.text, rules.highlight_patterns(topics)),
    )
