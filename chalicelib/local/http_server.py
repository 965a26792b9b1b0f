"""The local stack's HTTP server: Chalice's local gateway (the event it builds is what the app gets,
as on API Gateway + Lambda) behind a lean HTTP/1.1 front, with the API's error bodies.

What this front does differently from chalice.local's dev server (the same app, events and answers):
- one gateway per server (Chalice builds one per connection): the route table is split and sorted
  once, each distinct path's match is kept (bounded), and the Config values of the Lambda context
  are read once (Chalice re-splits every route and walks Config's chained lookups per request);
- request headers are read by a small parser instead of the email package's;
- the status line, headers and body leave in one write (a write for the headers and another for
  the body before), and each connection is HTTP/1.1 keep-alive with TCP_NODELAY.

Imported by chalicelib.local.server when the stack starts (chalice.local is not needed before).
"""
from __future__ import annotations

import email.utils
import json
import logging
import socket
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, ForbiddenError, LambdaContext,
                           LambdaEventConverter, LocalChalice, LocalDevServer, LocalGateway,
                           LocalGatewayException, MatchResult, RouteMatcher, ThreadedHTTPServer)

from chalicelib.api.http import MAX_BODY_BYTES

log = logging.getLogger("activelabel.local.http")
access = logging.getLogger("activelabel.access")  # one line per request when access_log is on

MAX_HEADERS = 100  # as http.client
MAX_LINE = 65536


def error_body(code: str, message: str, field: str) -> bytes:
    return json.dumps({"Code": code, "Message": message, "Field": field}).encode()


class RouteTable(RouteMatcher):
    """Chalice's route matching (sorted routes, the first that fits; `{name}` segments captured;
    a trailing slash ignored) with each route split once and each distinct path's match kept.

    A path's captures are those of the route that matched (Chalice's matcher also kept captures of
    routes it tried before, which API Gateway does not). URLs the plain split cannot read as
    urlparse does (a fragment, `;` parameters, a scheme) go to Chalice's matcher."""

    CACHE_SIZE = 4096

    def __init__(self, route_urls: list[str]) -> None:
        super().__init__(route_urls)
        self._by_length: dict[int, list[tuple[str, list[tuple[str, bool]]]]] = {}
        for url in self.route_urls:  # sorted: /foo/bar before /foo/{name}
            parts = url.split("/")
            pattern = [(p[1:-1], True) if p.startswith("{") and p.endswith("}") else (p, False) for p in parts]
            self._by_length.setdefault(len(parts), []).append((url, pattern))
        self._matches: dict[str, tuple[str, dict[str, str]]] = {}

    def match_route(self, url: str) -> MatchResult:
        path, _, query = url.partition("?")
        if not path.startswith("/") or path.startswith("//") or "#" in url or ";" in path:
            return super().match_route(url)
        if path != "/" and path.endswith("/"):
            path = path[:-1]
        found = self._matches.get(path)
        if found is None:
            found = self._match(path)
            if len(self._matches) >= self.CACHE_SIZE:
                self._matches.clear()
            self._matches[path] = found
        route, captured = found
        return MatchResult(route, dict(captured), parse_qs(query, keep_blank_values=True) if query else {})

    def _match(self, path: str) -> tuple[str, dict[str, str]]:
        parts = path.split("/")
        for url, pattern in self._by_length.get(len(parts), ()):
            captured = {}
            for segment, (text, is_capture) in zip(parts, pattern):
                if is_capture:
                    captured[text] = segment
                elif segment != text:
                    break
            else:
                return url, captured
        raise ValueError("No matching route found for: %s" % path)


class Gateway(LocalGateway):
    """Chalice's LocalGateway (event, authorizer, `app(event, context)`) with the route table and the
    Lambda context's settings prepared once; rebuilt if the app gains routes."""

    def __init__(self, app_object: Any, config: Any) -> None:
        super().__init__(app_object, config)
        timeout = config.lambda_timeout
        self._context_args = (config.function_name, config.lambda_memory_size,
                              (self.MAX_LAMBDA_EXECUTION_TIME if timeout is None else timeout) * 1000)
        self._prepare_routes()

    def _prepare_routes(self) -> None:
        self._route_count = len(self._app_object.routes)
        self.event_converter = LambdaEventConverter(RouteTable(list(self._app_object.routes)),
                                                    self._app_object.api.binary_types)

    def _generate_lambda_context(self) -> LambdaContext:
        name, memory, timeout = self._context_args
        return LambdaContext(function_name=name, memory_size=memory, max_runtime_ms=timeout)

    def handle_request(self, method: str, path: str, headers: dict, body: bytes | None) -> dict:
        if len(self._app_object.routes) != self._route_count:
            self._prepare_routes()
        return super().handle_request(method, path, headers, body)


