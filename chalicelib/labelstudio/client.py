"""The custom-backend client: any Label Studio ML backend as a project's custom model (ML settings
`"model": "custom"`).

We call the backend exactly as Label Studio does (protocol reference §1.2): JSON over HTTP, optional
Basic auth, `/health` (1 s) and `/setup` (3 s) to validate, `/predict` (100 s) in batches, retries
on connection errors only (net.py), and we understand the older answers: `results` with a top-level
`model_version`, a 404 on `/setup` or `/predict` meaning "not trained yet" (Heartex/HTX), a single
result for a batch (then tasks are re-sent one by one, as Label Studio does). Training is forwarded
as a `START_TRAINING` webhook (`PROJECT_UPDATED` for label-studio-ml 1.x in webhook mode), or for
old servers (a 404 there, or label-studio-ml 1.x reporting `"v2": false` in /health) as legacy
`/train` carrying the accepted tasks under both `annotations` and `completions`. URLs go through the SSRF guard.
"""
from chalicelib.domain.settings import SECRET_MASK
from chalicelib.errors import ValidationError
from chalicelib.labeling.results import completion_record, task_to_labelstudio
from chalicelib.labelstudio import crypto, net, protocol
from chalicelib.labelstudio.auth import basic_header

# (connect, each read, total) seconds (net.request)
HEALTH_TIMEOUT = (1.0, 1.0, 4.0)
SETUP_TIMEOUT = (1.0, 3.0, 6.0)
PREDICT_TIMEOUT = (1.0, 100.0, 110.0)
TRAIN_TIMEOUT = (1.0, 100.0, 110.0)
BATCH_SIZE = 100
URL_FIELD = "ml.custom_backend.url"


