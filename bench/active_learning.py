"""Active-learning simulation benchmark: labels each strategy needs, against random.

Two loops over the same seeded pool/test splits:
- **product** (`--product`): the local stack (moto + event pump + HTTP server), driven through
  activelabel_client exactly as annotators would: import the pool, then `GET /next` -> completion
  from the ground truth, the stream training and rescoring on its own. After every new model
  version the held-out test split is scored through `POST /predict`. SMS is a Text + Choices
  project (text classifier kind); digits a Table + Choices project whose tasks carry the 64 pixel
  values (0..16) as `{"x": {"p0": ..., "p63": ...}}` (tabular kind).
- **memory** (unless `--no-memory`): a plain in-memory loop with the same model kinds and the same
  strategy functions (chalicelib/ml/sampling.py), on SMS and scikit-learn's digits, plus
  scikit-activeml's and modAL's strategies as peers when they are importable (they live in
  `.venv-peers`, see the Makefile; skipped with a note otherwise).

Per dataset, loop, strategy and seed: accuracy and macro-F1 after each batch; labels to reach 95% and
98% of the full-pool model's accuracy; the normalised area under the learning curve; for the product
loop the median/p95 latency of `next`. Writes bench/results/active_learning.{md,json,png}.

    .venv/bin/python bench/active_learning.py                    # memory loop, small settings (minutes)
    .venv/bin/python bench/active_learning.py --product          # + the product loop on SMS and digits
    .venv/bin/python bench/active_learning.py --datasets digits --pool 1297 --test 500 --budget 160 \
        --product --no-memory --product-strategies margin,auto --tag product-digits   # all of digits
    .venv/bin/python bench/active_learning.py --combine a.json b.json:random --tag merged  # seeds run apart
    .venv/bin/python bench/active_learning.py --pool 3000 --budget 600 --seeds 5 --product   # bigger
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.product_stack import (  # noqa: E402 - after the path insert
    DIGITS_LABEL_CONFIG, client_for, digits_data, import_pool, local_stack, product_setup, settle,
    sms_data)

RESULTS = ROOT / "bench" / "results"
MEMORY_STRATEGIES = ("random", "least_confidence", "margin", "entropy", "diverse_margin", "badge")


# ---------------------------------------------------------------- data and models

class ProductModel:
    """One of the product's own model kinds for a label config, fitted in memory on raw inputs
    (texts for SMS, pixel rows for digits) exactly as training encodes task data."""

    kind_name = ""
    label_config = ""

    def __init__(self, seed):
        from chalicelib.labeling.config import parse_label_config
        from chalicelib.ml import registry

        kind = registry.get_kind(self.kind_name)
        self.model = kind.implementation()(kind.targets(parse_label_config(self.label_config))[0], seed=seed)

    def fit(self, x, y):
        self.model.fit(self.model.encode(list(x)), list(y))
        return self

    def predict_proba(self, x):
        return self.model.predict_proba(self.model.encode(list(x)))

    def predict(self, x):
        return self.model.predict(self.model.encode(list(x)))

    def embed(self, x):
        from chalicelib.ml.sampling import feature_embedding

        return feature_embedding(self.model, self.model.encode(list(x)))


class SmsModel(ProductModel):
    """The text classifier kind on SMS texts."""

    kind_name = "text_classifier"

    @property
    def label_config(self):
        from activelabel_client.datasets import SMS_LABEL_CONFIG

        return SMS_LABEL_CONFIG


class DigitsModel(ProductModel):
    """The tabular kind on digits' pixel rows."""

    kind_name = "tabular"
    label_config = DIGITS_LABEL_CONFIG


class FortunesModel(ProductModel):
    """The text classifier kind on a topic set built from Debian's fortunes (bench/fortunes.py)."""

    kind_name = "text_classifier"
    topics = ""

    @property
    def label_config(self):
        from bench.fortunes import label_config

        return label_config(self.topics)


def _fortunes(topics):
    from bench.fortunes import fortunes_data

    model = type(f"Fortunes_{topics}", (FortunesModel,), {"topics": topics})
    return (lambda n_pool, n_test, seed: fortunes_data(topics, n_pool, n_test, seed)), model


DATASETS = {"sms": (sms_data, SmsModel), "digits": (digits_data, DigitsModel),
            "fortunes-topics8": _fortunes("topics8"), "fortunes-topics20": _fortunes("topics20")}


