"""What every config key says about itself: its documentation and its role.

Each field of a config section is declared with :func:`key`, which stores in the
dataclass field's metadata

- ``doc``: one or two sentences for the generated reference
  (``docs/config-reference.md``, :mod:`raydistill.config.reference`);
- ``role``: ``result`` (the key may change what a row says: it is part of a
  run's fingerprint, :mod:`raydistill.output.manifest`) or ``performance`` (it
  changes speed, placement or cost, never a row);
- ``formats`` (export keys only): the export formats that take the key, or
  ``None`` for every format.

A new key is result-shaping unless declared otherwise, so stale and fresh rows
are never mixed silently. This module imports nothing of raydistill: every
section's module (``teachers/config.py``, ``export/config.py``, ...) uses it.

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     replicas: int = key(1, "Engine replicas.", perf=True)
...     n: int = key(4, "Samples per problem.")
>>> role_of(Demo, "replicas"), role_of(Demo, "n"), doc_of(Demo, "n")
('performance', 'result', 'Samples per problem.')
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable
from typing import Any

RESULT, PERFORMANCE = "result", "performance"
_NO_DEFAULT: Any = dataclasses.MISSING


def key(default: Any = _NO_DEFAULT, doc: str = "", *, factory: Callable[[], Any] | None = None,
        perf: bool = False, formats: Iterable[str] | None = None) -> Any:
    """A dataclass field carrying its documentation and role (see the module docstring)."""
    if not doc:
        raise ValueError("every config key needs its documentation")
    metadata: dict[str, Any] = {"doc": doc, "role": PERFORMANCE if perf else RESULT}
    if formats is not None:
        metadata["formats"] = tuple(formats)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section_type(annotation: Any) -> type | None:
    """The dataclass a field's annotation names (in ``list[...]``, as ``dict[str, ...]`` values)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args:
        annotation = args[0]
    elif typing.get_origin(annotation) is dict and len(args) == 2:
        annotation = args[1]
    return annotation if isinstance(annotation, type) and dataclasses.is_dataclass(annotation) \
        else None


def hints(section: Any) -> dict[str, Any]:
    """The resolved field annotations of a dataclass (class or instance)."""
    cls = section if isinstance(section, type) else type(section)
    return typing.get_type_hints(cls)


def field_of(section: Any, dotted: str) -> dataclasses.Field[Any] | None:
    """The field that holds ``dotted`` in ``section`` (a dataclass or an instance).

    Walks nested sections (instances follow their actual types, so a teacher's
    backend decides its keys); a key below a plain map or list
    (``teacher.engine_kwargs.x``) belongs to the field that holds the map. None
    when no field matches.
    """
    found = None
    for part in dotted.split("."):
        if isinstance(section, dict) and dataclasses.is_dataclass(section.get(part)):
            section = section[part]  # a map of sections (`teachers`): the named one's keys
            continue
        if section is None or not dataclasses.is_dataclass(section):
            return found
        by_name = {f.name: f for f in dataclasses.fields(section)}
        if part not in by_name:
            return None
        found = by_name[part]
        value = getattr(section, part, None) if not isinstance(section, type) else None
        if value is not None and (dataclasses.is_dataclass(value) or isinstance(value, dict)):
            section = value
        else:
            section = section_type(hints(section)[part])
    return found


def role_of(section: Any, dotted: str) -> str:
    """``result`` or ``performance`` for the key ``dotted`` (``result`` when unknown)."""
    found = field_of(section, dotted)
    return found.metadata.get("role", RESULT) if found is not None else RESULT


def doc_of(section: Any, dotted: str) -> str:
    """The documentation of the key ``dotted``."""
    found = field_of(section, dotted)
    return found.metadata.get("doc", "") if found is not None else ""
