"""Values that cross between the processes of a sandbox run, and the names programs assume.

Standalone (standard library only), like :mod:`raydistill.sandbox.runner`: the
launcher loads it inside the sandbox as module ``_raydistill_exchange``.

Plain data crosses as JSON with tags (:func:`encode`, :func:`decode`), read through
the base types' own methods, so an ``int`` subclass whose ``__eq__`` always says
True arrives as a plain int: tuples, sets, dicts with any keys, bytes, complex
numbers, non-finite floats and the built-in types (``int``, ``str``...) included.

Between the candidate process (the program) and the checker process (the trusted
assert tests), anything else crosses as a *handle*: the object stays in the
candidate, the checker holds a :class:`Remote` that asks the candidate to call
it, read an attribute, iterate... and gets plain data or further handles back.
The program's classes and functions reach the test code this way, so a test can
build the program's own objects (``assert f(Pair(1, 2)) == 3``) without any
program code running in the checker. Comparisons stay in the checker: a handle
equals only a handle (the program's ``__eq__`` decides between two of its own
objects, which is what such a test asks), never plain data. An object of a class
the trusted code defines itself (LeetCode's ``ListNode``) crosses by value: its
attributes are sent and a fresh instance of the trusted class is made on the
other side, so trusted helpers (``is_same_list``) compare them.

A message is one JSON line naming the objects it carries (``[key, class name,
handle or null]``), then the JSON body (``{"value": ..., "attrs": [[key, {...}]]}``):
the reader makes every object before it reads the body.

>>> encode((1, [2.5, "x"], {3: None}, 1j))
{'$tuple': [1, [2.5, 'x'], {'$dict': [[3, None]]}, {'$complex': [0.0, 1.0]}]}
>>> decode(dumps(encode({int: frozenset({(1, 2)})})))
{<class 'int'>: frozenset({(1, 2)})}
"""

from __future__ import annotations

import builtins
import math

TYPE_CHECKING = False  # `typing` would add 8 ms to every sandbox's start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# LeetCode's own environment and LeetCodeDataset's prompt import these for every
# solution; programs written for LeetCode use them without importing anything.
PRELUDE = """
import bisect, collections, datetime, functools, heapq, itertools, math, operator, random
import re, string
from typing import *
from bisect import *
from collections import *
from functools import *
from heapq import *
from itertools import *
from math import *
from operator import *
from string import *
inf = float("inf")


class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next


class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right


def list_node(values):
    head = None
    for value in reversed(list(values)):
        head = ListNode(value, head)
    return head


def tree_node(values):
    values = list(values)
    if not values or values[0] is None:
        return None
    root = TreeNode(values[0])
    level, i = deque([root]), 1
    while level and i < len(values):
        node = level.popleft()
        for side in ("left", "right"):
            if i < len(values) and values[i] is not None:
                child = TreeNode(values[i])
                setattr(node, side, child)
                level.append(child)
            i += 1
    return root


def is_same_list(a, b):
    while a is not None and b is not None:
        if a.val != b.val:
            return False
        a, b = a.next, b.next
    return a is None and b is None


def is_same_tree(a, b):
    stack = [(a, b)]
    while stack:
        a, b = stack.pop()
        if a is None or b is None:
            if a is not b:
                return False
            continue
        if a.val != b.val:
            return False
        stack += [(a.left, b.left), (a.right, b.right)]
    return True
"""


def prelude() -> dict[str, Any]:
    """The names :data:`PRELUDE` defines, without those that would shadow a builtin.

    ``from math import *`` brings a float-only ``pow``; LeetCode programs mean the
    builtin one (``pow(a, b, mod)``), as every name of ``builtins`` here.
    """
    names: dict[str, Any] = {"__name__": "solution", "__builtins__": builtins}
    exec(PRELUDE, names)  # noqa: S102 - trusted text above
    return {k: v for k, v in names.items()
            if not k.startswith("__") and not hasattr(builtins, k)}


