"""Device transports and runners (``edgebert.devices``).

Each transport is one module in ``edgebert.devices.transports``; the registry finds them, so
adding a device kind is adding one file with a ``@register_transport`` class.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (CommandResult, DeviceError, DeviceGone, DeviceInfo, DeviceTimeout, RunnerCrashed, RunnerMissing,
                   RunnerResult, Transport)

_REGISTRY: dict[str, type[Transport]] = {}
_DISCOVERED = False


def register_transport(cls: type[Transport]) -> type[Transport]:
    _REGISTRY[cls.kind] = cls
    return cls


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    from . import transports

    for mod in pkgutil.iter_modules(transports.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{transports.__name__}.{mod.name}")
    _DISCOVERED = True


def transport_kinds() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get_transport(spec: str) -> Transport:
    """``host``, ``adb``, ``adb:SERIAL``, ``ssh://user@host[:port]``, ``browser``."""
    _discover()
    for cls in _REGISTRY.values():
        if cls.accepts(spec):
            return cls.from_spec(spec)
    raise DeviceError(f"unknown device '{spec}'",
                      "use host, adb[:SERIAL], ssh://user@host[:port] or browser; `edgebert devices` lists them")


def discover_all() -> list[tuple[str, str, str]]:
    """(spec, kind, note) for every connected or configured device; a broken transport lists nothing."""
    _discover()
    found = []
    for kind in sorted(_REGISTRY, key=lambda k: (k != "host", k)):
        cls = _REGISTRY[kind]
        try:
            specs = cls.discover()
        except Exception as exc:  # e.g. adb server not starting: still list the others
            found.append((f"{kind} (unavailable)", kind, str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__))
            continue
        found += [(spec, kind, getattr(cls, "discover_note", "")) for spec in specs]
    return found


__all__ = ["discover_all", "CommandResult", "DeviceError", "DeviceGone", "DeviceInfo", "DeviceTimeout", "RunnerCrashed",
           "RunnerMissing", "RunnerResult", "Transport", "get_transport", "register_transport", "transport_kinds"]
