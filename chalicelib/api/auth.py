"""Who is calling: `Authorization: Token <token>` -> a Principal (or 401).

Two kinds of credential:
- the admin token from `ACTIVELABEL_ADMIN_TOKEN` (the local stack generates and prints one; a
  deployed stage sets it per stage): role admin, all projects;
- API tokens made with `POST /api/tokens` (services/tokens.py verifies them).

Tokens are never logged; error messages never echo them.
"""
import hmac

from chalicelib.api.access import ALL_PROJECTS, Principal
from chalicelib.errors import UnauthorizedError
from chalicelib.services import tokens
from chalicelib.store.secrets import admin_token

ENV_ADMIN = Principal(name="admin", role="admin", projects=ALL_PROJECTS)


def token_from_header(value: str | None) -> str:
    if not value:
        raise UnauthorizedError("missing Authorization header; send 'Authorization: Token <token>'", "Authorization")
    scheme, _, token = value.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise UnauthorizedError("Authorization must be 'Token <token>'", "Authorization")
    return token.strip()


def authenticate(headers) -> Principal:
    token = token_from_header(headers.get("authorization"))
    admin = admin_token()
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return ENV_ADMIN
    item = tokens.verify(token)
    if item is not None:
        projects = ALL_PROJECTS if item.projects == ALL_PROJECTS else tuple(item.projects)
        return Principal(name=item.name, role=item.role, projects=projects, token_id=item.token_id)
    raise UnauthorizedError("unknown or revoked token", "Authorization")
