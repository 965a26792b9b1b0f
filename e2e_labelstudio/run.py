"""`make e2e-labelstudio`: a real Label Studio (pip `label-studio`, in .venv-labelstudio/) uses
activelabel's local stack as its ML backend, over HTTP on loopback.

1. start our local stack (moto + API + event pump) with a deployment Basic credential;
2. start Label Studio with a preset user and legacy token, START_TRAINING webhooks on, local
   addresses allowed (both only listen on 127.0.0.1);
3. create a Label Studio project (SMS spam, Text + Choices) with 20 tasks, connect our `/ls/` URL
   (POST /api/ml), check the state is Connected, give the auto-created webhook our Basic credential;
   the linked activelabel project gets `ml.preannotate` off (so v1's predictions never reach Label
   Studio before the rollback below) and `ml.promotion: always` (a dozen labels are too few for
   the champion / challenger gate to say anything);
4. "Retrieve predictions" (Data Manager action) -> every task holds a prediction from us;
5. annotate 12 tasks through Label Studio's API -> they arrive as completions (webhook) and, past
   min_completions (10), v1 trains; `ml.preannotate` back on; "Start training" (START_TRAINING)
   pulls the export (every task) and v2 trains;
6. v2's pre-annotation job pushes through Label Studio's predictions import API: every unlabeled
   task holds one v2 prediction, and Label Studio called `/ls/predict` no more after step 4
   (counted at our route);
7. rollback to v1 (`PUT /api/projects/{id}/model-versions/v1/active`): its pre-annotation pass
   brings v1's predictions into Label Studio, again without `/ls/predict`;
8. idempotent by model version: a second v1 pass, then a redelivery of the rollback pass's messages
   after their push markers are removed (a crash between the push and its record), add no v1
   prediction Label Studio already holds.
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


def stop_labelstudio(proc: subprocess.Popen, stack, data_dir: str, keep: bool = False) -> None:
    """Stop Label Studio (its process group, by PID) and the local stack; remove Label Studio's data."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    stack.stop()
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)


def count_calls(app, path: str, method: str) -> list:
    """Wrap the route's view so that each call our server answers is counted (returns the list it
    appends to)."""
    calls = []
    entry = app.routes[path][method]
    view = entry.view_function

    def counted(*args, **kwargs):
        calls.append(time.monotonic())
        return view(*args, **kwargs)

    entry.view_function = counted
    return calls


def seconds(job: dict) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(job["finished"]) - datetime.fromisoformat(job["started"])).total_seconds()


