"""API tokens: create (the secret is shown once), list, revoke.

A caller manages only tokens within its own scope: an admin token scoped to projects 1 and 2 can
create tokens for 1 and/or 2 (never "*"), sees only tokens scoped to a subset of {1, 2}, and gets
404 for any other token id (whether or not it exists).
"""
from chalicelib.api.access import ALL_PROJECTS, ROLES
from chalicelib.api.http import created, json_object, principal
from chalicelib.api.serializers import token_json
from chalicelib.errors import ForbiddenError, NotFoundError, ValidationError
from chalicelib.services import tokens

FIELDS = {"name", "role", "projects"}
MAX_NAME = 200
MAX_PROJECTS_PER_TOKEN = 100


def _projects(value, caller) -> object:
    if value == ALL_PROJECTS:
        if not caller.all_projects:
            raise ForbiddenError("only a token scoped to all projects can create one", "projects")
        return ALL_PROJECTS
    if not isinstance(value, list) or not value:
        raise ValidationError("projects", 'must be "*" or a non-empty list of project ids')
    if len(value) > MAX_PROJECTS_PER_TOKEN:
        raise ValidationError("projects", f"has {len(value)} ids; at most {MAX_PROJECTS_PER_TOKEN}")
    ids = []
    for i, raw in enumerate(value):
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip():
            raise ValidationError(f"projects[{i}]", "must be a project id")
        project_id = str(raw).strip()
        if not caller.can_access(project_id):
            raise ForbiddenError(f"this token has no access to project {project_id!r}", f"projects[{i}]")
        ids.append(project_id)
    ids = list(dict.fromkeys(ids))
    tokens.require_existing_projects(ids)
    return ids


def create_token(request):
    caller = principal(request)
    body = json_object(request)
    unknown = set(body) - FIELDS
    if unknown:
        raise ValidationError(sorted(unknown)[0], f"unknown field; known: {sorted(FIELDS)}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValidationError("name", f"is required: a string of 1 to {MAX_NAME} characters")
    role = body.get("role")
    if role not in ROLES:
        raise ValidationError("role", f"must be one of {list(ROLES)}, got {role!r}")
    if "projects" not in body:
        raise ValidationError("projects", 'is required: "*" or a list of project ids')
    projects = _projects(body["projects"], caller)
    item, token = tokens.issue(name.strip(), role, projects, caller.name)
    return created({**token_json(item), "token": token})


def _visible(caller, item) -> bool:
    return caller.covers(item.projects)


def list_tokens(request):
    caller = principal(request)
    return {"tokens": [token_json(t) for t in tokens.all_tokens() if _visible(caller, t)], "next": None}


def revoke_token(request, token_id: str):
    caller = principal(request)
    item = tokens.find(token_id)
    if item is None or not _visible(caller, item):
        raise NotFoundError(f"token {token_id!r} not found", "token_id")
    tokens.revoke(token_id)
    return {"deleted": token_id}
