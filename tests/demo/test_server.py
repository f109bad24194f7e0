"""The demo server serves the app, its runtimes and one bundle, and nothing else."""

from __future__ import annotations

import http.client
import json
import os

import pytest

from edgebert.demo.server import DemoServer, check_bundle, demo_app_dir
from edgebert.errors import EdgebertError


def request(server, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """Raw HTTP (http.client sends the path exactly as given: no client-side normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    conn.close()
    return out


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
    assert request(server, "/api/results", "POST", b"not json")[0] == 400
    assert request(server, "/api/results", "POST", b"[1, 2]")[0] == 400
    assert request(server, "/api/results", "POST", b"")[0] == 400
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/api/results")
    conn.putheader("Content-Length", str(5 << 20))  # over the limit: refused before the body is read
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert server.results.empty()
    code, _, body = request(server, "/api/results", "POST", b'{"ok": false, "error": "x"}')
    assert code == 200 and json.loads(body) == {"ok": True}
    assert server.results.get(timeout=1) == {"ok": False, "error": "x"}


def test_bench_serves_the_next_bundle_at_the_same_url(server, fake_bundle, tmp_path):
    import shutil

    other = shutil.copytree(fake_bundle, tmp_path / "other")
    (other / "model.onnx").write_bytes(b"second")
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
        assert f"a {target} bundle cannot run in a browser" in line and "onnx or tflite" in line
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
        vendors = [k for k in s.roots if k.startswith("vendor/")]
        assert vendors
        for key in vendors:
            wasm = sorted(s.roots[key].rglob("*.wasm"))
            if wasm:
                rel = wasm[0].relative_to(s.roots[key]).as_posix()
                code, headers, _ = request(s, f"/{key}/{rel}", "HEAD")
                assert code == 200 and headers["content-type"] == "application/wasm"