def by_task(predictions: list[dict], version: str) -> dict[int, int]:
    """{Label Studio task id: how many predictions of `version` it holds}."""
    counts = {}
    for p in predictions:
        if p["model_version"] == version:
            counts[p["task"]] = counts.get(p["task"], 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep Label Studio's data dir")
    args = parser.parse_args()

    os.environ["ACTIVELABEL_LS_BASIC_AUTH"] = f"{BASIC_USER}:{BASIC_PASS}"
    from chalicelib.local.server import start_stack

    data_dir = tempfile.mkdtemp(prefix="activelabel-ls-e2e-")
    log_path = Path(data_dir) / "label-studio.log"
    stack = start_stack(port=0, schedule_every=None, record_deliveries=True)
    predict_calls = count_calls(stack.app, "/ls/predict", "POST")
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
        api = f"{stack.url}/api/projects/{our_id}"
        answer = ours.put(f"{api}/ml", json={"preannotate": False, "promotion": "always"})
        check(answer.status_code == 200, f"   activelabel project {our_id}: ml.preannotate off, ml.promotion always")
        webhooks = ls.call("GET", f"/api/webhooks/?project={pid}")
        hook = [w for w in webhooks if w["url"].rstrip("/").endswith("/ls/webhook")]
        check(len(hook) == 1, f"   Label Studio auto-created the webhook {hook[0]['url'] if hook else None}")
        basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
        ls.call("PATCH", f"/api/webhooks/{hook[0]['id']}/", json={"headers": {"Authorization": basic}})
        print("   webhook given our Basic credential (Settings > Webhooks > headers)", flush=True)

        t = time.monotonic()
        ls.call("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
                json={"selectedItems": {"all": True, "excluded": []}})
        took = time.monotonic() - t
        preds = ls.predictions(pid)
        per_task = {p["task"] for p in preds}
        check(per_task == {t["id"] for t in tasks},
              f"4. Retrieve predictions ({took:.2f} s): {len(preds)} predictions on {len(per_task)}/{N_TASKS} tasks, "
              f"model_version {sorted({p['model_version'] for p in preds})}; /ls/predict called {len(predict_calls)} "
              f"times")
        predict_before = len(predict_calls)

        t = time.monotonic()
        for task, row in zip(tasks[:N_ANNOTATED], pool[:N_ANNOTATED]):
            ls.call("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": [
                {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [row["label"]]}}],
                "was_cancelled": False})
        print(f"5. {N_ANNOTATED} annotations made through Label Studio's API in {time.monotonic() - t:.1f} s", flush=True)

        def training(cond):
            body = ours.get(f"{api}/training").json()
            return body if body["state"] == "idle" and cond(body) else None

        state = wait_for(lambda: training(lambda b: b["model_version"] and b["accepted_tasks"] == N_ANNOTATED),
                         120, "a model trained from the annotations")
        check(state["completions"] == N_ANNOTATED,
              f"   arrived as {state['completions']} completions ({state['accepted_tasks']} accepted) through the "
              f"webhook; model {state['model_version']} trained (min_completions {state['min_completions']})")
        first_version, seq = state["model_version"], state["request_seq"]
        check(ours.put(f"{api}/ml", json={"preannotate": True}).status_code == 200, "   ml.preannotate on")
        t = time.monotonic()
        ls.call("POST", f"/api/ml/{ml['id']}/train", json={"use_ground_truth": False})
        state = wait_for(lambda: training(lambda b: b["request_seq"] > seq and b["trained_seq"] >= b["request_seq"]),
                         120, "START_TRAINING queued and finished a training")
        current = state["model_version"]
        check(current != first_version and not state["last_error"],
              f"   Start training (START_TRAINING webhook, export pulled with the /setup token): "
              f"model {current} after {time.monotonic() - t:.1f} s")

        def job_done(find):
            for job in ours.get(f"{api}/jobs").json()["jobs"]:
                if find(job) and job["state"] != "running":
                    return job
            return None

        unlabeled = {t["id"] for t in tasks[N_ANNOTATED:]}
        job = wait_for(lambda: job_done(lambda j: "preannotation" in j["kind"] and j["model_version"] == current),
                       120, f"{current}'s pre-annotation job finished")
        check(job["state"] == "succeeded" and not job["error"], f"6. {current}'s pre-annotation job {job['id']}: {job['state']}, "
                                           f"{job['done']}/{job['total']} task ids, {job['predictions_stored']} "
                                           f"predictions stored, {job.get('predictions_pushed_to_labelstudio')} "
                                           f"pushed to Label Studio in {seconds(job):.2f} s")
        preds = ls.predictions(pid)
        held = by_task(preds, current)
        check(set(held) == unlabeled and set(held.values()) == {1},
              f"   every unlabeled Label Studio task ({len(held)}/{len(unlabeled)}) holds one {current} "
              f"prediction; the {N_ANNOTATED} annotated tasks hold {sum(by_task(preds, current).get(t['id'], 0) for t in tasks[:N_ANNOTATED])} "
              f"(pre-annotation predicts tasks without a human completion)")
        check(len(predict_calls) == predict_before,
              f"   Label Studio called /ls/predict {len(predict_calls) - predict_before} times since step 4")
        fresh = sorted((p for p in preds if p["model_version"] == current), key=lambda p: p["task"])
        labels = {p["task"]: p["result"][0]["value"]["choices"][0] for p in fresh}
        truth = {t["id"]: r["label"] for t, r in zip(tasks, pool)}
        correct = sum(labels[i] == truth[i] for i in unlabeled)
        print(f"   on the {len(unlabeled)} unannotated tasks: {correct} {current} predictions match the ground truth",
              flush=True)

        check(not by_task(preds, first_version), f"   Label Studio holds no {first_version} prediction yet "
                                                 f"(ml.preannotate was off when {first_version} trained)")
        t = time.monotonic()
        answer = ours.put(f"{api}/model-versions/{first_version}/active")
        check(answer.status_code == 200 and answer.json()["preannotation_job"],
              f"7. rollback to {first_version}: {answer.json()}")
        rollback_job = answer.json()["preannotation_job"]
        job = wait_for(lambda: job_done(lambda j: j["id"] == rollback_job), 120, f"{rollback_job} finished")
        preds = ls.predictions(pid)
        held = by_task(preds, first_version)
        check(job["state"] == "succeeded" and not job["error"] and set(held) == unlabeled
              and set(held.values()) == {1},
              f"   {rollback_job}: {job['state']}, {job['predictions_stored']} stored, "
              f"{job.get('predictions_pushed_to_labelstudio')} pushed; every unlabeled task holds one "
              f"{first_version} prediction {time.monotonic() - t:.2f} s after the PUT")
        check(len(predict_calls) == predict_before,
              f"   Label Studio called /ls/predict {len(predict_calls) - predict_before} times since step 4")
        setup = ls.call("GET", f"/api/ml/{ml['id']}")
        print(f"   Label Studio's ML backend record: model_version {setup.get('model_version')!r}", flush=True)

        total = len(preds)
        answer = ours.post(f"{api}/predictions")
        second = answer.json()["id"]
        job = wait_for(lambda: job_done(lambda j: j["id"] == second), 120, f"{second} finished")
        preds = ls.predictions(pid)
        check(job["state"] == "succeeded" and len(preds) == total and set(by_task(preds, first_version).values()) == {1},
              f"8. a second {first_version} pass ({second}): {job['predictions_stored']} stored, "
              f"{job.get('predictions_pushed_to_labelstudio') or 0} pushed; Label Studio still holds {len(preds)} "
              f"predictions, one {first_version} per unlabeled task")
        check(not job["error"], f"   the pass recorded no error (error {job['error']!r})")
        from chalicelib.labelstudio import lsapi

        every = sorted(t["id"] for t in tasks)
        holding = {version: lsapi.tasks_holding(ls.url, LS_TOKEN, str(pid), every, version)
                   for version in (first_version, current, "v")}
        check(holding == {first_version: unlabeled, current: unlabeled, "v": set()},
              f"   the push's check read from Label Studio's task list: {first_version} on "
              f"{len(holding[first_version])} tasks, {current} on {len(holding[current])}, \"v\" (a substring of "
              f"both) on {len(holding['v'])}")
        from chalicelib.store.models import LedgerModel

        markers = [m for m in LedgerModel.query(f"p#{our_id}", LedgerModel.sk.startswith(f"lspush#{rollback_job}#"))]
        for marker in markers:
            marker.delete()
        batches = [b for b in stack.pump.delivered_sqs_batches
                   if "rescore" in b["Records"][0]["eventSourceARN"] and rollback_job in b["Records"][0]["body"]]
        for batch in batches:
            stack.pump.invoke("rescore_worker", batch)
        preds = ls.predictions(pid)
        check(len(preds) == total and set(by_task(preds, first_version).values()) == {1},
              f"   {len(markers)} push markers removed and {len(batches)} message batches of {rollback_job} "
              f"redelivered: Label Studio still holds {len(preds)} predictions, one {first_version} per unlabeled task")
        check(len(predict_calls) == predict_before,
              f"   Label Studio called /ls/predict {len(predict_calls) - predict_before} times since step 4")
        print("PASS", flush=True)
        return 0
    finally:
        stop_labelstudio(proc, stack, data_dir, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
