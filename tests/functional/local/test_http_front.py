"""The local stack's lean HTTP front (chalicelib/local/http_server.py) against Chalice's own pieces:
the same route matches, the same events, HTTP/1.1 keep-alive on a raw socket."""
from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from chalice import Chalice
from chalice.config import Config
from chalice.local import RouteMatcher

from chalicelib.local.http_server import HeaderError, RouteTable, make_http_server, read_headers


def concrete(route: str, value: str) -> str:
    return "/".join(value if p.startswith("{") else p for p in route.split("/"))


def test_route_table_matches_as_chalice_does_on_every_route_of_the_app():
    import app

    routes = list(app.app.routes)
    ours, chalice = RouteTable(routes), RouteMatcher(routes)
    urls = [concrete(r, v) + tail for r in routes for v in ("7", "abc")
            for tail in ("", "/", "?limit=5&cursor=x", "?a=1&a=2&b=")]
    urls += ["/", "/nope", "/api/projects/1/nope/deeper", "/api/projects/1/tasks/2;x=1", "/api/x#frag", "/api/p?"]
    for url in urls * 2:  # the second pass answers from the cache
        try:
            expected = chalice.match_route(url)
        except ValueError:
            with pytest.raises(ValueError):
                ours.match_route(url)
            continue
        got = ours.match_route(url)
        assert (got.route, got.query_params) == (expected.route, expected.query_params), url
        # Chalice also keeps captures of routes it tried first; the matched route's are the same
        assert expected.captured.items() >= got.captured.items(), url
        assert set(got.captured) == {p[1:-1] for p in got.route.split("/") if p.startswith("{")}, url
    got = ours.match_route(concrete("/api/projects/{project_id}", "9"))
    got.captured["project_id"] = "changed"  # a caller's change never reaches the cache
    assert ours.match_route("/api/projects/9").captured == {"project_id": "9"}


def test_read_headers_as_http_server_reads_them():
    raw = (b"Host: x\r\nAuthorization: Token a\r\nX-Long: one\r\n  two\r\nauthorization: Token b\r\n"
           b"Content-Length:   12\r\n\r\nbody")
    stream = io.BytesIO(raw)
    headers = read_headers(stream)
    assert stream.read() == b"body"
    assert headers.get("AUTHORIZATION") == headers["authorization"] == "Token a"  # the first of a repeat
    assert headers.get("content-length") == "12" and headers.get("missing", "d") == "d" and headers["nope"] is None
    assert "x-long" in headers and headers["X-Long"] == "one  two"
    assert dict(headers) == {"Host": "x", "Authorization": "Token a", "X-Long": "one  two", "Content-Length": "12"}
    with pytest.raises(HeaderError):
        read_headers(io.BytesIO(b"".join(b"H%d: v\r\n" % i for i in range(101)) + b"\r\n"))
    with pytest.raises(HeaderError):
        read_headers(io.BytesIO(b"H: " + b"v" * 70000 + b"\r\n\r\n"))


@pytest.fixture
def front():
    app = Chalice("front")

    @app.route("/echo", methods=["POST"])
    def echo():
        request = app.current_request
        return {"body": request.json_body, "agent": request.headers.get("user-agent")}

    @app.route("/big")
    def big():
        return {"blob": "x" * 8_000_000}

    @app.route("/items/{item}")
    def item(item):
        return {"item": item, "q": dict(app.current_request.query_params or {})}

    def head_check(method, path, headers):  # as the stack's: a credential checked before 100 Continue
        if headers.get("authorization") != "Token ok":
            return 401, "UnauthorizedError", "no token", "Authorization"
        return None

    server = make_http_server(app, Config.create(), "127.0.0.1", 0, False, head_check)
    server.server.idle_seconds, server.server.request_seconds = 1.0, 2.0
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server.server_address[1]
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=10)


def answers(sock: socket.socket, count: int) -> list[tuple[bytes, dict, bytes]]:
    """`count` responses read off the socket (status line, headers, body by Content-Length)."""
    stream, out = sock.makefile("rb"), []
    for _ in range(count):
        status = stream.readline().rstrip()
        headers = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        out.append((status, headers, stream.read(int(headers.get("content-length", "0")))))
    return out


