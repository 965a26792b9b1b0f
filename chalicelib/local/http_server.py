"""The local stack's HTTP server: Chalice's local dev server with the API's error bodies.

Imported by chalicelib.local.server when the stack starts (chalice.local is not needed before).
"""
from __future__ import annotations

import json
import socket
from typing import Any

from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, ForbiddenError,
                           LocalChalice, LocalDevServer, ThreadedHTTPServer)


def error_body(code: str, message: str, field: str) -> bytes:
    return json.dumps({"Code": code, "Message": message, "Field": field}).encode()


class NoDelayHandler(ChaliceRequestHandler):
    """Chalice's handler with TCP_NODELAY: no ~40 ms Nagle/delayed-ACK stall per request.

    `access_log`: log each request (`make_http_server` sets it on a subclass)."""

    access_log = False

    def setup(self) -> None:
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            super().log_message(format, *args)

    def _generic_handle(self) -> None:
        """Refuse an oversized body from its Content-Length, before reading it (as API
        Gateway and Lambda do), so a 50 MB upload never reaches memory."""
        from chalicelib.api.http import MAX_BODY_BYTES

        try:
            length = int(self.headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            message = (f"body: Content-Length {self.headers.get('content-length')!r} is over the "
                       f"limit of {MAX_BODY_BYTES} bytes" if length > 0 else "body: bad Content-Length")
            body = json.dumps({"Code": "PayloadTooLargeError" if length > 0 else "BadRequestError",
                               "Message": message, "Field": "body"}).encode()
            self.close_connection = True
            self._send_http_response(413 if length > 0 else 400,
                                     {"Content-Type": "application/json", "Connection": "close"}, body)
            return
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

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
        super()._send_error_response(error)

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


def make_http_server(app: Any, cfg: Any, host: str, port: int, access_log: bool) -> Any:
    handler = type("NoDelayHandler", (NoDelayHandler,), {"access_log": access_log})
    # What chalice.local.create_local_server does: a per-thread current_request.
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, cfg, host, port, handler_cls=handler, server_cls=Server)
