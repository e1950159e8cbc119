"""Durations as scenario files write them: `90s`, `5m`, `1h30m`, `1.5h`, or a number of seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = ["h", "m", "s", "ms"]


class DurationError(ValueError):
    """A value that is not a duration; the message says what was expected."""


def parse_duration(value: object) -> float:
    """Return seconds for a duration value; raise DurationError with a readable reason.

    Numbers are seconds. Strings are one or more `<number><unit>` parts with units h, m, s, ms
    in that order, each at most once (`1h30m`, `90s`, `250ms`). Negative values are refused;
    zero is allowed here and refused by callers that need a positive length.
    """
    if isinstance(value, bool):  # YAML `yes`/`true` would otherwise pass as 1
        raise DurationError(f"expected a duration like 90s, 5m or 1h30m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise DurationError(
            f"expected a duration like 90s, 5m or 1h30m, got {type(value).__name__}"
        )
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise DurationError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise DurationError(f"must not be negative, got {value!r}")
    return seconds


def _parse_text(text: str) -> float:
    bad = DurationError(f"expected a duration like 90s, 5m or 1h30m, got {text!r}")
    if not text:
        raise bad
    try:
        return float(text)  # "300" or "-5" written as a string
    except ValueError:
        pass
    pos, total, last_unit = 0, 0.0, -1
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise bad
        unit_rank = _ORDER.index(match.group(2))
        if unit_rank <= last_unit:
            raise bad
        last_unit = unit_rank
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total


def format_duration(seconds: float) -> str:
    """Short human form, the inverse of parse_duration for whole seconds: 5430 -> `1h30m30s`."""
    if seconds != seconds:
        return "nan"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    if rest < 60 and rest != int(rest):
        return f"{sign}{rest:.1f}s"
    whole = round(rest)
    hours, whole = divmod(whole, 3600)
    minutes, secs = divmod(whole, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return sign + ("".join(parts) or "0s")
