"""Auto-labelling through the product: human labels spent until a whole pool is labelled, and how
right the auto labels are (issue 15, "What it must show").

The product loop on the local stack (bench/product_stack.py), per data set and seed: a project with
`ml.auto_label` on (target_accuracy 0.95, confidence 0.95, the other auto-label settings at their
defaults: min_validation 100, audit_rate 0.05, train_on_auto false), the whole pool imported in a
seeded order, then a simulated annotator takes `GET /next` and answers from the ground truth until
/next has nothing left to serve; the stream trains and the rescoring pass auto-labels on its own.
Retraining cadence: the first training at STEP accepted tasks (`min_completions` =
`first_batch_size`) and then every STEP more (`retrain_every`), STEP = 5% of the pool (at least
20): batches that are large next to active learning's 10, so that a 5,574-text pool costs about 20
trainings, not 500. Pre-annotation is off (it is not what is measured; rescoring still runs after
every promotion because auto-labelling is set). Everything else is the product's default
(sampling `auto`, promotion `if_not_worse`).

After every new active version (the pump settled: trained, promoted, rescored) the export is read:
the auto labels that version stands by are scored against the ground truth: one (seed, version)
pair. At the end: human labels spent (completions posted; the audited share of auto labels is
served to people and counts), tasks auto-labelled (coverage), the accuracy of the auto labels, the
accuracy of the whole pool's labels (human labels are the ground truth), and tasks left unlabelled.

    .venv/bin/python bench/auto_label.py --datasets sms --seeds 10       # SMS, seeds 0-9
    .venv/bin/python bench/auto_label.py --datasets digits --first-seed 3 --seeds 2
    .venv/bin/python bench/auto_label.py --report                        # re-render from the JSONs

Each seed is written as it finishes to bench/results/auto_label-<data set>.json (a later run adds
seeds to it; a seed already there is skipped unless --fresh), and the summary table and PNG
(bench/results/auto_label.md, .json, .png) are re-rendered from every such file.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.product_stack import (  # noqa: E402 - after the path insert
    annotate_next, breast_cancer_data, client_for, digits_data, import_pool, local_stack, product_setup, settle,
    sms_data)

RESULTS = ROOT / "bench" / "results"
TARGET = 0.95
CONFIDENCE = 0.95
DATASETS = {
    # the whole SMS Spam Collection: 5,574 rows, the 403 repeated texts included
    "sms": lambda seed: sms_data(10 ** 6, 0, seed, distinct=False),
    "digits": lambda seed: digits_data(10 ** 6, 0, seed),
    "breast_cancer": lambda seed: breast_cancer_data(10 ** 6, 0, seed),
}
ORDER = ("sms", "digits", "breast_cancer")


def step_of(n_pool: int, share: float, minimum: int) -> int:
    return max(minimum, round(share * n_pool))


def _choice(item) -> str | None:
    try:
        return item["result"][0]["value"]["choices"][0]
    except (KeyError, IndexError, TypeError):
        return None


def with_retries(call, attempts: int = 4):
    """`call()`, again after a pause when the local stack answers 5xx or times out: on a loaded
    machine moto can take longer than the SDK's 30 s read timeout on a large Query."""
    import requests

    from activelabel_client.client import ApiError

    for attempt in range(attempts):
        try:
            return call()
        except (ApiError, requests.RequestException) as exc:
            if attempt == attempts - 1 or (isinstance(exc, ApiError) and exc.status < 500):
                raise
            print(f"  retrying after {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            time.sleep(10 * (attempt + 1))


def snapshot(client, project_id: str, truth: dict[int, str]) -> dict:
    """The pool as it stands (`GET /tasks`, page by page): human-labelled, auto-labelled (and how
    many right), neither."""
    def read():
        human = auto = auto_right = 0
        by_version: dict[str, list[int]] = {}
        for task in client.iter_tasks(project_id, page_size=250):
            task_id = int(task["id"])
            if task.get("total_annotations"):
                human += 1
                continue
            label = next((p for p in task.get("predictions") or [] if p.get("auto")), None)
            if label is None:
                continue
            auto += 1
            right = _choice(label) == truth[task_id]
            auto_right += right
            counts = by_version.setdefault(label.get("model_version") or "?", [0, 0])
            counts[0] += 1
            counts[1] += right
        return {"human_tasks": human, "auto": auto, "auto_right": auto_right,
                "left": len(truth) - human - auto, "auto_by_version": by_version}

    return with_retries(read)


def run_seed(dataset: str, seed: int, stack, args) -> dict:
    label_config, task_data, completion_result = product_setup(dataset)
    rows, labels, _, _ = DATASETS[dataset](seed)
    n = len(labels)
    step = step_of(n, args.step_share, args.min_step)
    client = client_for(stack)
    project = client.create_project(f"auto-{dataset}-{seed}", label_config, ml={
        "min_completions": step, "first_batch_size": step, "retrain_every": step, "preannotate": False,
        "auto_label": {"enabled": True, "target_accuracy": TARGET, "confidence": CONFIDENCE}})
    pid = project["id"]
    started = time.perf_counter()
    truth = import_pool(client, pid, rows, labels, task_data)
    spent = 0
    versions: list[dict] = []
    seen = None

    def observe():
        nonlocal seen
        state = with_retries(lambda: client.training(pid))
        version = state.get("model_version")
        if not version or version == seen:
            return
        seen = version
        now = snapshot(client, pid, truth)
        auto_state = state.get("auto_label") or {}
        calibration = auto_state.get("calibration") or {}
        mine = now["auto_by_version"].get(version, [0, 0])
        versions.append({
            "version": version, "human_labels": spent, "auto": now["auto"], "auto_right": now["auto_right"],
            "auto_accuracy": now["auto_right"] / now["auto"] if now["auto"] else None,
            "by_this_version": mine[0], "by_this_version_right": mine[1],
            "version_accuracy": mine[1] / mine[0] if mine[0] else None,
            "active": bool(auto_state.get("active")), "reason": auto_state.get("reason"),
            "threshold": calibration.get("threshold"), "lower_bound": calibration.get("lower_bound"),
            "validation_size": calibration.get("validation_size"),
            "expected_coverage": calibration.get("expected_coverage"),
            "audit": auto_state.get("audit"), "elapsed_s": round(time.perf_counter() - started, 1)})
        v = versions[-1]
        print(f"  {dataset} seed {seed} {version}: {spent} human, {v['auto']} auto "
              f"(accuracy {v['auto_accuracy']}), threshold {v['threshold']}, validation {v['validation_size']}, "
              f"{v['elapsed_s']} s", flush=True)

    while spent < n:
        served = annotate_next(client, pid, truth.__getitem__, completion_result)
        if served is None:
            settle(stack)  # a training or rescoring under way may put tasks back in the pool
            observe()
            served = annotate_next(client, pid, truth.__getitem__, completion_result)
            if served is None:
                break
        spent += 1
        if spent >= step and (spent - step) % step == 0:
            settle(stack)  # the stream, the training, the rescoring fan-out
            observe()
    settle(stack)
    observe()
    final = snapshot(client, pid, truth)
    state = client.training(pid)
    client.delete_project(pid)
    auto, right = final["auto"], final["auto_right"]
    return {
        "dataset": dataset, "seed": seed, "pool": n, "step": step, "human_labels": spent,
        "human_tasks": final["human_tasks"], "human_share": spent / n,
        "auto": auto, "coverage": auto / n, "auto_accuracy": right / auto if auto else None,
        "left": final["left"], "overall_accuracy": (final["human_tasks"] + right) / n,
        "budget_ran_out": final["left"] > 0, "final_version": state.get("model_version"),
        "audit": (state.get("auto_label") or {}).get("audit"), "versions": versions,
        "wall_s": round(time.perf_counter() - started, 1)}


# ---------------------------------------------------------------- suspects (--suspects)

SUSPECT_SPLITS = {  # (pool, held-out test) per data set: the test split measures the model before/after
    "sms": lambda seed: sms_data(5171 - 1000, 1000, seed),  # distinct texts: no test text in the pool
    "digits": lambda seed: digits_data(1297, 500, seed),
    "breast_cancer": lambda seed: breast_cancer_data(400, 169, seed),
}
FLIP_RATE = 0.10
CLEANLAB_PYTHON = ROOT / ".venv-cleanlab" / "bin" / "python"


def flip_labels(labels: list[str], rate: float, seed: int) -> tuple[list[str], set[int]]:
    """A simulated annotator who gets `rate` of the labels wrong at random: that many positions,
    each given another class drawn uniformly. Returns (the labels given, the flipped positions)."""
    rng = random.Random(1_000_003 * (seed + 1))
    classes = sorted(set(labels))
    flipped = set(rng.sample(range(len(labels)), round(rate * len(labels))))
    given = [rng.choice([c for c in classes if c != label]) if i in flipped else label
             for i, label in enumerate(labels)]
    return given, flipped


def precision_recall(flagged: set, truth: set) -> dict:
    hit = len(flagged & truth)
    return {"flagged": len(flagged), "right": hit,
            "precision": hit / len(flagged) if flagged else None, "recall": hit / len(truth) if truth else None}


def cleanlab_issues(document: dict) -> dict:
    """cleanlab's find_label_issues on the product's stored out-of-fold probabilities, in a
    subprocess of .venv-cleanlab (AGPL: never imported here): {filter_by: [task ids]}."""
    import subprocess
    import tempfile

    if not CLEANLAB_PYTHON.exists():
        return {"error": f"{CLEANLAB_PYTHON} missing: make cleanlab-venv"}
    column = {c: j for j, c in enumerate(document["classes"])}
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.json", Path(tmp) / "out.json"
        source.write_text(json.dumps({"labels": [column[label] for label in document["labels"]],
                                      "pred_probs": document["probabilities"]}))
        subprocess.run([str(CLEANLAB_PYTHON), str(ROOT / "bench" / "cleanlab_issues.py"), str(source), str(target)],
                       check=True, timeout=1800)
        answer = json.loads(target.read_text())
    ids = document["task_ids"]
    return {"cleanlab_version": answer["cleanlab_version"],
            **{f: [ids[i] for i in indices] for f, indices in answer["issues"].items()}}


def held_out_accuracy(client, project_id: str, x_test, y_test, task_data) -> float:
    answer = client.predict(project_id, samples=[task_data(x) for x in x_test])
    return sum(_choice(r) == y for r, y in zip(answer, y_test)) / len(y_test)


def all_suspects(client, project_id: str) -> list[dict]:
    out, cursor = [], None
    while True:
        page = client.request("GET", f"/api/projects/{project_id}/suspects", params={"limit": 500, "cursor": cursor})
        out += page["suspects"]
        cursor = page.get("next")
        if not cursor:
            return out


def out_of_fold_document(client, stack, project_id: str) -> tuple[dict, dict]:
    """(the suspects job, the out-of-fold probabilities it stored in the model bucket)."""
    import boto3

    job = next(j for j in sorted(client.jobs(project_id), key=lambda j: j["started"] or "", reverse=True)
               if j["kind"] == "suspects")
    where = (job.get("detail") or {}).get("out_of_fold") or {}
    if not where:
        raise RuntimeError(f"the suspects job stored no out-of-fold probabilities: {job}")
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    return job, json.loads(s3.get_object(Bucket=where["bucket"], Key=where["key"])["Body"].read())


def run_suspects_seed(dataset: str, seed: int, stack, args) -> dict:
    """Pool labelled by an annotator who flips FLIP_RATE of the labels (imported as Label Studio
    annotations: the product path a labelled import takes), one training, its suspects job; then
    the flags against the flipped set, cleanlab on the same out-of-fold probabilities, and the
    held-out accuracy before and after people relabel what `GET /next` serves from the rework queue."""
    label_config, task_data, completion_result = product_setup(dataset)
    x_pool, y_pool, x_test, y_test = SUSPECT_SPLITS[dataset](seed)
    given, flipped_at = flip_labels(y_pool, FLIP_RATE, seed)
    n = len(y_pool)
    client = client_for(stack)
    project = client.create_project(f"suspects-{dataset}-{seed}", label_config, ml={
        "min_completions": n, "first_batch_size": n, "retrain_every": n, "preannotate": False,
        "promotion": "always", "suspects": True})
    pid = project["id"]
    started = time.perf_counter()
    ids = client.import_tasks(pid, [{"data": task_data(x), "annotations": [
        {"result": completion_result(label), "completed_by": "noisy"}]} for x, label in zip(x_pool, given)],
        progress=False)
    ids = [int(i) for i in ids]
    truth = dict(zip(ids, y_pool))
    flipped = {ids[i] for i in flipped_at}
    settle(stack)
    before = held_out_accuracy(client, pid, x_test, y_test, task_data)
    job, document = out_of_fold_document(client, stack, pid)
    listed = all_suspects(client, pid)
    product_flags = {int(s["task_id"]) for s in listed}
    cleanlab = cleanlab_issues(document)
    # relabelling: annotators who have not labelled the task take GET /next while it serves
    # suspects (the rework queue comes first; a disagreement asks for another person, so a
    # flagged task may come back to the next annotator); each answers from the ground truth
    relabels, per_checker, stopped = 0, [], []
    for checker in range(1, 6):
        mine = 0
        while relabels < 4 * n:
            task = client.next_task(pid, f"checker-{checker}")
            if task is None or int(task["id"]) not in product_flags:
                stopped.append(None if task is None else int(task["id"]))
                break
            client.add_completion(pid, task["id"], completion_result(truth[int(task["id"])]),
                                  completed_by=f"checker-{checker}")
            relabels += 1
            mine += 1
        per_checker.append(mine)
        settle(stack)
        if not mine:
            break
    print(f"  {dataset} seed {seed}: relabels per annotator {per_checker}, stopped at {stopped}", flush=True)
    still_listed = {int(s["task_id"]) for s in all_suspects(client, pid)}
    state = client.training(pid)
    version_before = state["model_version"]
    # the pool's tasks re-judged by people count again once agreement is reached; train on what is accepted
    client.update_ml(pid, min_completions=10)
    client.train(pid)
    settle(stack)
    after = held_out_accuracy(client, pid, x_test, y_test, task_data)
    version_after = client.training(pid)["model_version"]
    client.delete_project(pid)
    record = {
        "dataset": dataset, "seed": seed, "pool": n, "test": len(y_test), "flip_rate": FLIP_RATE,
        "flipped": len(flipped), "oof_examples": len(document["task_ids"]), "oof_folds": document.get("folds"),
        "product": precision_recall(product_flags, flipped), "relabels": relabels, "relabels_per_annotator": per_checker,
        # accepted tasks when the second version trains: a relabelled task whose people disagree is not accepted
        "accepted_before": n, "accepted_after_relabel": state["accepted_tasks"],
        "still_listed_after_relabel": len(still_listed), "held_out_before": before, "held_out_after": after,
        "versions": [version_before, version_after], "job": job.get("detail"), "wall_s": round(time.perf_counter() - started, 1)}
    if "error" in cleanlab:
        record["cleanlab"] = cleanlab
    else:
        record["cleanlab"] = {"version": cleanlab["cleanlab_version"], **{
            f: precision_recall(set(cleanlab[f]), flipped) for f in ("prune_by_noise_rate", "confident_learning")}}
        record["agreement_with_cleanlab_cl"] = len(product_flags & set(cleanlab["confident_learning"]))
    return record


def suspects_report() -> None:
    """bench/results/suspects.{md,json} from every suspects-<data set>.json present."""
    records = []
    for dataset in ORDER:
        path = RESULTS / f"suspects-{dataset}.json"
        if path.exists():
            data = json.loads(path.read_text())
            records += [data["seeds"][k] for k in sorted(data["seeds"], key=int)]
    if not records:
        return

    def mean(values):
        values = [v for v in values if v is not None]
        return statistics.mean(values) if values else None

    def method(r, name):
        return r["product"] if name == "product" else (r.get("cleanlab") or {}).get(name) or {}

    methods = ("product", "prune_by_noise_rate", "confident_learning")
    summary = {}
    for dataset in ORDER:
        mine = [r for r in records if r["dataset"] == dataset]
        if not mine:
            continue
        summary[dataset] = {"seeds": len(mine), "pool": mine[0]["pool"], "flipped": mean(r["flipped"] for r in mine),
                            "held_out_before": mean(r["held_out_before"] for r in mine),
                            "held_out_after": mean(r["held_out_after"] for r in mine),
                            "relabels": mean(r["relabels"] for r in mine),
                            **{f"{m}_{k}": mean(method(r, m).get(k) for r in mine)
                               for m in methods for k in ("flagged", "precision", "recall")}}
    lines = ["# Suspect labels through the product (bench/auto_label.py --suspects)", "",
             f"An annotator flips {FLIP_RATE:.0%} of the pool's labels at random (another class, uniformly); the "
             "labelled pool is imported (Label Studio annotations), one training (promotion `always`), its suspects "
             "job flags the labels the out-of-fold probabilities confidently contradict (`GET /suspects`). "
             "cleanlab's `find_label_issues` runs on the same stored out-of-fold probabilities (its own venv), with "
             "its default filter (`prune_by_noise_rate`) and with `confident_learning` (the rule the product "
             "implements). Then annotators who have not labelled a task take `GET /next` while it serves flagged "
             "tasks and answer from the ground truth; a second version trains on the accepted tasks; held-out "
             "accuracy (`POST /predict` on a test split outside the pool) before and after.", "",
             "## Means per data set", "",
             "| data set | seeds | pool | flipped | product: flags / precision / recall | cleanlab default | "
             "cleanlab confident_learning | relabel completions | held-out before -> after |", "|" + "---|" * 9]
    for dataset, m in summary.items():
        cells = [f"{fmt(m[f'{x}_flagged'], 1)} / {fmt(m[f'{x}_precision'])} / {fmt(m[f'{x}_recall'])}" for x in methods]
        lines.append(f"| {dataset} | {m['seeds']} | {m['pool']} | {fmt(m['flipped'], 1)} | {' | '.join(cells)} "
                     f"| {fmt(m['relabels'], 1)} | {fmt(m['held_out_before'], 4)} -> {fmt(m['held_out_after'], 4)} |")
    lines += ["", "## Per seed", "",
              "| data set | seed | pool | flipped | product flags | precision | recall | cleanlab default: flags "
              "| precision | recall | cleanlab confident_learning: flags | precision | recall | relabels "
              "| accepted when retrained | held-out before | after |", "|" + "---|" * 17]
    for r in records:
        p, d, cl = method(r, "product"), method(r, "prune_by_noise_rate"), method(r, "confident_learning")
        lines.append(
            f"| {r['dataset']} | {r['seed']} | {r['pool']} | {r['flipped']} | {p['flagged']} | {fmt(p['precision'])} "
            f"| {fmt(p['recall'])} | {d.get('flagged', '-')} | {fmt(d.get('precision'))} | {fmt(d.get('recall'))} "
            f"| {cl.get('flagged', '-')} | {fmt(cl.get('precision'))} | {fmt(cl.get('recall'))} | {r['relabels']} "
            f"| {r.get('accepted_after_relabel', '-')} of {r['pool']} "
            f"| {fmt(r['held_out_before'], 4)} | {fmt(r['held_out_after'], 4)} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "suspects.md").write_text(text)
    (RESULTS / "suspects.json").write_text(json.dumps({"flip_rate": FLIP_RATE, "summary": summary,
                                                       "files": [f"suspects-{d}.json" for d in summary]}, indent=1))
    print(text)


# ---------------------------------------------------------------- files and report

def seed_file(dataset: str, stem: str = "auto_label") -> Path:
    return RESULTS / f"{stem}-{dataset}.json"


def settings_of(args) -> dict:
    return {"target_accuracy": TARGET, "confidence": CONFIDENCE, "step_share": args.step_share,
            "min_step": args.min_step, "auto_label_defaults": "min_validation 100, audit_rate 0.05",
            "preannotate": False}


def load_seeds(dataset: str, settings: dict, stem: str = "auto_label") -> dict:
    path = seed_file(dataset, stem)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("settings") != settings:
        raise SystemExit(f"{path} was run with other settings {data.get('settings')}; --fresh replaces it")
    return data["seeds"]


def save_seed(dataset: str, settings: dict, record: dict, stem: str = "auto_label") -> None:
    """Re-read then write under a lock, so that runs of other seeds in parallel processes keep theirs."""
    import fcntl

    path = seed_file(dataset, stem)
    lock_path = ROOT / "bench" / "out" / f"{path.stem}.lock"  # bench/out/ is not committed
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seeds = json.loads(path.read_text())["seeds"] if path.exists() else {}
        seeds[str(record["seed"])] = record
        path.write_text(json.dumps({"settings": settings,
                                    "seeds": dict(sorted(seeds.items(), key=lambda kv: int(kv[0])))}, indent=1))


def pairs(records) -> list[tuple[int, str, float]]:
    """(seed, version, accuracy of the auto labels it gave) for the versions that auto-labelled: the
    labels marked with that version standing right after it was promoted and rescored the pool."""
    return [(r["seed"], v["version"], v["version_accuracy"]) for r in records for v in r["versions"]
            if v["by_this_version"]]


def summarize(records: list[dict]) -> dict:
    shares = [r["human_share"] for r in records]
    accs = [r["auto_accuracy"] for r in records if r["auto_accuracy"] is not None]
    version_pairs = pairs(records)
    met = sum(acc >= TARGET for _, _, acc in version_pairs)
    return {
        "seeds": len(records), "pool": records[0]["pool"], "step": records[0]["step"],
        "human_share_mean": statistics.mean(shares), "human_share_median": statistics.median(shares),
        "human_labels_mean": statistics.mean(r["human_labels"] for r in records),
        "coverage_mean": statistics.mean(r["coverage"] for r in records),
        "auto_accuracy_mean": statistics.mean(accs) if accs else None,
        "auto_accuracy_min": min(accs) if accs else None,
        "overall_accuracy_mean": statistics.mean(r["overall_accuracy"] for r in records),
        "overall_accuracy_min": min(r["overall_accuracy"] for r in records),
        "budget_ran_out": sum(r["budget_ran_out"] for r in records),
        "pairs": len(version_pairs), "pairs_at_target": met,
        "wall_s_mean": statistics.mean(r["wall_s"] for r in records),
    }


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def report() -> None:
    """bench/results/auto_label.{md,json,png} from every auto_label-<data set>.json present."""
    loaded = {}
    for dataset in ORDER:
        path = seed_file(dataset)
        if path.exists():
            data = json.loads(path.read_text())
            loaded[dataset] = (data["settings"], [data["seeds"][k] for k in sorted(data["seeds"], key=int)])
    if not loaded:
        return
    summaries = {d: summarize(records) for d, (_, records) in loaded.items()}
    all_pairs = [p for _, records in loaded.values() for p in pairs(records)]
    at_target = sum(acc >= TARGET for _, _, acc in all_pairs)
    lines = ["# Auto-labelling through the product (bench/auto_label.py)", "",
             f"Target accuracy {TARGET}, confidence {CONFIDENCE}; min_validation 100, audit_rate 0.05 "
             "(defaults); retraining every 5% of the pool (at least 20 tasks); pre-annotation off; "
             "sampling `auto`, promotion `if_not_worse`. Simulated annotator answering from the ground truth "
             "until `GET /next` has nothing left.", "",
             "## Per data set", "",
             "| data set | pool | seeds | human share mean (median) | human labels mean | coverage mean "
             "| auto-label accuracy mean (min) | whole-pool accuracy mean (min) | (seed, version) pairs at target "
             "| budget ran out |", "|" + "---|" * 10]
    for dataset, s in summaries.items():
        lines.append(
            f"| {dataset} | {s['pool']} | {s['seeds']} | {fmt(s['human_share_mean'])} ({fmt(s['human_share_median'])}) "
            f"| {s['human_labels_mean']:.1f} | {fmt(s['coverage_mean'])} "
            f"| {fmt(s['auto_accuracy_mean'])} ({fmt(s['auto_accuracy_min'])}) "
            f"| {fmt(s['overall_accuracy_mean'])} ({fmt(s['overall_accuracy_min'])}) "
            f"| {s['pairs_at_target']} / {s['pairs']} | {s['budget_ran_out']} |")
    lines += ["", "## Criteria", ""]
    share = at_target / len(all_pairs) if all_pairs else None
    lines.append(f"- Auto-label accuracy >= {TARGET} in >= 95% of (seed, version) pairs: "
                 f"{at_target} of {len(all_pairs)} ({fmt(share)}) -> "
                 f"**{'holds' if share is not None and share >= 0.95 else 'does not hold'}**"
                 + ("" if share is not None else " (no version auto-labelled)"))
    if "sms" in loaded:
        sms = loaded["sms"][1]
        ok = [r for r in sms if r["overall_accuracy"] >= 0.95 and r["human_share"] <= 0.25 and not r["left"]]
        lines.append(f"- SMS: whole pool labelled at >= 95% overall accuracy with <= 25% labelled by people: "
                     f"{len(ok)} of {len(sms)} seeds -> **{'holds' if len(ok) == len(sms) else 'does not hold'}** "
                     f"(mean human share {fmt(summaries['sms']['human_share_mean'])}, mean overall accuracy "
                     f"{fmt(summaries['sms']['overall_accuracy_mean'])})")
    lines += ["", "## Per seed", "",
              "| data set | seed | human labels | human share | auto labelled | coverage | auto-label accuracy "
              "| whole-pool accuracy | left | versions (auto-labelling / at target) | audit agreed / audited | wall s |",
              "|" + "---|" * 12]
    for dataset, (_, records) in loaded.items():
        for r in records:
            mine = pairs([r])
            audit = r.get("audit") or {}
            lines.append(
                f"| {dataset} | {r['seed']} | {r['human_labels']} | {fmt(r['human_share'])} | {r['auto']} "
                f"| {fmt(r['coverage'])} | {fmt(r['auto_accuracy'])} | {fmt(r['overall_accuracy'])} "
                f"| {r['left']}{' (budget ran out)' if r['budget_ran_out'] else ''} "
                f"| {len(r['versions'])} ({len(mine)} / {sum(a >= TARGET for _, _, a in mine)}) "
                f"| {audit.get('agreed', '-')} / {audit.get('audited', '-')} | {r['wall_s']:.0f} |")
    lines += ["", "## Per (seed, version)", "",
              "The auto labels the version gave, standing right after it was promoted and rescored the pool "
              "(validation: the human labels its calibration used).", "",
              "| data set | seed | version | human labels | threshold | validation | its auto labels | their accuracy | >= target |",
              "|" + "---|" * 9]
    for dataset, (_, records) in loaded.items():
        for r in records:
            for v in r["versions"]:
                verdict = "-" if not v["by_this_version"] else \
                    ("yes" if v["version_accuracy"] >= TARGET else "**no**")
                lines.append(f"| {dataset} | {r['seed']} | {v['version']} | {v['human_labels']} | {fmt(v['threshold'])} "
                             f"| {v['validation_size']} | {v['by_this_version']} | {fmt(v['version_accuracy'])} | {verdict} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "auto_label.md").write_text(text)
    (RESULTS / "auto_label.json").write_text(json.dumps({
        "settings": {d: s for d, (s, _) in loaded.items()}, "summary": summaries,
        "pairs_at_target": at_target, "pairs": len(all_pairs),
        "files": [seed_file(d).name for d in loaded]}, indent=1))
    plot(loaded, RESULTS / "auto_label.png")
    print(text)


def plot(loaded, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(loaded), figsize=(5.5 * len(loaded), 8), squeeze=False)
    for col, (dataset, (_, records)) in enumerate(loaded.items()):
        top, bottom = axes[0][col], axes[1][col]
        for r in records:
            n = r["pool"]
            xs = [0] + [v["human_labels"] / n for v in r["versions"]] + [r["human_share"]]
            ys = [0] + [(v["human_labels"] + v["auto"]) / n for v in r["versions"]] + [(r["human_tasks"] + r["auto"]) / n]
            top.plot(xs, ys, linewidth=1, alpha=0.7)
            points = [(v["human_labels"] / n, v["version_accuracy"]) for v in r["versions"] if v["by_this_version"]]
            if points:
                bottom.plot(*zip(*points), marker="o", markersize=3, linewidth=0.8, alpha=0.7)
        top.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8, label="people only")
        top.axvline(0.25, color="red", linestyle="--", linewidth=0.8, label="25% by people")
        top.set_title(f"{dataset} (pool {records[0]['pool']}, {len(records)} seeds)")
        top.set_xlabel("human labels / pool")
        top.set_ylabel("labelled (human + auto) / pool")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1.02)
        top.legend(fontsize=8, loc="lower right")
        bottom.axhline(TARGET, color="red", linestyle="--", linewidth=0.8, label=f"target {TARGET}")
        bottom.set_xlabel("human labels / pool")
        bottom.set_ylabel("accuracy of the auto labels the version gave")
        bottom.set_xlim(0, 1)
        bottom.set_ylim(0.85, 1.005)
        bottom.legend(fontsize=8, loc="lower right")
    fig.suptitle("Auto-labelling through the product: one line per seed, a point per promoted version")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="sms,digits,breast_cancer")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--step-share", type=float, default=0.05, help="retrain every this share of the pool")
    parser.add_argument("--min-step", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="drop the seeds already in the result files")
    parser.add_argument("--report", action="store_true", help="run nothing: re-render the summary from the files")
    parser.add_argument("--suspects", action="store_true",
                        help="the suspect-labels bench instead (needs `make cleanlab-venv` for the cleanlab column)")
    args = parser.parse_args(argv)
    if args.report:
        return suspects_report() if args.suspects else report()
    if args.suspects:
        return run_all(args, "suspects", run_suspects_seed, suspects_report)
    return run_all(args, "auto_label", run_seed, report)


def run_all(args, stem: str, run, render) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = settings_of(args) if stem == "auto_label" else {"flip_rate": FLIP_RATE}
    datasets = args.datasets.split(",")
    if args.fresh:
        for dataset in datasets:
            seed_file(dataset, stem).unlink(missing_ok=True)
    with local_stack() as stack:
        for dataset in datasets:
            done = load_seeds(dataset, settings, stem)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                if str(seed) in done:
                    print(f"{dataset} seed {seed}: already in {seed_file(dataset, stem).name}", flush=True)
                    continue
                record = run(dataset, seed, stack, args)
                save_seed(dataset, settings, record, stem)
                print(f"{stem} {dataset} seed {seed}: " + json.dumps(
                    {k: v for k, v in record.items() if k not in ("versions", "job")}), flush=True)
                render()


if __name__ == "__main__":
    main()
