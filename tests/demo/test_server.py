"""The demo server serves the app, its runtimes and one bundle, and nothing else."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import time

import pytest

from edgebert.demo.server import TOKEN_HEADER, DemoServer, check_bundle, demo_app_dir
from edgebert.errors import EdgebertError


def request(server, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """Raw HTTP (http.client sends the path exactly as given: no client-side normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    conn.close()
    return out


def exchange(server, data: bytes) -> bytes:
    """Send raw bytes on one connection and read every byte the server writes until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def statuses(raw: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


@pytest.fixture
def server(fake_app, fake_bundle):
    with DemoServer(fake_bundle, demo_app_dir(), mode="bench", bench={"runs": 3, "text": "hi"}) as s:
        yield s


ISOLATION = {"cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp",
             "cross-origin-resource-policy": "same-origin", "cache-control": "no-cache"}


@pytest.mark.parametrize("path,ctype,start", [
    ("/", "text/html", b"<!doctype"), ("/index.html", "text/html", b"<!doctype"), ("/app.js", "text/javascript", b"export"),
    ("/engines/ort.mjs", "text/javascript", b"export"), ("/style.css", "text/css", b"body"),
    ("/manifest.webmanifest", "application/manifest+json", b"{}"), ("/app.js?v=2", "text/javascript", b"export"),
    ("/vendor/rt/ort.wasm", "application/wasm", b"\0asm"), ("/vendor/rt/ort.mjs", "text/javascript", b"export"),
    ("/bundle/metadata.json", "application/json", b"{"), ("/bundle/model.onnx", "application/octet-stream", b"onnx"),
    ("/bundle/vocab.txt", "text/plain", b"[PAD]"),
])
def test_app_runtimes_and_bundle_are_served_cross_origin_isolated(server, path, ctype, start):
    code, headers, body = request(server, path)
    assert code == 200, path
    assert headers["content-type"].startswith(ctype)
    assert body.startswith(start) and int(headers["content-length"]) == len(body)
    assert {k: headers[k] for k in ISOLATION} == ISOLATION
    code, headers, body = request(server, path, "HEAD")
    assert code == 200 and body == b"" and int(headers["content-length"]) > 0


def test_config_says_bench_mode_and_settings(server, fake_app, fake_bundle):
    code, headers, body = request(server, "/api/config")
    assert code == 200 and headers["content-type"] == "application/json"
    assert headers["cross-origin-embedder-policy"] == "require-corp"
    assert json.loads(body) == {"mode": "bench", "bench": {"runs": 3, "text": "hi"}}
    with DemoServer(fake_bundle, fake_app) as demo:
        assert json.loads(request(demo, "/api/config")[2]) == {"mode": "demo", "bench": None}
        assert request(demo, "/api/results", "POST", b"{}")[0] == 404  # only the bench accepts results


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt", "/..%2F..%2Foutside.txt",
    "/bundle/../../outside.txt", "/bundle/%2e%2e/%2e%2e/outside.txt", "/bundle/..%2f..%2foutside.txt",
    "/vendor/rt/../package.json", "/vendor/rt/%2e%2e/package.json", "/vendor/rt/..%2f..%2f..%2fsecret.txt",
    "/vendor/nope/ort.wasm", "/vendor/", "/vendor/rt", "/vendor/rt/", "/node_modules/rt/package.json",
    "/bundle/", "/bundle", "/engines/", "/engines", "//secret.txt", "/%2fetc%2fpasswd", "//etc/passwd",
    "/..\\secret.txt", "/%5c..%5csecret.txt", "/bundle\\..\\..\\outside.txt", "/bundle/metadata.json%00.txt",
    "/app.js%00", "/.secret", "/%2esecret", "/bundle/./metadata.json", "/./app.js", "/bundle//metadata.json",
    "/bundle/link-out", "/vendor/rt/link-up", "/link-app", "/web/index.html", "/demo_app/secret.txt",
])
def test_no_traversal_no_listing_nothing_outside(server, fake_app, path):
    os.symlink(fake_app.parent / "outside.txt", server.bundle / "link-out")  # links out of their root
    os.symlink(fake_app / "node_modules" / "rt" / "package.json", fake_app / "node_modules" / "rt" / "dist" / "link-up")
    os.symlink(fake_app / "secret.txt", fake_app / "web" / "link-app")
    code, _, body = request(server, path)
    assert code == 404, path
    assert b"private" not in body and b"outside" not in body and b"<" not in body


def test_symlink_inside_its_root_is_served(server):
    os.symlink("metadata.json", server.bundle / "meta-link.json")
    assert request(server, "/bundle/meta-link.json")[0] == 200


def test_binds_loopback_by_default_and_only_reads(server):
    assert server.httpd.server_address[0] == "127.0.0.1"
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        assert request(server, "/app.js", method, b"x")[0] == 405, method
    assert request(server, "/app.js", "POST", b"{}")[0] == 404  # POST only to /api/results


def test_results_post_is_size_limited_json_object(server):
    token = {TOKEN_HEADER: server.token}
    assert request(server, "/api/results", "POST", b"not json", token)[0] == 400
    assert request(server, "/api/results", "POST", b"[1, 2]", token)[0] == 400
    assert request(server, "/api/results", "POST", b"", token)[0] == 400
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/api/results")
    conn.putheader("Content-Length", str(5 << 20))  # over the limit: refused before the body is read
    conn.putheader(TOKEN_HEADER, server.token)
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert server.results.empty()
    code, _, body = request(server, "/api/results", "POST", b'{"ok": false, "error": "x"}', token)
    assert code == 200 and json.loads(body) == {"ok": True}
    assert server.results.get(timeout=1) == {"ok": False, "error": "x"}


def test_bench_serves_the_next_bundle_at_the_same_url(server, fake_bundle, tmp_path):
    import shutil

    import hashlib

    other = shutil.copytree(fake_bundle, tmp_path / "other")
    (other / "model.onnx").write_bytes(b"second")
    meta = json.loads((other / "metadata.json").read_text())
    meta["artifact"]["sha256"] = hashlib.sha256(b"second").hexdigest()
    (other / "metadata.json").write_text(json.dumps(meta))
    server.serve_bundle(other)
    assert request(server, "/bundle/model.onnx")[2] == b"second"


def test_lan_binds_all_interfaces(fake_app, fake_bundle):
    with DemoServer(fake_bundle, fake_app, host="0.0.0.0") as s:
        assert s.httpd.server_address[0] == "0.0.0.0"
        assert request(s, "/")[0] == 200


def test_bad_bundles_are_one_line_errors(tmp_path, fake_bundle):
    with pytest.raises(EdgebertError, match="does not exist"):
        check_bundle(tmp_path / "nope")
    with pytest.raises(EdgebertError, match="not an edgebert bundle"):
        check_bundle(tmp_path)
    meta = json.loads((fake_bundle / "metadata.json").read_text())
    for target in ("executorch", "coreml"):
        (fake_bundle / "metadata.json").write_text(json.dumps({**meta, "target": target}))
        with pytest.raises(EdgebertError) as err:
            check_bundle(fake_bundle)
        line = err.value.one_line()
        assert f"a {target} bundle cannot run in a browser" in line and "an onnx" in line and "a tflite" in line
        assert "\n" not in line
    (fake_bundle / "metadata.json").write_text(json.dumps(meta))
    (fake_bundle / "model.onnx").unlink()
    with pytest.raises(EdgebertError, match="has no model.onnx"):
        check_bundle(fake_bundle)


def test_missing_runtimes_say_npm_ci(fake_app):
    import shutil

    shutil.rmtree(fake_app / "node_modules")
    with pytest.raises(EdgebertError) as err:
        demo_app_dir()
    assert "the web demo's runtimes are not installed" in err.value.one_line()
    assert "npm ci" in err.value.one_line()


def test_vendor_entries_must_stay_in_node_modules(fake_app, fake_bundle):
    (fake_app / "web" / "vendor.json").write_text('{"rt": "web"}')
    with pytest.raises(EdgebertError, match="inside demo_app/node_modules"):
        DemoServer(fake_bundle, fake_app)


def test_the_real_app_and_its_runtimes(need_browser, fake_bundle, monkeypatch):
    """The checked-in demo_app/web with its vendor.json entries, after `npm ci`."""
    monkeypatch.delenv("EDGEBERT_DEMO_APP", raising=False)
    app = demo_app_dir()
    with DemoServer(fake_bundle, app) as s:
        for path in ("/", "/bench.html", "/sw.js", "/manifest.webmanifest"):
            assert request(s, path)[0] == 200, path
        for page in ("index.html", "bench.html"):  # litert.js resolves its helper through the import map
            importmap = re.search(r'<script type="importmap">(.*?)</script>', (app / "web" / page).read_text()).group(1)
            assert base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode() in s.csp, page
        vendors = [k for k in s.roots if k.startswith("vendor/")]
        assert vendors
        for key in vendors:
            wasm = sorted(s.roots[key].rglob("*.wasm"))
            if wasm:
                rel = wasm[0].relative_to(s.roots[key]).as_posix()
                code, headers, _ = request(s, f"/{key}/{rel}", "HEAD")
                assert code == 200 and headers["content-type"] == "application/wasm"


SMUGGLED = b"GET /bundle/vocab.txt HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"


@pytest.mark.parametrize("mode,head,first", [
    ("demo", b"POST /api/results HTTP/1.1\r\nHost: 127.0.0.1:%d", 404),
    ("bench", b"POST /api/results HTTP/1.1\r\nHost: 127.0.0.1:%d", 403),  # no token
    ("bench", b"POST /app.js HTTP/1.1\r\nHost: 127.0.0.1:%d", 404),
    ("bench", b"PUT /app.js HTTP/1.1\r\nHost: 127.0.0.1:%d", 405),
    ("bench", b"FOO /app.js HTTP/1.1\r\nHost: 127.0.0.1:%d", 501),
    ("bench", b"GET /nope.js HTTP/1.1\r\nHost: 127.0.0.1:%d", 404),
    ("bench", b"POST /api/results HTTP/1.1\r\nHost: evil.example:%d", 421),
])
def test_an_unanswered_body_is_never_parsed_as_the_next_request(fake_app, fake_bundle, mode, head, first):
    """A refused request's body (here a whole GET) is read and dropped, or the connection closed."""
    with DemoServer(fake_bundle, fake_app, mode=mode, bench={"runs": 1}) as s:
        body = SMUGGLED % s.port
        last = b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % s.port
        raw = exchange(s, head % s.port + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body + last)
    assert b"[PAD]" not in raw
    assert statuses(raw) in ([first], [first, 200]), raw[:300]


def test_a_chunked_body_closes_the_connection(server):
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED % server.port)
    raw = exchange(server, b"POST /api/results HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n"
                           b"%s: %s\r\n\r\n" % (server.port, TOKEN_HEADER.encode(), server.token.encode()) + body)
    assert b"[PAD]" not in raw and statuses(raw) == [400]
    assert server.results.empty()


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "0.0.0.0:{port}",
                                  "192.168.7.9:{port}", "localhost.evil.example:{port}", "127.0.0.1:{port}@evil"])
