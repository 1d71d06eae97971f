"""One registry type for every named extension point: readers, backbones, strategies, metrics.

A :class:`Registry` maps names to objects (a reader class, a backbone builder, a
fine-tuning strategy, a metric function), each stored as an :class:`Entry` that also
carries the object's *spec*: what the rest of the package reads about it (a backbone's
family and stages, a metric's direction). The rules are the same everywhere:

- a name is registered once: registering it again raises a one-line ``ValueError``
  naming the entry that holds it, unless ``override=True`` is passed;
- the entries registered by the package itself are *built-in* (:meth:`mark_builtin`):
  they cannot be unregistered;
- an unknown name raises a one-line ``ValueError`` listing the registered names
  (:meth:`Registry.lookup`), and :meth:`Registry.describe` gives the same list for
  ``--help``.

A registry is also a read-only-looking ``Mapping`` of name to object (``registry[name]``,
``name in registry``, iteration in registration order); item assignment and deletion
are :meth:`register` with ``override=True`` and :meth:`unregister`. This module imports
neither TensorFlow nor Keras (the builder uses it); ``ecg_tl_keras.registry`` re-exports it.

Example:
    >>> colours = Registry("colour")
    >>> colours.register("red", "#f00", spec={"warm": True})
    '#f00'
    >>> colours["red"], colours.spec("red"), colours.names()
    ('#f00', {'warm': True}, ('red',))
    >>> colours.register("red", "#e00")
    Traceback (most recent call last):
    ...
    ValueError: colour 'red' is already registered ('#f00'); pass override=True to replace it
    >>> colours.lookup("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; available: red
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import MutableMapping
from typing import Any, Generic, Iterator, TypeVar

T = TypeVar("T")

#: A lower-case word: letters, digits, '_' and '-' (readers' and metrics' names).
WORD = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: the object, its spec, and whether the package registered it.

    Attributes:
        name: The registered name.
        obj: The registered object (a class, a function).
        spec: What the package reads about the object (a dataclass of the registry's
            kind, e.g. ``BackboneSpec``), or ``None``.
        builtin: Registered by the package itself (cannot be unregistered).
    """

    name: str
    obj: T
    spec: Any = None
    builtin: bool = False

    def origin(self) -> str:
        """Where the object comes from: ``module.qualname``, or its repr.

        Example:
            >>> Entry("x", len).origin()
            'builtins.len'
        """
        module = getattr(self.obj, "__module__", None)
        qualname = getattr(self.obj, "__qualname__", None)
        return f"{module}.{qualname}" if module and qualname else repr(self.obj)


class Registry(MutableMapping, Generic[T]):
    """Named objects of one kind, each with its spec, registered once.

    Args:
        kind: What an entry is, for messages (``"backbone"``, ``"reader"``, ...).
        hint: Appended to the unknown-name message, e.g. how to register one from a
            module of one's own.
        pattern: A compiled regular expression every name must match (None: any
            non-empty string).
    """

    def __init__(self, kind: str, *, hint: str = "", pattern: re.Pattern | None = None):
        self.kind, self.hint, self.pattern = kind, hint, pattern
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, obj: T, *, spec: Any = None, override: bool = False) -> T:
        """Adds ``obj`` under ``name``; returns ``obj`` (so it composes in decorators).

        Raises:
            ValueError: A name that is not a non-empty string (or does not match the
                registry's pattern), a name already taken without ``override=True``,
                or a built-in entry to override.
        """
        self.check_name(name)
        taken = self._entries.get(name)
        if taken is not None:
            if not override:
                raise ValueError(f"{self.kind} {name!r} is already registered "
                                 f"({taken.origin()}); pass override=True to replace it")
            if taken.builtin:
                raise ValueError(f"{self.kind} {name!r} is built in and cannot be replaced; "
                                 f"register yours under another name")
        self._entries[name] = Entry(name, obj, spec)
        return obj

    def check_name(self, name: str) -> None:
        """Raises ValueError unless ``name`` is a valid name for this registry."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if self.pattern is not None and not self.pattern.match(name):
            raise ValueError(f"a {self.kind} name must be a lower-case word (letters, digits, "
                             f"'_', '-'), got {name!r}")

    def unregister(self, name: str) -> None:
        """Removes a registered name (e.g. to re-run a notebook cell).

        Raises:
            ValueError: An unknown name, or a built-in entry.
        """
        if self.entry(name).builtin:
            raise ValueError(f"{name!r} is a built-in {self.kind}")
        del self._entries[name]

    def mark_builtin(self) -> None:
        """Marks every entry registered so far as built-in (called once, by the package)."""
        self._entries = {name: dataclasses.replace(entry, builtin=True)
                         for name, entry in self._entries.items()}

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` of ``name``.

        Raises:
            ValueError: An unknown name (the message lists the registered ones).
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            hint = f" {self.hint}" if self.hint else ""
            raise ValueError(f"unknown {self.kind} {name!r}; available: "
                             f"{self.describe()}{hint}") from None

    def lookup(self, name: str) -> T:
        """The object registered under ``name`` (ValueError listing the names if unknown)."""
        return self.entry(name).obj

    def spec(self, name: str) -> Any:
        """The spec registered with ``name`` (ValueError listing the names if unknown)."""
        return self.entry(name).spec

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (built-in ones first)."""
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        """Every :class:`Entry`, in registration order."""
        return tuple(self._entries.values())

    def describe(self) -> str:
        """The names as one comma-separated line, for ``--help`` and error messages."""
        return ", ".join(self._entries) or "(none)"

    # The Mapping interface: name -> object.
    def __getitem__(self, name: str) -> T:
        return self._entries[name].obj

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj, override=True)

    def __delitem__(self, name: str) -> None:
        if name not in self._entries:
            raise KeyError(name)
        self.unregister(name)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.describe()})"
