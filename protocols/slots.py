"""Fast construction of the frozen, slotted dataclasses made once per telegram.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__``: for :class:`~protocols.telegram.Telegram` (15 fields) that is a
tenth of a wired decode (records, made by the dozen, are named tuples instead). Setting
the slots through their descriptors gives the same object in half the time;
:func:`slot_constructor` makes such a constructor once, at import, from the class's own
field list (so it cannot drift from the declaration).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def slot_constructor(cls: type[T]) -> Callable[..., T]:
    """A constructor of the slotted dataclass ``cls`` taking its fields as ``__init__``
    does (positionally or by name, defaults included), without ``__post_init__`` or
    per-field checks (``cls`` must have neither)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = tuple(f.name for f in fields)
    if getattr(cls, "__slots__", None) != names:
        raise TypeError(f"{cls.__name__}'s slots are not its fields in order")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ this constructor would skip")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params = []
    for f in fields:
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has a default factory")
        else:
            params.append(f.name)
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    source = f"def make({', '.join(params)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(source, namespace)
    make: Callable[..., T] = namespace["make"]
    make.__doc__ = f"A {cls.__name__}, its slots set directly (protocols/slots.py)."
    return make
