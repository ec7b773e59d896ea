"""The one loader of typed config: YAML layers and ``key=value`` overrides onto a dataclass.

Every command's options go through :func:`build`: the run's conf files and
overrides (:func:`raydistill.config.load`), the verify-only command's keys and
the export's options. So a bad key reads the same everywhere, ``config key
'KEY': PROBLEM`` (OmegaConf names the closest key of a misspelled one), and a
bad value ``config key 'KEY' PROBLEM`` (:func:`raise_first`).

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     n: int = 4
>>> build(Demo, overrides=parse_overrides(["n=8"]))
Demo(n=8)
>>> build(Demo, overrides=parse_overrides(["m=8"]))
Traceback (most recent call last):
...
raydistill.errors.ConfigError: config key 'm': Key 'm' not in 'Demo'
>>> dotted({"pairs": {"rule": "length"}, "k": 2})
{'pairs.rule': 'length', 'k': 2}
>>> nested({"pairs.rule": "length", "k": 2})
{'pairs': {'rule': 'length'}, 'k': 2}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from raydistill.errors import ConfigError

Layer = tuple[Path, Any]
Checks = Iterable[tuple[bool, str, str]]


def parse_value(text: str) -> Any:
    """A command-line value as YAML reads it (``8`` an int, ``[a, b]`` a list, ``null`` None)."""
    parsed: Any = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={text}"]))
    return parsed["v"]


def parse_overrides(args: Iterable[str]) -> list[tuple[str, Any]]:
    """``key=value`` arguments as ``(key, value)`` pairs; anything else is refused."""
    pairs = []
    for arg in args:
        name, sep, text = arg.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {arg!r}")
        pairs.append((name, parse_value(text)))
    return pairs


def dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; dataclasses count as maps, lists are values."""
    flat: dict[str, Any] = {}
    for name, value in tree.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping) and value:
            flat.update(dotted(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (the inverse of :func:`dotted`)."""
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        *heads, last = name.split(".")
        node = tree
        for head in heads:
            node = node.setdefault(head, {})
        node[last] = value
    return tree


def clear_replaced_maps(merged: DictConfig, layer: Any) -> None:
    """Empty each map-valued key of ``merged`` (``resources``, ``env``, ...) that ``layer`` sets.

    So a conf file's map replaces its base's, as a list does, instead of adding
    keys to it: an overlay of ``local.yaml`` that says ``resources: {GPU: 1}``
    means one GPU, not that plus local's half CPU, and ``engine_kwargs: {}`` means
    none. Config sections (dataclasses) are still merged key by key.
    """
    if not isinstance(layer, DictConfig):
        return
    for name, value in layer.items_ex(resolve=False):
        if not isinstance(value, DictConfig) or name not in merged:
            continue
        node = merged._get_node(str(name))
        element = getattr(getattr(node, "_metadata", None), "element_type", None)
        sections = dataclasses.is_dataclass(element)
        if OmegaConf.get_type(node) is dict and not sections:
            merged[str(name)] = {}
        elif isinstance(node, DictConfig):
            clear_replaced_maps(node, value)


def describe(exc: OmegaConfBaseException, prefix: str = "",
             hint: Callable[[str], str | None] | None = None) -> str:
    """OmegaConf's error as ``config key 'KEY': first line`` (``hint`` may say more of KEY)."""
    name = getattr(exc, "full_key", None)
    first_line = str(exc).splitlines()[0]
    if not name:
        return first_line
    full = f"{prefix}{name}"
    more = hint(full) if hint else None
    if more and more.startswith("is now "):  # a renamed key: its new name is the message
        return f"config key {full!r} {more}"
    return f"config key {full!r}: {first_line}" + (f" ({more})" if more else "")


def build(schema: Any, layers: Iterable[Layer] = (), overrides: Iterable[tuple[str, Any]] = (),
          prefix: str = "", hint: Callable[[str], str | None] | None = None) -> Any:
    """The object of dataclass ``schema`` (a class or an instance: its defaults), typed and checked.

    ``layers`` (YAML files, in order) are merged first, each map they set
    replacing the one below (:func:`clear_replaced_maps`); then ``overrides``
    (dotted keys). Raises :class:`ConfigError` naming the key (with ``prefix``
    as the user writes it, e.g. ``export.``) and the file it came from.
    """
    merged: Any = OmegaConf.structured(schema)
    try:
        for path, layer in layers:
            try:
                clear_replaced_maps(merged, layer)
                merged = OmegaConf.merge(merged, layer)
            except OmegaConfBaseException as exc:
                raise ConfigError(f"{shown(path)}: {describe(exc, prefix, hint)}") from None
        for name, value in overrides:
            OmegaConf.update(merged, name, value, merge=True)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(describe(exc, prefix, hint)) from None


def raise_first(checks: Checks, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for the first failed ``(ok, key, problem)`` check."""
    for ok, name, problem in checks:
        if not ok:
            raise ConfigError(f"config key {prefix + name!r} {problem}")


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict view of a config or one of its sections, for summaries and provenance."""
    return OmegaConf.to_container(OmegaConf.structured(cfg))  # type: ignore[return-value]
