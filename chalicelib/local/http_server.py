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
from chalicelib.local.http_framing import (FramingError, HeaderError, RequestHeaders, Watchdog,  # noqa: F401
                                           body_length, read_chunked, read_headers)

log = logging.getLogger("activelabel.local.http")
access = logging.getLogger("activelabel.access")  # one line per request when access_log is on

IDLE_SECONDS = 15.0  # a keep-alive connection waiting for its next request line
REQUEST_SECONDS = 30.0  # from a request line to the end of its body


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
    # (method, path, headers) -> None or (status, code, message, field): what the app would refuse
    # from the head alone (its credential), checked before `100 Continue` (server.head_check)
    head_check: Any = None

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
            if len(number) != 2 or not all(n.isascii() and n.isdigit() and len(n) <= 10 for n in number):
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
        return True  # Expect: 100-continue is answered by _read_body, after the checks

    def handle_one_request(self) -> None:
        """http.server's, with the watchdog's bounds: IDLE for the request line, REQUEST from there
        to the end of the body (the app's own time is not bounded here)."""
        watchdog = self.server.watchdog
        watchdog.watch(self.connection, self.server.idle_seconds)
        try:
            self.raw_requestline = self.rfile.readline(65537)
            watchdog.watch(self.connection, self.server.request_seconds)
            if len(self.raw_requestline) > 65536:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if self.parse_request():
                getattr(self, "do_" + self.command)()
                self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
        finally:
            watchdog.clear(self.connection)

    def _refuse(self, status: int, code: str, message: str, field: str = "body") -> None:
        self.close_connection = True
        self._send_http_response(status, {"Content-Type": "application/json", "Connection": "close"},
                                 error_body(code, message, field))

    def _read_body(self) -> bytes | None:
        """The body, framed strictly (http_framing); `100 Continue` only once the head passed the size
        and credential checks. None after an error answer (the connection then closes)."""
        try:
            length = body_length(self.headers, self.request_version, MAX_BODY_BYTES)
        except FramingError as exc:
            code = {413: "PayloadTooLargeError", 501: "NotImplementedError"}.get(exc.status, "BadRequestError")
            self._refuse(exc.status, code, exc.message)
            return None
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1":
            refused = self.head_check(self.command, self.path, self.headers) if self.head_check else None
            if refused is not None:
                self._refuse(*refused)
                return None
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        try:
            return read_chunked(self.rfile, MAX_BODY_BYTES) if length is None else self.rfile.read(length)
        except FramingError as exc:
            self._refuse(exc.status, "PayloadTooLargeError" if exc.status == 413 else "BadRequestError", exc.message)
            return None

    def _generic_handle(self) -> None:
        """Refuse a badly framed or oversized body from the head, before reading it (as API Gateway
        and Lambda refuse a large one), so a 50 MB upload never reaches memory; else the gateway answers."""
        body = self._read_body()
        if body is None:
            return
        self.server.watchdog.clear(self.connection)
        headers = dict(self.headers)
        if "transfer-encoding" in self.headers:  # the app sees the body as API Gateway passes it on
            headers = {k: v for k, v in headers.items() if k.lower() != "transfer-encoding"}
            headers["Content-Length"] = str(len(body))
        try:
            response = self.local_gateway.handle_request(method=self.command, path=self.path,
                                                         headers=headers, body=body or None)
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
        if self.command == "HEAD":  # the length a GET would have, and no body
            payload = b""
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
    idle_seconds = IDLE_SECONDS
    request_seconds = REQUEST_SECONDS

    def server_activate(self) -> None:
        super().server_activate()
        self.watchdog = Watchdog()

    def server_close(self) -> None:
        super().server_close()
        if hasattr(self, "watchdog"):
            self.watchdog.stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up before its answer is written (a timeout on its side) is one log
        line, not a traceback; anything else is reported as socketserver does."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            log.info("client %s:%s closed the connection before the answer was written", *client_address[:2])
            return
        super().handle_error(request, client_address)


def make_http_server(app: Any, cfg: Any, host: str, port: int, access_log: bool, head_check: Any = None) -> Any:
    # What chalice.local.create_local_server does: a per-thread current_request.
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    handler = type("NoDelayHandler", (NoDelayHandler,), {"access_log": access_log, "gateway": Gateway(app, cfg),
                                                         "head_check": staticmethod(head_check) if head_check else None})
    return LocalDevServer(app, cfg, host, port, handler_cls=handler, server_cls=Server)
