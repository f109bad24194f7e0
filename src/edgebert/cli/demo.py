"""`edgebert demo`: serve the phone web demo with one bundle (LAN QR code or adb reverse)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperCommand


class _OptionalAdbSerial(TyperCommand):
    """Lets `--adb` stand alone (the only connected phone) or take a SERIAL: typer has no
    optional-value options, so a bare `--adb` (last, before another option, or before the
    bundle folder) becomes `--adb=any`."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        args = list(args)
        for i, a in enumerate(args):
            if a == "--adb" and (i + 1 == len(args) or args[i + 1].startswith("-") or Path(args[i + 1]).is_dir()):
                args[i] = "--adb=any"
        return super().parse_args(ctx, args)

from .common import app, out, user_errors


@app.command(cls=_OptionalAdbSerial)
@user_errors
def demo(
    bundle: Path = typer.Argument(..., help="An onnx or tflite bundle folder written by `edgebert export`."),
    port: int = typer.Option(8765, "--port", "-p", help="Port to serve on (0: any free port)."),
    lan: bool = typer.Option(False, "--lan", help="Listen on the LAN (not only 127.0.0.1) and print a QR "
                             "code for a phone on the same network."),
    adb: Optional[str] = typer.Option(None, "--adb", metavar="[SERIAL]", help="Android phone over USB (its "
                                      "serial, or none for the only one): adb reverse the port and open "
                                      "the page in the phone's browser."),
    open_browser: bool = typer.Option(False, "--open/--no-open", help="Open the page in this machine's "
                                      "browser too."),
    allow_failed_gates: bool = typer.Option(False, "--allow-failed-gates", help="Serve a bundle whose parity or "
                                            "accuracy gate failed (refused by default)."),
) -> None:
    """Serve the phone web demo with BUNDLE: type a sentence, see the label and the on-device latency."""
    from ..demo.server import DemoServer, demo_app_dir, lan_address, print_qr
    from ..errors import EdgebertError

    if not 0 <= port <= 65535:
        raise EdgebertError(f"--port {port} is not a port", "use 1024-65535, or 0 for any free port")
    app_dir = demo_app_dir()
    try:
        server = DemoServer(bundle, app_dir, host="0.0.0.0" if lan else "127.0.0.1", port=port,
                            allow_failed_gates=allow_failed_gates)
    except OSError as exc:
        raise EdgebertError(f"cannot listen on port {port}: {exc.strerror}", "pass another --port") from None
    reverse = None
    with server:
        try:
            url = f"http://127.0.0.1:{server.port}/"
            out.print(f"serving {bundle} ({server.meta.target} {server.meta.precision}) at {url}")
            if lan:
                lan_url = f"http://{lan_address()}:{server.port}/"
                out.print(f"on your phone (same network): {lan_url}")
                print_qr(lan_url)
                out.print("note: a LAN address is not a secure context: the page runs single-threaded and "
                          "cannot install for offline use; --adb (localhost on the phone) can.")
            if adb:
                reverse = _adb_open(None if adb == "any" else adb, server.port)
            if open_browser:
                import webbrowser

                webbrowser.open(url)
            out.print("Ctrl-C to stop")
            _wait_for_ctrl_c()
        except KeyboardInterrupt:
            out.print("stopped")
        finally:
            if reverse:
                reverse()


def _wait_for_ctrl_c() -> None:
    import time

    while True:
        time.sleep(3600)


def _adb_open(serial: str | None, port: int):
    """adb reverse the port and open http://localhost:PORT/ on the phone; returns the undo."""
    from ..devices.transports.adb import AdbTransport

    phone = AdbTransport(serial)  # picks the only phone, or says which serials to choose from
    undo = phone.reverse(port)
    try:
        phone.open_url(f"http://localhost:{port}/")
    except BaseException:
        undo()
        raise
    out.print(f"opened http://localhost:{port}/ on {phone.serial} (adb reverse tcp:{port})")
    return undo
