"""Media fetching limits (SSRF, size, type) over a loopback HTTP server, and span tagger offsets."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.store import media
from tests import kind_data


class Handler(BaseHTTPRequestHandler):
    png = kind_data.digit_png([16] * 64)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        routes = {
            "/digit.png": (200, "image/png", self.png),
            "/page.html": (200, "text/html", b"<html></html>"),
            "/big.png": (200, "image/png", b"\x89PNG" + b"0" * 5000),
            "/moved.png": (302, "image/png", b""),
            "/broken.png": (200, "image/png", b"not an image"),
        }
        status, content_type, body = routes.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status == 302:
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allow_loopback(monkeypatch):
    monkeypatch.setenv("ACTIVELABEL_MEDIA_ALLOW_PRIVATE", "1")


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.8/x.png", "http://192.168.1.1/x.png",
    "http://[::1]/x.png", "http://0.0.0.0/x.png", "http://224.0.0.1/x.png", "http://[::ffff:127.0.0.1]/x.png",
])
def test_non_public_addresses_are_refused(url):
    with pytest.raises(media.MediaError, match="non-public address"):
        media.fetch(url)


def test_loopback_is_refused_unless_allowed(server, monkeypatch):
    with pytest.raises(media.MediaError, match="non-public address 127.0.0.1"):
        media.fetch(f"{server}/digit.png")
    monkeypatch.setenv("ACTIVELABEL_MEDIA_ALLOW_PRIVATE", "1")
    assert media.fetch(f"{server}/digit.png") == Handler.png


def test_type_size_redirect_and_scheme_limits(server, allow_loopback, monkeypatch):
    with pytest.raises(media.MediaError, match="'text/html' is not an image"):
        media.fetch(f"{server}/page.html")
    with pytest.raises(media.MediaError, match="HTTP 302"):
        media.fetch(f"{server}/moved.png")
    with pytest.raises(media.MediaError, match="HTTP 404"):
        media.fetch(f"{server}/missing.png")
    monkeypatch.setenv("ACTIVELABEL_MEDIA_MAX_BYTES", "1000")
    with pytest.raises(media.MediaError, match="5004 bytes; the limit is 1000"):
        media.fetch(f"{server}/big.png")
    for url in ("file:///etc/passwd", "ftp://example.org/x.png", "http://user:pw@127.0.0.1/x.png"):
        with pytest.raises(media.MediaError):
            media.fetch(url)


def test_undecodable_image_is_a_media_error(server, allow_loopback):
    from chalicelib.ml.image_classifier import features_of_url

    assert features_of_url(f"{server}/digit.png").shape[0] > 800
    with pytest.raises(media.MediaError, match="not a readable image"):
        features_of_url(f"{server}/broken.png")


def test_s3_media_bucket_allow_list_and_size(aws, monkeypatch):
    from chalicelib.store.aws import client

    s3 = client("s3")
    s3.create_bucket(Bucket="media-ok")
    s3.put_object(Bucket="media-ok", Key="a.png", Body=Handler.png)
    assert media.fetch("s3://media-ok/a.png") == Handler.png
    monkeypatch.setenv("ACTIVELABEL_MEDIA_BUCKETS", "other-bucket")
    with pytest.raises(media.MediaError, match="not one of the media buckets"):
        media.fetch("s3://media-ok/a.png")
    monkeypatch.setenv("ACTIVELABEL_MEDIA_BUCKETS", "media-ok")
    monkeypatch.setenv("ACTIVELABEL_MEDIA_MAX_BYTES", "10")
    with pytest.raises(media.MediaError, match="the limit is 10"):
        media.fetch("s3://media-ok/a.png")


# ---- span tagger offsets

def test_tokens_bio_tags_and_utf16_offsets():
    from chalicelib.ml.span_tagger import _utf16_to_codepoints, bio_tags, tokenize

    text = "Hi 😀 New York, via @nyc!"
    tokens = tokenize(text)
    assert [text[s:e] for s, e in tokens] == ["Hi", "😀", "New", "York", ",", "via", "@nyc", "!"]
    start = text.index("New")
    assert bio_tags(tokens, [(start, start + 8, "LOC")]) == ["O", "O", "B-LOC", "I-LOC", "O", "O", "O", "O"]
    # Label Studio's editor counts UTF-16 units: the emoji is 2 of them
    assert _utf16_to_codepoints(text, start + 1, start + 9) == (start, start + 8)


def test_viterbi_never_starts_an_entity_with_i():
    import numpy as np

    from chalicelib.ml.span_tagger import viterbi

    tags = ["B-PER", "I-PER", "I-LOC", "O"]
    log_probs = np.log(np.array([[0.1, 0.6, 0.0001, 0.2999], [0.1, 0.2, 0.6, 0.1]]))
    path = [tags[i] for i in viterbi(log_probs, tags)]
    assert path[0] != "I-PER" and not (path[1] == "I-LOC" and path[0] != "I-LOC")
