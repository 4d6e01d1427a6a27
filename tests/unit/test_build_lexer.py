"""Variable substitution and word splitting as Docker's Dockerfile lexer does them."""

from __future__ import annotations

import pytest

from berth.build.lexer import Lexer, split_raw
from berth.errors import InvalidArgument

ENV = {"A": "apple", "EMPTY": "", "SP": "a b"}


@pytest.mark.parametrize("text, expected", [
    ("$A", "apple"),
    ("${A}x", "applex"),
    ("${MISSING:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${MISSING-dflt}", "dflt"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${MISSING:-${A}}", "apple"),
    ("'$A'", "$A"),
    ('"$A"', "apple"),
    ('"a\\"b"', 'a"b'),
    ("\\$A", "$A"),
    ("$", "$"),
    ("$MISSING", ""),
])
def test_process_word(text, expected):
    assert Lexer().process_word(text, ENV) == expected


def test_unquoted_expansion_is_split_into_words_but_quoted_is_not():
    lexer = Lexer()
    assert lexer.process_words("$SP x", ENV) == ["a", "b", "x"]
    assert lexer.process_words('"$SP" x', ENV) == ["a b", "x"]
    assert lexer.process_words('"" x', ENV) == ["", "x"]


def test_required_variable_reports_its_message():
    with pytest.raises(InvalidArgument, match="MISSING: must be set"):
        Lexer().process_word("${MISSING:?must be set}", ENV)


def test_unsupported_modifier_is_an_error():
    with pytest.raises(InvalidArgument, match="unsupported modifier"):
        Lexer().process_word("${A%x}", ENV)


def test_backtick_escape():
    assert Lexer("`").process_word("`$A", ENV) == "$A"


def test_split_raw_keeps_quotes():
    assert split_raw('a="x y" b=c\\ d') == ['a="x y"', "b=c\\ d"]
