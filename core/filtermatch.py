"""How dockerd's ``filters`` values match (its ``filters.Args``), shared by every listing that filters.

``pattern_match`` is ``Match``: an equal value, or a regular expression found anywhere in
the field (a pattern that does not compile matches only itself). ``labels_match`` is
``MatchKVList``: every ``key`` or ``key=value`` holds.
"""

from __future__ import annotations

import re
from typing import Iterable


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
