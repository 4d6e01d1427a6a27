"""fuse-overlay's storage options: the speed levers, their defaults and their refusals."""

from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.plugins.graphdrivers.fuse_overlay import options


def test_no_options_give_the_fast_defaults():
    assert options.parse({}) == options.ServeOptions(writeback=True, fast_loop=True, cache_timeout=60.0,
                                                     read_ahead_kb=1024)


def test_options_become_the_serving_process_flags():
    opts = options.parse({"fuse-overlay.writeback": "false", "fuse-overlay.fast_loop": "off",
                          "fuse-overlay.cache_timeout": "0.5", "fuse-overlay.read_ahead_kb": "0"})
    assert opts.args() == ["--no-writeback", "--no-fast-loop", "--timeout", "0.5", "--read-ahead-kb", "0"]


def test_unknown_option_is_refused_naming_the_known_ones():
    with pytest.raises(InvalidArgument, match="unknown storage option overlay2.size; it takes fuse-overlay.writeback"):
        options.parse({"overlay2.size": "1G"})


@pytest.mark.parametrize("key, value", [("fuse-overlay.writeback", "maybe"), ("fuse-overlay.cache_timeout", "-1"),
                                        ("fuse-overlay.read_ahead_kb", "1.5")])
def test_bad_values_are_refused(key, value):
    with pytest.raises(InvalidArgument, match=key):
        options.parse({key: value})
