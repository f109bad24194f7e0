"""The demo server serves the app, its runtimes and one bundle, and nothing else."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from edgebert.demo.server import DemoServer, check_bundle, demo_app_dir
from edgebert.errors import EdgebertError


def _get(url: str, method: str = "GET", data: bytes | None = None):
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture(scope="module")
def server(tiny_bundles, need_browser):
    with DemoServer(tiny_bundles["onnx"], demo_app_dir(), mode="bench", bench={"runs": 1}) as s:
        yield s


def test_app_bundle_and_runtimes_are_served_cross_origin_isolated(server):
    for path, ctype in (("", "text/html"), ("app.js", "text/javascript"), ("bundle/metadata.json", "application/json"),
                        ("bundle/model.onnx", "application/octet-stream"), ("manifest.webmanifest", "application/manifest+json")):
        code, headers, body = _get(server.url + path)
        assert code == 200 and body, path
        assert headers["Content-Type"].startswith(ctype), path
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    wasm = [p for p in (server.roots["vendor/onnxruntime-web"]).glob("*.wasm")][0]
    code, headers, _ = _get(server.url + f"vendor/onnxruntime-web/{wasm.name}", "HEAD")
    assert code == 200 and headers["Content-Type"] == "application/wasm"
    assert json.loads(_get(server.url + "api/config")[2]) == {"mode": "bench", "bench": {"runs": 1}}


@pytest.mark.parametrize("path", [
    "../pyproject.toml", "%2e%2e/pyproject.toml", "bundle/../../pyproject.toml", "bundle/%2e%2e/metadata.json",
    "vendor/onnxruntime-web/../../package.json", "vendor/nope/x.js", "..%2f..%2fetc/passwd", "bundle/",
    "bundle", "engines/", "%5c..%5cpyproject.toml", "bundle/metadata.json%00.txt", "node_modules/playwright-core/package.json",
    "//etc/passwd", "bundle/link-out",
])
def test_no_traversal_no_listing_nothing_outside(server, path):
    link = server.bundle / "link-out"
    if not link.exists():
        os.symlink("/etc/hostname", link)
    code, _, body = _get(server.url + path)
    assert code == 404, path
    assert b"root:" not in body and b"[project]" not in body


def test_binds_to_loopback_by_default_and_only_reads(server):
    assert server.httpd.server_address[0] == "127.0.0.1"
    assert _get(server.url + "app.js", "PUT", b"x")[0] == 405
    assert _get(server.url + "api/results", "POST", b"not json")[0] == 400
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/api/results")
    conn.putheader("Content-Length", str(5 << 20))  # over the limit: refused before the body is read
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert _get(server.url + "api/results", "POST", b'{"ok": false}')[0] == 200
    assert server.results.get(timeout=1) == {"ok": False}


def test_bad_bundles_are_one_line_errors(tmp_path, tiny_bundles):
    with pytest.raises(EdgebertError, match="does not exist"):
        check_bundle(tmp_path / "nope")
    with pytest.raises(EdgebertError, match="not an edgebert bundle"):
        check_bundle(tmp_path)
    meta = json.loads((tiny_bundles["onnx"] / "metadata.json").read_text())
    fake = tmp_path / "pte"
    fake.mkdir()
    (fake / "metadata.json").write_text(json.dumps({**meta, "target": "executorch"}))
    with pytest.raises(EdgebertError) as err:
        check_bundle(fake)
    assert "cannot run in a browser" in err.value.one_line()


def test_missing_runtimes_say_npm_ci(tmp_path, monkeypatch):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("x")
    monkeypatch.setenv("EDGEBERT_DEMO_APP", str(tmp_path))
    with pytest.raises(EdgebertError) as err:
        demo_app_dir()
    assert "npm ci" in err.value.one_line()