class Objects:
    """The objects of one message being written: key by identity, described once."""

    def __init__(self, describe: Callable[[Any], tuple[str, int | None, bool]]) -> None:
        # describe(obj) -> (class name, handle or None, whether its attributes go too)
        self.describe = describe
        self.keys: dict[int, int] = {}
        self.header: list[list[Any]] = []
        self.pending: list[tuple[int, Any]] = []
        self.keep: list[Any] = []  # the objects stay alive while their ids are keys

    def key(self, obj: Any) -> int:
        """The message key of ``obj`` (TypeError if it cannot cross)."""
        known = self.keys.get(id(obj))
        if known is not None:
            return known
        name, handle, by_value = self.describe(obj)
        key = len(self.header)
        self.keys[id(obj)] = key
        self.keep.append(obj)
        self.header.append([key, name, handle])
        if by_value:
            self.pending.append((key, obj))
        return key


def encode(value: Any, objects: Objects | None = None) -> Any:
    """JSON-able form of ``value``; without ``objects``, TypeError unless plain data."""
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return _float(float.__float__(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, list):
        return [encode(item, objects) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item, objects) for item in tuple.__iter__(value)]}
    if isinstance(value, dict):
        return {"$dict": [[encode(k, objects), encode(v, objects)] for k, v in dict.items(value)]}
    if isinstance(value, (set, frozenset)):
        items = set.__iter__(value) if isinstance(value, set) else frozenset.__iter__(value)
        return {"$set": [encode(item, objects) for item in items]}
    if isinstance(value, bytes):
        return {"$bytes": bytes.hex(value)}
    if isinstance(value, complex):
        parts = (complex.real.__get__(value), complex.imag.__get__(value))
        return {"$complex": [_float(float.__float__(p)) for p in parts]}
    if isinstance(value, type):
        name = type.__dict__["__name__"].__get__(value)
        if builtins.__dict__.get(name) is value:
            return {"$type": name}
    if objects is None:
        raise TypeError(f"cannot return a {kind.__name__} (only plain data types)")
    return {"$obj": objects.key(value)}


def _float(number: float) -> Any:
    return number if math.isfinite(number) else {"$float": repr(number)}


def _untag(obj: dict[str, Any], made: list[Any] | None = None) -> Any:
    if len(obj) == 1:
        ((tag, body),) = obj.items()
        if tag == "$tuple":
            return tuple(body)
        if tag == "$set":
            return frozenset(body)
        if tag == "$dict":
            return {k if not isinstance(k, list) else tuple(k): v for k, v in body}
        if tag == "$float":
            return float(body)
        if tag == "$bytes":
            return bytes.fromhex(body)
        if tag == "$complex":
            return complex(*body)
        if tag == "$type":
            found = builtins.__dict__.get(body)
            return found if isinstance(found, type) else TypeName(body)
        if tag == "$obj" and made is not None:
            return made[body]
    return obj


class TypeName(str):
    """A type that is not built in, known by its name only (in the host's decode)."""


def dumps(value: Any) -> bytes:
    """JSON text of an encoded value."""
    import json

    return json.dumps(value, allow_nan=False).encode()


def decode(data: bytes | str, parse_int: Callable[[str], Any] | None = None) -> Any:
    """Inverse of :func:`encode` (plain data) on JSON text; ValueError if malformed.

    ``parse_int`` is json's: the host passes one that keeps integers past
    ``int()``'s digit limit as text instead of raising.

    >>> decode('{"$tuple": [1, {"$float": "inf"}, {"$type": "str"}]}')
    (1, inf, <class 'str'>)
    """
    import json

    try:
        return json.loads(data, object_hook=_untag, parse_int=parse_int)
    except (TypeError, RecursionError, AttributeError, IndexError) as exc:
        raise ValueError(f"malformed value: {exc}") from None


