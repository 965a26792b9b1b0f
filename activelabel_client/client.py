"""A thin Python client for the activelabel API (see /work/shared/API.md, "API contract").

    from activelabel_client.client import ActivelabelClient
    api = ActivelabelClient("http://127.0.0.1:8000", token="...")
    project = api.create_project("sms", SMS_LABEL_CONFIG, ml={"min_completions": 20})
    api.import_tasks(project["id"], [{"data": {"text": "hello"}}])

One `requests.Session` per client (HTTP keep-alive). Every method returns the decoded JSON body
of the answer (or the obviously useful part of it, as documented); any non-2xx answer raises
`ApiError` built from the API's error body `{"Code", "Message", "Field"?}`.
"""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_PREDICT_BATCH = 1000  # the API's limit per /predict request
IMPORT_ATTEMPTS = 6  # per import chunk, about 30 s of back-off in all (an interrupted write's lease is 20 s)


class ApiError(Exception):
    """A failed API call: HTTP `status`, the API's error `code` and `message` (and `field`).

    `status` is 0 when the server could not be reached at all.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 body: Any = None):
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.body = body

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """Build the error from an answer's JSON body; falls back to the raw text."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and ("Code" in body or "Message" in body):
            return cls(response.status_code, str(body.get("Code") or "Error"),
                       str(body.get("Message") or ""), body.get("Field"), body)
        text = (response.text or "").strip() or response.reason or ""
        return cls(response.status_code, "HTTPError", text[:500], None, body)


class ModelNotReady(ApiError):
    """`wait_for_model` gave up: no (suitable) promoted model. `state` is the last /training body."""

    def __init__(self, message: str, state: dict | None):
        super().__init__(0, "ModelNotReady", message, None, state)
        self.state = state or {}


def version_number(model_version: str | None) -> int | None:
    """'v3' -> 3 (None when there is no model or the version does not end in a number)."""
    if not model_version:
        return None
    match = re.search(r"(\d+)$", str(model_version))
    return int(match.group(1)) if match else None


