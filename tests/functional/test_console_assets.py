"""The console's static files (/ui/): served with a strict CSP and nosniff, only from the assets
directory, and written so that no data can become markup (checked on the sources)."""
import re
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.console import static

ASSETS = Path(static.ASSETS)
SCRIPTS = sorted(ASSETS.glob("*.js"))


@pytest.fixture
def client(chalice_app):
    with Client(chalice_app) as c:
        yield c


def test_the_page_and_its_modules_are_served_with_strict_headers(client):
    for path, kind in (("/ui/", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/style.css", "text/css")):
        answer = client.http.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Type"].startswith(kind)
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self';" in csp and "style-src 'self';" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert client.http.get("/ui/").body.decode().startswith("<!doctype html>")


def test_every_asset_is_served_and_nothing_else(client):
    assert {p.name for p in ASSETS.iterdir() if p.suffix in static.CONTENT_TYPES} == set(static.FILES)
    for name in static.FILES:
        answer = client.http.get(f"/ui/{name}")
        assert answer.status_code == 200 and answer.body == (ASSETS / name).read_bytes()
    for name in ("static.py", "__init__.py", "..%2Fstatic.py", "%2e%2e", "nope.js", "index.html%00"):
        answer = client.http.get(f"/ui/{name}")
        assert answer.status_code == 404, name
        assert answer.json_body["Field"] == "asset"


def test_an_unchanged_asset_revalidates_with_an_empty_304(client):
    first = client.http.get("/ui/app.js")
    etag = first.headers["ETag"]
    again = client.http.get("/ui/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.body == b"" and again.headers["ETag"] == etag
    assert again.headers["X-Content-Type-Options"] == "nosniff"
    assert client.http.get("/ui/app.js", headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.http.get("/ui/style.css").headers["ETag"] != etag


def test_ui_without_its_slash_redirects_relatively(chalice_app):
    class Request:
        context = {"path": "/api/ui"}  # API Gateway's path carries the stage
        headers = {}

    answer = static.index(Request())
    assert answer.status_code == 301 and answer.headers["Location"] == "ui/"
    Request.context = {"path": "/api/ui/"}
    assert static.index(Request()).status_code == 200


def test_no_inline_script_style_or_handler_and_no_other_origin():
    html = (ASSETS / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="' in tag and 'type="module"' in tag, tag
    assert re.findall(r"<script\b[^>]*>([^<]*)</script>", html) == [""]  # one script, no inline code
    assert "<style" not in html and " style=" not in html
    assert re.search(r"\son\w+\s*=", html) is None
    for path in ASSETS.iterdir():
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")  # the SVG namespace, never fetched
        origins = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I))
        assert not origins, (path.name, origins)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_turn_data_into_markup(script):
    code = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setAttribute(\"on", "srcdoc", "javascript:", ".style.cssText", "localStorage"):
        assert sink not in code, (script.name, sink)
    # the token lives in sessionStorage only, and never in a URL
    if "sessionStorage." in code:
        assert script.name == "api.js"
