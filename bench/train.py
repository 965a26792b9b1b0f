"""Benchmark: a training's compute per model kind, against a bare fit of the same estimator.

    .venv/bin/python bench/train.py                     # every kind, 1000 and 5000 completions
    .venv/bin/python bench/train.py --sizes 5000 --repeat 3 --kinds text_classifier,ner_tagger

For each kind and size, on real data (SMS spam, WNUT-17, scikit-learn's digits as PNG images in
moto S3, breast cancer as tables), n accepted tasks (completions) with task ids 1..n:
- ours: what the train worker computes between reading the accepted tasks and storing the
  artifacts (`services.training.build_version`): the validation split (20% of the tasks by a
  stable hash), examples from consensus, encoding (images fetched and featurised), the fit, the
  metrics on the validation set, auto-label calibration, joblib and the numpy form; plus the
  champion's side of champion / challenger (`promotion.qualities` of the previous run's model on
  the validation set, as `judge` runs it when a version is active: the model as served, i.e. its
  numpy form when it has one, as `prediction.load_version` loads it, with its stored validation
  predictions: only tasks new or changed since it was trained are predicted; here the bench's
  validation set is the same every run, as it nearly is between two trainings of a project).
  Not included: store I/O (reading the tasks, loading the champion's artifact and predictions,
  writing artifacts and records);
- bare: the shipped scikit-learn estimator, cloned unfitted, fit once on the same encoded arrays
  the product's fit reads (the training tasks, without the validation set), with BLAS on one
  thread as build_version runs (ml/training.py one_blas_thread).
One untimed warm-up build per kind first (imports, and the first champion). Prints medians of
`--repeat` runs and the ratio ours / bare of the same run, the champion's share of ours, the
encoding of the training inputs that ours does and bare is given (timed apart: images fetched
and featurised, the tagger's token features), the 1-minute load, and writes bench/out/train.json.
When a dataset has fewer rows than asked, rows are drawn again (with replacement; timing only) and
the table says how many were distinct. No network: moto runs in-process.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT_FILE = ROOT / "bench" / "out" / "train.json"


def resample(rows: list, n: int, seed: int = 0) -> list:
    if len(rows) >= n:
        return rows[:n]
    rng = random.Random(seed)
    return rows + [rng.choice(rows) for _ in range(n - len(rows))]


def datasets(bucket_urls: list[tuple[str, str]]) -> dict:
    """kind -> (label config, [(data, consensus)]) with every available row."""
    from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_spam
    from tests import kind_data

    wnut = kind_data.wnut("train") + kind_data.wnut("test")
    with_entities = [r for r in wnut if r["spans"]]
    return {
        "text_classifier": (SMS_LABEL_CONFIG, [({"text": r["text"]}, {"label": [r["label"]]}) for r in sms_spam()]),
        "text_classifier (multiple)": (kind_data.TOPICS_CONFIG, [
            ({"text": r["text"]}, {"types": sorted({s["label"] for s in r["spans"]})}) for r in with_entities]),
        "taxonomy_classifier": (kind_data.TAXONOMY_CONFIG, [
            ({"text": r["text"]}, {"kind": [list(kind_data.TAXONOMY_OF[r["spans"][0]["label"]])]}) for r in with_entities]),
        "ner_tagger": (kind_data.NER_CONFIG, [
            ({"text": r["text"]}, {"label": [{"start": s, "end": e, "labels": [lab]} for s, e, lab in kind_data.entity_spans(r)]})
            for r in wnut]),
        "text_regressor": (kind_data.COUNT_CONFIG, [({"text": r["text"]}, {"entities": len(r["spans"])}) for r in wnut]),
        "tabular": (kind_data.tabular_config("Choices"), [({"x": x}, {"label": [y]}) for x, y in kind_data.breast_cancer_rows()]),
        "image_classifier": (kind_data.DIGITS_CONFIG, [({"image": url}, {"digit": [d]}) for url, d in bucket_urls]),
    }


def kind_name(label: str) -> str:
    return label.split(" ")[0]


def bench_project(config_xml: str, n: int):
    """A project record as the worker reads it: default settings, no active version."""
    from datetime import datetime, timezone

    from chalicelib.domain.records import Project
    from chalicelib.domain.settings import DEFAULTS
    from chalicelib.domain.training_state import TrainingCounters

    now = datetime.now(timezone.utc)
    counters = TrainingCounters(accepted_tasks=n, label_changes=n, train_requested_changes=None, train_request_seq=1,
                                training_seq=1, trained_seq=0, last_error=None, has_model=False,
                                model_label_changes=None)
    return Project(project_id="bench", title="bench", label_config=config_xml, ml={}, settings=dict(DEFAULTS),
                   created_at=now, updated_at=now, task_seq=n, version_seq=1, completions_count=n, train_sent_seq=1,
                   queued_at=None, last_error=None, counters=counters, active_version=None, model_version=None,
                   model=None, ls_link=None, stream_errors=None)


def bare_fit_seconds(model, fit_on: list) -> tuple[float, float]:
    """(the shipped estimator, unfitted, fit on the encoded training examples; the encoding of
    those examples, which ours does and bare is given: images fetched and featurised, the
    tagger's token features and tags)."""
    from sklearn.base import clone

    from chalicelib.ml import training

    inputs, labels = training.collect_examples(model, [(t.data, t.consensus) for t in fit_on])
    start = time.perf_counter()
    X = model.encode(inputs)
    if model.problem == "multilabel":
        from sklearn.preprocessing import MultiLabelBinarizer

        labels = MultiLabelBinarizer().fit_transform(labels)
    elif model.problem == "spans":  # the bare tagger: token features and tags already built
        from chalicelib.ml.span_tagger import bio_tags, token_features, tokenize

        rows, tags = [], []
        for text, spans in zip(X, labels):
            tokens = tokenize(text)
            rows.extend(token_features(text, tokens))
            tags.extend(bio_tags(tokens, list(spans)))
        X, labels = rows, tags
    encoding = time.perf_counter() - start
    estimator = clone(model.estimator)  # the shipped configuration, unfitted
    with training.one_blas_thread():  # as build_version fits it
        start = time.perf_counter()
        estimator.fit(X, labels)
        return time.perf_counter() - start, encoding


def served(built):
    """The version as the worker loads it to judge the next one (serving.from_bytes): the numpy
    form when the kind has one, else the pickle."""
    from chalicelib.ml import numpy_form, training

    return numpy_form.load(built.compact) if built.compact is not None else training.deserialize(built.body)


def stored(built):
    """The version's validation predictions as the next training reads them back (JSON from S3)."""
    return None if built.validation_predictions is None else json.loads(json.dumps(built.validation_predictions))


def measure(label: str, config_xml: str, accepted: list, repeat: int) -> dict:
    from types import SimpleNamespace

    from chalicelib.labeling.config import parse_label_config
    from chalicelib.ml import training
    from chalicelib.ml.registry import get_kind
    from chalicelib.services import promotion
    from chalicelib.services.training import build_version

    kind = get_kind(kind_name(label))
    target = kind.target(parse_label_config(config_xml))
    tasks = [SimpleNamespace(task_id=i + 1, data=data, consensus=consensus) for i, (data, consensus) in enumerate(accepted)]
    project = bench_project(config_xml, len(tasks))
    previous = build_version(project, kind, target, tasks, [], 1)  # warm-up, untimed
    champion, kept = served(previous), stored(previous)
    ours, bare, champion_s, encode_s = [], [], [], []
    for run in range(repeat):
        start = time.perf_counter()
        built = build_version(project, kind, target, tasks, [], run + 2)
        middle = time.perf_counter()
        with training.one_blas_thread():  # judge runs inside build_version, under the same limit
            promotion.qualities(champion, built.validation, built.outcome.held_out, kept)
        ours.append(time.perf_counter() - start)
        champion_s.append(time.perf_counter() - middle)
        champion, kept = served(built), stored(built)  # untimed, as the worker's artifact reads are
        fit_s, encoding_s = bare_fit_seconds(built.outcome.model, built.fit_on)
        bare.append(fit_s)
        encode_s.append(encoding_s)
    return {"ours_s": statistics.median(ours), "bare_s": statistics.median(bare),
            "champion_s": statistics.median(champion_s), "encode_s": statistics.median(encode_s), "n_fit": len(built.fit_on),
            "n_validation": len(built.validation), "metrics": built.outcome.metrics,
            "ours_runs": ours, "bare_runs": bare, "load_1min": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--kinds", default="", help="comma-separated labels of the table, e.g. "
                        "'text_classifier,text_classifier (multiple)' (default: all)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    with mock_aws():
        from chalicelib.store.aws import client, reset_clients
        from tests import kind_data

        reset_clients()
        s3 = client("s3")
        s3.create_bucket(Bucket="bench-media")
        wanted = [k for k in args.kinds.split(",") if k]
        urls = kind_data.put_digits(s3, "bench-media", range(1797)) if not wanted or "image_classifier" in wanted else []
        rows_by_kind = datasets(urls)
        report = []
        print(f"{'kind':<28}{'n':>6}{'distinct':>10}{'fit':>6}{'ours s':>10}{'bare s':>10}{'ratio':>8}"
              f"{'champion s':>12}{'encode s':>10}{'load':>6}")
        for label, (config_xml, rows) in rows_by_kind.items():
            if wanted and label not in wanted:
                continue
            for n in sizes:
                accepted = resample(rows, n)
                figures = measure(label, config_xml, accepted, args.repeat)
                ratio = figures["ours_s"] / figures["bare_s"]
                distinct = min(n, len(rows))
                print(f"{label:<28}{n:>6}{distinct:>10}{figures['n_fit']:>6}{figures['ours_s']:>10.2f}"
                      f"{figures['bare_s']:>10.2f}{ratio:>8.2f}{figures['champion_s']:>12.2f}{figures['encode_s']:>10.2f}"
                      f"{figures['load_1min']:>6.1f}", flush=True)
                report.append({"kind": label, "n": n, "distinct": distinct, **figures, "ratio": ratio})
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(json.dumps(report, indent=2))
    print(f"written to {OUT_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
