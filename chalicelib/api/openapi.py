"""The OpenAPI 3.0 document of the API, generated from the app's routes.

Paths, methods and path parameters come from `app.routes`; security and the role each operation
needs from `access.ROUTE_ACCESS`; summaries from the views' docstrings or names. Request bodies and
query parameters, which Chalice does not declare, are described here per route (`BODIES`, `QUERIES`)
and checked against the routes by tests/unit/test_openapi.py. Served at `GET /api/openapi.json`
to any valid token (every /api route requires one; see docs/api.md).
"""
import re

from chalicelib.api import access
from chalicelib.domain.settings import SAMPLING_STRATEGIES

P = "/api/projects/{project_id}"

_STR = {"type": "string"}
_OBJ = {"type": "object"}
ERROR = {
    "type": "object",
    "required": ["Code", "Message"],
    "properties": {"Code": _STR, "Message": _STR, "Field": _STR},
}
ML_SETTINGS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "min_completions": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "agreement_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "overlap": {"type": "integer", "minimum": 1, "maximum": 100},
        "retrain_every": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "first_batch_size": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000, "nullable": True},
        "model": _STR,
        "promotion": {"type": "string", "enum": ["if_not_worse", "always"]},
        "pinned_version": {"type": "integer", "minimum": 1, "nullable": True},
        "preannotate": {"type": "boolean"},
        "suspects": {"type": "boolean", "nullable": True},
        "sampling": {"type": "string", "enum": list(SAMPLING_STRATEGIES)},
        "auto_label": {"type": "object", "additionalProperties": False, "properties": {
            "enabled": {"type": "boolean"}, "train_on_auto": {"type": "boolean"},
            "target_accuracy": {"type": "number", "minimum": 0.5, "maximum": 0.9999},
            "confidence": {"type": "number", "minimum": 0.5, "maximum": 0.9999},
            "audit_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "min_validation": {"type": "integer", "minimum": 10, "maximum": 1000000}}},
        "custom_backend": {"type": "object", "nullable": True, "additionalProperties": False, "required": ["url"],
                           "properties": {"url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/]",
                                                  "maxLength": 2000},
                                          "basic_auth_user": _STR, "basic_auth_pass": _STR}},
    },
}
RESULT = {"type": "array", "items": {"type": "object", "required": ["from_name", "to_name", "type", "value"],
                                     "properties": {"from_name": _STR, "to_name": _STR, "type": _STR, "value": _OBJ}}}
IMPORTED_COMPLETION = {  # a Label Studio annotation: its other keys (id, created_at, ...) are ignored
    "type": "object",
    "anyOf": [{"required": ["result"]},  # a cancelled (skipped) annotation may have no result
              {"required": ["was_cancelled"], "properties": {"was_cancelled": {"enum": [True]}}},
              {"required": ["skipped"], "properties": {"skipped": {"enum": [True]}}}],
    "properties": {"result": RESULT, "was_cancelled": {"type": "boolean"}, "skipped": {"type": "boolean"},
                   "ground_truth": {"type": "boolean"}, "lead_time": {"type": "number", "nullable": True,
                                                                      "minimum": -1e9, "maximum": 1e9},
                   # a name (at most 256 characters), a Label Studio user id or user object
                   "completed_by": {}},
}
COMPLETION = IMPORTED_COMPLETION
PREDICTION = {"type": "object", "required": ["result"], "properties": {
    "result": RESULT, "score": {"type": "number"}, "model_version": _STR}}
TASK = {"type": "object", "required": ["data"], "properties": {
    "data": _OBJ, "annotations": {"type": "array", "items": IMPORTED_COMPLETION, "maxItems": 100},
    "completions": {"type": "array", "items": IMPORTED_COMPLETION, "maxItems": 100},
    "predictions": {"type": "array", "items": PREDICTION}, "meta": _OBJ, "id": {"type": "integer"}},
    "not": {"required": ["annotations", "completions"]}}  # one name or the other (Label Studio's old one)
PROJECT = {"type": "object", "additionalProperties": False, "properties": {
    "title": {"type": "string", "maxLength": 500}, "label_config": {"type": "string", "pattern": "\\S"},
    "ml": ML_SETTINGS}}

BODIES = {
    ("POST", "/api/tokens"): {"type": "object", "required": ["name", "role", "projects"],
                              "additionalProperties": False, "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}, "role": {"type": "string", "enum": list(access.ROLES)},
        "projects": {"oneOf": [{"type": "string", "enum": [access.ALL_PROJECTS]},
                               {"type": "array", "items": _STR}]}}},
    ("POST", "/api/projects"): {**PROJECT, "required": ["label_config"]},
    ("PATCH", P): PROJECT,
    ("PUT", f"{P}/ml"): ML_SETTINGS,
    ("POST", f"{P}/tasks"): {"oneOf": [{"type": "array", "items": TASK, "minItems": 1, "maxItems": 5000}, TASK]},
    ("POST", f"{P}/tasks/{{task_id}}/completions"): COMPLETION,
    ("PUT", f"{P}/model-versions/{{version}}/active"): {
        "type": "object", "additionalProperties": False, "properties": {"pin": {"type": "boolean"}}},
    ("POST", f"{P}/predict"): {"oneOf": [
        {"type": "object", "required": ["tasks"], "properties": {
            "tasks": {"type": "array", "items": {"type": "object", "required": ["data"], "properties": {"data": _OBJ}}}}},
        {"type": "object", "required": ["samples"], "not": {"required": ["tasks"]},  # "tasks" is read first
         "properties": {"samples": {"type": "array", "items": _OBJ}}},
    ]},
}
# path parameters the API parses (http.parse_task_id, model_versions.parse_version, imports.KEY)
PATH_PARAMS = {"task_id": {"type": "string", "pattern": "^0*[1-9][0-9]{0,17}$"},
               "version": {"type": "string", "pattern": "^v?0*[1-9][0-9]{0,8}$"},
               "key": {"type": "string", "pattern": "^[A-Za-z0-9_.~-]{1,255}$"}}
