"""Human durations ("90s", "15m", "2h", "1d") as used in mediawatch.toml."""

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """Turn "90s", "15m", "2h" or "1d" into a timedelta. A bare number is refused: `30`
    could mean seconds or minutes, so the unit is always written."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'a duration needs a unit. Fix: write "{value:g}s" for seconds or "{value:g}m" for '
            "minutes (in quotes; h for hours, d for days)"
        )
    if isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(
            "is not a duration. Fix: write a number and a unit in quotes, e.g. "
            '"90s", "15m", "2h" or "1d"'
        )
    if seconds <= 0:
        raise ValueError('is not longer than zero. Fix: write a duration such as "30s"')
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration in the units parse_duration reads."""
    seconds = delta.total_seconds()
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# A duration field in a pydantic model: "90s", "15m", "2h", "1d" or seconds.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
