"""How dockerd's ``filters`` values match (its ``filters.Args``), shared by every listing that filters.

``pattern_match`` is ``Match``: an equal value, or a regular expression found anywhere in
the field (a pattern that does not compile matches only itself). ``labels_match`` is
``MatchKVList``: every ``key`` or ``key=value`` holds. ``check_filter_names`` and
``bool_filter`` refuse what dockerd refuses, with its words (a 400).
"""

from __future__ import annotations

import re
from typing import Iterable

from berth.errors import InvalidArgument


def pattern_match(patterns: Iterable[str], value: str) -> bool:
    """Whether any of ``patterns`` equals ``value`` or is found in it as a regular expression."""
    for pattern in patterns:
        if pattern == value:
            return True
        try:
            if re.search(pattern, value):
                return True
        except re.error:
            continue
    return False


def labels_match(wanted: Iterable[str], labels: dict[str, str]) -> bool:
    """Whether every ``key`` (present) or ``key=value`` (equal) in ``wanted`` holds for ``labels``."""
    for spec in wanted:
        key, has_value, value = spec.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def labels_excluded(unwanted: Iterable[str], labels: dict[str, str]) -> bool:
    """Images' ``label!``: true when any ``key`` (present at all) or ``key=value`` (that value) is in ``labels``."""
    for spec in unwanted:
        key, has_value, value = spec.partition("=")
        if key in labels and (not has_value or labels[key] == value):
            return True
    return False


def check_filter_names(filters: dict[str, list[str]], accepted: set[str]) -> None:
    """A filter the route does not know is dockerd's 400."""
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")


def bool_filter(filters: dict[str, list[str]], key: str) -> bool | None:
    """A boolean filter's value (None when absent); bad or conflicting values are dockerd's 400."""
    values = {v.lower() for v in filters.get(key, [])}
    if not values:
        return None
    meanings = {v in ("true", "1") for v in values}
    if not values <= {"true", "1", "false", "0"} or len(meanings) > 1:
        raise InvalidArgument(f"invalid filter '{key}=[{' '.join(filters[key])}]'")
    return meanings.pop()