OPTIONAL_BODIES = {("PUT", f"{P}/model-versions/{{version}}/active")}  # {"pin"} may be left out
_PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "cursor", "in": "query", "schema": _STR},
]
_ANNOTATOR = [{"name": "annotator", "in": "query", "required": False,
               "description": "who the task is for: defaults to the token's name; only an admin token may "
                              "name someone else (and must name someone)",
               "schema": {"type": "string", "minLength": 1, "maxLength": 256}}]
QUERIES = {
    ("GET", "/api/projects"): _PAGE,
    ("GET", f"{P}/next"): _ANNOTATOR,
    ("DELETE", f"{P}/tasks/{{task_id}}/lock"): _ANNOTATOR,
    ("GET", f"{P}/tasks"): _PAGE,
    ("GET", f"{P}/export"): [{"name": "naming", "in": "query",
                              "schema": {"type": "string", "enum": ["annotations", "completions"]}},
                             {"name": "auto_labels", "in": "query",
                              "description": "standing auto labels as predictions marked \"auto\": true (default) "
                                             "or as annotations marked \"origin\": \"auto\"",
                              "schema": {"type": "string", "enum": ["predictions", "annotations"]}}],
    ("GET", f"{P}/suspects"): _PAGE,
    ("POST", f"{P}/tasks"): [{"name": "Idempotency-Key", "in": "header", "required": False,
                              "description": "makes the import safe to retry: the same key answers the first "
                                             "import's result or finishes it (kept 24 h; docs/api.md)",
                              "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.~-]{1,255}$"}}],
}
SUCCESS = {"POST": "201", "DELETE": "200"}
_TEXT = {"schema": {"type": "string"}}
SUCCESS_CONTENT = {("GET", f"{P}/report.png"): {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                   # the web console's files (chalicelib/console)
                   ("GET", "/ui"): {"text/html": _TEXT},
                   ("GET", "/ui/{asset}"): {t: _TEXT for t in ("text/html", "text/javascript", "text/css", "image/svg+xml")}}
ACCEPTED = {("POST", f"{P}/train"), ("POST", f"{P}/predictions")}
# answers besides the success status and 4XX
MORE_RESPONSES = {("GET", f"{P}/next"): {
    "204": {"description": "no task is left for this annotator"},
    "503": {"description": "a burst of callers exceeded this call's bounded budget: retry (BusyError)",
            "content": {"application/json": {"schema": ERROR}}},
}}


def _success_status(method: str, path: str) -> str:
    if (method, path) in ACCEPTED:
        return "202"
    if method == "POST" and path.endswith("/predict"):
        return "200"
    return SUCCESS.get(method, "200")


def _operation(method: str, path: str, entry) -> dict:
    rule = access.rule_for(method, path)
    view = entry.view_function
    doc = (view.__doc__ or view.__name__.replace("_", " ")).strip().splitlines()[0]
    operation = {
        "operationId": view.__name__,
        "summary": doc,
        "parameters": [{"name": name, "in": "path", "required": True, "schema": PATH_PARAMS.get(name, _STR)}
                       for name in re.findall(r"{(\w+)}", path)] + QUERIES.get((method, path), []),
        "responses": {
            _success_status(method, path): {"description": "success", "content": SUCCESS_CONTENT.get(
                (method, path), {"application/json": {"schema": _OBJ}})},
            "4XX": {"description": "refused; the body names the field",
                    "content": {"application/json": {"schema": ERROR}}},
            **MORE_RESPONSES.get((method, path), {}),
        },
    }
    if rule.public:
        operation["security"] = []
    else:
        need = rule.role + (" scoped to all projects" if rule.all_projects else "")
        operation["description"] = f"Needs a token with the {need} role (or higher)."
    body = BODIES.get((method, path))
    if body is not None:
        operation["requestBody"] = {"required": (method, path) not in OPTIONAL_BODIES,
                                    "content": {"application/json": {"schema": body}}}
    return operation


def is_labelstudio_protocol(path: str) -> bool:
    """/ls routes speak Label Studio's ML backend protocol (docs/labelstudio.md), not this API."""
    return path == "/ls" or path.startswith("/ls/")


def is_local_only(path: str) -> bool:
    """/local routes exist only on the local stack (chalicelib/local/aws_route.py), never deployed."""
    return path.startswith("/local/")


def document(app) -> dict:
    paths: dict = {}
    for path, methods in sorted(app.routes.items()):
        if is_labelstudio_protocol(path) or is_local_only(path):
            continue
        for method, entry in sorted(methods.items()):
            paths.setdefault(path, {})[method.lower()] = _operation(method, path, entry)
    return {
        "openapi": "3.0.3",
        "info": {"title": "activelabel", "version": "1",
                 "description": "The ML layer of a data-labeling platform. Contract: docs/api.md."},
        "paths": paths,
        "components": {"securitySchemes": {"token": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Token <token>`: the admin token or one made with POST /api/tokens"}}},
        "security": [{"token": []}],
    }
