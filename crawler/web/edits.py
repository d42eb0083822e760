"""The article page's "edited" section: its versions and a word-level diff between two.

Server-rendered (no JavaScript, the CSP stays): the pieces of alerts.wordiff go to the
template, whose autoescape escapes every word of page text; <del> and <ins> mark the change.
"""

import re
from dataclasses import dataclass

from alerts.wordiff import Piece, changed, word_diff
from crawler.archive.reader import Archive
from storage.versions import Version


@dataclass(frozen=True)
class EditView:
    """An edited article's versions, and the change to version `shown` from the one before."""

    versions: list[Version]
    shown: int
    title: list[Piece] | None  # None when the headline did not change
    text: list[Piece]


def edit_view(archive: Archive, article_id: int, asked: str | None) -> EditView | None:
    """The section for an article with more than one version (None otherwise); `asked` is the
    ?version= of the page (the latest when absent or not one of its versions)."""
    versions = archive.versions(article_id)
    if len(versions) < 2:
        return None
    numbers = [v.version for v in versions[1:]]
    # ASCII digits, few: str.isdigit() takes "²" (int() refuses it) and int() refuses 4,301+.
    wanted = int(asked) if asked and re.fullmatch(r"[0-9]{1,9}", asked) else None
    shown = wanted if wanted in numbers else numbers[-1]
    position = next(i for i, v in enumerate(versions) if v.version == shown)
    old, new = versions[position - 1], versions[position]
    title = word_diff(old.title, new.title)
    return EditView(
        versions, shown, title if changed(title) else None, word_diff(old.text, new.text)
    )
