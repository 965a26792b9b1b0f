"""Run the train and predict paths on a packaged layer, in whatever interpreter runs this file.

infra/package.py and tests/functional/infra/ run it with a bare CPython 3.12 (`-S -s`, no
site-packages) and PYTHONPATH = <unzipped app package>:<unzipped layer>:<what the Lambda runtime
provides>, so only what would ship is importable.

    layer_probe.py --json [--layer DIR] [--artifact FILE]
        import the Lambda entry point (app.py) and the train/predict modules, train the text
        classifier on SMS messages, serialize it (optionally to FILE), load it back through the
        serving path and predict; print a JSON report (predictions, accuracy on held-out
        messages, versions, the layer's modules that were imported).
    layer_probe.py --predict-from FILE
        the predict path from a cold process: import app, load FILE through serving, predict one
        message; print the seconds it took (the benchmark of cold imports from the layer).
"""
import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 - the clock starts before any import
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "sms_spam" / "data.jsonl"
# The same config as activelabel_client.datasets.SMS_LABEL_CONFIG, repeated on purpose: this probe runs
# on the Lambda package and layer alone, where activelabel_client is not shipped.
LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text" choice="single">
    <Choice value="ham"/>
    <Choice value="spam"/>
  </Choices>
</View>"""
N_TRAIN, N_TEST = 300, 200


def text_target():
    from chalicelib.labeling.config import parse_label_config
    from chalicelib.ml import registry

    kind = registry.get_kind("text_classifier")
    return kind, kind.targets(parse_label_config(LABEL_CONFIG))[0]


def pointer_for(body: bytes, model_version: str):
    import hashlib

    from chalicelib.ml import serving, training

    return serving.ModelPointer(bucket="probe", key="model.joblib", version_id="1",
                                sha256=hashlib.sha256(body).hexdigest(),
                                sklearn_version=training.sklearn_version(), model_version=model_version)


def load_rows() -> list[dict]:
    rows, seen = [], set()
    with open(DATA, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["text"] not in seen:
                seen.add(row["text"])
                rows.append(row)
    return rows


def train_and_predict(artifact: str | None) -> dict:
    import app  # noqa: F401 - the Lambda entry point must import from the package alone
    from chalicelib.api import predict  # noqa: F401 - the predict route's module
    from chalicelib.events import training_job  # noqa: F401 - the train worker's module
    from chalicelib.ml import serving, training

    rows = load_rows()
    train_rows, test_rows = rows[:N_TRAIN], rows[N_TRAIN:N_TRAIN + N_TEST]
    kind, target = text_target()
    accepted = [({"text": r["text"]}, {"label": [r["label"]]}) for r in train_rows]
    outcome = training.train(kind, target, accepted, seed=1)
    body = training.serialize(outcome.model)
    if artifact:
        Path(artifact).write_bytes(body)
    pointer = pointer_for(body, "v1")
    results = serving.predict(pointer, [{"text": r["text"]} for r in test_rows], lambda p: body)
    predicted = [r["result"][0]["value"]["choices"][0] for r in results]
    correct = sum(p == r["label"] for p, r in zip(predicted, test_rows))

    import numpy
    import scipy
    import sklearn

    return {
        "python": sys.version.split()[0],
        "versions": {"numpy": numpy.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
        "metrics": outcome.metrics,
        "n_test": len(test_rows),
        "test_accuracy": correct / len(test_rows),
        "first_result": results[0],
        "artifact_bytes": len(body),
        "max_rss_mb": max_rss_mb(),
    }


def max_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def layer_modules(layer: str) -> list[str]:
    root = Path(layer).resolve()
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path:
            try:
                found.add(Path(path).resolve().relative_to(root).as_posix())
            except ValueError:
                pass
    return sorted(found)


def predict_cold(artifact: str) -> dict:
    import app  # noqa: F401 - every function imports app.py first
    from chalicelib.api import predict  # noqa: F401
    from chalicelib.ml import serving

    imported = time.perf_counter()
    body = Path(artifact).read_bytes()
    results = serving.predict(pointer_for(body, "v1"), [{"text": "WIN a free prize now, call 0800"}],
                              lambda p: body)
    return {"import_app_seconds": imported - STARTED, "predict_path_seconds": time.perf_counter() - STARTED,
            "label": results[0]["result"][0]["value"]["choices"][0], "max_rss_mb": max_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--layer", help="report the modules imported from this directory")
    parser.add_argument("--artifact", help="also write the trained model here")
    parser.add_argument("--predict-from", help="time the cold predict path with this model")
    args = parser.parse_args()
    if args.predict_from:
        print(json.dumps(predict_cold(args.predict_from)))
        return
    report = train_and_predict(args.artifact)
    if args.layer:
        report["layer_modules"] = layer_modules(args.layer)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
