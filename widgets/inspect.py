"""`inspect(obj)`: the right inspector for any labkit object, and the registry behind it.

Each mechanism's package, in its `widgets/<mechanism>/__init__.py` and nowhere else, calls
`register_inspector(LabkitType, factory)` for its objects and `register_page(slug, title, factory,
description)` for its dashboard page (`widgets/data.py` does the same for the datasets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

_INSPECTORS: dict[type, Callable[[Any], Any]] = {}
_PAGES: dict[str, "Page"] = {}


@dataclass(frozen=True)
class Page:
    """A dashboard page: served at `/<slug>`, built fresh per browser session by `factory()`."""

    slug: str
    title: str
    factory: Callable[[], Any]
    description: str = ""


def register_inspector(cls: type, factory: Callable[[Any], Any]) -> None:
    """Make `inspect(obj)` call `factory(obj)` for instances of `cls` (and its subclasses)."""
    if not isinstance(cls, type):
        raise TypeError(f"cls: expected a class, got {cls!r}")
    if not callable(factory):
        raise TypeError(f"factory: expected a callable, got {factory!r}")
    _INSPECTORS[cls] = factory


def register_page(slug: str, title: str, factory: Callable[[], Any], description: str = "") -> None:
    """Add a dashboard page at `/<slug>` (lower-case letters, digits and '-')."""
    if not slug or not all(c.islower() or c.isdigit() or c == "-" for c in slug):
        raise ValueError(f"slug: expected lower-case letters, digits and '-', got {slug!r}")
    _PAGES[slug] = Page(slug, title, factory, description)


def supported_types() -> list[str]:
    """Qualified names of the types `inspect` accepts."""
    return sorted(f"{t.__module__}.{t.__qualname__}" for t in _INSPECTORS)


def pages() -> list[Page]:
    """The registered dashboard pages, in registration order."""
    return list(_PAGES.values())


def inspect(obj: Any):
    """Return the Panel inspector for a labkit object.

    Dispatch follows the object's class hierarchy (most specific registered class first).
    Raises TypeError listing the supported types for anything else.
    """
    for cls in type(obj).__mro__:
        if cls in _INSPECTORS:
            return _INSPECTORS[cls](obj)
    raise TypeError(f"inspect: no inspector for {type(obj).__module__}.{type(obj).__qualname__}; "
                    f"supported types: {', '.join(supported_types()) or '(none registered)'}")
