"""In memory: what the validation hold-out costs active learning, and what the pool representation
buys (issue 25). One margin-sampling loop per (variant, seed) on a text set, batches of 20 from 20
random labels, macro-F1 on a test split after each batch:

- `all` / `holdout`: the text classifier trained on every label, or on the labels outside the
  validation share (domain/validation_set.py, as trainings did before the judge / served split);
- `present` / `pool` / `both`: the feature modes of ml/pool_representation.py, the projection fitted
  on the whole pool (its texts, no labels), `--dimensions` at most.

    .venv/bin/python bench/pool_features.py --dataset fortunes-topics8 --variants all,holdout --seeds 3
    .venv/bin/python bench/pool_features.py --dataset fortunes-topics8 --variants present,pool,both
    .venv/bin/python bench/pool_features.py --dataset sms --pool 2000 --test 1000 --budget 120

Prints one line per variant: mean macro-F1 over seeds at every 40 labels, and the labels each variant
needs to reach the final macro-F1 of the first variant. fortunes-* need Debian's `fortunes` package
(bench/fortunes.py). Each loop runs in its own process (--jobs at a time).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def data(dataset: str, n_pool: int, n_test: int, seed: int):
    if dataset == "sms":
        from bench.product_stack import sms_data

        return sms_data(n_pool, n_test, seed)
    from bench.fortunes import fortunes_data

    return fortunes_data(dataset.removeprefix("fortunes-"), n_pool, n_test, seed)


def label_config(dataset: str) -> str:
    if dataset == "sms":
        from activelabel_client.datasets import SMS_LABEL_CONFIG

        return SMS_LABEL_CONFIG
    from bench.fortunes import label_config as fortunes_config

    return fortunes_config(dataset.removeprefix("fortunes-"))


def loop(dataset: str, variant: str, seed: int, args) -> list[tuple[int, float]]:
    import numpy as np
    from sklearn.metrics import f1_score

    from chalicelib.domain import validation_set
    from chalicelib.labeling.config import parse_label_config
    from chalicelib.ml import pool_representation, registry, sampling, training

    x_pool, y_pool, x_test, y_test = data(dataset, args.pool, args.test, seed)
    kind = registry.get_kind("text_classifier")
    target = kind.targets(parse_label_config(label_config(dataset)))[0]
    projection = None
    if variant in pool_representation.MODES and variant != "present":
        with training.one_blas_thread():
            projection = pool_representation.fit_text(x_pool, seed=0, dimensions=args.dimensions)
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(y_pool))]
    labeled = order[:args.first]
    for i in order[args.first:]:  # a single-class first batch cannot train: grow it until two classes
        if len({y_pool[j] for j in labeled}) > 1:
            break
        labeled.append(i)
    curve = []
    while True:
        fit_on = labeled
        if variant == "holdout":
            fit_on = validation_set.split("bench", labeled, task_id=lambda i: i + 1)[0]
        model = kind.implementation()(target, seed=seed)
        if projection is not None:
            model.use_pool(projection, variant)
        with training.one_blas_thread():
            model.fit(model.encode([x_pool[i] for i in fit_on]), [y_pool[i] for i in fit_on])
        curve.append((len(labeled), float(f1_score(y_test, model.predict(model.encode(x_test)), average="macro"))))
        if len(labeled) >= args.budget:
            return curve
        chosen = set(labeled)
        rest = np.array([i for i in range(len(y_pool)) if i not in chosen])
        probabilities = model.predict_proba(model.encode([x_pool[i] for i in rest]))
        picked = rest[sampling.select("margin", args.batch, probabilities, task_ids=rest,
                                      seed=seed * 7919 + len(labeled))]
        labeled += [int(i) for i in picked]


def labels_to(curve, level):
    return next((n for n, f1 in curve if f1 >= level), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fortunes-topics8")
    parser.add_argument("--variants", default="all,holdout")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=1500)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--dimensions", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(loop(args.dataset, args.one[0], int(args.one[1]), args)))
        return
    variants = args.variants.split(",")
    base = [a for a in sys.argv[1:]]
    todo = [(v, s) for s in range(args.seeds) for v in variants]
    curves: dict[str, list] = {v: [] for v in variants}
    running: list = []
    while todo or running:
        while todo and len(running) < args.jobs:
            variant, seed = todo.pop(0)
            running.append((variant, subprocess.Popen([sys.executable, __file__, *base, "--one", variant, str(seed)],
                                                      stdout=subprocess.PIPE, text=True)))
        variant, process = running.pop(0)
        curves[variant].append(json.loads(process.communicate()[0]))
    mean = {v: [(c[0][i][0], statistics.mean(run[i][1] for run in c)) for i in range(len(c[0]))]
            for v, c in curves.items()}
    level = mean[variants[0]][-1][1]
    print(f"{args.dataset}, pool {args.pool}, test {args.test}, {args.seeds} seeds, margin, macro-F1 (mean)")
    for v in variants:
        points = " ".join(f"{n}:{f1:.3f}" for n, f1 in mean[v] if n % 40 == 0)
        print(f"{v:>8}  {points}  labels to {level:.3f}: {labels_to(mean[v], level)}")


if __name__ == "__main__":
    main()