def take(x, idx):
    return x[idx] if hasattr(x, "shape") else [x[i] for i in idx]


def scores(y_true, y_pred) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(y_true, y_pred)), float(f1_score(y_true, y_pred, average="macro"))


# ---------------------------------------------------------------- curve summaries

def labels_to_reach(curve, target):
    return next((n for n, acc, _ in curve if acc >= target), None)


def area_under_curve(curve, budget):
    """Mean accuracy over [first point, budget] (trapezoids; the last value carried to the budget)."""
    points = [(n, acc) for n, acc, _ in curve if n <= budget]
    if points[-1][0] < budget:
        points.append((budget, points[-1][1]))
    area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(points, points[1:]))
    return area / max(1, points[-1][0] - points[0][0])


# ---------------------------------------------------------------- the in-memory loop

def initial_batch(labels, size, rng):
    """Uniform random, grown until two classes are present (a single-class training fails)."""
    order = list(rng.permutation(len(labels)))
    chosen = order[:size]
    rest = order[size:]
    while len({labels[i] for i in chosen}) < 2 and rest:
        chosen.append(rest.pop(0))
    return chosen


def memory_loop(dataset, strategy, seed, args, select=None):
    import numpy as np

    from chalicelib.ml import sampling

    load, model_class = DATASETS[dataset]
    x_pool, y_pool, x_test, y_test = load(args.pool, args.test, seed)
    rng = np.random.default_rng(seed)
    labeled = initial_batch(y_pool, args.first_batch, rng)
    curve = []
    while True:
        model = model_class(seed).fit(take(x_pool, labeled), [y_pool[i] for i in labeled])
        acc, f1 = scores(y_test, model.predict(x_test))
        curve.append((len(labeled), acc, f1))
        if len(labeled) >= args.budget:
            return curve
        chosen = set(labeled)
        unlabeled = np.array([i for i in range(len(y_pool)) if i not in chosen])
        k = min(args.batch, args.budget - len(labeled), len(unlabeled))
        if k <= 0:
            return curve
        x_unlabeled = take(x_pool, unlabeled)
        if select is not None:
            picked = select(model, x_pool, y_pool, labeled, unlabeled, k, seed)
        else:
            probabilities = None if strategy in sampling.MODEL_FREE else model.predict_proba(x_unlabeled)
            embedding = model.embed(x_unlabeled) if strategy in sampling.EMBEDDING_STRATEGIES else None
            picked = unlabeled[sampling.select(strategy, k, probabilities, task_ids=unlabeled, embedding=embedding,
                                               seed=seed * 7919 + len(labeled))]
        labeled += [int(i) for i in picked]


def full_pool_score(dataset, seed, args):
    load, model_class = DATASETS[dataset]
    x_pool, y_pool, x_test, y_test = load(args.pool, args.test, seed)
    return scores(y_test, model_class(seed).fit(x_pool, y_pool).predict(x_test))


# ---------------------------------------------------------------- peers (scikit-activeml, modAL)

def peer_selectors():
    """name -> select(model, x_pool, y_pool, labeled, unlabeled, k, seed); and notes on what is missing."""
    import numpy as np

    selectors, notes = {}, []
    try:
        from modAL.uncertainty import margin_sampling

        class _Learner:  # modAL's query strategies take an estimator exposing predict_proba
            def __init__(self, model):
                self.model = model

            def predict_proba(self, x):
                return self.model.predict_proba(x)

        def modal_margin(model, x_pool, y_pool, labeled, unlabeled, k, seed):
            idx = margin_sampling(_Learner(model), take(x_pool, unlabeled), n_instances=k)
            idx = idx[0] if isinstance(idx, tuple) else idx
            return unlabeled[np.asarray(idx)]

        selectors["modAL:margin_sampling"] = modal_margin
    except Exception as exc:  # noqa: BLE001 - any import failure means the peer is skipped
        notes.append(f"modAL skipped ({type(exc).__name__}: {exc})")
    try:
        from skactiveml.pool import UncertaintySampling

        def skactiveml_margin(model, x_pool, y_pool, labeled, unlabeled, k, seed):
            qs = UncertaintySampling(method="margin_sampling", random_state=seed)
            probabilities = model.predict_proba(take(x_pool, unlabeled))
            utilities = qs._get_utilities(probabilities) if hasattr(qs, "_get_utilities") else None
            if utilities is None:
                from skactiveml.pool._uncertainty_sampling import uncertainty_scores

                utilities = uncertainty_scores(probas=probabilities, method="margin_sampling")
            return unlabeled[np.argsort(-np.asarray(utilities), kind="stable")[:k]]

        selectors["scikit-activeml:margin"] = skactiveml_margin
    except Exception as exc:  # noqa: BLE001
        notes.append(f"scikit-activeml skipped ({type(exc).__name__}: {exc})")
    return selectors, notes


