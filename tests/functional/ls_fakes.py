"""Small HTTP servers on loopback that speak Label Studio's side of the protocol, for tests:
a Label Studio whose export API we pull from, and ML backends (current SDK, old SDK/HTX, broken)."""
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _send(self, status, body):
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        server = self.server.owner
        body = self._body() if method in ("POST", "PATCH") else None
        server.calls.append((method, self.path, dict(self.headers), body))
        status, answer = server.answer(method, self.path, dict(self.headers), body)
        self._send(status, answer)


class FakeServer:
    def __init__(self):
        self.calls = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, method, path, headers, body):
        return 404, {"detail": "not found"}

    def paths(self, method=None):
        return [path for m, path, _, _ in self.calls if method in (None, m)]


@contextmanager
def serving(server: FakeServer):
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


class FakeLabelStudio(FakeServer):
    """Serves `GET /api/projects/<n>/export`, `POST /api/projects/<n>/import/predictions` (kept in
    `predictions`, each given an id) and the Data Manager's `GET /api/tasks?project=<n>&query=...`
    (the filters the push uses: an id range and a model-version substring, as Label Studio 1.23
    applies them; paged) with `Authorization: Token <token>` only. For the labeling stream:
    `GET`/`PATCH /api/projects/<n>` (`settings`; a `model_version` no prediction holds is refused,
    as Label Studio 1.23 refuses it), `PATCH /api/tasks/<id>/` (`task_fields`),
    `PATCH /api/predictions/<id>/` (its `cluster`), `GET /api/current-user/whoami` (user `user_id`),
    `GET /api/predictions?project=<n>`, and the Data Manager actions
    `predictions_to_annotations` (only predictions without a child annotation, as Label Studio's)
    and `delete_tasks_annotations` (an `annotator` and a model-version filter) over `annotations`."""

    def __init__(self, token: str, exports: dict, user_id: int = 1):
        super().__init__()
        self.token = token
        self.exports = exports
        self.predictions = []
        self.annotations = []  # created by predictions_to_annotations
        self.settings = {n: {"id": int(n), "sampling": "Sequential sampling", "show_overlap_first": False,
                             "model_version": ""} for n in exports}
        self.task_fields = {}
        self.user_id = user_id

    def answer(self, method, path, headers, body):
        if headers.get("Authorization") != f"Token {self.token}":
            return 401, {"detail": "Authentication credentials were not provided."}
        if method == "GET" and path == "/api/current-user/whoami":
            return 200, {"id": self.user_id, "email": "owner@example.com"}
        if method == "PATCH" and path.startswith("/api/predictions/"):
            found = [p for p in self.predictions if p["id"] == int(path.split("/")[3])]
            if not found:
                return 404, {"detail": "Not found."}
            found[0].update(body)
            return 200, found[0]
        if method == "PATCH" and path.startswith("/api/tasks/"):
            task_id = int(path.split("/")[3])
            self.task_fields.setdefault(task_id, {}).update(body)
            return 200, {"id": task_id, **self.task_fields[task_id]}
        for number, tasks in self.exports.items():
            if path == f"/api/projects/{number}" and method in ("GET", "PATCH"):
                version = (body or {}).get("model_version")
                if version and version not in {p["model_version"] for p in self.predictions}:
                    return 400, {"detail": "Validation error", "validation_errors": {"model_version": [
                        "Model version doesn't exist either as live model or as static predictions."]}}
                self.settings[number].update(body or {})
                return 200, self.settings[number]
            if method == "GET" and path.startswith(f"/api/projects/{number}/export"):
                return 200, tasks
            if method == "POST" and path == f"/api/projects/{number}/import/predictions":
                for prediction in body:
                    self.predictions.append({**prediction, "id": 1000 + len(self.predictions)})
                return 201, {"created": len(body)}
            params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
            if method == "GET" and path.startswith("/api/predictions?") and params.get("project") == number:
                return 200, self.predictions
            if method == "GET" and path.startswith("/api/tasks?") and params.get("project") == number:
                return self._task_list(tasks, params)
            if method == "POST" and path.startswith("/api/dm/actions?") and params.get("project") == number:
                return self._action(params["id"], body)
        return 404, {"detail": "Not found."}

    def _action(self, action, body):
        selected = set(body["selectedItems"]["included"])
        for item in (body.get("filters") or {}).get("items", []):
            assert item["filter"] == "filter:tasks:predictions_model_versions", item
            selected = {p["task"] for p in self.predictions if p["task"] in selected
                        and any(v in p["model_version"] for v in item["value"])}
        if action == "predictions_to_annotations":
            parents = {a["parent_prediction"] for a in self.annotations}
            made = [{"id": 5000 + len(self.annotations) + i, "task": p["task"], "result": p["result"],
                     "completed_by": self.user_id, "parent_prediction": p["id"], "was_cancelled": False}
                    for i, p in enumerate(p for p in self.predictions if p["task"] in selected
                                          and p["model_version"] == body.get("model_version") and p["id"] not in parents)]
            self.annotations += made
            return 200, {"detail": f"Created {len(made)} annotations"}
        if action == "delete_tasks_annotations":
            gone = [a for a in self.annotations if a["task"] in selected
                    and a["completed_by"] == int(body.get("annotator") or a["completed_by"])]
            self.annotations = [a for a in self.annotations if a not in gone]
            return 200, {"processed_items": len(gone), "detail": f"Deleted {len(gone)} annotations"}
        return 400, {"detail": f"the fake has no action {action}"}

    def _task_list(self, tasks, params):
        predictions = {}
        for prediction in [p | {"task": t["id"]} for t in tasks for p in t.get("predictions") or []] \
                + self.predictions:
            predictions.setdefault(prediction["task"], []).append(prediction)
        selected = [{"id": t["id"], "data": t["data"], "predictions": predictions.get(t["id"], [])} for t in tasks]
        for item in json.loads(params.get("query") or "{}").get("filters", {}).get("items", []):
            if item["filter"] == "filter:tasks:id" and item["operator"] == "in":
                low, high = item["value"]["min"], item["value"]["max"]
                selected = [t for t in selected if low <= t["id"] <= high]
            elif item["filter"] == "filter:tasks:predictions_model_versions" and item["operator"] == "contains":
                selected = [t for t in selected if any(v in (p.get("model_version") or "") for v in item["value"]
                                                       for p in t["predictions"])]
            else:
                return 400, {"detail": f"the fake does not filter {item}"}
        size, page = int(params.get("page_size", 100)), int(params.get("page", 1))
        if page > 1 and (page - 1) * size >= len(selected):
            return 404, {"detail": "Invalid page."}
        return 200, {"tasks": selected[(page - 1) * size:page * size], "total": len(selected)}


