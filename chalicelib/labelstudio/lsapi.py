"""Calls Label Studio's REST API (not an ML backend's): with the hostname and access token its
`/setup` sent (services/labelstudio_link.py stores them). Today: the export of the tasks that
START_TRAINING pulls (services/labelstudio_sync.py).

A legacy token is sent as `Authorization: Token <t>`; a Personal Access Token (a JWT refresh token)
is first exchanged at `/api/token/refresh/` for an access token sent as `Bearer` (Label Studio's
own SDK rule). Every call goes through the SSRF guard of net.py. Also: pushing stored predictions
(pre-annotation) through the predictions import API, and reading which tasks already hold a
prediction of a model version (the push's idempotency).
"""
import json
from urllib.parse import urlencode

from chalicelib.labelstudio import net

TOKEN_TIMEOUT = (3.0, 10.0, 20.0)
# (connect, each read, total) seconds (net.request). The export is read by the train worker (15 min
# timeout), not inside a request: the total lets the largest answer read (net.MAX_RESPONSE_BYTES,
# 50 MiB: ~25,000 tasks of 2 KB) arrive at 100 KB/s, and leaves the worker time to store it.
EXPORT_TIMEOUT = (5.0, 60.0, 600.0)


def _looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(parts) and token.startswith("eyJ")


def auth_header(hostname: str, token: str) -> str:
    if not _looks_like_jwt(token):
        return f"Token {token}"
    reply = net.request("POST", net.join(hostname, "api/token/refresh/"), body={"refresh": token},
                        timeout=TOKEN_TIMEOUT, field="hostname")
    if reply.status != 200 or not isinstance(reply.body, dict) or not reply.body.get("access"):
        raise net.UpstreamError(f"Label Studio refused the personal access token ({reply.status})", "status",
                                reply.status, "access_token")
    return f"Bearer {reply.body['access']}"


def export_tasks(hostname: str, token: str, ls_project_number: str) -> list[dict]:
    """Every task of the project with its annotations (Label Studio's JSON export with
    `download_all_tasks`: the unlabeled tasks too, so that pre-annotation reaches them)."""
    url = net.join(hostname, f"api/projects/{ls_project_number}/export?exportType=JSON&download_all_tasks=true")
    reply = net.request("GET", url, headers={"Authorization": auth_header(hostname, token)},
                        timeout=EXPORT_TIMEOUT, field="hostname")
    if reply.status != 200 or not isinstance(reply.body, list):
        raise net.UpstreamError(f"Label Studio export of project {ls_project_number} answered {reply.status}",
                                "status", reply.status, "hostname")
    return reply.body


IMPORT_TIMEOUT = (5.0, 60.0, 120.0)


def import_predictions(hostname: str, token: str, ls_project_number: str, predictions: list[dict]) -> int:
    """`POST /api/projects/<n>/import/predictions` with [{"task", "result", "score", "model_version"}];
    returns how many Label Studio created."""
    url = net.join(hostname, f"api/projects/{ls_project_number}/import/predictions")
    reply = net.request("POST", url, headers={"Authorization": auth_header(hostname, token)}, body=predictions,
                        timeout=IMPORT_TIMEOUT, field="hostname")
    if reply.status not in (200, 201):
        raise net.UpstreamError(f"Label Studio predictions import of project {ls_project_number} answered "
                                f"{reply.status}", "status", reply.status, "hostname")
    return int((reply.body or {}).get("created", len(predictions))) if isinstance(reply.body, dict) else len(predictions)


HOLDING_PAGE = 200  # tasks per page of the Data Manager's task list (each with its data and predictions)


def tasks_holding(hostname: str, token: str, ls_project_number: str, ls_task_ids: list[int],
                  model_version: str) -> set[int]:
    """Which of `ls_task_ids` already hold a prediction whose model_version is `model_version`."""
    return set(predictions_held(hostname, token, ls_project_number, ls_task_ids, model_version))


