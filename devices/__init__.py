"""Device transports and runners (``edgebert.devices``).

Each transport is one module in ``edgebert.devices.transports``; the registry finds them, so
adding a device kind is adding one file with a ``@register_transport`` class.
"""

from __future__ import annotations

from edgebert.registry import Registry

from .base import (CommandResult, DeviceError, DeviceGone, DeviceInfo, DeviceTimeout, RunnerCrashed, RunnerMissing,
                   RunnerResult, Transport)

_TRANSPORTS: Registry[type[Transport]] = Registry(f"{__name__}.transports", "kind")
register_transport = _TRANSPORTS.register


def transport_kinds() -> list[str]:
    return _TRANSPORTS.names()


def get_transport(spec: str) -> Transport:
    """``host``, ``adb``, ``adb:SERIAL``, ``ssh://user@host[:port]``, ``browser``."""
    for cls in _TRANSPORTS.classes().values():
        if cls.accepts(spec):
            return cls.from_spec(spec)
    raise DeviceError(f"unknown device '{spec}'",
                      "use host, adb[:SERIAL], ssh://user@host[:port] or browser; `edgebert devices` lists them")


def discover_all() -> list[tuple[str, str, str]]:
    """(spec, kind, note) for every connected or configured device; a broken transport lists nothing."""
    found = []
    for kind in _TRANSPORTS.names(order=["host"]):
        cls = _TRANSPORTS.classes()[kind]
        try:
            specs = cls.discover()
        except Exception as exc:  # e.g. adb server not starting: still list the others
            found.append((f"{kind} (unavailable)", kind, str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__))
            continue
        found += [(spec, kind, getattr(cls, "discover_note", "")) for spec in specs]
    return found


__all__ = ["discover_all", "CommandResult", "DeviceError", "DeviceGone", "DeviceInfo", "DeviceTimeout", "RunnerCrashed",
           "RunnerMissing", "RunnerResult", "Transport", "get_transport", "register_transport", "transport_kinds"]