# ---------------------------------------------------------------- the product loop

def product_loop(dataset, strategy, seed, args, stack):
    label_config, task_data, completion_result = product_setup(dataset)
    x_pool, y_pool, x_test, y_test = DATASETS[dataset][0](args.pool, args.test, seed)
    client = client_for(stack)
    project = client.create_project(f"al-{dataset}-{strategy}-{seed}", label_config, ml={
        "min_completions": args.first_batch, "retrain_every": args.batch, "sampling": strategy,
        "first_batch_size": args.first_batch})
    pid = project["id"]
    label_of = import_pool(client, pid, x_pool, y_pool, task_data)
    curve, latencies, seen_version = [], [], None
    done = 0
    while done < (args.product_budget or args.budget):
        started = time.perf_counter()
        task = client.next_task(pid, "simulated")
        latencies.append(time.perf_counter() - started)
        if task is None:
            break
        client.add_completion(pid, task["id"], completion_result(label_of[int(task["id"])]), completed_by="simulated")
        done += 1
        if done >= args.first_batch and (done - args.first_batch) % args.batch == 0:
            settle(stack, timeout=600)  # the stream, the training, the rescoring fan-out
            version = client.get_project(pid)["model_version"]
            if version and version != seen_version:
                seen_version = version
                answer = client.predict(pid, samples=[task_data(x) for x in x_test])
                predicted = [r["result"][0]["value"]["choices"][0] for r in answer]
                acc, f1 = scores(y_test, predicted)
                curve.append((done, acc, f1))
    client.delete_project(pid)
    return curve, latencies


# ---------------------------------------------------------------- report

def summarize(runs, full, budget):
    """runs: {(dataset, loop, strategy): {seed: curve}} -> rows averaged over seeds."""
    rows = []
    for (dataset, loop, strategy), by_seed in sorted(runs.items()):
        per_seed = []
        for seed, record in by_seed.items():
            curve = record["curve"]
            if not curve:
                continue
            full_acc = full[(dataset, seed)][0]
            per_seed.append({
                "to95": labels_to_reach(curve, 0.95 * full_acc),
                "to98": labels_to_reach(curve, 0.98 * full_acc),
                "aulc": area_under_curve(curve, curve[-1][0]),
                "final_acc": curve[-1][1], "final_f1": curve[-1][2],
                "latency": record.get("latencies") or [],
                "budget": record.get("budget", budget),
            })
        if not per_seed:
            continue

        def mean_labels(key):
            """Mean over seeds; a seed that never reached the target counts as its budget, and the
            mean is then a lower bound (shown as ">=")."""
            mean = statistics.mean(s[key] if s[key] is not None else s["budget"] for s in per_seed)
            return round(mean, 1), any(s[key] is None for s in per_seed)

        latencies = sorted(x for s in per_seed for x in s["latency"])
        (to95, censored95), (to98, censored98) = mean_labels("to95"), mean_labels("to98")
        rows.append({
            "dataset": dataset, "loop": loop, "strategy": strategy, "seeds": len(per_seed),
            "labels_to_95": to95, "labels_to_95_censored": censored95,
            "labels_to_98": to98, "labels_to_98_censored": censored98,
            "reached_95": sum(s["to95"] is not None for s in per_seed),
            "aulc": round(statistics.mean(s["aulc"] for s in per_seed), 4),
            "final_accuracy": round(statistics.mean(s["final_acc"] for s in per_seed), 4),
            "final_macro_f1": round(statistics.mean(s["final_f1"] for s in per_seed), 4),
            "next_median_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
            "next_p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 2) if latencies else None,
        })
    for row in rows:
        base = next((r for r in rows if r["dataset"] == row["dataset"] and r["loop"] == row["loop"]
                     and r["strategy"] == "random"), None)
        # random not reaching the target within the budget makes the ratio an upper bound ("<=")
        row["labels_vs_random_95"] = round(row["labels_to_95"] / base["labels_to_95"], 3) if base else None
        row["labels_vs_random_95_bound"] = bool(base and base["labels_to_95_censored"])
    return rows


