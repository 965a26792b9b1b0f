"""Who may call which route: the one table of access rules, and the check the route factory runs.

Every route of app.py must have an entry in `ROUTE_ACCESS` (the route factory refuses to register
one without it, and tests/functional/test_auth.py walks `app.routes` against every kind of
credential). A rule names the least role a token needs:

    reader    < annotator           < admin
    (read,      (+ completions,       (+ settings, tasks import, training,
     predict,    next task)             tokens, project deletion)
     export)

Roles are ordered: an admin token can do what an annotator can, an annotator what a reader can.
A token is also scoped to a list of projects or to all of them (`"*"`). On a route with
`{project_id}` the project must be in the token's scope; the answer is then 403 whether or not
the project exists, so a scoped token learns nothing about other projects. Routes marked
`all_projects` (creating a project) need a token scoped to every project.
"""
from dataclasses import dataclass

from chalicelib.errors import ForbiddenError

ROLES = ("reader", "annotator", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
ALL_PROJECTS = "*"


@dataclass(frozen=True)
class Rule:
    role: str | None  # None: public, no token needed
    all_projects: bool = False  # the token must be scoped to every project

    @property
    def public(self) -> bool:
        return self.role is None


PUBLIC = Rule(None)
READER, ANNOTATOR, ADMIN = Rule("reader"), Rule("annotator"), Rule("admin")
GLOBAL_ADMIN = Rule("admin", all_projects=True)

P = "/api/projects/{project_id}"
ROUTE_ACCESS: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/api/health/detail"): GLOBAL_ADMIN,  # the deployment's queues and every project's failures
    # the web console's static files (chalicelib/console): the page itself authenticates its API calls
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/{asset}"): PUBLIC,
    ("GET", "/api/openapi.json"): READER,  # any valid token
    # tokens: a project-scoped admin manages the tokens of its own projects only
    ("POST", "/api/tokens"): ADMIN,
    ("GET", "/api/tokens"): ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): ADMIN,
    # projects and settings
    ("POST", "/api/projects"): GLOBAL_ADMIN,
    ("GET", "/api/projects"): READER,  # lists only the projects in the token's scope
    ("GET", P): READER,
    ("PATCH", P): ADMIN,
    ("DELETE", P): ADMIN,
    ("GET", f"{P}/models"): READER,
    ("GET", f"{P}/ml"): READER,
    ("PUT", f"{P}/ml"): ADMIN,
    # tasks and completions
    ("POST", f"{P}/tasks"): ADMIN,
    ("GET", f"{P}/imports/{{key}}"): ADMIN,
    ("GET", f"{P}/tasks"): READER,
    ("GET", f"{P}/tasks/{{task_id}}"): READER,
    ("POST", f"{P}/tasks/{{task_id}}/completions"): ANNOTATOR,
    ("GET", f"{P}/tasks/{{task_id}}/completions"): READER,
    ("DELETE", f"{P}/completions/{{completion_id}}"): ANNOTATOR,
    ("GET", f"{P}/export"): READER,
    ("GET", f"{P}/suspects"): READER,
    # training, models, predictions
    ("GET", f"{P}/training"): READER,
    ("POST", f"{P}/train"): ADMIN,
    ("GET", f"{P}/model-versions"): READER,
    ("PUT", f"{P}/model-versions/{{version}}/active"): ADMIN,  # rollback / pin
    ("POST", f"{P}/predictions"): ADMIN,  # a pre-annotation job
    ("GET", f"{P}/jobs"): READER,
    ("GET", f"{P}/jobs/{{job_id}}"): READER,
    ("POST", f"{P}/predict"): READER,
    # active learning: the next task is locked for the annotator asking
    ("GET", f"{P}/next"): ANNOTATOR,
    ("DELETE", f"{P}/tasks/{{task_id}}/lock"): ANNOTATOR,
    ("GET", f"{P}/report"): READER,
    ("GET", f"{P}/report.png"): READER,
    # Label Studio: the connection settings to paste into "Connect model" carry a credential
    ("GET", f"{P}/labelstudio"): ADMIN,
    # the Label Studio ML backend: no token; the route factory requires HTTP Basic instead
    ("GET", "/ls"): PUBLIC,
    ("GET", "/ls/health"): PUBLIC,
    ("POST", "/ls/setup"): PUBLIC,
    ("POST", "/ls/predict"): PUBLIC,
    ("POST", "/ls/webhook"): PUBLIC,
    ("POST", "/ls/train"): PUBLIC,
    ("GET", "/ls/versions"): PUBLIC,
}


class MissingAccessRule(LookupError):
    """A route was registered without an entry in ROUTE_ACCESS."""


def rule_for(method: str, path: str) -> Rule:
    try:
        return ROUTE_ACCESS[(method.upper(), path)]
    except KeyError:
        raise MissingAccessRule(
            f"route {method.upper()} {path} has no entry in chalicelib/api/access.py ROUTE_ACCESS; "
            "add one (PUBLIC, READER, ANNOTATOR, ADMIN or GLOBAL_ADMIN)"
        ) from None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `projects` is ALL_PROJECTS or a tuple of project ids."""

    name: str
    role: str
    projects: object  # ALL_PROJECTS | tuple[str, ...]
    token_id: str | None = None  # None for the admin token from the environment

    @property
    def all_projects(self) -> bool:
        return self.projects == ALL_PROJECTS

    def can_access(self, project_id: str) -> bool:
        return self.all_projects or project_id in self.projects

    def has_role(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def acts_for(self, name: str | None, field: str) -> str:
        """Whom the caller labels as. A token labels as its own name (None means that); only an admin
        may name someone else (the completion records who did: `recorded_by`). 403 naming `field`."""
        if name is None or name == self.name:
            return self.name
        if self.role == "admin":
            return name
        raise ForbiddenError(f"this token labels as {self.name!r}; only an admin token may act for {name!r}",
                             field)

    def covers(self, projects) -> bool:
        """True when every project of `projects` (a scope) is within this principal's scope."""
        if self.all_projects:
            return True
        return projects != ALL_PROJECTS and all(p in self.projects for p in projects)


def authorize(principal: Principal, rule: Rule, project_id: str | None) -> None:
    """Raise ForbiddenError unless `principal` may call a route with `rule` (checks no data)."""
    if project_id is not None and not principal.can_access(project_id):
        raise ForbiddenError(f"this token has no access to project {project_id!r}", "project_id")
    if not principal.has_role(rule.role):
        raise ForbiddenError(f"this route needs the {rule.role!r} role; this token has {principal.role!r}",
                             "Authorization")
    if rule.all_projects and not principal.all_projects:
        raise ForbiddenError("this route needs a token scoped to all projects (\"projects\": \"*\")",
                             "Authorization")
