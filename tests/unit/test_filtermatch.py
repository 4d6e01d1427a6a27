"""dockerd's filter matching: patterns searched as regular expressions, labels as keys or key=value."""

from berth.filtermatch import labels_match, pattern_match


def test_a_pattern_is_searched_anywhere_and_an_equal_value_always_matches():
    assert pattern_match(["web"], "/webapp")
    assert pattern_match(["^/web$"], "/web") and not pattern_match(["^/web$"], "/webapp")
    assert pattern_match(["a[b"], "a[b")  # not a regular expression, but equal


def test_a_pattern_that_does_not_compile_matches_nothing_else():
    assert not pattern_match(["["], "/web[")


def test_every_label_spec_must_hold():
    labels = {"tier": "front", "env": ""}
    assert labels_match(["tier", "env"], labels)
    assert labels_match(["tier=front", "env="], labels)
    assert not labels_match(["tier=back"], labels)
    assert not labels_match(["tier", "missing"], labels)
    assert labels_match([], {})
