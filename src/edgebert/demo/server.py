"""Serve the web demo (demo_app/web) and ONE bundle to a phone's browser.

Only three roots are reachable: the app's files, the runtime files vendor.json names inside
demo_app/node_modules, and the served bundle. Paths are resolved and must stay inside
their root (no ``..``, encoded or not, no symlinks out, no listings). Every response carries
COOP/COEP so the page is cross-origin isolated: WASM threads and precise timers work, and a CSP
that allows this origin only. Only the host names the server prints are answered (no DNS
rebinding), a refused request's body is dropped (never parsed as a next request), stalled
clients time out, and only the bench page edgebert opened (its URL carries a per-run token)
may post results.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import queue
import re
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import edgebert
from edgebert.errors import EdgebertError

def browser_targets() -> list[str]:
    """Targets whose artifacts a browser runs (each exporter says so: ``runs_in_browser``)."""
    from edgebert.exporters import exporters

    return [e.target for e in exporters() if e.runs_in_browser]


MAX_POST_BYTES = 4 << 20
TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
         ".webmanifest": "application/manifest+json", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png",
         ".onnx": "application/octet-stream", ".tflite": "application/octet-stream"}
HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
           "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-cache",
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
TOKEN_HEADER = "X-Edgebert-Token"
IMPORTMAP = re.compile(rb'<script type="importmap">(.*?)</script>', re.S)


def demo_app_dir() -> Path:
    """The demo_app folder of this source checkout (or EDGEBERT_DEMO_APP), runtimes installed."""
    root = Path(os.environ.get("EDGEBERT_DEMO_APP") or Path(edgebert.__file__).resolve().parents[2] / "demo_app")
    if not (root / "web" / "index.html").is_file():
        raise EdgebertError(f"the web demo is not in {root}", "run from an edgebert source checkout, or set "
                            "EDGEBERT_DEMO_APP to its demo_app folder")
    if not (root / "node_modules").is_dir():
        raise EdgebertError("the web demo's runtimes are not installed", f"run `npm ci` in {root}")
    return root


def check_bundle(bundle: Path, allow_failed_gates: bool = False) -> dict:
    """A verified bundle (artifact hash, labels, gates) whose target a browser runs."""
    from edgebert.exporters.bundle import verify_bundle

    bundle = Path(bundle)
    meta = verify_bundle(bundle, allow_failed_gates=allow_failed_gates)
    if meta.target not in browser_targets():
        raise EdgebertError(f"a {meta.target} bundle cannot run in a browser",
                            f"serve {' or '.join(f'an {t}' if t[0] in 'aeiou' else f'a {t}' for t in browser_targets())} "
                            "bundle (the others need their native runtimes)")
    if not (bundle / meta.artifact.file).is_file():
        raise EdgebertError(f"bundle {bundle} has no {meta.artifact.file}", "re-export it")
    return meta


def inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it is a file that really lies inside ``root`` (after resolving links)."""
    if not rel or "\\" in rel or "\x00" in rel or rel.startswith("/") or any(p.startswith(".") or not p
                                                                            for p in rel.split("/")):
        return None  # "..", ".", dotfiles, empty segments (a//b, a trailing / = a listing)
    root = root.resolve()
    path = (root / rel).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def content_security_policy(web: Path) -> str:
    """This origin only. The runtimes compile WASM ('wasm-unsafe-eval') and the pages' inline
    import maps are allowed by hash: no inline or eval'd JS, no other origin, no framing."""
    maps = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
                   for page in sorted(web.glob("*.html")) for m in IMPORTMAP.findall(page.read_bytes())})
    return "; ".join([
        "default-src 'self'", " ".join(["script-src 'self' 'wasm-unsafe-eval'", *maps]),
        "worker-src 'self'", "connect-src 'self'", "img-src 'self'", "style-src 'self'", "object-src 'none'",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"])


def vendor_roots(app: Path) -> dict[str, Path]:
    """URL prefix -> runtime folder, from web/vendor.json; each must lie inside node_modules."""
    try:
        vendor = json.loads((app / "web" / "vendor.json").read_text())
    except (OSError, ValueError) as exc:
        raise EdgebertError(f"cannot read {app / 'web' / 'vendor.json'}: {exc}", "restore demo_app/web") from None
    modules = (app / "node_modules").resolve()
    roots = {}
    for key, rel in vendor.items():
        path = (app / rel).resolve()
        if "/" in key or key.startswith(".") or modules not in path.parents or not path.is_dir():
            raise EdgebertError(f"vendor.json entry {key!r}: {rel} is not a folder inside demo_app/node_modules",
                                "run `npm ci` in demo_app/, or fix demo_app/web/vendor.json")
        roots[f"vendor/{key}"] = path
    return roots


@dataclass
class DemoServer:
    bundle: Path
    app: Path
    mode: str = "demo"  # demo | bench
    bench: dict | None = None
    host: str = "127.0.0.1"
    port: int = 0
    results: "queue.Queue[dict]" = field(default_factory=queue.Queue)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the bench page's, for /api/results
    allow_failed_gates: bool = False  # serve a bundle whose gates failed (the user asked for it)

    def __post_init__(self) -> None:
        self.app = Path(self.app)
        self.roots = {"": self.app / "web", **vendor_roots(self.app)}
        self.csp = content_security_policy(self.roots[""])
        self.serve_bundle(self.bundle)
        self.httpd = _Server((self.host, self.port), _handler(self))
        self.port = self.httpd.server_address[1]
        self.hosts = self._host_names()
        self._thread: threading.Thread | None = None

    def _host_names(self) -> set[str]:
        """The Host values a browser sends for the URLs this server prints (lower case)."""
        names = ["127.0.0.1", "localhost", "[::1]"]
        if self.host == "0.0.0.0":
            try:
                names.append(lan_address())
            except OSError:  # no LAN: the loopback names still work
                pass
        elif self.host not in names:
            names.append(f"[{self.host}]" if ":" in self.host else self.host)
        hosts = {f"{n.lower()}:{self.port}" for n in names}
        return hosts | ({n.lower() for n in names} if self.port == 80 else set())

    def serve_bundle(self, bundle: Path) -> None:
        """Serve ``bundle`` from now on (the browser bench measures several bundles at one URL)."""
        bundle = Path(bundle).resolve()
        self.meta = check_bundle(bundle, self.allow_failed_gates)
        self.bundle = self.roots["bundle"] = bundle

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("127.0.0.1", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/"

    def bench_url(self, host: str | None = None) -> str:
        """The bench page at ``host`` (default: the printed one), with the token it posts results with."""
        base = self.url if host is None else f"http://{host}:{self.port}/"
        return f"{base}bench.html?token={self.token}"

    def resolve(self, url_path: str) -> Path | None:
        path = unquote(urlsplit(url_path).path)
        if path == "/":
            return self.roots[""] / "index.html"
        rel = path.lstrip("/")
        for prefix in sorted(self.roots, key=len, reverse=True):
            if prefix and (rel == prefix or rel.startswith(prefix + "/")):
                return inside(self.roots[prefix], rel[len(prefix) + 1:])
        return inside(self.roots[""], rel)

    def config(self) -> dict:
        return {"mode": self.mode, "bench": self.bench if self.mode == "bench" else None}

    def start(self) -> "DemoServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a phone closing a tab is not an error
            super().handle_error(request, client_address)


def _handler(server: DemoServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10.0  # seconds a socket read/write may stall: a half-sent request must not hold a thread
        _unread: int | None = None  # request body bytes not read yet; None: unknown (no headers), -1: unbounded

        def log_message(self, *args) -> None:  # quiet: the CLI prints what matters
            pass

        def version_string(self) -> str:
            return "edgebert"  # not the Python version

        def parse_request(self) -> bool:
            self._unread = None
            if not super().parse_request():
                return False
            lengths = set(self.headers.get_all("Content-Length") or ["0"])
            try:
                self._unread = -1 if self.headers.get("Transfer-Encoding") or len(lengths) != 1 else int(lengths.pop())
            except ValueError:
                self._unread = -1
            hosts = self.headers.get_all("Host") or []
            if len(hosts) != 1:
                self.close_connection = True
                self._send(400, b"one Host header is required\n", "text/plain")
                return False
            if hosts[0].strip().lower() not in server.hosts:
                self.close_connection = True
                self._send(421, b"unknown host name: open the URL edgebert printed\n", "text/plain")
                return False
            return True

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The stdlib's errors (bad request line, unknown method) with this server's headers and body rules."""
            body = f"{message or HTTPStatus(code).phrase}\n".encode("latin-1", "replace")
            self._send(code, body, "text/plain", head=self.command == "HEAD")

        def _drop_body(self) -> None:
            """Read and drop an unread request body so it is not parsed as the next request; one
            that cannot be (unknown length, chunked, too large) closes the connection instead."""
            if self._unread is None or self._unread < 0 or self._unread > MAX_POST_BYTES:
                self.close_connection = True
            while not self.close_connection and self._unread > 0:
                chunk = self.rfile.read(min(self._unread, 1 << 16))
                if not chunk:
                    self.close_connection = True
                self._unread -= len(chunk)

        def _start(self, code: int, ctype: str, length: int) -> None:
            self._drop_body()
            self.send_response(code)
            if self.close_connection:
                self.send_header("Connection", "close")
            for k, v in {**HEADERS, "Content-Security-Policy": server.csp}.items():
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _send(self, code: int, body: bytes, ctype: str, head: bool = False) -> None:
            self._start(code, ctype, len(body))
            if not head:
                self.wfile.write(body)

        def _get(self, head: bool) -> None:
            if urlsplit(self.path).path == "/api/config":
                return self._send(200, json.dumps(server.config()).encode(), "application/json", head)
            path = server.resolve(self.path)
            if path is None:
                return self._send(404, b"not found\n", "text/plain", head)
            ctype = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            with path.open("rb") as f:  # streamed: a model can be hundreds of MB
                self._start(200, ctype, os.fstat(f.fileno()).st_size)
                if not head:
                    shutil.copyfileobj(f, self.wfile)

        def do_GET(self) -> None:
            self._get(False)

        def do_HEAD(self) -> None:
            self._get(True)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/api/results" or server.mode != "bench":
                return self._send(404, b"not found\n", "text/plain")
            if not secrets.compare_digest(self.headers.get(TOKEN_HEADER, "").encode(), server.token.encode()):
                return self._send(403, b"wrong token: open the bench URL edgebert printed\n", "text/plain")
            size = self._unread
            if size > MAX_POST_BYTES:
                return self._send(413, b"results too large\n", "text/plain")  # closes: the body stays unread
            if size <= 0:
                return self._send(400, b"no body\n", "text/plain")
            try:
                self._unread = 0
                doc = json.loads(self.rfile.read(size))
            except ValueError:
                return self._send(400, b"not JSON\n", "text/plain")
            if not isinstance(doc, dict):
                return self._send(400, b"not a JSON object\n", "text/plain")
            server.results.put(doc)
            self._send(200, b'{"ok": true}', "application/json")

        def _deny(self) -> None:
            self._send(405, b"method not allowed\n", "text/plain")

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _deny

    return Handler


def lan_address() -> str:
    """This machine's address on the LAN (the interface a default route would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return socket.gethostbyname(socket.gethostname())


def print_qr(url: str) -> None:
    """The URL as a terminal QR code, for a phone's camera."""
    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(url)
    qr.print_ascii(invert=True)