class RequestHeaders(dict):
    """Request headers by name as received (the first of a repeated name), read case-insensitively
    with `get` and `[]` (None when absent), as the email.message.Message http.server makes."""

    def __init__(self) -> None:
        super().__init__()
        self.by_lower: dict[str, str] = {}

    def add(self, name: str, value: str) -> bool:
        """Keep `value` unless the name came before (True when kept)."""
        key = name.lower()
        if key in self.by_lower:
            return False
        self.by_lower[key] = value
        dict.__setitem__(self, name, value)
        return True

    def get(self, name: str, default: Any = None) -> Any:
        return self.by_lower.get(name.lower(), default)

    def __getitem__(self, name: str) -> Any:
        return self.by_lower.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.by_lower


class HeaderError(Exception):
    pass


def read_headers(rfile: Any) -> RequestHeaders:
    """The header block up to the blank line (http.client's limits: 100 headers, 64 KiB a line).
    A continuation line extends the previous value; a line without ':' ends the block's reading."""
    headers = RequestHeaders()
    last = None  # the name the previous line kept, which a continuation line extends
    ended = False
    for count in range(MAX_HEADERS + 2):
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeaderError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
        if line in (b"\r\n", b"\n", b""):
            return headers
        if count >= MAX_HEADERS:
            raise HeaderError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
        if ended:
            continue
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if last is not None:
                value = headers.by_lower[last.lower()] + text
                headers.by_lower[last.lower()] = value
                dict.__setitem__(headers, last, value)
            continue
        name, sep, value = text.partition(":")
        if not sep:
            ended = True
            continue
        last = name if headers.add(name, value.lstrip(" \t")) else None
    raise HeaderError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")


_date: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header's value, formatted once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True))
    return _date[1]