def predictions_held(hostname: str, token: str, ls_project_number: str, ls_task_ids: list[int],
                     model_version: str) -> dict[int, int]:
    """{task id: the id of its prediction whose model_version is `model_version`} for `ls_task_ids`.

    Label Studio's predictions list (`/api/predictions`) filters by task or project only, so this
    reads the Data Manager's task list (`GET /api/tasks`, paged) filtered to the tasks' id range and
    to tasks whose predictions' model versions contain `model_version` (a substring match: "v1" also
    finds "v12"), and checks each task's predictions for the exact version."""
    if not ls_task_ids:
        return {}
    wanted = set(ls_task_ids)
    query = {"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:id", "operator": "in", "type": "Number",
         "value": {"min": min(wanted), "max": max(wanted)}},
        {"filter": "filter:tasks:predictions_model_versions", "operator": "contains", "type": "List",
         "value": [model_version]}]},
        "selectedItems": {"all": True, "excluded": []}}
    header = {"Authorization": auth_header(hostname, token)}
    held, page, seen = {}, 1, 0
    while True:
        params = urlencode({"project": ls_project_number, "fields": "all", "page_size": HOLDING_PAGE, "page": page,
                            "query": json.dumps(query, separators=(",", ":"))})
        reply = net.request("GET", net.join(hostname, f"api/tasks?{params}"), headers=header,
                            timeout=IMPORT_TIMEOUT, field="hostname")
        if reply.status == 404 and page > 1:  # past the last page
            break
        if reply.status != 200 or not isinstance(reply.body, dict) or not isinstance(reply.body.get("tasks"), list):
            raise net.UpstreamError(f"Label Studio task list of project {ls_project_number} answered "
                                    f"{reply.status}", "status", reply.status, "hostname")
        tasks = reply.body["tasks"]
        for task in tasks:
            found = [p.get("id") for p in task.get("predictions") or []
                     if isinstance(p, dict) and p.get("model_version") == model_version]
            if task.get("id") in wanted and found:
                held[task["id"]] = found[0]
        seen += len(tasks)
        if len(tasks) < HOLDING_PAGE or seen >= int(reply.body.get("total") or 0):
            break
        page += 1
    return held


# ---- the labeling stream (services/labelstudio_stream.py): project settings, Data Manager actions, overlap

STREAM_TIMEOUT = (5.0, 60.0)


def _call(method: str, hostname: str, token: str, path: str, body=None, what: str = "") -> dict | list:
    reply = net.request(method, net.join(hostname, path), headers={"Authorization": auth_header(hostname, token)},
                        body=body, timeout=STREAM_TIMEOUT, field="hostname")
    if reply.status not in (200, 201, 204):
        raise net.UpstreamError(f"Label Studio {what or path} answered {reply.status}", "status", reply.status,
                                "hostname")
    return reply.body if reply.body is not None else {}


def get_project(hostname: str, token: str, ls_project_number: str) -> dict:
    """`GET /api/projects/<n>`: its settings (`sampling`, `model_version`, `show_overlap_first`, ...)."""
    body = _call("GET", hostname, token, f"api/projects/{ls_project_number}", what=f"project {ls_project_number}")
    if not isinstance(body, dict):
        raise net.UpstreamError(f"Label Studio project {ls_project_number} is not a JSON object", "not_json",
                                200, "hostname")
    return body


def patch_project(hostname: str, token: str, ls_project_number: str, fields: dict) -> dict:
    return _call("PATCH", hostname, token, f"api/projects/{ls_project_number}", fields,
                 what=f"project {ls_project_number} update")


def whoami(hostname: str, token: str) -> int:
    """The id of the user the token belongs to (the author of activelabel's annotations)."""
    body = _call("GET", hostname, token, "api/current-user/whoami", what="current user")
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise net.UpstreamError("Label Studio's current user has no id", "not_json", 200, "hostname")
    return body["id"]


def dm_action(hostname: str, token: str, ls_project_number: str, action: str, ls_task_ids: list[int],
              extra: dict | None = None, version_prefix: str | None = None) -> dict:
    """A Data Manager action (`POST /api/dm/actions?id=<action>&project=<n>`) on the tasks listed,
    narrowed to tasks holding a prediction whose model version contains `version_prefix`."""
    body = {"selectedItems": {"all": False, "included": sorted(ls_task_ids)}, **(extra or {})}
    if version_prefix:
        body["filters"] = {"conjunction": "and", "items": [
            {"filter": "filter:tasks:predictions_model_versions", "operator": "contains", "type": "List",
             "value": [version_prefix]}]}
    found = _call("POST", hostname, token, f"api/dm/actions?{urlencode({'id': action, 'project': ls_project_number})}",
                  body, what=f"action {action} on project {ls_project_number}")
    return found if isinstance(found, dict) else {}


def patch_task(hostname: str, token: str, ls_task_id: int, fields: dict) -> dict:
    return _call("PATCH", hostname, token, f"api/tasks/{int(ls_task_id)}/", fields, what=f"task {ls_task_id} update")


def auto_predictions(hostname: str, token: str, ls_project_number: str, prefix: str) -> dict[int, list]:
    """{prediction id: result} of the project's predictions whose model version starts with `prefix`
    (`GET /api/predictions?project=<n>`): the export names an annotation's `parent_prediction` by id only."""
    body = _call("GET", hostname, token, f"api/predictions?project={ls_project_number}",
                 what=f"predictions of project {ls_project_number}")
    items = body.get("results", []) if isinstance(body, dict) else body
    return {p["id"]: p.get("result") for p in items
            if isinstance(p, dict) and "id" in p and str(p.get("model_version") or "").startswith(prefix)}


def patch_prediction(hostname: str, token: str, prediction_id: int, fields: dict) -> dict:
    """`PATCH /api/predictions/<id>/`: e.g. its `cluster`, which the predictions import does not keep."""
    return _call("PATCH", hostname, token, f"api/predictions/{int(prediction_id)}/", fields,
                 what=f"prediction {prediction_id} update")
