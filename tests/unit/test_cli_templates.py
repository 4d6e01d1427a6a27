"""Go-template features the docker CLI's --format has, rendered by berth's CLI without Go."""

from berth.cli.templates import render

DATA = {"State": {"Health": {"Log": [{"Output": "first"}, {"Output": "second"}]}}, "Names": ["a", "bb"]}


def test_a_field_after_a_parenthesised_call_applies_to_its_result():
    assert render("{{(index .State.Health.Log 0).Output}}", DATA) == "first"


def test_a_parenthesised_result_can_be_piped_and_passed_on():
    assert render("{{(index .State.Health.Log 1).Output | upper}}", DATA) == "SECOND"
    assert render("{{len (index .Names 1)}}", DATA) == "2"


def test_several_groups_are_arguments_of_one_call():
    assert render("{{printf \"%s-%s\" (index .Names 0) (index .Names 1)}}", DATA) == "a-bb"
