"""Meter ids and the simple patterns that assign meters to tenants.

A meter id is the 8-digit id as ``decode`` prints it in ``id`` (BCD digits in practice,
hex digits tolerated as in keys files), compared upper-case. A pattern is an id with
``?`` for any one digit (``7634??01``), or a prefix followed by one trailing ``*``
(``7634*``; ``*`` alone takes every meter). Both forms are normalised to an 8-character
template with ``?`` wildcards, which makes overlap between two patterns a per-position test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ID_LEN = 8
_ID = re.compile(r"[0-9A-F]{8}")
_PATTERN = re.compile(r"[0-9A-F?]{8}|[0-9A-F]{0,7}\*")


def normalise_id(value: str) -> str:
    """An exact 8-digit meter id, upper-case; ValueError with the reason otherwise."""
    text = value.strip().upper()
    if not _ID.fullmatch(text):
        raise ValueError(f"meter id must be 8 digits, got {value!r}")
    return text


def normalise_pattern(value: str) -> str:
    """A meter id or pattern as an 8-character template (``?`` = any digit)."""
    text = value.strip().upper()
    if not _PATTERN.fullmatch(text):
        raise ValueError(
            f"meter must be 8 digits, 8 characters with '?' wildcards, or a prefix "
            f"followed by '*', got {value!r}"
        )
    if text.endswith("*"):
        return text[:-1].ljust(ID_LEN, "?")
    return text


def is_exact(template: str) -> bool:
    """Whether a normalised template names exactly one meter."""
    return "?" not in template


def overlaps(a: str, b: str) -> bool:
    """Whether two normalised templates match at least one common meter id."""
    return all(x == y or x == "?" or y == "?" for x, y in zip(a, b, strict=True))


def matches(template: str, meter_id: str) -> bool:
    """Whether a normalised template matches an (upper-case) meter id."""
    return len(meter_id) == ID_LEN and overlaps(template, meter_id)


@dataclass(frozen=True, slots=True)
class Owner:
    """Where a template came from: a tenant's name and its template."""

    tenant: str
    template: str


def find_overlap(
    claims: Iterable[tuple[str, Sequence[str]]],
) -> tuple[Owner, Owner] | None:
    """The first pair of templates of two different tenants that share a meter, if any.

    ``claims`` gives each tenant's name and normalised templates, in file order; the second
    element of the pair is the later claim. Exact ids are checked through a dict and only
    wildcards pairwise, so 30,000 exact ids across tenants cost one pass.
    """
    exact: dict[str, Owner] = {}
    wild: list[Owner] = []
    for tenant, templates in claims:
        mine_exact: list[Owner] = []
        mine_wild: list[Owner] = []
        for template in templates:
            owner = Owner(tenant, template)
            if is_exact(template):
                other = exact.get(template)
                if other is not None:
                    return other, owner
                other = next((w for w in wild if matches(w.template, template)), None)
                if other is not None:
                    return other, owner
                mine_exact.append(owner)
            else:
                other = next((w for w in wild if overlaps(w.template, template)), None)
                if other is not None:
                    return other, owner
                other = next((e for e in exact.values() if matches(template, e.template)), None)
                if other is not None:
                    return other, owner
                mine_wild.append(owner)
        # A tenant's own entries may overlap each other ("7634*" and "76341234"): only
        # claims of different tenants conflict, so they join the pool after the tenant.
        exact.update((o.template, o) for o in mine_exact)
        wild.extend(mine_wild)
    return None
