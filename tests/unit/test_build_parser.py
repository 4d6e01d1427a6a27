"""The Dockerfile parser: directives, continuations, comments, flags, forms, stages, errors."""

from __future__ import annotations

import pytest

from berth.build.parser import DockerfileError, parse


def test_instructions_are_case_insensitive_and_keep_their_line_numbers():
    df = parse("from busybox\n\nrun echo hi\n")
    assert [(i.cmd, i.line) for i in df.stages[0].instructions] == [("RUN", 3)]
    assert df.stages[0].from_instruction.cmd == "FROM"


def test_line_continuation_joins_lines_and_skips_comments_inside():
    df = parse("FROM busybox\nRUN echo a \\\n# a comment\n    && echo b\n")
    run = df.stages[0].instructions[0]
    assert run.args == "echo a     && echo b"
    assert run.line == 2


def test_escape_directive_changes_the_continuation_token():
    df = parse("# escape=`\nFROM busybox\nRUN echo a `\n b\n")
    assert df.escape == "`"
    assert df.stages[0].instructions[0].args == "echo a  b"


def test_directives_only_count_at_the_top():
    df = parse("FROM busybox\n# escape=`\nRUN echo a \\\n b\n")
    assert df.escape == "\\"
    assert df.stages[0].instructions[0].args == "echo a  b"


def test_syntax_directive_is_recorded():
    assert parse("# syntax=docker/dockerfile:1\nFROM busybox\n").directives == {"syntax": "docker/dockerfile:1"}


def test_exec_form_is_recognised_and_invalid_json_falls_back_to_shell_form():
    df = parse('FROM busybox\nCMD ["echo", "hi"]\nRUN [not json\n')
    cmd, run = df.stages[0].instructions
    assert cmd.json == ["echo", "hi"]
    assert run.json is None and run.args == "[not json"


def test_flags_are_split_off():
    df = parse("FROM busybox AS a\nFROM busybox\nCOPY --from=a --chown=1:2 /x /y\n")
    copy = df.stages[1].instructions[0]
    assert copy.flags == {"from": "a", "chown": "1:2"}
    assert copy.args == "/x /y"


def test_unknown_flag_is_an_error_naming_the_line_and_instruction():
    with pytest.raises(DockerfileError, match=r"line 2: COPY: unknown flag: --bogus"):
        parse("FROM busybox\nCOPY --bogus=1 a b\n")


def test_unknown_instruction_names_the_line():
    with pytest.raises(DockerfileError, match=r"line 3: unknown instruction: FOO"):
        parse("FROM busybox\nRUN true\nFOO bar\n")


def test_stages_with_names_and_meta_args():
    df = parse("ARG V=1\nFROM busybox:${V} AS Build\nRUN true\nFROM scratch\nCOPY --from=build /a /a\n")
    assert [a.args for a in df.meta_args] == ["V=1"]
    assert [(s.index, s.name, s.base) for s in df.stages] == [(0, "build", "busybox:${V}"), (1, None, "scratch")]


def test_duplicate_stage_names_are_refused():
    with pytest.raises(DockerfileError, match="duplicate name"):
        parse("FROM busybox AS a\nFROM busybox AS a\n")


def test_instruction_before_from_is_an_error():
    with pytest.raises(DockerfileError, match="line 1: RUN before the first FROM"):
        parse("RUN true\nFROM busybox\n")


def test_no_from_is_an_error():
    with pytest.raises(Exception, match="no FROM"):
        parse("# nothing\n")


def test_shell_requires_json():
    with pytest.raises(DockerfileError, match="SHELL requires the arguments to be in JSON form"):
        parse("FROM busybox\nSHELL /bin/sh -c\n")


def test_onbuild_refuses_forbidden_triggers():
    with pytest.raises(DockerfileError, match="FROM isn't allowed as an ONBUILD trigger"):
        parse("FROM busybox\nONBUILD FROM x\n")


def test_from_platform_flag():
    df = parse("FROM --platform=linux/amd64 busybox\n")
    assert df.stages[0].platform == "linux/amd64"


def test_heredoc_is_a_clear_error_not_a_confusing_one():
    with pytest.raises(DockerfileError, match="line 2: RUN: heredocs"):
        parse("FROM busybox\nRUN <<EOF\necho hi\nEOF\n")
