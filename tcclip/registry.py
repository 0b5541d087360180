"""Name -> implementation registries for swappable strategies.

A new variant is one function plus ``@REGISTRY.register("name")``; asking for an
unknown name raises a ConfigError listing the valid ones.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, TypeVar

from tcclip.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, optional_needs: Iterable[str] = ()):
        self.kind = kind
        self.optional_needs = frozenset(optional_needs)
        """What a registered function may declare in ``needs`` (optional inputs the caller computes)."""
        self._items: dict[str, T] = {}

    def register(self, name: str, needs: Iterable[str] = ()) -> Callable[[T], T]:
        """Decorator; ``needs`` is recorded as ``fn.needs`` for registries that declare optional inputs."""
        needs = frozenset(needs)
        if not needs <= self.optional_needs:
            raise ValueError(f"{self.kind} {name!r}: unknown needs {sorted(needs - self.optional_needs)}")

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.optional_needs:
                obj.needs = needs
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """(name, implementation) pairs in name order (``tcclip variants`` lists them)."""
        return sorted(self._items.items())

    def __contains__(self, name: str) -> bool:
        return name in self._items
