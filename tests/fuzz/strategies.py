"""Hypothesis strategies for hostile input: text, names and JSON values a user or attacker
might give, mixed with plausible ones so that examples also get past the first check."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

# Strings that broke something somewhere once, or could: empty, blank, control and
# surrogate characters, path tricks, regex templates, numbers in words, very long.
TRICKY = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udcff",
    "\x1b[31mred",
    "line\nbreak",
    "trailing\n",
    "\r",
    "\u2028",
    "\u202eevil",
    "\ufeffbom",
    "\ufffd",
    "..",
    "../x",
    "/etc/passwd",
    "a/b",
    "C:\\x",
    "%s%n",
    "\\g<0>",
    "\\9",
    "*",
    '"',
    "'; DROP TABLE memories; --",
    "NEAR(a b)",
    "NaN",
    "Infinity",
    "-1",
    "0",
    "1e300",
    "9" * 30,
    "default",
    "personal",
    "x" * 300,
    "y" * 32_001,
]

# Characters that are rare among all code points and often mishandled: lone surrogates
# (from JSON's "\ud800", or a command line's bytes that are not UTF-8), NUL, controls,
# line and direction marks.
NASTY = [
    "a",
    " ",
    "\ud800",
    "\udcff",
    "\x00",
    "\n",
    "\r",
    "\x1b",
    "\x7f",
    "é",
    "\u2028",
    "\u202e",
    "\ufeff",
]

PLAIN = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,30}", fullmatch=True)
# Notes made of words that the store's rules react to (facts that update older ones).
WORDS = st.lists(
    st.sampled_from(
        "my the dog cat is called was Rex Tom gate code 4411 key blue café now".split()
    ),
    min_size=1,
    max_size=8,
).map(" ".join)


def mostly(
    good: st.SearchStrategy[T], bad: st.SearchStrategy[Any], odds: int = 3
) -> st.SearchStrategy[Any]:
    """`good` `odds` times to `bad`'s once: most examples get past the first check."""
    return st.one_of([good] * odds + [bad])


def text() -> st.SearchStrategy[str]:
    """Any string: plain words, tricky ones, or any code points (surrogates included)."""
    return st.one_of(
        PLAIN,
        st.sampled_from(TRICKY),
        st.text(st.sampled_from(NASTY), min_size=1, max_size=8),
        st.text(st.characters(exclude_categories=[]), max_size=30),
    )


def name() -> st.SearchStrategy[str]:
    """A user or persona name: good ones, near misses, and anything."""
    good = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)
    return st.one_of(st.sampled_from(["default", "personal", "bob", "work"]), good, text())


def numbers() -> st.SearchStrategy[int | float]:
    """Ints of any size and floats, NaN and infinities included."""
    return st.one_of(
        st.integers(-(2**70), 2**70),
        st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 10**400]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1.7e9, 1e300, -1e-300, float("nan"), float("inf")]),
    )


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value: scalars of every type, and lists and objects of them."""
    scalars = st.one_of(st.none(), st.booleans(), numbers(), text())
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text(), inner, max_size=3),
        max_leaves=6,
    )


def good_times() -> st.SearchStrategy[Any]:
    """A time a memory can have: unix seconds or ISO 8601 from 1970 to now."""
    since_1970 = st.datetimes(datetime(1970, 1, 2), datetime(2025, 1, 1))
    return st.one_of(
        st.floats(0, 1.7e9), st.integers(0, 1_700_000_000), since_1970.map(datetime.isoformat)
    )


def times() -> st.SearchStrategy[Any]:
    """A memory's time: mostly a good one; else out of range, no time at all, or not one."""
    return mostly(
        good_times(),
        st.one_of(
            st.integers(-(10**12), 10**12),
            st.datetimes().map(datetime.isoformat),
            st.sampled_from(["2025-01-31T18:00+14:00", "0001-01-01", "9999-12-31", "soon"]),
            json_values(),
        ),
    )
