"""HTTP Basic auth for the ML-backend routes under /ls/ (Basic is the only scheme Label Studio
sends to a backend).

Two kinds of credentials ("connections"):
- the deployment credential `ACTIVELABEL_LS_BASIC_AUTH=user:password`: it may link any Label Studio
  project, and `/setup` creates an activelabel project for a Label Studio project on first contact;
- a project credential: user `project-<id>`, password derived from the deployment secret
  (`GET /api/projects/{id}/labelstudio` shows it to an admin): it reaches only that project.
Checking either needs no database read, so /health stays fast on a cold start.
"""
import base64
import binascii
import hmac
from dataclasses import dataclass

from chalicelib.errors import UnauthorizedError
from chalicelib.labelstudio import crypto
from chalicelib.store.secrets import secret

BASIC_AUTH_ENV = "ACTIVELABEL_LS_BASIC_AUTH"
PROJECT_USER_PREFIX = "project-"


@dataclass(frozen=True)
class Connection:
    """Who is calling /ls/: `project_id` is set for a project credential, None for the deployment one."""

    user: str
    project_id: str | None = None


def parse_basic(value: str | None) -> tuple[str, str]:
    if not value:
        raise UnauthorizedError("missing Authorization header; Label Studio must connect with Basic auth",
                                "Authorization")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise UnauthorizedError("Authorization must be 'Basic <base64(user:password)>'", "Authorization")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthorizedError("Authorization: Basic credentials are not valid base64", "Authorization")
    user, sep, password = decoded.partition(":")
    if not sep:
        raise UnauthorizedError("Authorization: Basic credentials must be 'user:password'", "Authorization")
    return user, password


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def project_credential(project_id: str) -> tuple[str, str]:
    return f"{PROJECT_USER_PREFIX}{project_id}", crypto.derived_secret(f"ls-basic:{project_id}")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authenticate(headers) -> Connection:
    user, password = parse_basic(headers.get("authorization"))
    deployment = secret(BASIC_AUTH_ENV)
    if deployment:
        d_user, _, d_password = deployment.partition(":")
        if d_user and d_password and _same(user, d_user) and _same(password, d_password):
            return Connection(user=user)
    if user.startswith(PROJECT_USER_PREFIX):
        project_id = user[len(PROJECT_USER_PREFIX):]
        if project_id.isascii() and project_id.isdigit() and crypto.configured():
            if _same(password, project_credential(project_id)[1]):
                return Connection(user=user, project_id=project_id)
    raise UnauthorizedError("unknown Basic-auth credentials for the Label Studio ML backend", "Authorization")
