"""Every configuration key is read by the code (issue 11: "every configuration key is read
by the code or removed"). The model is walked, and for each key the packages must read the
attribute somewhere: ``.name`` (or ``getattr(..., "name")``) beyond its declaration. A key
that is declared, documented and never used is a promise the daemon does not keep."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from types import UnionType

from pydantic import BaseModel

from concentratord.config import ROLES, Config

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("concentratord", "radio", "uplink", "protocols")


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    """The models inside a field's annotation (``X | None``, ``tuple[X, ...]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models(typing.get_args(annotation)[0])
    elif origin in (typing.Union, UnionType, tuple, list):
        for arg in typing.get_args(annotation):
            yield from _models(arg)


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key of ``model``, dotted."""
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path
        for inner in _models(info.annotation):
            yield from keys(inner, path + ".")


def sources() -> str:
    return "\n".join(p.read_text() for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_walk_finds_the_keys_of_every_table() -> None:
    found = set(keys(Config))
    assert {"gateway.id", "tenant.uplink.broker", "access.user.groups", "web.token.name"} <= found


def test_every_configuration_key_is_read_by_the_code() -> None:
    text = sources()
    # The role tables are read as getattr(grants, role) for each role of ROLES.
    assert "getattr(self, role)" in text or "getattr(access, role)" in text
    dynamic = set(ROLES)
    unread = []
    for key in keys(Config):
        name = key.rpartition(".")[2]
        if name in dynamic:
            continue
        read = re.search(rf"\.{name}\b(?!\s*=[^=])|getattr\([^)]*[\"']{name}[\"']", text)
        if read is None:
            unread.append(key)
    assert unread == [], f"keys nothing reads: {unread}"
