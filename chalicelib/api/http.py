"""Request parsing, pagination, error mapping: shared by every route module."""
import json
import logging

from chalice import Response

from chalicelib.errors import ActivelabelError, ForbiddenError, ValidationError

log = logging.getLogger("activelabel.api")

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def json_body(request, required: bool = True):
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("body", f"is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not raw.strip():
        if required:
            raise ValidationError("body", "a JSON body is required")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("body", f"is not valid JSON ({exc})")


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
        try:
            limit = int(raw)
        except ValueError:
            raise ValidationError("limit", f"must be an integer, got {raw!r}")
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
    """`@route(path, methods=[...])`: Chalice's `app.route` plus authentication and error mapping.

    Chalice turns any exception of a view into a bare 500 before middleware sees it, so each view
    is wrapped here: domain errors become `{"Code", "Message", "Field"}` with their status, and
    every route under /api/ requires a token (a new route cannot forget it). Routes under /ls (the
    Label Studio ML backend) require `ls_authenticate` instead: HTTP Basic, the principal is the
    Label Studio connection.
    """
    import functools

    def route(path, **options):
        def decorator(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                try:
                    if path.startswith("/api/"):
                        request = app.current_request
                        request.context["principal"] = authenticate(request.headers)
                    elif path == "/ls" or path.startswith("/ls/"):
                        if ls_authenticate is None:
                            raise ForbiddenError("the Label Studio routes are not enabled", "path")
                        request = app.current_request
                        request.context["connection"] = ls_authenticate(request.headers)
                    return view(*args, **kwargs)
                except ActivelabelError as exc:
                    if exc.status >= 500:
                        log.error("%s: %s", type(exc).__name__, exc.message)
                    return error_response(exc)

            return app.route(path, **options)(wrapped)

        return decorator

    return route


def parse_task_id(raw: str) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError("task_id", f"must be a task id (an integer), got {raw!r}")
    if value < 1:
        raise ValidationError("task_id", f"must be a task id (an integer >= 1), got {raw!r}")
    return value
