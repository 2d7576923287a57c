"""Meter ids and the simple patterns that assign meters to tenants.

A meter id is the 8-digit id as ``decode`` prints it in ``id`` (BCD digits in practice,
hex digits tolerated as in keys files), compared upper-case. A pattern is an id with
``?`` for any one digit (``7634??01``), or a prefix followed by one trailing ``*``
(``7634*``; ``*`` alone takes every meter). Both forms are normalised to an 8-character
template with ``?`` wildcards, which makes overlap between two patterns a per-position test.

Ids are unique per manufacturer only, so a pattern may name the manufacturer too:
``KAM:7634*`` takes Kamstrup's meters 7634xxxx and not another maker's meter of the same
id (``KAM:*``: every Kamstrup meter). Without a manufacturer a pattern takes that id of
every manufacturer, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ID_LEN = 8
_ID = re.compile(r"[0-9A-F]{8}")
_PATTERN = re.compile(r"(?:([A-Z@]{3}):)?([0-9A-F?]{8}|[0-9A-F]{0,7}\*)")


def normalise_id(value: str) -> str:
    """An exact 8-digit meter id, upper-case; ValueError with the reason otherwise."""
    text = value.strip().upper()
    if not _ID.fullmatch(text):
        raise ValueError(f"meter id must be 8 digits, got {value!r}")
    return text


def normalise_pattern(value: str) -> str:
    """A meter id or pattern as an 8-character template (``?`` = any digit), after
    ``MAN:`` when it names a manufacturer."""
    text = value.strip().upper()
    m = _PATTERN.fullmatch(text)
    if m is None:
        raise ValueError(
            f"meter must be 8 digits, 8 characters with '?' wildcards, or a prefix "
            f"followed by '*', optionally after a manufacturer (KAM:...), got {value!r}"
        )
    manufacturer, ids = m.groups()
    template = ids[:-1].ljust(ID_LEN, "?") if ids.endswith("*") else ids
    return f"{manufacturer}:{template}" if manufacturer else template


def split(template: str) -> tuple[str | None, str]:
    """A normalised template's manufacturer (None: any) and its 8-character id template."""
    manufacturer, _, ids = template.rpartition(":")
    return manufacturer or None, ids


def is_exact(template: str) -> bool:
    """Whether a normalised template names exactly one meter id (of one manufacturer, or
    that id of every manufacturer)."""
    return "?" not in split(template)[1]


def overlaps(a: str, b: str) -> bool:
    """Whether two normalised templates match at least one common meter."""
    (man_a, ids_a), (man_b, ids_b) = split(a), split(b)
    if man_a is not None and man_b is not None and man_a != man_b:
        return False
    return all(x == y or x == "?" or y == "?" for x, y in zip(ids_a, ids_b, strict=True))


def matches(template: str, meter_id: str, manufacturer: str | None = None) -> bool:
    """Whether a normalised template matches an (upper-case) meter id of ``manufacturer``
    (None: of some manufacturer, the template's if it names one)."""
    wanted, ids = split(template)
    if wanted is not None and manufacturer is not None and wanted != manufacturer:
        return False
    return len(meter_id) == ID_LEN and all(
        x == y or x == "?" for x, y in zip(ids, meter_id, strict=True)
    )


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
    element of the pair is the later claim. Exact ids are checked through a dict (by id:
    ``76348799`` and ``KAM:76348799`` share it) and only wildcards pairwise, so 30,000
    exact ids across tenants cost one pass.
    """
    exact: dict[str, list[Owner]] = {}
    wild: list[Owner] = []
    for tenant, templates in claims:
        mine_exact: list[Owner] = []
        mine_wild: list[Owner] = []
        for template in templates:
            owner = Owner(tenant, template)
            if is_exact(template):
                same_id = exact.get(split(template)[1], [])
                other = next((e for e in same_id if overlaps(e.template, template)), None)
                if other is None:
                    other = next((w for w in wild if overlaps(w.template, template)), None)
                if other is not None:
                    return other, owner
                mine_exact.append(owner)
            else:
                other = next((w for w in wild if overlaps(w.template, template)), None)
                if other is None:
                    other = next(
                        (e for es in exact.values() for e in es if overlaps(template, e.template)),
                        None,
                    )
                if other is not None:
                    return other, owner
                mine_wild.append(owner)
        # A tenant's own entries may overlap each other ("7634*" and "76341234"): only
        # claims of different tenants conflict, so they join the pool after the tenant.
        for o in mine_exact:
            exact.setdefault(split(o.template)[1], []).append(o)
        wild.extend(mine_wild)
    return None