def write_report(rows, runs, full, args, notes):
    RESULTS.mkdir(parents=True, exist_ok=True)
    header = ("| dataset | loop | strategy | seeds | labels to 95% | labels to 98% | vs random (95%) | AULC "
              "| final acc | final macro-F1 | next median ms | next p95 ms |")
    lines = [header, "|" + "---|" * 12]
    def shown(value, censored):
        return f">={value}" if censored else str(value)

    for r in rows:
        ratio = r["labels_vs_random_95"]
        if ratio is not None and r["labels_vs_random_95_bound"] and not r["labels_to_95_censored"]:
            ratio = f"<={ratio}"
        lines.append(
            f"| {r['dataset']} | {r['loop']} | {r['strategy']} | {r['seeds']} "
            f"| {shown(r['labels_to_95'], r['labels_to_95_censored'])} "
            f"| {shown(r['labels_to_98'], r['labels_to_98_censored'])} | {ratio} | {r['aulc']} | {r['final_accuracy']} "
            f"| {r['final_macro_f1']} | {r['next_median_ms']} | {r['next_p95_ms']} |")
    fulls = {f"{d}/seed{s}": {"accuracy": round(v[0], 4), "macro_f1": round(v[1], 4)} for (d, s), v in full.items()}
    settings = (f"pool {args.pool}, test {args.test}, first batch {args.first_batch}, batch {args.batch}, "
                f"budget {args.budget} (product loop {args.product_budget or args.budget}), "
                f"seeds {args.first_seed}-{args.first_seed + args.seeds - 1}")
    text = "\n".join([
        "# Active-learning benchmark (bench/active_learning.py)", "", f"Settings: {settings}.", "",
        "Labels to reach 95%/98% of the full-pool model's test accuracy (mean over seeds; \">=\": at least "
        "one seed did not reach it within the budget and counts as the budget), ratio to random's labels, "
        "area under the learning curve (mean accuracy over the labels spent), final scores at the budget. "
        "Product-loop points are taken after each new model version; memory-loop points after each batch.", "", *lines, "", "Full-pool accuracy: " + json.dumps(fulls), "",
        *(f"- {note}" for note in notes), ""])
    stem = "active_learning" + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps({
        "settings": vars(args), "rows": rows, "full_pool": fulls,
        "curves": {"/".join(k): {str(s): r["curve"] for s, r in v.items()} for k, v in runs.items()},
        "notes": notes}, indent=1))
    plot(runs, full, RESULTS / f"{stem}.png")
    print(text)


