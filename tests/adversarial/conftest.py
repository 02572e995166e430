"""The suite's household, planted once, and its tally: each test case is one attack, of the
kind its test function names.

A run ends with how many attacks of each kind were tried and how many held. An attack that
does not hold yet is an `xfail(strict=True)` naming the gap (docs/security.md lists them):
it counts as tried, not held, and the day it holds the run fails until the mark goes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.adversarial.planted import plant

SUITE = "tests/adversarial/"
tried: Counter[str] = Counter()
held: Counter[str] = Counter()


@pytest.fixture(scope="session")
def household(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted data home (planted.py), made once for the whole suite."""
    home = tmp_path_factory.mktemp("household")
    plant(home / "data", home / "planted")
    return home / "data"


def kind(nodeid: str) -> str:
    """`tests/adversarial/test_web_guards.py::test_token[none-list]` -> `test_token`."""
    return nodeid.rpartition("::")[2].partition("[")[0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith(SUITE):
        return
    attack = kind(report.nodeid)
    if report.when == "call" or (report.when == "setup" and report.failed):
        tried[attack] += 1
        held[attack] += report.when == "call" and report.passed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not tried:
        return
    total, kept = sum(tried.values()), sum(held.values())
    terminalreporter.write_sep("-", f"attacks: {total} tried, {kept} held")
    width = max(map(len, tried))
    for attack in sorted(tried):
        terminalreporter.write_line(
            f"{attack:<{width}}  {tried[attack]:>3} tried  {held[attack]:>3} held"
        )
