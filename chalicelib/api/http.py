"""Request parsing, pagination, error mapping: shared by every route module."""
import functools
import json
import logging
import math
import threading
import time

from chalice import Response

from chalicelib import hops
from chalicelib.telemetry import edge
from chalicelib.api import access
from chalicelib.errors import ActivelabelError, ForbiddenError, PayloadTooLargeError, ValidationError

log = logging.getLogger("activelabel.api")

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit (API Gateway's is 10 MB)
MAX_JSON_DEPTH = 64  # nesting of arrays/objects in a request body
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def json_body(request, required: bool = True):
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"body: is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}", "body")
    if not raw.strip():
        if required:
            raise ValidationError("body", "a JSON body is required")
        return None
    _parse.non_finite = 0
    try:
        value = _loads(raw)
    except RecursionError:
        raise ValidationError("body", f"nests arrays/objects deeper than {MAX_JSON_DEPTH} levels")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("body", f"is not valid JSON ({exc})")
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValidationError("body", f"nests arrays/objects deeper than {MAX_JSON_DEPTH} levels")
    path = non_finite_path(value) if _parse.non_finite else None
    if path is not None:
        raise ValidationError(path, "must be a finite number a double can hold: NaN, Infinity and numbers "
                                    "beyond 1.8e308 are not JSON that strict parsers (JavaScript's) read back")
    return value


class _NonFinite(str):
    """Stands in for NaN, Infinity, -Infinity or an overflowing number (1e999) while parsing, so the
    refusal can name where it was."""

    def __new__(cls, text: str):
        _parse.non_finite = getattr(_parse, "non_finite", 0) + 1  # the parse saw one: json_body looks for where
        return super().__new__(cls, text)


def _finite_float(text: str):
    number = float(text)
    return number if math.isfinite(number) else _NonFinite(text)


def _finite_int(text: str):
    """An integer a double can hold (a 309-digit one cannot: docs/api.md promises a 400)."""
    number = int(text)
    if len(text) > 308:
        try:
            float(number)
        except OverflowError:
            return _NonFinite(text)
    return number


_parse = threading.local()  # per request thread: how many _NonFinite the current parse made
_decoder = json.JSONDecoder(parse_constant=_NonFinite, parse_float=_finite_float, parse_int=_finite_int)


def _loads(raw):
    """json.loads(raw, parse_constant=_NonFinite, parse_float=_finite_float) with the decoder built once."""
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        return _decoder.decode(raw)
    return _decoder.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def non_finite_path(value) -> str | None:
    """Where the first non-finite number of a parsed body is, as the API names fields
    (`ml.agreement_threshold`, `tasks[0].data.x`; `body[2].x` in a list body), or None."""
    if isinstance(value, dict):
        stack = [(child, str(key)) for key, child in reversed(list(value.items()))]
    else:
        stack = [(value, "body")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _NonFinite):
            return where
        if isinstance(node, dict):
            stack.extend((child, f"{where}.{key}") for key, child in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(node))))
    return None


def json_depth(value) -> int:
    """Nesting depth of a parsed JSON value, walked iteratively over its arrays and objects (no
    recursion on hostile input)."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
        if depth <= MAX_JSON_DEPTH:
            below = depth + 1
            stack.extend([(child, below) for child in (node.values() if isinstance(node, dict) else node)
                          if isinstance(child, (dict, list))])
    return deepest


def json_object(request) -> dict:
    body = json_body(request)
    if not isinstance(body, dict):
        raise ValidationError("body", f"must be a JSON object, got {type(body).__name__}")
    return body


def query_param(request, name: str, default=None):
    return (request.query_params or {}).get(name, default)


def page_params(request) -> tuple[int, str | None]:
    raw = query_param(request, "limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise ValidationError("limit", f"must be an integer, got {raw!r}")
        limit = int(raw)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit, query_param(request, "cursor")


def created(body: dict) -> Response:
    return Response(body=body, status_code=201)


def accepted(body: dict) -> Response:
    return Response(body=body, status_code=202)


def with_status(body: dict, status: int) -> Response:
    return Response(body=body, status_code=status)


def no_content() -> Response:
    return Response(body="", status_code=204)


def error_response(exc: ActivelabelError) -> Response:
    return Response(body=exc.to_body(), status_code=exc.status)


def route_factory(app, authenticate, ls_authenticate=None):
    """`@route(path, methods=[...])`: Chalice's `app.route` plus access control and error mapping.

    Access control: every route needs an entry in `access.ROUTE_ACCESS` (registering one without
    it raises `MissingAccessRule` at import); a non-public route authenticates the token (401) and
    checks its role and project scope (403) before the view runs. It lives here rather than in an
    API Gateway authorizer: the check needs the route's rule and its `{project_id}`, and Chalice's
    test client does not run authorizers, so this way the code the tests exercise is the code that
    is deployed (see docs/architecture.md, "Auth"). Routes under /ls (the Label Studio ML backend)
    are public to tokens and require `ls_authenticate` instead: HTTP Basic, the principal is the
    Label Studio connection.

    Errors: Chalice turns any exception of a view into a bare 500 before middleware sees it, so
    each view is wrapped here: domain errors become `{"Code", "Message", "Field"}` with their status.

    Logs: each request runs bound to a correlation id (the caller's `X-Correlation-Id` or a new one,
    echoed in the response's header; telemetry/edge.py) and ends with one log line: method, route,
    status, duration.
    """
    def route(path, **options):
        rules = {method: access.rule_for(method, path) for method in options.get("methods", ["GET"])}

        def decorator(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                request = app.current_request
                project_id = (request.uri_params or {}).get("project_id")
                with edge.http_request(request.headers, getattr(app, "lambda_context", None), project_id) as cid:
                    started = time.monotonic()
                    try:
                        response = _guarded(request, path, rules, authenticate, ls_authenticate,
                                            lambda: view(*args, **kwargs))
                    except Exception:
                        log.exception("%s %s failed", request.method, path)
                        raise
                    response = response if isinstance(response, Response) else Response(body=response)
                    response.headers[edge.HEADER] = cid
                    log.info("%s %s -> %s", request.method, path, response.status_code,
                             extra={"status": response.status_code,
                                    "duration_ms": round((time.monotonic() - started) * 1000, 1)})
                    return response

            return app.route(path, **options)(wrapped)

        return decorator

    return route


def _guarded(request, path: str, rules: dict, authenticate, ls_authenticate, call):
    """Authenticate and authorize the request, then `call()` the view; a domain error becomes its
    JSON error response."""
    try:
        hops.receive(request.headers)
        rule = rules[request.method.upper()]
        if path == "/ls" or path.startswith("/ls/"):
            if ls_authenticate is None:
                raise ForbiddenError("the Label Studio routes are not enabled", "path")
            request.context["connection"] = ls_authenticate(request.headers)
        elif not rule.public:
            principal = authenticate(request.headers)
            access.authorize(principal, rule, (request.uri_params or {}).get("project_id"))
            request.context["principal"] = principal
        return call()
    except ActivelabelError as exc:
        if exc.status >= 500:
            log.error("%s: %s", type(exc).__name__, exc.message)
        return error_response(exc)


def principal(request):
    """The authenticated caller of the current request (set by the route factory)."""
    return request.context["principal"]


def parse_task_id(raw: str) -> int:
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ValidationError("task_id", f"must be a task id (an integer), got {raw!r}")
    value = int(raw)
    if value < 1:
        raise ValidationError("task_id", f"must be a task id (an integer >= 1), got {raw!r}")
    return value
