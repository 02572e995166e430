"""SearchFilter -> an SQL condition on `memories AS m`. Every search path goes through it.

The persona rule lives here and only here: a persona sees its own memories (private or
shared) and the memories other personas marked shared, never another persona's private
ones. Vector and text candidates are both checked against this condition in SQL.
"""

from __future__ import annotations

from secondself.memory.model import SearchFilter, Visibility

Params = list[object]


def condition(f: SearchFilter, now: float) -> tuple[str, Params]:
    parts: list[str] = []
    params: Params = []
    if f.visibility is Visibility.PRIVATE:
        parts.append("(m.persona = ? AND m.visibility = 'private')")
        params.append(f.persona)
    elif f.visibility is Visibility.SHARED:
        parts.append("m.visibility = 'shared'")
    else:
        parts.append("(m.persona = ? OR m.visibility = 'shared')")
        params.append(f.persona)
    if f.kinds:
        parts.append(f"m.kind IN ({', '.join('?' * len(f.kinds))})")
        params.extend(str(k) for k in f.kinds)
    if f.since is not None:
        parts.append("m.created >= ?")
        params.append(f.since)
    if f.until is not None:
        parts.append("m.created < ?")
        params.append(f.until)
    if not f.include_superseded:
        parts.append("(m.valid_to IS NULL OR m.valid_to > ?)")
        params.append(now)
    return " AND ".join(parts), params
