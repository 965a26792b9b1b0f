"""`make e2e-labelstudio`: a real Label Studio (pip `label-studio`, in .venv-labelstudio/) uses
activelabel's local stack as its ML backend, over HTTP on loopback.

1. start our local stack (moto + API + event pump) with a deployment Basic credential;
2. start Label Studio with a preset user and legacy token, START_TRAINING webhooks on, local
   addresses allowed (both only listen on 127.0.0.1);
3. create a Label Studio project (SMS spam, Text + Choices) with 20 tasks, connect our `/ls/` URL
   (POST /api/ml), check the state is Connected, give the auto-created webhook our Basic credential;
4. "Retrieve predictions" (Data Manager action) -> every task holds a prediction from us;
5. annotate 12 tasks through Label Studio's API -> they arrive as completions (webhook) and, past
   min_completions (10), a model trains; "Start training" (START_TRAINING) pulls the export too;
6. retrieve predictions again -> every task holds a prediction with the new model_version.
Prints each step with what it measured; exits non-zero on the first failed check.
"""
import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split  # noqa: E402

LS_USER, LS_PASSWORD, LS_TOKEN = "e2e@example.com", "e2e-password-1", "e2e0token0000000000000000000000000000001"
BASIC_USER, BASIC_PASS = "labelstudio", "e2e-basic-pass"
N_TASKS, N_ANNOTATED = 20, 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(ok: bool, what: str) -> None:
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        raise SystemExit(1)


