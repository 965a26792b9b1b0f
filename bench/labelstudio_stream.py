"""`ml.labelstudio_stream` through a real Label Studio 1.23.2 (issue 24): labels to reach 95% of the
full-pool model's test accuracy when Label Studio's own next-task endpoint serves the tasks, with the
switch on (uncertainty + activelabel's diversity clusters), on without the clusters, and off (Label
Studio's default order, sequential), in the same run with the same local stack.

Two simulated annotators (Label Studio's preset user and one who signs up through its form) label
as its UI does: `GET /api/projects/{id}/next`, then `POST /api/tasks/{id}/annotations`, answers from
the ground truth. Annotations reach activelabel by webhook; after every `--batch` labels "Start
training" (`POST /api/ml/{id}/train`) pulls the export (so an event lost to Label Studio's 1 s webhook
timeout is not lost) and, past the thresholds, trains (`retrain_every` = `--batch`); the active
version is then scored on the test split. With `--auto`, an extra arm turns auto-labelling on and
labels until Label Studio's stream has nothing left: the share of the pool people labelled and the
accuracy of Label Studio's export of the whole pool.

    .venv/bin/python bench/labelstudio_stream.py --datasets sms --seeds 1 --pool 600 --budget 200
    .venv/bin/python bench/labelstudio_stream.py --datasets sms,digits --seeds 1,2 --auto

Needs .venv-labelstudio (`make .venv-labelstudio/.installed`). Writes bench/results/labelstudio_stream.{md,json}.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.active_learning import DATASETS, full_pool_score, labels_to_reach, scores  # noqa: E402
from bench.product_stack import client_for, product_setup, settle  # noqa: E402
from e2e_labelstudio.run import (BASIC_PASS, BASIC_USER, LS_TOKEN, LabelStudio, free_port,  # noqa: E402
                                 start_labelstudio, stop_labelstudio)
from e2e_labelstudio.stream import Annotator, sign_up  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ARMS = ("stream", "stream-no-cluster", "default")


class Bench:
    def __init__(self, stack, ls: LabelStudio, b_token: str, args):
        self.stack, self.ls, self.b_token, self.args = stack, ls, b_token, args
        self.ours = requests.Session()
        self.ours.headers["Authorization"] = f"Token {stack.admin_token}"
        self.client = client_for(stack)

    def project(self, title: str, label_config: str, rows: list, task_data) -> tuple[int, int, str]:
        """A Label Studio project with the pool, connected to /ls/: (its id, the ML backend id, our project id)."""
        ls = self.ls
        pid = ls.call("POST", "/api/projects", json={"title": title, "label_config": label_config})["id"]
        for start in range(0, len(rows), 500):
            ls.call("POST", f"/api/projects/{pid}/import", json=[task_data(x) for x in rows[start:start + 500]])
        before = {p["id"] for p in self.ours.get(self.stack.url + "/api/projects").json()["projects"]}
        ml = ls.call("POST", "/api/ml", json={"url": self.stack.url + "/ls/", "project": pid, "title": "activelabel",
                                              "auth_method": "BASIC_AUTH", "basic_auth_user": BASIC_USER,
                                              "basic_auth_pass": BASIC_PASS})
        hook = [w for w in ls.call("GET", f"/api/webhooks/?project={pid}") if w["url"].rstrip("/").endswith("/ls/webhook")]
        basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
        ls.call("PATCH", f"/api/webhooks/{hook[0]['id']}/", json={"headers": {"Authorization": basic}})
        ours = [p["id"] for p in self.ours.get(self.stack.url + "/api/projects").json()["projects"]
                if p["id"] not in before]
        return pid, ml["id"], ours[0]

    def arm(self, dataset: str, seed: int, arm: str) -> dict:
        from chalicelib.services import labelstudio_stream

        args = self.args
        label_config, task_data, completion_result = product_setup(dataset)
        x_pool, y_pool, x_test, y_test = DATASETS[dataset][0](args.pool, args.test, seed)
        pid, ml_id, our_id = self.project(f"{dataset}-{arm}-{seed}", label_config, list(x_pool), task_data)
        ls_ids = sorted(t["id"] for t in self.ls.tasks(pid))
        truth = dict(zip(ls_ids, y_pool))
        api = f"{self.stack.url}/api/projects/{our_id}"
        settings = {"min_completions": args.batch, "retrain_every": args.batch, "promotion": "always",
                    "labelstudio_stream": arm != "default"}
        if arm == "auto":
            settings["auto_label"] = {"enabled": True, "target_accuracy": 0.95, "confidence": 0.9,
                                      "min_validation": args.min_validation, "audit_rate": 0.05}
        answer = self.ours.put(f"{api}/ml", json=settings)
        assert answer.status_code == 200, answer.text
        settle(self.stack, timeout=600)
        original = labelstudio_stream.predictions_pushed
        if arm == "stream-no-cluster":
            labelstudio_stream.predictions_pushed = lambda project, version, first, clusters: original(
                project, version, first, {})
        try:
            return self._label(pid, ml_id, api, our_id, truth, completion_result, task_data, x_test, y_test, arm)
        finally:
            labelstudio_stream.predictions_pushed = original

    def _label(self, pid, ml_id, api, our_id, truth, completion_result, task_data, x_test, y_test, arm) -> dict:
        args = self.args
        annotators = [Annotator(self.ls.url, LS_TOKEN, pid), Annotator(self.ls.url, self.b_token, pid)]
        budget = len(truth) if arm == "auto" else args.budget
        curve, seen, labels, started = [], None, 0, time.monotonic()
        while labels < budget:
            who = annotators[labels % 2]
            task = who.next()
            if task is None:
                break
            who.ls.call("POST", f"/api/tasks/{task['id']}/annotations",
                        json={"result": completion_result(truth[task["id"]]), "lead_time": 1.0})
            labels += 1
            if labels % args.batch == 0:
                self.ls.call("POST", f"/api/ml/{ml_id}/train", json={"use_ground_truth": False})
                settle(self.stack, timeout=900)
                version = self.ours.get(f"{api}/training").json()["model_version"]
                if version and version != seen:
                    seen = version
                    answer = self.client.predict(our_id, samples=[task_data(x) for x in x_test])
                    acc, f1 = scores(y_test, [r["result"][0]["value"]["choices"][0] for r in answer])
                    curve.append((labels, acc, f1))
                    print(f"    {arm}: {labels} labels, {version}, test accuracy {acc:.3f}", flush=True)
        out = {"curve": curve, "labels": labels, "seconds": round(time.monotonic() - started, 1)}
        if arm == "auto":
            out.update(self._export_quality(pid, truth))
        return out

    def _export_quality(self, pid, truth) -> dict:
        names = {p["id"]: p["model_version"] for p in self.ls.predictions(pid)}
        tasks = self.ls.call("GET", f"/api/projects/{pid}/export?exportType=JSON&download_all_tasks=true")
        by_people = labelled = right = 0
        for task in tasks:
            annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
            if not annotations:
                continue
            labelled += 1
            human = [a for a in annotations if not str(names.get(a.get("parent_prediction"), "")).startswith(
                "activelabel-auto-")]
            by_people += bool(human)
            final = (human or annotations)[-1]["result"][0]["value"]["choices"][0]
            right += final == truth[task["id"]]
        return {"pool": len(truth), "labelled_in_ls": labelled, "labelled_by_people": by_people,
                "people_share": round(by_people / len(truth), 3), "export_accuracy": round(right / max(1, labelled), 4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="sms,digits")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--pool", type=int, default=600)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--auto", action="store_true", help="also the auto-labelling arm (labels until nothing is left)")
    parser.add_argument("--min-validation", type=int, default=30)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    os.environ["ACTIVELABEL_LS_BASIC_AUTH"] = f"{BASIC_USER}:{BASIC_PASS}"
    from chalicelib.local.server import start_stack

    data_dir = tempfile.mkdtemp(prefix="activelabel-ls-bench-")
    stack = start_stack(port=0, schedule_every=None)
    port = free_port()
    proc = start_labelstudio(port, data_dir, Path(data_dir) / "label-studio.log")
    try:
        ls = LabelStudio(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if requests.get(ls.url + "/api/version", timeout=2, headers={"Authorization": f"Token {LS_TOKEN}"}).ok:
                    break
            except requests.RequestException:
                time.sleep(2)
        bench = Bench(stack, ls, sign_up(ls.url, "bench-b@example.com", "bench-b-password-1"), args)
        arms = args.arms.split(",") + (["auto"] if args.auto else [])
        runs = []
        for dataset in args.datasets.split(","):
            for seed in map(int, args.seeds.split(",")):
                full_acc, _ = full_pool_score(dataset, seed, args)
                for arm in arms:
                    print(f"{dataset} seed {seed} {arm} (full-pool accuracy {full_acc:.3f})", flush=True)
                    run = bench.arm(dataset, seed, arm)
                    run.update(dataset=dataset, seed=seed, arm=arm, full_accuracy=round(full_acc, 4),
                               labels_to_95=labels_to_reach(run["curve"], 0.95 * full_acc))
                    runs.append(run)
                    write(runs, args)  # after every arm: a run stopped early keeps what it measured
                    print(f"  -> labels to 95%: {run['labels_to_95']} "
                          f"{ {k: run[k] for k in ('people_share', 'export_accuracy') if k in run} }", flush=True)
        write(runs, args)
        return 0
    finally:
        stop_labelstudio(proc, stack, data_dir)


def write(runs: list, args) -> None:
    name = f"labelstudio_stream{'-' + args.tag if args.tag else ''}"
    (RESULTS / f"{name}.json").write_text(json.dumps({"args": vars(args), "runs": runs}, indent=1))
    lines = ["| dataset | seed | arm | labels to 95% of full-pool accuracy | vs default | final accuracy | "
             "people share | export accuracy | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    default = {(r["dataset"], r["seed"]): r["labels_to_95"] for r in runs if r["arm"] == "default"}
    for r in runs:
        base = default.get((r["dataset"], r["seed"]))
        ratio = round(r["labels_to_95"] / base, 2) if r["labels_to_95"] and base else None
        shown = r["labels_to_95"] if r["labels_to_95"] is not None else f">{r['labels']}"
        final = r["curve"][-1][1] if r["curve"] else None
        lines.append(f"| {r['dataset']} | {r['seed']} | {r['arm']} | {shown} | {ratio} | "
                     f"{final and round(final, 3)} | {r.get('people_share', '')} | {r.get('export_accuracy', '')} | "
                     f"{r['seconds']} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
