"""`GET /local/aws-requests`: the AWS requests the local stack has made since it started, so anyone
can see what a flow costs. Registered on the app by the local stack only (chalicelib/local/server.py):
the deployed app has no such route.

Answers `{"requests": [{"service", "operation", "table", "count"}, ...]}` (table null where none
applies; a transaction over several tables names them joined by "+"), counted over every botocore
client of the process (chalicelib/local/metering.py). Needs the admin token.
"""
import json

from chalice import Response

from chalicelib.api import auth
from chalicelib.errors import ActivelabelError, ForbiddenError
from chalicelib.local.metering import AwsRequests

PATH = "/local/aws-requests"


def _error(exc: ActivelabelError) -> Response:
    return Response(body=json.dumps({"Code": exc.code, "Message": exc.message, "Field": exc.field or "Authorization"}),
                    status_code=exc.status, headers={"Content-Type": "application/json"})


def register(app, tally: AwsRequests) -> None:
    """Add the route to `app` (before its HTTP server splits the route table)."""

    def aws_requests():
        try:
            principal = auth.authenticate(app.current_request.headers)
            if principal.role != "admin":
                raise ForbiddenError(f"this route needs the 'admin' role; this token has {principal.role!r}",
                                     "Authorization")
        except ActivelabelError as exc:
            return _error(exc)
        return Response(body=json.dumps(tally.as_json()), status_code=200,
                        headers={"Content-Type": "application/json"})

    if PATH not in app.routes:
        app.route(PATH, methods=["GET"])(aws_requests)


def unregister(app) -> None:
    """Take the route off `app` again (the stack stops; the module-level app outlives it)."""
    app.routes.pop(PATH, None)