def wait_for(predicate, timeout: float, what: str, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    check(False, f"{what} (waited {timeout:.0f} s)")


class LabelStudio:
    def __init__(self, url: str):
        self.url = url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Token {LS_TOKEN}"

    def call(self, method, path, **kw):
        r = self.s.request(method, self.url + path, timeout=120, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.text else None

    def tasks(self, project):
        body = self.call("GET", f"/api/tasks?project={project}&page_size=1000&fields=all")
        return body["tasks"] if isinstance(body, dict) else body

    def predictions(self, project):
        return self.call("GET", f"/api/predictions?project={project}")


def start_labelstudio(port: int, data_dir: str, log_path: Path) -> subprocess.Popen:
    env = {**os.environ,
           "LABEL_STUDIO_USERNAME": LS_USER, "LABEL_STUDIO_PASSWORD": LS_PASSWORD,
           "LABEL_STUDIO_USER_TOKEN": LS_TOKEN, "LABEL_STUDIO_BASE_DATA_DIR": data_dir,
           "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",
           "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "",
           "FRONTEND_SENTRY_DSN": "", "LABEL_STUDIO_HOST": f"http://127.0.0.1:{port}",
           "ff_back_dev_1417_start_training_mlbackend_webhooks_250122_long": "true"}
    for key in [k for k in env if k.startswith(("AWS_", "ACTIVELABEL_"))]:
        env.pop(key)
    binary = ROOT / ".venv-labelstudio" / "bin" / "label-studio"
    log = open(log_path, "w")
    return subprocess.Popen([str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
                             "--data-dir", data_dir, "--username", LS_USER, "--password", LS_PASSWORD,
                             "--user-token", LS_TOKEN, "--enable-legacy-api-token"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep Label Studio's data dir")
    args = parser.parse_args()

    os.environ["ACTIVELABEL_LS_BASIC_AUTH"] = f"{BASIC_USER}:{BASIC_PASS}"
    from chalicelib.local.server import start_stack

    data_dir = tempfile.mkdtemp(prefix="activelabel-ls-e2e-")
    log_path = Path(data_dir) / "label-studio.log"
    stack = start_stack(port=0, schedule_every=None)
    ls_port = free_port()
    proc = start_labelstudio(ls_port, data_dir, log_path)
    ours = requests.Session()
    ours.headers["Authorization"] = f"Token {stack.admin_token}"
    try:
        print(f"activelabel local stack on {stack.url}; Label Studio starting on 127.0.0.1:{ls_port} "
              f"(log: {log_path})", flush=True)
        ls = LabelStudio(f"http://127.0.0.1:{ls_port}")
        t0 = time.monotonic()

        def ls_up():
            if proc.poll() is not None:
                check(False, f"Label Studio exited with {proc.returncode}; see {log_path}")
            try:
                return requests.get(ls.url + "/api/version", timeout=2,
                                    headers={"Authorization": f"Token {LS_TOKEN}"}).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ls_up, 400, "Label Studio answers /api/version", every=2)
        version = ls.call("GET", "/api/version")
        print(f"1. Label Studio {version.get('release') or version.get('label-studio-os-package', {}).get('version')} "
              f"up after {time.monotonic() - t0:.0f} s", flush=True)

        pool, _ = sms_split(N_TASKS, 0, seed=21)
        project = ls.call("POST", "/api/projects", json={"title": "activelabel e2e", "label_config": SMS_LABEL_CONFIG})
        pid = project["id"]
        ls.call("POST", f"/api/projects/{pid}/import", json=[{"text": r["text"]} for r in pool])
        tasks = sorted(ls.tasks(pid), key=lambda t: t["id"])
        check(len(tasks) == N_TASKS, f"2. Label Studio project {pid} with {len(tasks)} tasks")

        ml = ls.call("POST", "/api/ml", json={
            "url": stack.url + "/ls/", "project": pid, "title": "activelabel", "is_interactive": False,
            "auth_method": "BASIC_AUTH", "basic_auth_user": BASIC_USER, "basic_auth_pass": BASIC_PASS})
        state = ls.call("GET", f"/api/ml/{ml['id']}")
        check(state["state"] == "CO", f"3. ML backend {stack.url}/ls/ connected: state {state['state']}, "
                                      f"model_version {state.get('model_version')!r}")
        linked = ours.get(stack.url + "/api/projects").json()["projects"]
        check(len(linked) == 1 and linked[0]["label_config"] == SMS_LABEL_CONFIG,
              f"   /setup linked it to activelabel project {linked[0]['id']} (created from the schema)")
        our_id = linked[0]["id"]
        webhooks = ls.call("GET", f"/api/webhooks/?project={pid}")
        hook = [w for w in webhooks if w["url"].rstrip("/").endswith("/ls/webhook")]
        check(len(hook) == 1, f"   Label Studio auto-created the webhook {hook[0]['url'] if hook else None}")
        basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
        ls.call("PATCH", f"/api/webhooks/{hook[0]['id']}/", json={"headers": {"Authorization": basic}})
        print("   webhook given our Basic credential (Settings > Webhooks > headers)", flush=True)

        def retrieve():
            t = time.monotonic()
            ls.call("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
                    json={"selectedItems": {"all": True, "excluded": []}})
            return time.monotonic() - t

        took = retrieve()
        preds = ls.predictions(pid)
        per_task = {p["task"] for p in preds}
        check(per_task == {t["id"] for t in tasks},
              f"4. Retrieve predictions ({took:.2f} s): {len(preds)} predictions on {len(per_task)}/{N_TASKS} tasks, "
              f"model_version {sorted({p['model_version'] for p in preds})}")

        t = time.monotonic()
        for task, row in zip(tasks[:N_ANNOTATED], pool[:N_ANNOTATED]):
            ls.call("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": [
                {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [row["label"]]}}],
                "was_cancelled": False})
        print(f"5. {N_ANNOTATED} annotations made through Label Studio's API in {time.monotonic() - t:.1f} s", flush=True)

        def training(cond):
            body = ours.get(f"{stack.url}/api/projects/{our_id}/training").json()
            return body if body["state"] == "idle" and cond(body) else None

        state = wait_for(lambda: training(lambda b: b["model_version"] and b["accepted_tasks"] == N_ANNOTATED),
                         120, "a model trained from the annotations")
        check(state["completions"] == N_ANNOTATED,
              f"   arrived as {state['completions']} completions ({state['accepted_tasks']} accepted) through the "
              f"webhook; model {state['model_version']} trained (min_completions {state['min_completions']})")
        first_version, seq = state["model_version"], state["request_seq"]
        t = time.monotonic()
        ls.call("POST", f"/api/ml/{ml['id']}/train", json={"use_ground_truth": False})
        state = wait_for(lambda: training(lambda b: b["request_seq"] > seq and b["trained_seq"] >= b["request_seq"]),
                         120, "START_TRAINING queued and finished a training")
        check(state["model_version"] != first_version and not state["last_error"],
              f"   Start training (START_TRAINING webhook, export pulled with the /setup token): "
              f"model {state['model_version']} after {time.monotonic() - t:.1f} s")

        took = retrieve()
        preds = ls.predictions(pid)
        current = state["model_version"]
        setup_version = ls.call("GET", f"/api/ml/{ml['id']}")
        fresh = [p for p in preds if p["model_version"] == current]
        check({p["task"] for p in fresh} == {t["id"] for t in tasks} and all(p["result"] for p in fresh),
              f"6. Retrieve predictions again ({took:.2f} s): {len(fresh)} tasks hold a {current} prediction "
              f"(first model {first_version}; backend model_version {setup_version.get('model_version')!r})")
        labels = [p["result"][0]["value"]["choices"][0] for p in sorted(fresh, key=lambda p: p["task"])]
        truth = [r["label"] for r in pool]
        held_out = list(range(N_ANNOTATED, N_TASKS))
        correct = sum(labels[i] == truth[i] for i in held_out)
        print(f"   on the {len(held_out)} unannotated tasks: {correct} predictions match the ground truth", flush=True)
        print("PASS", flush=True)
        return 0
    finally:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        stack.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
