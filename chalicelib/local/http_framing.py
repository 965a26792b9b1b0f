"""Request framing for the local HTTP front (chalicelib/local/http_server.py), as RFC 9112 asks of a
server that must not be fooled into reading one request as two (request smuggling):

- a body is framed by one `Content-Length` of ASCII digits only, or by `Transfer-Encoding: chunked`
  alone (HTTP/1.1); both at once, a repeated `Content-Length` or `Transfer-Encoding`, a length such
  as `1_0`, `+2` or ` 2x`, or another transfer coding are refused, and the connection is closed;
- a chunked body is read strictly (hex sizes, CRLF after each chunk, trailers up to a blank line)
  and bounded by the same size limit as a `Content-Length`;
- `Watchdog` closes a connection that stays idle, or sends its request too slowly, past a bound.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from http import HTTPStatus
from typing import Any

MAX_HEADERS = 100  # as http.client
MAX_LINE = 65536
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
DIGITS = re.compile(rb"[0-9]{1,18}")
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(;[^\r\n]*)?\r?\n")
MAX_CHUNK_LINE = 4096
MAX_TRAILERS = 100


class RequestHeaders(dict):
    """Request headers by name as received (the first of a repeated name), read case-insensitively
    with `get` and `[]` (None when absent), as the email.message.Message http.server makes."""

    def __init__(self) -> None:
        super().__init__()
        self.by_lower: dict[str, str] = {}
        self.repeated: set[str] = set()  # lower-case names sent more than once (http_framing refuses some)

    def add(self, name: str, value: str) -> bool:
        """Keep `value` unless the name came before (True when kept)."""
        key = name.lower()
        if key in self.by_lower:
            self.repeated.add(key)
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
        if not TOKEN.fullmatch(name):  # `Content-Length : 5` and the like (RFC 9112 5.1: 400)
            raise HeaderError(HTTPStatus.BAD_REQUEST, "Bad header name")
        last = name if headers.add(name, value.lstrip(" \t")) else None
    raise HeaderError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")


class FramingError(Exception):
    """`status` (400, 413 or 501), the message, and the field the error body names."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def body_length(headers: Any, version: str, limit: int) -> int | None:
    """The body's length from the request head, or None for a chunked body; FramingError otherwise."""
    repeated = getattr(headers, "repeated", set())
    for name in ("content-length", "transfer-encoding"):
        if name in repeated:
            raise FramingError(400, f"body: more than one {name.title()} header")
    coding, length = headers.get("transfer-encoding"), headers.get("content-length")
    if coding is not None:
        if length is not None:
            raise FramingError(400, "body: Content-Length and Transfer-Encoding together")
        if version < "HTTP/1.1":
            raise FramingError(400, "body: Transfer-Encoding in an HTTP/1.0 request")
        if coding.strip(" \t").lower() != "chunked":
            raise FramingError(501, f"body: Transfer-Encoding {coding!r} is not supported (only chunked)")
        return None
    if length is None:
        return 0
    raw = length.strip(" \t").encode("latin-1")
    if not DIGITS.fullmatch(raw):
        raise FramingError(400, f"body: Content-Length {length!r} is not a number of bytes")
    if int(raw) > limit:
        raise FramingError(413, f"body: Content-Length {length!r} is over the limit of {limit} bytes")
    return int(raw)


def read_chunked(rfile: Any, limit: int) -> bytes:
    """A chunked body, its trailers read and dropped; FramingError on a malformed one or past `limit`."""
    parts, total = [], 0
    while True:
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        match = CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise FramingError(400, "body: malformed chunk size line")
        size = int(match.group(1), 16)
        if size == 0:
            break
        total += size
        if total > limit:
            raise FramingError(413, f"body: chunked body over the limit of {limit} bytes")
        data = rfile.read(size)
        if len(data) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise FramingError(400, "body: chunk shorter than its size or not ended by CRLF")
        parts.append(data)
    for _ in range(MAX_TRAILERS + 1):
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return b"".join(parts)
        if not line or len(line) > MAX_CHUNK_LINE:
            break
    raise FramingError(400, "body: chunked trailers not ended by a blank line")


class Watchdog:
    """Shuts down connections past their deadline (a blocked read then returns and the handler's
    thread ends): checked every `tick` seconds on one daemon thread."""

    def __init__(self, tick: float = 0.25) -> None:
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick = tick
        self._thread = threading.Thread(target=self._run, name="activelabel-http-watchdog", daemon=True)
        self._thread.start()

    def watch(self, sock: socket.socket, seconds: float) -> None:
        with self._lock:
            self._deadlines[sock] = time.monotonic() + seconds

    def clear(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                late = [s for s, deadline in self._deadlines.items() if deadline <= now]
                for sock in late:
                    del self._deadlines[sock]
            for sock in late:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
