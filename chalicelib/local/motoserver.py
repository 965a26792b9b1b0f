"""The embedded moto server of the local stack, with each request atomic as on AWS.

moto's backends are not thread-safe: a failing transaction can restore a table over an update
another thread made meanwhile, and a query can iterate a dict another thread changes. DynamoDB
applies every request atomically, so the server runs one request at a time under `MOTO_LOCK`
(the same lock guards the few places where the local stack reaches into moto's objects directly).
A request is short (moto answers in well under a millisecond to a few ms), so one lock costs
little on a local stack, and it is provably enough: no two requests ever interleave.

`AtomicMotoServer(journal=...)` also gives the journal (chalicelib.local.state) each write,
while still holding the lock and before the response leaves, so what a client saw acknowledged is
persisted first.
"""
from __future__ import annotations

import io
import threading
from typing import Any, Iterable, Protocol

MOTO_LOCK = threading.RLock()


class Journal(Protocol):
    def after_request(self, service: str, target: str, method: str, body: bytes,
                      status: int) -> None: ...


def _service(environ: dict) -> tuple[str, str]:
    """(service, operation) of a request: X-Amz-Target for JSON services, else S3."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDBStreams_"):
        return "dynamodbstreams", target.split(".", 1)[-1]
    if target.startswith("DynamoDB_"):
        return "dynamodb", target.split(".", 1)[-1]
    if target.startswith("AmazonSQS."):
        return "sqs", target.split(".", 1)[-1]
    # SigV4: the credential scope names the service, in the header or (presigned) the query
    scope = environ.get("HTTP_AUTHORIZATION", "") + " " + environ.get("QUERY_STRING", "").replace(
        "%2F", "/").replace("%2f", "/")
    for name in ("/sqs/", "/sts/", "/dynamodb/", "/s3/"):
        if name in scope:
            return name.strip("/"), ""
    return "", ""


class AtomicApp:
    """WSGI middleware: one request at a time through moto, then the journal, then the answer."""

    def __init__(self, app: Any, journal: Journal | None = None):
        self.app = app
        self.journal = journal

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        service, operation = _service(environ)
        body = b""
        if self.journal is not None and service == "dynamodb":
            # The journal reads the keys a write names; moto reads the body after it.
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
        status: dict[str, Any] = {}

        def capture(code: str, headers: list, exc_info: Any = None) -> Any:
            status["code"] = int(code.split(" ", 1)[0])
            return start_response(code, headers, exc_info)

        with MOTO_LOCK:
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if self.journal is not None and status.get("code", 500) < 500:
                self.journal.after_request(service, operation, environ.get("REQUEST_METHOD", ""),
                                           body, status.get("code", 500))
        return chunks


class AtomicMotoServer:
    """moto's server (the same app as `ThreadedMotoServer`) behind `AtomicApp`, in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, journal: Journal | None = None):
        self.host = host
        self.port = port
        self.journal = journal
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from chalicelib.local import moto_patches

        moto_patches.apply()
        app = AtomicApp(DomainDispatcherApplication(create_backend_app), self.journal)
        self._server = make_server(self.host, self.port, app, threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},  # a prompt stop()
                                        name="activelabel-moto", daemon=True)
        self._thread.start()

    def set_journal(self, journal: Journal | None) -> None:
        with MOTO_LOCK:
            self.journal = journal
            if self._server is not None:
                self._server.app.journal = journal

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