class ActivelabelClient:
    """The activelabel API over HTTP, authenticated with one token."""

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def __repr__(self) -> str:
        return f"ActivelabelClient({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ActivelabelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def request(self, method: str, path: str, body: Any = None, params: dict | None = None,
                headers: dict | None = None) -> Any:
        """One call; returns the decoded JSON body (None for an empty one), raises ApiError."""
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method, url, json=body, params={k: v for k, v in (params or {}).items() if v is not None},
                timeout=self.timeout, headers=headers)
        except requests.ConnectionError as exc:
            raise ApiError(0, "ConnectionError", f"cannot reach {self.base_url} ({type(exc).__name__}); "
                                                 "is the server running? (make serve)") from exc
        except requests.Timeout as exc:
            raise ApiError(0, "Timeout", f"{method} {path}: no answer within {self.timeout} s") from exc
        if not response.ok:
            raise ApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(response.status_code, "BadResponse",
                           f"{method} {path}: the answer is not JSON: {response.text[:200]!r}") from exc

    def _project(self, project_id: str) -> str:
        return f"/api/projects/{project_id}"

    # ------------------------------------------------------------------ health, projects, settings

    def health(self) -> dict:
        return self.request("GET", "/health")

    def create_project(self, title: str, label_config: str, ml: dict | None = None) -> dict:
        """Create a project; returns it (with its `id`)."""
        body: dict[str, Any] = {"title": title, "label_config": label_config}
        if ml:
            body["ml"] = ml
        return self.request("POST", "/api/projects", body)

    def list_projects(self, limit: int | None = None) -> list[dict]:
        """Every project (follows the `next` cursor)."""
        projects, cursor = [], None
        while True:
            page = self.request("GET", "/api/projects", params={"limit": limit, "cursor": cursor})
            projects += page.get("projects", [])
            cursor = page.get("next")
            if not cursor:
                return projects

    def get_project(self, project_id: str) -> dict:
        return self.request("GET", self._project(project_id))

    def update_project(self, project_id: str, **fields: Any) -> dict:
        """PATCH title / label_config / ml."""
        return self.request("PATCH", self._project(project_id), fields)

    def delete_project(self, project_id: str) -> dict:
        return self.request("DELETE", self._project(project_id))

    def get_ml(self, project_id: str) -> dict:
        return self.request("GET", f"{self._project(project_id)}/ml")

    def update_ml(self, project_id: str, **settings: Any) -> dict:
        """PUT only the given ML settings (the others keep their values); returns all of them."""
        return self.request("PUT", f"{self._project(project_id)}/ml", settings)

    def models(self, project_id: str) -> list[dict]:
        """The built-in models that fit the project's label config."""
        return self.request("GET", f"{self._project(project_id)}/models")["models"]

    # ------------------------------------------------------------------ tasks and completions

    def import_tasks(self, project_id: str, tasks: list[dict], batch_size: int = 500,
                     progress: bool = True) -> list[str]:
        """Import Label Studio tasks in chunks of `batch_size`; returns the task ids in input order.

        Each chunk is sent with its own `Idempotency-Key` (a new UUID) and resent with the same key
        when the server cannot be reached, answers 503 (a write failed part-way) or 409 (a request
        with the key is still writing): the retry finishes that chunk's import and never stores a
        copy (docs/api.md). When a later chunk fails for good, the earlier ones stay imported and
        the ApiError names the field relative to that chunk.
        """
        tasks = list(tasks)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        task_ids: list[str] = []
        bar = _progress_bar(total=len(tasks), desc="import", unit="task", enabled=progress)
        try:
            for start in range(0, len(tasks), batch_size):
                chunk = tasks[start:start + batch_size]
                task_ids += self._import_chunk(project_id, chunk)["task_ids"]
                bar.update(len(chunk))
        finally:
            bar.close()
        return task_ids

    def _import_chunk(self, project_id: str, chunk: list[dict], attempts: int = IMPORT_ATTEMPTS) -> dict:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(attempts):
            try:
                return self.request("POST", f"{self._project(project_id)}/tasks", chunk, headers=headers)
            except ApiError as exc:
                if exc.status not in (0, 409, 502, 503, 504) or attempt == attempts - 1 or \
                        (exc.status == 409 and exc.field != "Idempotency-Key"):
                    raise
                time.sleep(min(2 ** attempt, 15))
        raise AssertionError("unreachable")

    def list_tasks(self, project_id: str, limit: int | None = None, cursor: str | None = None) -> dict:
        """One page: `{"tasks": [...], "next": cursor or None}`."""
        return self.request("GET", f"{self._project(project_id)}/tasks",
                            params={"limit": limit, "cursor": cursor})

    def iter_tasks(self, project_id: str, page_size: int = 1000) -> Iterator[dict]:
        """Every task of the project, page by page."""
        cursor = None
        while True:
            page = self.list_tasks(project_id, limit=page_size, cursor=cursor)
            yield from page.get("tasks", [])
            cursor = page.get("next")
            if not cursor:
                return

    def get_task(self, project_id: str, task_id: str | int) -> dict:
        return self.request("GET", f"{self._project(project_id)}/tasks/{task_id}")

    def next_task(self, project_id: str, annotator: str) -> dict | None:
        """The next task to label for `annotator` (active learning), or None when none is left."""
        return self.request("GET", f"{self._project(project_id)}/next", params={"annotator": annotator})

    def add_completion(self, project_id: str, task_id: str | int, result: list[dict],
                       completed_by: str, was_cancelled: bool = False) -> dict:
        """Post one completion (a finished annotation); returns it with its `id`."""
        body = {"result": result, "completed_by": completed_by}
        if was_cancelled:
            body["was_cancelled"] = True
        return self.request("POST", f"{self._project(project_id)}/tasks/{task_id}/completions", body)

    def completions(self, project_id: str, task_id: str | int) -> list[dict]:
        return self.request("GET", f"{self._project(project_id)}/tasks/{task_id}/completions")["completions"]

    def delete_completion(self, project_id: str, completion_id: str) -> dict:
        return self.request("DELETE", f"{self._project(project_id)}/completions/{completion_id}")

    def export(self, project_id: str, naming: str | None = None) -> dict:
        """All tasks in Label Studio JSON: `{"project", "title", "exported_at", "tasks"}`."""
        return self.request("GET", f"{self._project(project_id)}/export", params={"naming": naming})

    # ------------------------------------------------------------------ training and models

    def training(self, project_id: str) -> dict:
        """`{"state", "accepted_tasks", "completions", "last_error", "model_version", ...}`."""
        return self.request("GET", f"{self._project(project_id)}/training")

    def train(self, project_id: str) -> dict:
        """Queue a training now (409 ApiError with the reason when the thresholds do not allow it)."""
        return self.request("POST", f"{self._project(project_id)}/train")

    def model_versions(self, project_id: str) -> list[dict]:
        """Every trained version: `[{"model_version", "metrics", "n_train", "active", ...}]`."""
        return self.request("GET", f"{self._project(project_id)}/model-versions")["versions"]

    def active_model_version(self, project_id: str) -> dict | None:
        """The promoted version's entry of /model-versions, or None."""
        return next((v for v in self.model_versions(project_id) if v.get("active")), None)

    def activate_version(self, project_id: str, version: int | str, pin: bool | None = None) -> dict:
        """Make a stored version active (rollback); `pin` also pins (True) or unpins (False) it."""
        name = version if str(version).startswith("v") else f"v{version}"
        body = {} if pin is None else {"pin": pin}
        return self.request("PUT", f"{self._project(project_id)}/model-versions/{name}/active", body)

    def health_detail(self, project_id: str | None = None) -> dict:
        """Queue depths, dead letters and the projects' last failures (a global admin token)."""
        query = f"?project={quote(str(project_id), safe='')}" if project_id is not None else ""
        return self.request("GET", f"/api/health/detail{query}")

    def jobs(self, project_id: str) -> list[dict]:
        """Background jobs, newest first: `[{"id", "kind", "state", "total", "done", "failed", ...}]`."""
        return self.request("GET", f"{self._project(project_id)}/jobs")["jobs"]

    def job(self, project_id: str, job_id: str) -> dict:
        return self.request("GET", f"{self._project(project_id)}/jobs/{job_id}")

    def preannotate(self, project_id: str) -> dict:
        """Start a pre-annotation job of every unlabeled task by the active version."""
        return self.request("POST", f"{self._project(project_id)}/predictions")

    def predict(self, project_id: str, tasks: Iterable[dict] | None = None, *,
                samples: Iterable[dict] | None = None, batch_size: int = MAX_PREDICT_BATCH) -> list[dict]:
        """Predictions from the promoted model, one per input in order.

        Pass Label Studio `tasks` (`[{"data": {...}}]`) or bare `samples` (`[{...data...}]`).
        Returns the `results` list (`[{"result": [...], "score", "model_version"}]`), sending
        at most `batch_size` inputs per request.
        """
        if (tasks is None) == (samples is None):
            raise ValueError("pass exactly one of tasks= or samples=")
        field, items = ("tasks", list(tasks)) if tasks is not None else ("samples", list(samples))
        results: list[dict] = []
        for start in range(0, len(items), batch_size):
            body = {field: items[start:start + batch_size]}
            results += self.request("POST", f"{self._project(project_id)}/predict", body)["results"]
        return results

    def wait_for_model(self, project_id: str, timeout: float = 60, min_version: int | str | None = None,
                       settled: bool = False, poll_interval: float = 0.25, failure_grace: float = 3.0,
                       on_state: Callable[[dict], None] | None = None) -> dict:
        """Poll /training until a promoted model is there; returns that /training body.

        `min_version` (3 or "v3"): wait for that version or a later one. `settled`: also wait
        until nothing is queued or training (the model reflects every accepted task so far).
        `on_state` is called with every polled state. Raises `ModelNotReady` with the last state
        (including `last_error`) on timeout, or once training has stayed failed with nothing
        pending for `failure_grace` seconds (events reach the stream handler within a second, so
        a completion still in flight gets the chance to queue a new training first).
        """
        wanted = version_number(min_version) if isinstance(min_version, str) else min_version
        deadline = time.monotonic() + timeout
        failed_since: float | None = None
        state: dict | None = None
        while True:
            state = self.training(project_id)
            if on_state:
                on_state(state)
            number = version_number(state.get("model_version"))
            pending = state.get("state") in ("queued", "training") or (
                state.get("request_seq", 0) > state.get("trained_seq", 0))
            if number is not None and (wanted is None or number >= wanted) and not (settled and pending):
                return state
            if state.get("state") == "failed" and not pending:
                failed_since = failed_since or time.monotonic()
                if time.monotonic() - failed_since >= failure_grace:
                    raise ModelNotReady(f"training failed: {state.get('last_error')}", state)
            else:
                failed_since = None
            if time.monotonic() >= deadline:
                raise ModelNotReady(
                    f"no promoted model{f' >= v{wanted}' if wanted else ''} after {timeout:g} s; last state "
                    f"{state.get('state')!r}, accepted_tasks {state.get('accepted_tasks')}, "
                    f"model_version {state.get('model_version')!r}, last_error {state.get('last_error')!r}",
                    state)
            time.sleep(poll_interval)


def _progress_bar(total: int, desc: str, unit: str, enabled: bool):
    """A tqdm bar, or a do-nothing stand-in when disabled (tqdm is a dev dependency)."""
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit=unit)
        except ImportError:
            pass
    return _NoProgress()


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def write(self, line: str) -> None:
        print(line)