def plot(runs, full, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = sorted({(d, loop) for d, loop, _ in runs})
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (dataset, loop) in zip(axes[0], panels):
        for (d, lp, strategy), by_seed in sorted(runs.items()):
            if (d, lp) != (dataset, loop):
                continue
            curves = [r["curve"] for r in by_seed.values() if r["curve"]]
            grid = sorted({n for c in curves for n, _, _ in c})
            mean = [np.mean([np.interp(n, [p[0] for p in c], [p[1] for p in c]) for c in curves]) for n in grid]
            ax.plot(grid, mean, label=strategy, linewidth=2 if strategy in ("random", "margin", "auto") else 1)
        full_acc = np.mean([v[0] for (d, _), v in full.items() if d == dataset])
        ax.axhline(0.95 * full_acc, color="grey", linestyle="--", linewidth=0.8, label="95% of full pool")
        ax.set_title(f"{dataset} ({loop} loop)")
        ax.set_xlabel("labels")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_budget(settings, loop):
    """The labels a run of that loop was allowed (the product loop's own budget when one was set)."""
    return (settings.get("product_budget") if loop == "product" else None) or settings["budget"]


def combine(paths, tag):
    """Merge result JSONs into one report: their curves per (dataset, loop, strategy) and seed, each
    seed's full-pool score, and each run's own budget (censoring). The files must share the split
    settings (pool, test, first batch, batch); per-call latencies are not kept in the files."""
    runs, full, notes, settings = {}, {}, [], None
    for entry in paths:
        path, _, only = entry.partition(":")  # "file.json:margin,random" keeps those strategies only
        data = json.loads(Path(path).read_text())
        shape = {k: data["settings"][k] for k in ("pool", "test", "first_batch", "batch")}
        if settings is None:
            settings = dict(data["settings"])
        elif shape != {k: settings[k] for k in shape}:
            raise SystemExit(f"{path}: split settings {shape} differ from the first file's")
        for name, score in data["full_pool"].items():
            dataset, seed = name.split("/seed")
            full[(dataset, int(seed))] = (score["accuracy"], score["macro_f1"])
        for key, by_seed in data["curves"].items():
            dataset, loop, strategy = key.split("/")
            if only and strategy not in only.split(","):
                continue
            budget = run_budget(data["settings"], loop)
            for seed, curve in by_seed.items():
                if int(seed) in runs.get((dataset, loop, strategy), {}):
                    raise SystemExit(f"{path}: {key} seed {seed} is in an earlier file too")
                runs.setdefault((dataset, loop, strategy), {})[int(seed)] = {
                    "curve": [tuple(point) for point in curve], "budget": budget}
        seeds = sorted({int(seed) for by_seed in data["curves"].values() for seed in by_seed})
        notes.append(f"from {Path(path).name}{' (' + only + ' only)' if only else ''} "
                     f"(budget {run_budget(data['settings'], 'product')}, seeds {seeds[0]}-{seeds[-1]})")
    seeds = sorted({seed for by_seed in runs.values() for seed in by_seed})
    settings.setdefault("first_seed", 0)
    args = argparse.Namespace(**{**settings, "tag": tag, "first_seed": seeds[0], "seeds": len(seeds),
                                 "product_budget": None, "budget": max(r["budget"] for v in runs.values() for r in v.values())})
    write_report(summarize(runs, full, args.budget), runs, full, args, notes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="sms,digits")
    parser.add_argument("--strategies", default=",".join(MEMORY_STRATEGIES))
    parser.add_argument("--product-strategies", default="random,auto")
    parser.add_argument("--product-budget", type=int, default=None, help="labels per product run (default --budget)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--first-batch", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--product", action="store_true", help="also run the product loop on the local stack")
    parser.add_argument("--no-memory", action="store_true", help="skip the in-memory loop")
    parser.add_argument("--tag", default="", help="suffix of the result files (active_learning-<tag>.*)")
    parser.add_argument("--combine", nargs="+", metavar="RESULT_JSON", default=None,
                        help="run nothing: merge earlier result files of the same splits (e.g. seeds run "
                             "separately) into one table and learning-curve PNG; FILE:s1,s2 keeps "
                             "strategies s1, s2 of that file only")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.tag)
    datasets = args.datasets.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs: dict = {}
    full: dict = {}
    notes = []
    for dataset in datasets:
        for seed in seeds:
            full[(dataset, seed)] = full_pool_score(dataset, seed, args)
    if not args.no_memory:
        selectors, peer_notes = peer_selectors()
        notes += peer_notes
        for dataset in datasets:
            for strategy in args.strategies.split(","):
                for seed in seeds:
                    started = time.perf_counter()
                    curve = memory_loop(dataset, strategy, seed, args)
                    runs.setdefault((dataset, "memory", strategy), {})[seed] = {"curve": curve}
                    print(f"memory {dataset} {strategy} seed {seed}: {curve[-1]} ({time.perf_counter() - started:.1f} s)",
                          flush=True)
            for name, select in selectors.items():
                for seed in seeds:
                    curve = memory_loop(dataset, name, seed, args, select=select)
                    runs.setdefault((dataset, "memory", name), {})[seed] = {"curve": curve}
    if args.product:
        with local_stack() as stack:
            for dataset in datasets:
                for strategy in args.product_strategies.split(","):
                    for seed in seeds:
                        started = time.perf_counter()
                        curve, latencies = product_loop(dataset, strategy, seed, args, stack)
                        runs.setdefault((dataset, "product", strategy), {})[seed] = {
                            "curve": curve, "latencies": latencies, "budget": args.product_budget or args.budget}
                        print(f"product {dataset} {strategy} seed {seed}: {curve[-1] if curve else None} "
                              f"({time.perf_counter() - started:.1f} s)", flush=True)
    write_report(summarize(runs, full, args.budget), runs, full, args, notes)


if __name__ == "__main__":
    main()