class CustomBackend:
    def __init__(self, url: str, project_key: str, label_config: str, user: str | None = None,
                 password: str | None = None, title: str = ""):
        self.url = url
        self.project_key = project_key
        self.label_config = label_config
        self.title = title
        self.headers = {"Authorization": basic_header(user, password)} if user and password else {}

    def _call(self, method: str, suffix: str, body, timeout) -> net.Reply:
        return net.request(method, net.join(self.url, suffix), body=body, headers=self.headers,
                           timeout=timeout, field=URL_FIELD)

    # ------------------------------------------------------------ validation
    def health(self) -> dict:
        try:
            reply = self._call("GET", "health", None, HEALTH_TIMEOUT)
        except net.UpstreamError as exc:
            raise ValidationError(URL_FIELD, f"can't connect to ML backend {self.url}: health check failed ({exc.message})")
        if reply.status == 401:
            raise ValidationError(URL_FIELD, f"able to connect to {self.url}, but the Basic-auth credentials "
                                             "were either not provided or are incorrect (401)")
        if not 200 <= reply.status < 300 or not isinstance(reply.body, dict):
            raise ValidationError(URL_FIELD, f"can't connect to ML backend {self.url}: health check failed "
                                             f"(HTTP {reply.status}{'' if isinstance(reply.body, dict) else ', not JSON'})")
        return reply.body

    def setup(self) -> str:
        """The backend's model version; "untrained" for an old backend that answers 404 until trained."""
        return self._setup()[0]

    def _setup(self) -> tuple[str, int]:
        reply = self._call("POST", "setup", {
            "project": self.project_key, "schema": self.label_config,
            "hostname": None, "access_token": None, "extra_params": None,
        }, SETUP_TIMEOUT)
        if reply.status == 404:
            return protocol.UNTRAINED_VERSION, 404
        if not 200 <= reply.status < 300 or not isinstance(reply.body, dict):
            raise ValidationError(URL_FIELD, f"connected to {self.url}, but it doesn't look like a valid ML backend: "
                                             f"/setup answered HTTP {reply.status} {reply.text[:200]!r}")
        version = reply.body.get("model_version")
        return (str(version) if version not in (None, "") else protocol.UNTRAINED_VERSION), reply.status

    def check(self) -> str:
        """What saving the settings runs: /health then /setup, as Label Studio validates a backend.
        A 404 on /setup passes only when /health answered `{"status": "UP"}` as every ML SDK does
        (an untrained Heartex backend); from any other web server it is not an ML backend."""
        health = self.health()
        if health.get("model_class") == protocol.MODEL_CLASS:
            raise ValidationError(URL_FIELD, f"{self.url} is activelabel itself: a project's custom model must be "
                                             "another ML backend (choose a built-in model instead)")
        try:
            version, status = self._setup()
        except net.UpstreamError as exc:
            raise ValidationError(URL_FIELD, f"connected to {self.url}, but /setup failed: {exc.message}")
        if status == 404 and health.get("status") != "UP":
            raise ValidationError(URL_FIELD, f"connected to {self.url}, but it doesn't look like a valid ML backend: "
                                             "/setup answered HTTP 404 and /health did not say {\"status\": \"UP\"}")
        return version

    # ------------------------------------------------------------ predictions
    def _predict_batch(self, batch: list[dict], version: str) -> list[dict] | None:
        reply = self._call("POST", "predict", {
            "tasks": batch, "project": self.project_key, "label_config": self.label_config,
            "model_version": version, "params": {"login": None, "password": None, "context": None},
        }, PREDICT_TIMEOUT)
        if reply.status == 404:
            return None  # an old backend with no model yet
        if not 200 <= reply.status < 300:
            raise net.UpstreamError(f"custom backend /predict answered HTTP {reply.status}: {reply.text[:300]}",
                                    "status", reply.status, URL_FIELD)
        body = reply.body
        results = body.get("results") if isinstance(body, dict) else body
        if not isinstance(results, list):
            raise net.UpstreamError("custom backend /predict answered no 'results' list", "not_json",
                                    reply.status, URL_FIELD)
        top_version = body.get("model_version") if isinstance(body, dict) else None
        if len(results) == 1 and len(batch) > 1:  # a backend without batch support: one by one
            out = []
            for task in batch:
                single = self._predict_batch([task], version)
                out += single if single is not None else [protocol.empty_prediction(version)]
            return out
        if len(results) != len(batch):
            raise net.UpstreamError(f"custom backend returned {len(results)} results for {len(batch)} tasks",
                                    "status", reply.status, URL_FIELD)
        return [normalize_prediction(item, top_version or version) for item in results]

    def predict(self, tasks: list[dict]) -> tuple[list[dict], str]:
        """(one prediction per task in order, the version). An old backend's top-level
        `model_version` (it may answer /setup with 404) names the version of its predictions."""
        version = self.setup()
        results = []
        for start in range(0, len(tasks), BATCH_SIZE):
            batch = tasks[start:start + BATCH_SIZE]
            scored = self._predict_batch(batch, version)
            results += scored if scored is not None else [protocol.empty_prediction(version) for _ in batch]
        versions = {r["model_version"] for r in results if r["result"]}
        if version == protocol.UNTRAINED_VERSION and len(versions) == 1:
            version = versions.pop()
        return results, version

    # ------------------------------------------------------------ training
    def training_action(self) -> str | None:
        """The webhook action that makes this backend train, or None for legacy /train only.

        label-studio-ml 1.x reports `"v2"` in /health. False: it trains only through /train. True:
        it trains on webhooks, but its TRAIN_EVENTS predate START_TRAINING, so it gets
        PROJECT_UPDATED, as Label Studio 1.4.1-1.11 sent. Current backends get START_TRAINING."""
        try:
            reply = self._call("GET", "health", None, HEALTH_TIMEOUT)
        except net.UpstreamError:
            return "START_TRAINING"  # the training call itself reports the failure
        body = reply.body if isinstance(reply.body, dict) else {}
        if "v2" not in body:
            return "START_TRAINING"
        if str(body["v2"]).strip().lower() in ("false", "0", "", "none"):
            return None
        return "PROJECT_UPDATED"

    def train(self, tasks: list[dict]) -> dict:
        """Forward a training. `tasks`: Label Studio tasks with their accepted `annotations`."""
        action = self.training_action()
        if action:
            number = protocol.ls_project_number(self.project_key)
            reply = self._call("POST", "webhook", {
                "action": action,
                "project": {"id": int(number), "title": self.title, "label_config": self.label_config},
            }, TRAIN_TIMEOUT)
            if 200 <= reply.status < 300:
                return {"via": "webhook", "status": reply.status, "answer": reply.body}
            if reply.status not in (404, 405):
                raise net.UpstreamError(f"custom backend /webhook {action} answered HTTP {reply.status}: "
                                        f"{reply.text[:300]}", "status", reply.status, URL_FIELD)
        old_style = [{**{k: v for k, v in t.items() if k != "annotations"}, "completions": t.get("annotations", [])}
                     for t in tasks]
        reply = self._call("POST", "train", {
            "annotations": tasks, "completions": old_style, "project": self.project_key,
            "label_config": self.label_config, "params": {"login": None, "password": None},
        }, TRAIN_TIMEOUT)
        if not 200 <= reply.status < 300:
            raise net.UpstreamError(f"custom backend legacy /train answered HTTP {reply.status}: {reply.text[:300]}",
                                    "status", reply.status, URL_FIELD)
        return {"via": "train", "status": reply.status, "answer": reply.body}