def test_foreign_host_names_get_no_files(server, host):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 must not read the bundle."""
    code, headers, body = request(server, "/bundle/vocab.txt", headers={"Host": host.format(port=server.port)})
    assert code == 421 and b"[PAD]" not in body
    assert headers["x-frame-options"] == "DENY"
    raw = exchange(server, b"GET /bundle/vocab.txt HTTP/1.1\r\nConnection: close\r\n\r\n")  # no Host at all
    assert statuses(raw) == [400] and b"[PAD]" not in raw
    raw = exchange(server, b"GET /bundle/vocab.txt HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nHost: evil.example\r\n"
                           b"Connection: close\r\n\r\n" % server.port)
    assert statuses(raw) == [400] and b"[PAD]" not in raw


@pytest.mark.parametrize("lan", [False, True])
def test_the_names_the_server_prints_are_served(fake_app, fake_bundle, monkeypatch, lan):
    monkeypatch.setattr("edgebert.demo.server.lan_address", lambda: "192.168.7.9")
    with DemoServer(fake_bundle, fake_app, host="0.0.0.0" if lan else "127.0.0.1") as s:
        for host in ("127.0.0.1", "localhost", "LocalHost", "[::1]", "192.168.7.9"):
            code, _, body = request(s, "/bundle/vocab.txt", headers={"Host": f"{host}:{s.port}"})
            assert code == (421 if host == "192.168.7.9" and not lan else 200), host


@pytest.mark.parametrize("partial", [b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",
                                     b"PUT /app.js HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 9\r\n\r\nabc"])
def test_a_half_sent_request_is_dropped_after_the_timeout(server, partial):
    """A stalled client must not hold a connection and a server thread open forever."""
    assert 0 < (server.httpd.RequestHandlerClass.timeout or 0) <= 30
    server.httpd.RequestHandlerClass.timeout = 0.5
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(partial % server.port)
        assert sock.recv(65536) == b""  # closed by the server, not by our own 5 s timeout
    assert time.monotonic() - t0 < 3


def test_results_need_the_runs_token(server):
    """Only the bench page edgebert opened (its URL carries the token) may post results."""
    assert len(server.token) >= 16 and server.bench_url().endswith(f"/bench.html?token={server.token}")
    assert server.bench_url("192.168.7.9") == f"http://192.168.7.9:{server.port}/bench.html?token={server.token}"
    for headers in ({}, {TOKEN_HEADER: ""}, {TOKEN_HEADER: server.token[:-1]}, {TOKEN_HEADER: server.token + "x"}):
        assert request(server, "/api/results", "POST", b'{"ok": true}', headers)[0] == 403
    assert request(server, f"/api/results?token={server.token}", "POST", b'{"ok": true}')[0] == 403
    assert server.results.empty()
    assert b"token" not in request(server, "/api/config")[2]  # another page cannot learn it
    assert request(server, "/api/results", "POST", b'{"ok": true}', {TOKEN_HEADER: server.token})[0] == 200
    assert server.results.get(timeout=1) == {"ok": True}
    with DemoServer(server.bundle, server.app, mode="bench") as other:
        assert other.token != server.token


def test_every_response_forbids_framing_and_foreign_origins(server):
    for method, path, headers, code in [("GET", "/", {}, 200), ("GET", "/nope", {}, 404), ("HEAD", "/app.js", {}, 200),
                                        ("PUT", "/", {}, 405), ("POST", "/api/results", {}, 403),
                                        ("GET", "/", {"Host": "evil.example"}, 421), ("FOO", "/", {}, 501)]:
        got, h, _ = request(server, path, method, headers=headers)
        assert got == code, (method, path)
        assert h["x-frame-options"] == "DENY" and h["content-security-policy"] == server.csp, (method, path)
        assert h["server"] == "edgebert" and "python" not in str(h).lower(), h["server"]
        assert {k: h[k] for k in ISOLATION} == ISOLATION
    policy = dict(d.strip().split(" ", 1) for d in server.csp.split(";") if d.strip())
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    sources = " ".join(policy.values()).split()
    assert "'wasm-unsafe-eval'" in policy["script-src"]
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "blob:", "http:", "https:"} & set(sources)
    assert all(s.startswith("'") for s in sources), sources  # no other origin by name


def test_inline_import_maps_are_allowed_by_hash_only(fake_app, fake_bundle):
    importmap = '{"imports": {"x": "/vendor/rt/ort.mjs"}}'
    (fake_app / "web" / "page.html").write_text(f'<script type="importmap">{importmap}</script>'
                                                 '<script>alert(1)</script>')
    with DemoServer(fake_bundle, fake_app) as s:
        digest = base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in s.csp
        assert s.csp.count("'sha256-") == 1  # the plain inline script stays blocked
