"""Who is calling. Every /api/ route requires `Authorization: Token <token>`.

Until project-scoped tokens exist (issue 6), the only credential is the admin token, read from
`ACTIVELABEL_ADMIN_TOKEN` (the local stack generates one and prints it; a deployed stage sets it
per stage). Compared in constant time; never logged.
"""
import hmac
from dataclasses import dataclass

from chalicelib import config
from chalicelib.errors import UnauthorizedError

@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # "admin" | "annotator" | "reader"


def token_from_header(value: str | None) -> str:
    if not value:
        raise UnauthorizedError("missing Authorization header; send 'Authorization: Token <token>'", "Authorization")
    scheme, _, token = value.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise UnauthorizedError("Authorization must be 'Token <token>'", "Authorization")
    return token.strip()


def authenticate(headers) -> Principal:
    token = token_from_header(headers.get("authorization"))
    admin = config.admin_token()
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(name="admin", role="admin")
    raise UnauthorizedError("unknown token", "Authorization")
