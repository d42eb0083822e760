"""The exceptions mediawatch raises, so callers catch ours and never a library's.

    MediawatchError
     ├── ConfigError          bad configuration file, key or value (CLI exit 2)
     ├── UsageError           bad command-line input such as a malformed date (CLI exit 2)
     ├── NotFoundError        no article, outlet or subscription with that id (CLI exit 1)
     └── QueryError           a search query that cannot be parsed (CLI exit 2)

Email delivery has its own small tree, `alerts.errors.DeliveryError`, below this package
(alerts/ imports nothing of crawler/); the CLI reports both the same way.

Third-party errors are translated where they enter our code; the CLI turns each of these
into one line on stderr and an exit code. describe() puts pydantic's errors about
mediawatch.toml into plain words, each with the key path and the fix.
"""

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any


class MediawatchError(Exception):
    """Base of every error mediawatch raises on purpose."""

    exit_code = 1


class ConfigError(MediawatchError):
    """The configuration file, a key in it or a value is wrong; the message says how to fix it."""

    exit_code = 2


class UsageError(MediawatchError):
    """A command-line argument is wrong."""

    exit_code = 2


class NotFoundError(MediawatchError):
    """The thing asked for does not exist."""


class QueryError(MediawatchError):
    """A search query could not be parsed."""

    exit_code = 2


# Configuration errors in plain words ------------------------------------------------------
#
# pydantic reports what went wrong in its own terms ("Input should be a valid boolean",
# "String should match pattern '^[a-z]{2,3}$'"); describe() says it as a person would, names
# the key (`subscriptions[1].email`) and gives the fix for that key, never a generic one.

# The form each pattern in the model asks for, in words, and an example. A pattern added to the
# model needs its line here (tests/test_config.py checks that every pattern has one).
PATTERN_WORDS: dict[str, tuple[str, str]] = {
    r"^[a-z0-9_-]+$": (
        'may hold only lowercase letters, digits, "-" and "_"',
        'an id such as "cpec" or "grey_list"',
    ),
    r"^[a-z0-9-]+$": (
        'may hold only lowercase letters, digits and "-"',
        'an id such as "daily-chronicle"',
    ),
    r"^[a-z]{2,3}$": (
        "must be a two- or three-letter language code in lower case (ISO 639)",
        'a code such as "en", "ur" or "bn"',
    ),
    r"^([A-Z]{2}|regional)?$": (
        'must be a two-letter country code in capitals (ISO 3166) or "regional"',
        'a code such as "PK", "IN" or "BD"',
    ),
    r"^$|^[^@\s]+@[^@\s]+$": ("must be an email address", '"desk@example.org"'),
}

# An example value for each key that has no default, by (table, key), for the fix of a missing
# one ("add id = ..." tells a new user nothing). A required key added to the model needs its
# line here (tests/test_config.py checks that every required key has one).
REQUIRED_EXAMPLES: dict[tuple[str, str], str] = {
    ("topics", "id"): '"cismoa"',
    ("topics", "name"): '"CISMOA"',
    ("outlets", "id"): '"daily-chronicle"',
    ("outlets", "name"): '"Daily Chronicle"',
}

_SECRET_WORDS = ("token", "password", "secret", "url", "notify")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")
_FIX_VERBS = {"use", "write", "add", "remove", "list", "set", "give", "check", "put", "name"}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a TOML key as mediawatch.toml spells them


def describe(error: Mapping[str, Any], data: Mapping[str, Any], known: Iterable[str] = ()) -> str:
    """One pydantic error as one line: the key path, what is wrong in plain words, what was
    given (unless it may be a secret), and the fix for this key. `known` lists the keys that
    the table holding the bad key accepts, for "did you mean" on a misspelt one."""
    loc = tuple(error["loc"])
    key = key_path(loc, data)
    name = next((str(p) for p in reversed(loc) if isinstance(p, str) and _KEY.match(p)), "")
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    got = error.get("input")
    secret = is_secret(key, got)
    shown = "" if isinstance(got, dict | list) or secret else f" (got {_toml(got)})"
    # The fix may quote the value back ("write port = 25"): never a secret's.
    if kind == "missing":
        table = next((str(p) for p in loc if isinstance(p, str)), "")
        example = REQUIRED_EXAMPLES.get((table, name), '"..."')
        problem, fix = "required key is missing", f"add {name} = {example}"
    else:
        problem, fix = _plain(kind, name, None if secret else got, ctx, str(error["msg"]), known)
    problem = _URL_PASSWORD.sub(r"\1***@", problem)
    fix = _URL_PASSWORD.sub(r"\1***@", fix) if fix else fix
    where = f"{key}: " if key else ""
    if kind == "extra_forbidden" or kind == "missing":
        shown = ""
    return f"{where}{problem}{shown}." + (f" Fix: {fix.rstrip('.')}." if fix else "")


