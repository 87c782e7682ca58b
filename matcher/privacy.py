"""Pseudonymous ids: keyed hashes in place of case-system ids, and redacted reports.

``pseudonymise`` replaces every child id and sibling-group id with an HMAC-SHA256 of it under a
key the user keeps (``load_key``), so real case numbers never reach the matcher's database, plans
or reports. The matcher keeps no table back to the real ids: ``reveal_map`` rebuilds it from the
user's own export and key, at the user's end. ``redaction_map`` gives stable hashes for reports
that leave the team (every child, placement and team id); ``replace_ids`` applies a mapping to
JSON-like documents, free text included.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from matcher.exceptions import MatcherError
from matcher.instance import Instance
from matcher.io import instance_from_dict, instance_to_dict
from matcher.plans import Result

KEY_BYTES = 32
DIGEST_CHARS = 20
"""Hex characters kept of each HMAC (80 bits): collisions are checked for and refused anyway."""
ID_CHARS = "A-Za-z0-9_.-"
REDACTED_CHARS = 12
"""Length of a redacted id in a report: a kind letter and 44 bits of the HMAC."""


def load_key(path: str, *, create: bool) -> bytes:
    """The key in ``path``; with ``create``, a new random key is written there (owner-only)
    when the file does not exist."""
    key_path = Path(path)
    if not key_path.exists():
        if not create:
            raise MatcherError(f"{path}: key file not found")
        descriptor = os.open(key_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        key = bytes.fromhex(key_path.read_text().strip())
    except (OSError, ValueError) as error:
        raise MatcherError(f"{path}: not a key file written by the matcher ({error})") from None
    if len(key) < 16:
        raise MatcherError(f"{path}: the key is too short (at least 16 bytes)")
    return key


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """The keyed hash of ``value`` (a child or a sibling group), a valid contract id."""
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[0]}{digest[:DIGEST_CHARS]}"


def _renamer(key: bytes, kind: str, values: list[str]) -> Callable[[str | None], str | None]:
    mapping = {value: pseudonym(key, kind, value) for value in values}
    if len(set(mapping.values())) != len(mapping):
        raise MatcherError(f"two {kind} ids hash alike: use another key")
    return lambda value: None if value is None else mapping.get(value, value)


def pseudonymise(instance: Instance, key: bytes) -> Instance:
    """``instance`` with every child and sibling-group id replaced by its keyed hash."""
    document = instance_to_dict(instance)
    child = _renamer(key, "child", [c["id"] for c in document["children"]])
    group = _renamer(key, "group", [g["id"] for g in document["sibling_groups"]])
    for record in document["children"]:
        record["id"] = child(record["id"])
        record["sibling_group"] = group(record["sibling_group"])
    for record in document["sibling_groups"]:
        record["id"] = group(record["id"])
    for record in document["conflicts"]:
        record["a"], record["b"] = child(record["a"]), child(record["b"])
    for record in document["distances"]:
        record["child"] = child(record["child"])
    return instance_from_dict(document, "<pseudonymised>")


def reveal_map(original: Instance, key: bytes) -> dict[str, str]:
    """Pseudonym -> real child id, rebuilt from the user's export with real ids and the key."""
    return {pseudonym(key, "child", c.id): c.id for c in original.children}


def replace_ids(document: Any, mapping: dict[str, str]) -> Any:
    """``document`` (JSON-like) with every id in ``mapping`` replaced, in values, keys and text."""
    if not mapping:
        return document
    ids = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(
        f"(?<![{ID_CHARS}])(" + "|".join(re.escape(i) for i in ids) + f")(?![{ID_CHARS}])"
    )

    def text(value: str) -> str:
        return pattern.sub(lambda match: mapping[match.group(1)], value)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        return value

    return walk(document)


def redaction_map(instance: Instance, key: bytes) -> dict[str, str]:
    """Stable hashes for every child, placement and outreach-team id, for reports."""
    mapping = {}
    for kind, ids in (
        ("child", [c.id for c in instance.children]),
        ("place", [p.id for p in instance.placements]),
        ("team", [t.id for t in instance.outreach_teams]),
    ):
        mapping.update({i: pseudonym(key, kind, i)[:REDACTED_CHARS] for i in ids})
    if len(set(mapping.values())) != len(mapping):
        raise MatcherError("two ids redact alike: use another key")
    return mapping


def redact_result(result: Result, mapping: dict[str, str]) -> Result:
    """``result`` with ids replaced by ``mapping`` in assignments, changes and explanations."""

    def rename(value: str | None) -> str | None:
        return None if value is None else mapping.get(value, value)

    plans = [
        replace(
            plan,
            assignments=[
                replace(
                    a,
                    child=mapping.get(a.child, a.child),
                    placement=rename(a.placement),
                    outreach=rename(a.outreach),
                )
                for a in plan.assignments
            ],
            changes_from_best=replace_ids(plan.changes_from_best, mapping),
            explanations=replace_ids(plan.explanations, mapping),
        )
        for plan in result.plans
    ]
    return replace(result, plans=plans, infeasibility=replace_ids(result.infeasibility, mapping))


def redact_instance(instance: Instance, mapping: dict[str, str]) -> Instance:
    """``instance`` with ids replaced by ``mapping`` wherever they appear."""
    return instance_from_dict(replace_ids(instance_to_dict(instance), mapping), "<redacted>")
