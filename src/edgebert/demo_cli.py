"""`edgebert demo` (registered on the main app by edgebert.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``; imports stay lazy so `edgebert --help` is fast."""
    from .cli import out, user_errors

    @app.command()
    @user_errors
    def demo(
        bundle: Path = typer.Argument(..., help="An onnx or tflite bundle folder written by `edgebert export`."),
        port: int = typer.Option(8765, "--port", "-p", help="Port to serve on (0: any free port)."),
        lan: bool = typer.Option(False, "--lan", help="Listen on the LAN (not only 127.0.0.1) and print a QR "
                                 "code for a phone on the same network."),
        adb: Optional[str] = typer.Option(None, "--adb", help="Android phone serial (or 'any'): adb reverse the "
                                          "port and open the page in its browser."),
    ) -> None:
        """Serve the phone web demo with BUNDLE: type a sentence, see the label and the on-device latency."""
        import time

        from .demo.server import DemoServer, demo_app_dir, lan_address
        from .errors import EdgebertError

        if not 0 <= port <= 65535:
            raise EdgebertError(f"--port {port} is not a port", "use 1024-65535, or 0 for any free port")
        try:
            server = DemoServer(bundle, demo_app_dir(), host="0.0.0.0" if lan else "127.0.0.1", port=port)
        except OSError as exc:
            raise EdgebertError(f"cannot listen on port {port}: {exc.strerror}", "pass another --port") from None
        reverse = None
        with server:
            url = f"http://127.0.0.1:{server.port}/"
            out.print(f"serving {bundle} ({server.meta['target']} {server.meta['precision']}) at {url}")
            if lan:
                url = f"http://{lan_address()}:{server.port}/"
                out.print(f"on your phone (same network): {url}")
                from .devices.browser import _print_qr

                _print_qr(url)
                out.print("note: a LAN address is not a secure context, so the page cannot install offline; "
                          "--adb (localhost on the phone) can.")
            if adb:
                reverse = _adb_reverse(None if adb == "any" else adb, server.port)
            out.print("Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                out.print("stopped")
            finally:
                if reverse:
                    _run(reverse[:-1] + ["--remove", reverse[-1]], check=False)


def _run(argv: list[str], check: bool = True):
    import subprocess

    from .errors import EdgebertError

    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise EdgebertError("adb is not installed", "install Android platform-tools (Debian: apt install adb)") from None
    except subprocess.TimeoutExpired:
        raise EdgebertError(f"{' '.join(argv[:4])} timed out", "check the phone is connected: adb devices") from None
    if check and res.returncode != 0:
        msg = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
        raise EdgebertError(f"{' '.join(argv[:4])} failed: {msg}", "check `adb devices` lists the phone as 'device'")
    return res


def _adb_reverse(serial: str | None, port: int) -> list[str]:
    """adb reverse the port, then open http://localhost:PORT/ (a secure context) on the phone."""
    from .cli import out

    base = ["adb"] + (["-s", serial] if serial else [])
    cmd = base + ["reverse", f"tcp:{port}", f"tcp:{port}"]
    _run(cmd)
    _run(base + ["shell", "am", "start", "-a", "android.intent.action.VIEW", "-d", f"http://localhost:{port}/"])
    out.print(f"opened http://localhost:{port}/ on the phone (adb reverse tcp:{port})")
    return base + ["reverse", f"tcp:{port}"]