def normalize_prediction(item, version: str) -> dict:
    """One backend prediction (a dict, or a list of them: the first is kept) -> ours."""
    if isinstance(item, list):
        item = item[0] if item else {}
    if not isinstance(item, dict) or not isinstance(item.get("result"), list):
        return protocol.empty_prediction(version)
    score = item.get("score")
    return {
        "result": item["result"],
        "score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else 0.0,
        "model_version": str(item.get("model_version") or version),
    }


_SEALED = "sealed:"
_SEAL_CONTEXT = "custom_backend.basic_auth_pass"


def seal_settings(ml: dict, old_ml: dict | None) -> dict:
    """ML settings to store: the custom backend's Basic-auth password AES-GCM encrypted. The mask
    (what GET shows) sent back means "keep the stored password"."""
    custom = ml.get("custom_backend")
    if not custom or not custom.get("basic_auth_pass"):
        return ml
    password = custom["basic_auth_pass"]
    if password == SECRET_MASK:
        stored = (old_ml or {}).get("custom_backend") or {}
        password = stored.get("basic_auth_pass")
        if not password:
            raise ValidationError("ml.custom_backend.basic_auth_pass", "no stored password to keep; send the password")
        for key in ("url", "basic_auth_user"):
            if str(custom.get(key) or "").rstrip("/") != str(stored.get(key) or "").rstrip("/"):
                # the stored password is only ever sent where it was first given
                raise ValidationError("ml.custom_backend.basic_auth_pass",
                                      f"{key} changed: send the password again (the stored one is kept only "
                                      "for the same url and user)")
    elif not password.startswith(_SEALED):
        password = _SEALED + crypto.encrypt(password, _SEAL_CONTEXT)
    return {**ml, "custom_backend": {**custom, "basic_auth_pass": password}}


def _password(custom: dict) -> str | None:
    password = custom.get("basic_auth_pass")
    if password and password.startswith(_SEALED):
        try:
            return crypto.decrypt(password[len(_SEALED):], _SEAL_CONTEXT)
        except ValueError:
            raise ValidationError("ml.custom_backend.basic_auth_pass", "cannot be decrypted; send it again")
    return password


def project_key(project) -> str:
    return f"{project.project_id}.{int(project.created_at.timestamp())}"


def backend_from_settings(custom: dict, key: str, label_config: str, title: str = "") -> CustomBackend:
    return CustomBackend(custom["url"], key, label_config, custom.get("basic_auth_user"), _password(custom), title)


def backend_for(project) -> CustomBackend:
    custom = project.settings.get("custom_backend")
    if not custom:
        raise ValidationError("ml.custom_backend", "required when model is 'custom'")
    return backend_from_settings(custom, project_key(project), project.label_config, project.title or "")


def labelstudio_tasks(project, tasks_with_completions) -> list[dict]:
    """[(task item, completions)] -> Label Studio tasks with `annotations` (what /train wants)."""
    out = []
    for task, completions in tasks_with_completions:
        body = task_to_labelstudio({"id": task.task_id, "data": task.data, "meta": task.meta or {}},
                                   [completion_record(c) for c in completions], [], naming="annotations")
        out.append(body)
    return out
