"""`GET /ui` and `GET /ui/{asset}`: the console's files, with headers that keep the page strict.

Only the files present in assets/ at import time are served (a fixed name -> file table, so no
path from the request ever reaches the filesystem). Every answer carries a Content-Security-Policy
that allows scripts, styles, images and API calls from this origin only (no inline script or style,
no third-party origin) and `X-Content-Type-Options: nosniff`.
"""
import hashlib
from pathlib import Path

from chalice import Response

from chalicelib.errors import NotFoundError

ASSETS = Path(__file__).resolve().parent / "assets"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
INDEX = "index.html"
# name -> content type; read from disk when asked (the files are small and Lambda's disk is local)
FILES = {p.name: CONTENT_TYPES[p.suffix] for p in (ASSETS.iterdir() if ASSETS.is_dir() else ())
         if p.is_file() and p.suffix in CONTENT_TYPES}


def asset(name: str, request=None) -> Response:
    """The file `name` of assets/. Browsers revalidate (`no-cache`): an `If-None-Match` with the
    file's ETag gets an empty 304."""
    content_type = FILES.get(name)
    if content_type is None:
        raise NotFoundError(f"asset {name!r} not found; the console is at /ui/", "asset")
    body = (ASSETS / name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"Content-Type": content_type, "ETag": etag, **SECURITY_HEADERS}
    if request is not None and (request.headers or {}).get("if-none-match") == etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=body.decode("utf-8"), status_code=200, headers=headers)


def index(request) -> Response:
    """The page at `/ui/`. `/ui` without the slash redirects there, so the page's relative links
    (`app.js`, `style.css`) resolve under /ui/ on every stage prefix (`/api/ui/` on API Gateway)."""
    path = ((request.context or {}).get("path") or "") if request is not None else ""
    if path and not path.endswith("/"):
        return Response(body="", status_code=301,
                        headers={"Location": path.rsplit("/", 1)[-1] + "/", **SECURITY_HEADERS})
    return asset(INDEX, request)
