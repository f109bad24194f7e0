"""Plugin registries: one class per file in a folder, found on first use.

Exporter targets and device transports both work this way (as ExecuTorch keeps one folder
per backend), so adding one is adding one module with a decorated class; nothing else
lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    def __init__(self, package: str, key: str):
        self._package, self._key = package, key
        self._classes: dict[str, T] = {}
        self._discovered = False

    def register(self, cls: T) -> T:
        self._classes[getattr(cls, self._key)] = cls
        return cls

    def unregister(self, key: str) -> None:
        """Drop a class registered at run time (a plug-in's, or a test's)."""
        self._classes.pop(key, None)

    def classes(self) -> dict[str, T]:
        if not self._discovered:
            pkg = importlib.import_module(self._package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                if not mod.name.startswith("_"):
                    importlib.import_module(f"{self._package}.{mod.name}")
            self._discovered = True
        return self._classes

    def names(self, order: list[str] | None = None) -> list[str]:
        """Registered keys, ``order`` first, then alphabetical."""
        order = order or []
        return sorted(self.classes(), key=lambda k: (order.index(k) if k in order else len(order), k))