def test_keep_alive_connection_pipelined_requests_close_and_continue(front):
    body = b'{"x": [1, 2]}'
    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                  + b"GET /items/abc/?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  + b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        (first, h1, b1), (second, _, b2), (third, _, b3) = answers(s, 3)
        assert s.recv(1) == b""  # closed after the request that asked for it
    assert first == b"HTTP/1.1 200 OK" and h1["content-type"] == "application/json" and "date" in h1
    assert b1 == b'{"body":{"x":[1,2]},"agent":"t"}'
    assert second == b"HTTP/1.1 200 OK" and b2 == b'{"item":"abc","q":{"q":"1"}}'
    assert third == b"HTTP/1.1 404 Not Found" and b'"NotFoundError"' in b3

    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:  # HTTP/1.0 closes by default
        s.sendall(b"GET /items/1 HTTP/1.0\r\n\r\n")
        ((status, _, _),) = answers(s, 1)
        assert status == b"HTTP/1.1 200 OK" and s.recv(1) == b""

    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:  # Expect: 100-continue
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Authorization: Token ok\r\nContent-Length: %d\r\n\r\n" % len(body))
        ((interim, _, _),) = answers(s, 1)
        assert interim == b"HTTP/1.1 100 Continue"
        s.sendall(body)
        ((status, _, echoed),) = answers(s, 1)
        assert status == b"HTTP/1.1 200 OK" and echoed.startswith(b'{"body":{"x":[1,2]}')

    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
        s.sendall(b"GET /items/1 HTTP/2.0\r\n\r\n")  # refused as http.server does (no status line: 0.9)
        assert b"Error code: 505" in s.makefile("rb").read()
    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
        s.sendall(b"GET /items/1 HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(101)) + b"\r\n")
        assert s.makefile("rb").readline().startswith(b"HTTP/1.1 431")


def test_a_client_that_hangs_up_mid_answer_is_a_log_line_not_a_traceback(front, capfd, caplog):
    import struct

    caplog.set_level("INFO", logger="activelabel.local.http")
    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1)  # the answer has started
    deadline = time.monotonic() + 10
    while "closed the connection" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "closed the connection before the answer was written" in caplog.text
    assert "Traceback" not in capfd.readouterr().err
    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:  # the server still answers
        s.sendall(b"GET /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ((status, _, _),) = answers(s, 1)
        assert status == b"HTTP/1.1 200 OK"


# ---- request smuggling shapes, HEAD, bounds and 100 Continue (issue 26, item 4): one test per shape

def exchange(port: int, raw: bytes, count: int = 1):
    """Send `raw`, read `count` answers, and whether the server closed the connection after them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        got = answers(s, count)
        try:
            closed = s.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            closed = True
        return got, closed


SMUGGLED = b"GET /items/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("head", [
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",  # CL + TE
    b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    b"Content-Length: 5\r\nContent-Length: 40\r\n",  # two lengths
    b"Content-Length: 5\r\nContent-Length: 5\r\n",
    b"Content-Length: 1_0\r\n", b"Content-Length: +2\r\n", b"Content-Length: -1\r\n",
    b"Content-Length: 2 2\r\n", b"Content-Length: 0x5\r\n", "Content-Length: \u00b2\r\n".encode("utf-8"),
    b"Content-Length : 5\r\n", b"Transfer-Encoding : chunked\r\n",  # a space before the colon
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
])
def test_an_ambiguously_framed_request_is_refused_and_its_connection_closed(front, head):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n0\r\n\r\n" + SMUGGLED
    ((status, _, body),), closed = exchange(front, raw)
    assert status.startswith(b"HTTP/1.1 400") and closed, (status, body)


@pytest.mark.parametrize("coding,expected", [(b"gzip", b"501"), (b"gzip, chunked", b"501"), (b"chunked, chunked", b"501")])
def test_a_transfer_coding_other_than_chunked_is_not_implemented(front, coding, expected):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + b"\r\n\r\n0\r\n\r\n" + SMUGGLED
    ((status, _, _),), closed = exchange(front, raw)
    assert status.split()[1] == expected and closed


def test_a_chunked_post_is_served_and_the_connection_goes_on(front):
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"7;ext=1\r\n{\"x\": [\r\n6\r\n1, 2]}\r\n0\r\nX-Trailer: t\r\n\r\n"
           b"GET /items/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    ((status, _, body), (second, _, body2)), closed = exchange(front, raw, 2)
    assert status == b"HTTP/1.1 200 OK" and body.startswith(b'{"body":{"x":[1,2]}'), body
    assert second == b"HTTP/1.1 200 OK" and b'"next"' in body2 and closed


@pytest.mark.parametrize("chunks", [b"zz\r\nab\r\n0\r\n\r\n", b"2\r\nabc\r\n0\r\n\r\n", b"+2\r\nab\r\n0\r\n\r\n"])
def test_a_malformed_chunked_body_is_refused(front, chunks):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + SMUGGLED
    ((status, _, _),), closed = exchange(front, raw)
    assert status.startswith(b"HTTP/1.1 400") and closed


def test_a_chunked_body_over_the_limit_is_refused(front, monkeypatch):
    from chalicelib.local import http_server

    monkeypatch.setattr(http_server, "MAX_BODY_BYTES", 10)
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"
    ((status, _, _),), closed = exchange(front, raw)
    assert status.startswith(b"HTTP/1.1 413") and closed


def test_head_answers_without_a_body(front):
    raw = b"HEAD /items/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ") and b"Content-Length: " in head  # (Chalice: 405 for a GET route)
    assert rest.startswith(b"HTTP/1.1 200 OK"), rest[:80]  # the next answer, no body in between


def test_an_idle_connection_is_closed_after_the_bound(front):
    with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
        started = time.monotonic()
        assert s.recv(1) == b""
        assert time.monotonic() - started < 5


def test_a_half_sent_request_is_closed_after_the_bound(front):
    for partial in (b"POST /echo HTTP/1.1\r\nHost: x\r\n", b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
                    b"POST /ec"):
        with socket.create_connection(("127.0.0.1", front), timeout=10) as s:
            s.sendall(partial)
            started = time.monotonic()
            for _ in range(8):  # dripping a byte now and then does not keep it open
                time.sleep(0.25)
                try:
                    s.sendall(b"X")
                except OSError:
                    break
            try:
                rest = s.recv(65536)
                while rest and not rest.endswith(b"}"):
                    rest = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                rest = b""
            assert time.monotonic() - started < 6, partial


def test_100_continue_only_after_the_size_and_credential_checks(front):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
    ((status, _, body),), closed = exchange(front, head + b"Content-Length: 2\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 401") and b"Authorization" in body and closed
    ((status, _, _),), closed = exchange(front, head + b"Authorization: Token ok\r\nContent-Length: 99999999\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and closed