def write_message(value: Any, describe: Callable[[Any], tuple[str, int | None, bool]]) -> bytes:
    """``value`` as a message: its objects' header line, then the body."""
    objects = Objects(describe)
    body = encode(value, objects)
    attrs = []
    while objects.pending:
        key, obj = objects.pending.pop()
        fields = object.__getattribute__(obj, "__dict__")
        attrs.append([key, [[str.__str__(k), encode(v, objects)] for k, v in dict.items(fields)
                            if isinstance(k, str)]])
    return dumps(objects.header) + b"\n" + dumps({"value": body, "attrs": attrs})


def read_message(data: bytes, make: Callable[[str, Any, bool], tuple[Any, bool]]) -> Any:
    """The value of a message; ``make(class name, handle, has attrs)`` -> (object, fill it)."""
    import json

    head, _, body = data.partition(b"\n")
    try:
        made, fill = [], {}
        sent = {key for key, _ in json.loads(body)["attrs"]} if body else set()
        for key, name, handle in json.loads(head):
            obj, fillable = make(str(name), handle, key in sent)
            made.append(obj)
            fill[key] = fillable
        decoded = json.loads(body, object_hook=lambda obj: _untag(obj, made))
        for key, fields in decoded["attrs"]:
            if fill[key]:
                made[key].__dict__.update({str(k): v for k, v in fields})
        return decoded["value"]
    except (TypeError, ValueError, RecursionError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"malformed message: {exc}") from None


class Remote:
    """A program object that stays in the candidate process; the checker holds its handle."""

    __slots__ = ("_ask", "_handle", "_kind")

    def __init__(self, ask: Callable[..., Any], handle: int, kind: str) -> None:
        object.__setattr__(self, "_ask", ask)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_kind", kind)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the program's object there, with these arguments sent as data or handles."""
        return self._ask("call", self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", self, (name,), {})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Remote):
            return NotImplemented
        return self._ask("eq", self, (other,), {}) is True

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Remote):
            return NotImplemented
        return self._ask("eq", self, (other,), {}) is not True

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return self._ask("bool", self, (), {}) is True

    def __len__(self) -> int:
        size = self._ask("len", self, (), {})
        if type(size) is not int:
            raise TypeError("len() of the program's object is not an int")
        return size

    def __iter__(self) -> Any:
        return self._ask("iter", self, (), {})

    def __next__(self) -> Any:
        return self._ask("next", self, (), {})

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", self, (key,), {})

    def __contains__(self, item: Any) -> bool:
        return self._ask("contains", self, (item,), {}) is True

    def __str__(self) -> str:
        text = self._ask("str", self, (), {})
        if type(text) is not str:
            raise TypeError("str() of the program's object is not a str")
        return text

    def __repr__(self) -> str:
        return f"<the program's {self._kind} #{self._handle}>"


# What an object's type must define for a request; without it the request is a
# probe the checker answers itself (list() asks len() first), not the program failing.
PROTOCOLS = {"len": ("__len__",), "iter": ("__iter__", "__getitem__"), "next": ("__next__",),
             "getitem": ("__getitem__",), "contains": ("__contains__", "__iter__", "__getitem__")}


class Unsupported(Exception):
    """The object does not support the request: the checker raises TypeError/AttributeError."""


def apply(op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What a :class:`Remote` asks, done to the real object in the candidate."""
    needs = PROTOCOLS.get(op)
    if needs and not any(hasattr(type(target), name) for name in needs):
        raise Unsupported(f"the program's {type(target).__name__} does not support {op}()")
    if op == "getattr" and not hasattr(target, str(args[0])):
        raise Unsupported(f"the program's {type(target).__name__} has no {args[0]!s}")
    if op == "call":
        return target(*args, **kwargs)
    if op == "getattr":
        return getattr(target, str(args[0]))
    if op == "eq":
        return bool(target == args[0])
    simple: dict[str, Callable[[Any], Any]] = {"bool": bool, "len": len, "iter": iter,
                                                "next": next, "str": str}
    if op in simple:
        return simple[op](target)
    if op == "getitem":
        return target[args[0]]
    if op == "contains":
        return bool(args[0] in target)
    raise ValueError(f"unknown request {op!r}")
