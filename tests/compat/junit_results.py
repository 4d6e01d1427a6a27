"""Read pytest's junit XML and compare two runs of the same suite test by test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclass(frozen=True)
class Outcome:
    """One test's result: ``passed``, ``failed``, ``error`` or ``skipped``, and the first line of why."""

    status: str
    reason: str = ""


def read_outcomes(path: str) -> dict[str, Outcome]:
    """``{test id: Outcome}`` from a junit XML file; the test id is ``module.Class::test``."""
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        results[test_id] = _outcome_of(case)
    return results


def _outcome_of(case: ET.Element) -> Outcome:
    for status in ("failure", "error", "skipped"):
        element = case.find(status)
        if element is not None:
            message = element.get("message") or (element.text or "")
            first_line = message.strip().splitlines()[0] if message.strip() else ""
            return Outcome("failed" if status == "failure" else status, first_line[:300])
    return Outcome("passed")


def counts(results: dict[str, Outcome]) -> dict[str, int]:
    """How many tests ended in each outcome."""
    tally = dict.fromkeys(OUTCOMES, 0)
    for outcome in results.values():
        tally[outcome.status] += 1
    return tally


def differing(berth: dict[str, Outcome], docker: dict[str, Outcome]) -> list[tuple[str, Outcome, Outcome]]:
    """Tests whose outcome differs between the two runs (a test missing from one run counts as differing)."""
    missing = Outcome("not run")
    return [(test_id, berth.get(test_id, missing), docker.get(test_id, missing))
            for test_id in sorted(set(berth) | set(docker))
            if berth.get(test_id, missing).status != docker.get(test_id, missing).status]


def format_counts(name: str, results: dict[str, Outcome]) -> str:
    """``name: N passed, N failed, N errors, N skipped (N tests)``."""
    tally = counts(results)
    return (f"{name}: {tally['passed']} passed, {tally['failed']} failed, {tally['error']} errors, "
            f"{tally['skipped']} skipped ({len(results)} tests)")
