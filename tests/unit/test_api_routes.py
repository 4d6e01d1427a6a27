"""The API's route table: one handler per method and path (a second one is dead code that drifts)."""

from __future__ import annotations

from collections import Counter

from berth.api.server import route_modules


def test_every_method_and_path_has_one_handler():
    counts = Counter((method, path) for module in route_modules() for method, path, _ in module.routes.table)
    assert [route for route, n in counts.items() if n > 1] == []
    assert counts[("POST", "/images/create")] == 1  # import and pull share it (issue 15)