def keyword_label(text: str) -> str:
    return "spam" if any(w in text.lower() for w in ("free", "win", "prize", "claim", "txt")) else "ham"


class FakeMLBackend(FakeServer):
    """A keyword classifier behind the ML-backend protocol.

    style "current": label-studio-ml 2.x (/health, /setup -> model_version, /predict with
    per-prediction model_version, /webhook START_TRAINING; /train is 404).
    style "old": HTX / SDK <= 1.0 (/setup 404 until trained, /predict answers `results` + top-level
    `model_version`, no /webhook, legacy /train with `completions`).
    `batch=False`: answers a single result whatever the batch size (Label Studio then re-sends one by one).
    """

    def __init__(self, style="current", user=None, password=None, batch=True):
        super().__init__()
        self.style = style
        self.auth = None
        if user:
            import base64

            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.batch = batch
        self.trained = 0
        self.train_bodies = []

    @property
    def version(self):
        return f"kw-{self.trained}"

    def _predictions(self, tasks, config_name="label"):
        out = []
        for task in tasks:
            label = keyword_label(task["data"]["text"])
            item = {"result": [{"from_name": config_name, "to_name": "text", "type": "choices",
                                "value": {"choices": [label]}}], "score": 0.75}
            if self.style == "current":
                item["model_version"] = self.version
            out.append(item)
        return out

    def answer(self, method, path, headers, body):
        if self.auth and headers.get("Authorization") != self.auth:
            return 401, {"error": "Login required"}
        if path == "/health":
            return 200, {"status": "UP", "model_class": "Keywords"}
        if path == "/setup":
            if self.style == "old" and not self.trained:
                return 404, {"error": "no model"}
            return 200, {"model_version": self.version}
        if path == "/predict":
            tasks = body["tasks"] if self.batch else body["tasks"][:1]
            results = self._predictions(tasks)
            if self.style == "old":
                return 200, {"results": results, "model_version": self.version}
            return 200, {"results": results}
        if path == "/webhook" and self.style == "current":
            if body.get("action") == "START_TRAINING":
                self.trained += 1
                self.train_bodies.append(body)
                return 201, {"result": {"model_version": self.version}, "status": "ok"}
            return 200, {"status": "Unknown event"}
        if path == "/train" and self.style == "old":
            tasks = body.get("completions")
            if not tasks:
                return 400, {"error": "No annotations found."}
            self.trained += 1
            self.train_bodies.append(body)
            return 201, {"job": str(self.trained)}
        return 404, {"error": "not found"}


class NotAnMLBackend(FakeServer):
    """Answers /health (as any web server's health page might) but has no /setup."""

    def answer(self, method, path, headers, body):
        if path == "/health":
            return 200, {"ok": True}
        return 404, {"detail": "no such page"}
