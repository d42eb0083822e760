"""Short windows of article text around what matched. Pure code."""

import regex

from alerts.rules import normalise

SNIPPET_CHARS = 240


def snippet(text: str, patterns: list["regex.Pattern[str]"], size: int = SNIPPET_CHARS) -> str:
    """A window of the text around the first match of any pattern (else its start)."""
    text = " ".join(normalise(text).split())
    starts = [m.start() for p in patterns if (m := p.search(text))]
    if not starts:
        return text[:size] + ("…" if len(text) > size else "")
    centre = min(starts)
    begin = max(0, centre - size // 3)
    if begin:
        space = text.find(" ", begin)
        begin = space + 1 if 0 <= space < centre else begin
    end = min(len(text), begin + size)
    return ("…" if begin else "") + text[begin:end] + ("…" if end < len(text) else "")
