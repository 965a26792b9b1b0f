"""`GET /api/health/detail[?project=ID]` (a global admin): services/health.py's view."""
from chalicelib.api.http import query_param
from chalicelib.services import health


def detail(request) -> dict:
    return health.detail(query_param(request, "project"))
