"""What the text classifier's character n-grams buy, and what they cost, in one run.

    .venv/bin/python bench/text_features.py [--seeds 3]

The text kinds learn TF-IDF word 1-2-grams plus word-bounded character 2-5-grams
(chalicelib/ml/text_classifier.text_features) feeding the same logistic regression. This compares,
on the same splits and seeds, that union against word 1-2-grams alone and against the union with
the character vocabulary capped (max_features), on:
- SMS spam (binary), 100 and 1,000 training texts, 1,000 held out;
- WNUT-17 sentences (topic-free tweets) with at least one entity, their first entity's type
  (a 6-class single-choice set built from the fixtures), 500 and 2,000 training sentences, the
  WNUT test split held out;
- the same sentences' set of entity types (multilabel, one-vs-rest), 500 training sentences.
Reports macro-F1 (mean over seeds), the time to predict 100 held-out texts in-process through the
numpy serving form with its word cache emptied before each call (the worst case) and warm, the fit
time and the numpy artifact's size. Nothing is asserted; the figures go to bench/results/README.md.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split  # noqa: E402
from tests import kind_data  # noqa: E402

TYPES_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="type" toName="text">'
                + "".join(f'<Choice value="{t}"/>' for t in kind_data.ENTITY_TYPES) + "</Choices></View>")


def variants():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    def words():
        return TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)

    def chars(cap=None):
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=1, sublinear_tf=True, max_features=cap)

    return {
        "words 1-2 + chars 2-5 (shipped)": lambda: FeatureUnion([("words", words()), ("chars", chars())]),
        "words 1-2 only": words,
        "words 1-2 + chars 2-5 capped 20k": lambda: FeatureUnion([("words", words()), ("chars", chars(20_000))]),
        "words 1-2 + chars 2-5 capped 5k": lambda: FeatureUnion([("words", words()), ("chars", chars(5_000))]),
    }


def datasets(seed: int):
    wnut_train = [r for r in kind_data.wnut("train") if r["spans"]]
    wnut_test = [r for r in kind_data.wnut("test") if r["spans"]]
    import random

    random.Random(seed).shuffle(wnut_train)
    out = []
    for n in (100, 1000):
        pool, test = sms_split(n, 1000, seed=seed)
        out.append((f"SMS spam, {n} train", SMS_LABEL_CONFIG, [r["text"] for r in pool], [r["label"] for r in pool],
                    [r["text"] for r in test], [r["label"] for r in test]))
    for n in (500, 2000):
        out.append((f"WNUT first entity type (6 classes), {n} train", TYPES_CONFIG,
                    [r["text"] for r in wnut_train[:n]], [r["spans"][0]["label"] for r in wnut_train[:n]],
                    [r["text"] for r in wnut_test], [r["spans"][0]["label"] for r in wnut_test]))

    def types(r):
        return tuple(sorted({s["label"] for s in r["spans"]}))

    out.append(("WNUT entity types (multilabel), 500 train", kind_data.TOPICS_CONFIG,
                [r["text"] for r in wnut_train[:500]], [types(r) for r in wnut_train[:500]],
                [r["text"] for r in wnut_test], [types(r) for r in wnut_test]))
    return out


def measure(name, config, features, X, y, X_test, y_test):
    from chalicelib.ml import numpy_form, training
    from chalicelib.ml.registry import get_kind

    model = get_kind("text_classifier").implementation()(kind_data.target(config, "text_classifier"))
    model.features = features
    started = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - started
    del model.features  # the model's state is exported as JSON: no function in it
    problem = model.problem
    f1 = training.scores(problem, y_test, model.predict(X_test))["macro_f1"]
    body = numpy_form.export(model)
    served = numpy_form.load(body)
    samples = [{"text": t} for t in X_test[:100]]

    def caches():
        first = served.estimator.steps[0][1]
        parts = getattr(first, "parts", [first])
        return [p._word_columns for p in parts if hasattr(p, "_word_columns")]

    def timed(empty: bool) -> float:
        times = []
        for _ in range(7):
            if empty:
                for cache in caches():
                    cache.clear()
            t = time.perf_counter()
            served.predictions(samples, "v1")
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    return {"macro_f1": f1, "fit_s": fit_s, "predict100_cold_ms": timed(True), "predict100_warm_ms": timed(False),
            "npz_kib": len(body) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    table: dict = {}
    for seed in range(args.seeds):
        for name, config, X, y, X_test, y_test in datasets(seed):
            for variant, features in variants().items():
                table.setdefault((name, variant), []).append(measure(name, config, features, X, y, X_test, y_test))
    print(f"{'data':<46} {'features':<34} {'macro-F1':>8} {'fit s':>6} {'100 cold ms':>11} {'100 warm ms':>11} "
          f"{'npz KiB':>8}   (means over {args.seeds} seeds)")
    for (name, variant), runs in table.items():
        mean = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        print(f"{name:<46} {variant:<34} {mean['macro_f1']:>8.4f} {mean['fit_s']:>6.2f} "
              f"{mean['predict100_cold_ms']:>11.1f} {mean['predict100_warm_ms']:>11.1f} {mean['npz_kib']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