def _plain(
    kind: str, name: str, got: Any, ctx: Mapping[str, Any], msg: str, known: Iterable[str]
) -> tuple[str, str]:
    """(problem, fix) for one pydantic error type."""
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, list(known), n=1)
        fix = f"did you mean {close[0]}? Correct the spelling" if close else "remove it"
        return "unknown key", f"{fix} (`mediawatch init` writes every key there is)"
    if kind == "bool_type" or kind == "bool_parsing":
        guess = _as_bool(got)
        fix = f"write {name} = {guess}" if guess else f"write {name} = true or {name} = false"
        return "must be true or false, without quotes", fix
    if kind in ("int_type", "int_parsing", "int_from_float"):
        number = _as_number(got)
        if number is not None and float(number).is_integer():
            fix = f"write {name} = {int(number)}"
        else:
            fix = f"write a whole number: {name} = 5"
        return "must be a whole number, without quotes", fix
    if kind in ("float_type", "float_parsing"):
        number = _as_number(got)
        fix = f"write {name} = {number}" if number is not None else f"write {name} = 1.5"
        return "must be a number, without quotes", fix
    if kind == "string_type":
        return "must be text in double quotes", f'write {name} = "{"..." if got is None else got}"'
    if kind in ("list_type", "tuple_type", "set_type"):
        item = f'"{got}"' if isinstance(got, str) else "..."
        return "must be a list in square brackets", f"write {name} = [{item}]"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a table of keys", f"write [{name}] on a line of its own, its keys below"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        word = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        bound = next(iter(ctx.values()), "")
        fix = {
            "greater_than_equal": f"{bound} or more",
            "greater_than": f"more than {bound}",
            "less_than_equal": f"{bound} or less",
            "less_than": f"less than {bound}",
        }[kind]
        return f"must be {word} {bound}", f"write {name} = {fix}"
    if kind in ("too_short", "too_long"):
        size = ctx.get("min_length" if kind == "too_short" else "max_length")
        if isinstance(got, list):
            if kind == "too_short":
                return f"must list at least {size}", f"add at least {size} to {name}"
            return f"may list at most {size}", f"keep {size} or fewer in {name}"
        if kind == "too_short":
            return "must not be empty", f"write a value in the quotes of {name}"
        return f"may be at most {size} characters long", f"shorten it to {size} characters"
    if kind in ("string_too_short", "string_too_long"):
        if kind == "string_too_short":
            return "must not be empty", f"write a value in the quotes of {name}"
        size = ctx.get("max_length")
        return f"may be at most {size} characters long", f"shorten it to {size} characters"
    if kind == "string_pattern_mismatch":
        words, sample = PATTERN_WORDS.get(
            str(ctx.get("pattern")), ("does not have the form this key needs", "")
        )
        return words, (f"write {sample}" if sample else "see the README's configuration section")
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        return f"must be one of {expected}", f"write one of {expected}"
    if kind == "timedelta_type":
        return "must be a duration", f'write a number and a unit: {name} = "30s", "15m" or "2h"'
    if kind in ("value_error", "assertion_error"):
        text = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        problem, _, fix = text.partition(". Fix: ")
        if not fix:
            # A message written as "what is wrong; what to do" ("...; use an IANA name").
            head, _, tail = text.partition("; ")
            if tail.split(" ", 1)[0] in _FIX_VERBS:
                problem, fix = head, tail
        return problem.rstrip("."), fix
    return msg, ""


def _toml(value: Any) -> str:
    """A value as it appears in the file: strings in double quotes, booleans lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:60] + "…"
        return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _as_bool(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("yes", "on", "true", "1", "y"):
        return "true"
    if text in ("no", "off", "false", "0", "n"):
        return "false"
    return ""


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def is_secret(key: str, value: Any) -> bool:
    """Whether a bad value may hold a secret, so an error message must not echo it (a token,
    a password, or any URL, which may carry one as user:password@)."""
    last = key.rsplit(".", 1)[-1].lower()
    return any(word in last for word in _SECRET_WORDS) or (
        isinstance(value, str) and "://" in value
    )


def key_path(loc: tuple[Any, ...], data: Any) -> str:
    """`subscriptions[1].email`, `outlets[0] (id 'x').feeds`: where in the file a value is.
    Empty for a check across several keys, whose message names them itself."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label = f"[{item}] (id {node['id']!r})"
            parts.append(label)
        elif not _KEY.match(str(item)):
            continue  # pydantic's own steps: "function-after[_cross_checks()]"
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)