class NoDelayHandler(ChaliceRequestHandler):
    """Chalice's request handler made lean (see the module docstring) with TCP_NODELAY: no ~40 ms
    Nagle/delayed-ACK stall per request.

    `gateway`: the server's one Gateway, `access_log`: log each request (`make_http_server` sets
    both on a subclass)."""

    access_log = False
    gateway: Gateway

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any = None,
                 config: Any = None) -> None:
        self.local_gateway = self.gateway
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)  # type: ignore[arg-type]

    def setup(self) -> None:
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            access.info(format, *args, extra={"client": self.address_string()})

    def log_access(self, code: int, headers: dict) -> None:
        """The access line through logging (a JSON line like the app's, with its correlation id)."""
        method, _, rest = (self.requestline or "").partition(" ")
        access.info('"%s" %s', self.requestline, code,
                    extra={"client": self.address_string(), "method": method, "path": rest.rsplit(" ", 1)[0],
                           "status": int(code), "correlation_id": headers.get("X-Correlation-Id")})

    def parse_request(self) -> bool:
        """http.server's request-line and Connection/Expect handling, with `read_headers`."""
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) == 3:
            version = words[2]
            number = version[5:].split(".") if version.startswith("HTTP/") else []
            if len(number) != 2 or not all(n.isdigit() and len(n) <= 10 for n in number):
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad request version (%r)" % version)
                return False
            major_minor = int(number[0]), int(number[1])
            if major_minor >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Invalid HTTP version (%s)" % version[5:])
                return False
            self.close_connection = major_minor < (1, 1)
            self.request_version = version
        elif len(words) == 2 and words[0] == "GET":
            pass  # HTTP/0.9: the connection closes after the answer
        else:
            if words:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (%r)" % self.requestline)
            return False
        self.command, self.path = words[0], words[1]
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # as http.server (gh-87389)
        try:
            self.headers = read_headers(self.rfile)  # type: ignore[assignment]
        except HeaderError as exc:
            self.send_error(exc.args[0], exc.args[1])
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if (self.headers.get("Expect", "").lower() == "100-continue"
                and self.request_version >= "HTTP/1.1" and not self.handle_expect_100()):
            return False
        return True

    def _generic_handle(self) -> None:
        """Refuse an oversized body from its Content-Length, before reading it (as API Gateway
        and Lambda do), so a 50 MB upload never reaches memory; otherwise the gateway answers."""
        raw_length = self.headers.get("content-length", "0")
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            message = (f"body: Content-Length {raw_length!r} is over the limit of {MAX_BODY_BYTES} bytes"
                       if length > 0 else "body: bad Content-Length")
            body = json.dumps({"Code": "PayloadTooLargeError" if length > 0 else "BadRequestError",
                               "Message": message, "Field": "body"}).encode()
            self.close_connection = True
            self._send_http_response(413 if length > 0 else 400,
                                     {"Content-Type": "application/json", "Connection": "close"}, body)
            return
        body = self.rfile.read(length) if length > 0 else None
        try:
            response = self.local_gateway.handle_request(method=self.command, path=self.path,
                                                         headers=dict(self.headers), body=body)
            headers = response["headers"].copy()
            headers.update(response["multiValueHeaders"])
            response = self._handle_binary(response)
            self._send_http_response(response["statusCode"], headers, response["body"])
        except LocalGatewayException as e:
            self._send_error_response(e)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_http_response(self, code: int, headers: dict, body: str | bytes | None) -> None:
        """Status line, headers and body in one write (Chalice's header order and defaults: Server,
        Date, Content-Length, Content-Type (application/json unless given), the rest)."""
        if self.access_log:
            self.log_access(code, headers)
        if body is None:
            headers["Content-Length"] = "0"
            payload = b""
        else:
            payload = body if isinstance(body, bytes) else body.encode("utf-8")
            headers = {"Content-Length": str(len(payload)),
                       "Content-Type": headers.pop("Content-Type", "application/json"), **headers}
        if self.request_version == "HTTP/0.9":
            self.wfile.write(payload)
            return
        reason = self.responses[code][0] if code in self.responses else ""
        lines = [f"{self.protocol_version} {code} {reason}\r\nServer: {self.version_string()}\r\n"
                 f"Date: {http_date()}\r\n"]
        for name, value in headers.items():
            for one in (value if isinstance(value, list) else (value,)):
                lines.append(f"{name}: {one}\r\n")
            if name.lower() == "connection":
                token = str(value).lower()
                if token == "close":
                    self.close_connection = True
                elif token == "keep-alive":
                    self.close_connection = False
        lines.append("\r\n")
        self.wfile.write("".join(lines).encode("latin-1", "strict") + payload)

    def _send_error_response(self, error: Any) -> None:
        """Chalice answers a path no route matches as API Gateway does (403 "Missing
        Authentication Token"); the API answers 404 with its usual error body."""
        body = error.body or b""
        if isinstance(error, ForbiddenError) and body.startswith(
                (b'{"message": "Missing Authentication Token"}',
                 b'{"message": "Authorization header requires')):
            path = self.path.split("?", 1)[0]
            self._send_http_response(404, {"Content-Type": "application/json"},
                                     error_body("NotFoundError", f"no route for {path}",
                                                "path"))
            return
        self._send_http_response(error.CODE, dict(error.headers), error.body)

    def _method_not_allowed(self) -> None:
        body = error_body("MethodNotAllowedError",
                          f"method {self.command} is not supported", "method")
        self.close_connection = True
        self._send_http_response(405, {"Content-Type": "application/json",
                                       "Allow": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
                                       "Connection": "close"}, body)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; a method no route serves (TRACE, CONNECT, ...)
        # gets 405 with the API's error body instead of 501 HTML.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

class Server(ThreadedHTTPServer):
    """Chalice's threaded server with address reuse and a deeper listen backlog."""

    allow_reuse_address = True
    request_queue_size = 128  # listen backlog (socketserver's 5 resets bursts)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up before its answer is written (a timeout on its side) is one log
        line, not a traceback; anything else is reported as socketserver does."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            log.info("client %s:%s closed the connection before the answer was written", *client_address[:2])
            return
        super().handle_error(request, client_address)


def make_http_server(app: Any, cfg: Any, host: str, port: int, access_log: bool) -> Any:
    # What chalice.local.create_local_server does: a per-thread current_request.
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    handler = type("NoDelayHandler", (NoDelayHandler,), {"access_log": access_log,
                                                         "gateway": Gateway(app, cfg)})
    return LocalDevServer(app, cfg, host, port, handler_cls=handler, server_cls=Server)
