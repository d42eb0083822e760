"""Decoding article pages whose declared charset lies.

Sites serve windows-1252 bytes as "utf-8", UTF-8 as "iso-8859-1", and meta tags that
contradict the header; trusting the header (as Scrapy's `response.text` does) stored
"caf�" and "Ø·Ø§Ù„Ø¨Ø§Ù†". Bytes that are valid UTF-8 with non-ASCII in them are
almost never anything else, so that check overrules a declaration; a UTF-8 declaration the
bytes break falls back to the other declaration, then windows-1252 (the web's legacy default).
"""

from w3lib.encoding import (
    html_body_declared_encoding,
    html_to_unicode,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

_LEGACY_DEFAULT = "cp1252"


def decode_page(body: bytes, content_type: str | None) -> str:
    """The page's text, decoded by what its bytes are when its declarations disagree."""
    bom_encoding, bom = read_bom(body)
    header = http_content_type_encoding(content_type) if content_type else None
    if bom_encoding or (header and _wide(header)):
        return html_to_unicode(content_type, body)[1]  # a BOM, or UTF-16/32: no guessing
    declared = [e for e in (header, html_body_declared_encoding(body)) if e]
    if not body.isascii() and _is_utf8(body):
        return body.decode("utf-8")
    for encoding in [*declared, _LEGACY_DEFAULT]:
        if _codec(encoding) == "utf-8":
            continue  # not valid UTF-8 (checked above), whatever the page says
        try:
            return body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode(_LEGACY_DEFAULT, "replace")


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _codec(encoding: str) -> str:
    return (resolve_encoding(encoding) or encoding).lower().replace("_", "-")


def _wide(encoding: str) -> bool:
    return _codec(encoding).startswith(("utf-16", "utf-32"))
