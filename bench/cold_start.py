"""Cold start of the predict path from the packaged layer, as Lambda would run it: every model kind.

    python bench/cold_start.py [--stage dev] [--runs 5]      (`make bench-cold-start`)

Unzips dist/<stage>/deployment.zip and layer.zip (build them with `make package`). Trains one model
per kind here on real data (SMS spam, WNUT-17, scikit-learn's breast cancer, diabetes and digits)
and writes its artifacts; then, for each, starts `--runs` fresh bare CPython 3.12 processes that see
only the package, the layer and what the Lambda runtime provides, and that each import app.py and
the predict route's module, check the artifact's sha256, load it through chalicelib.ml.serving and
predict one task. A run counts only if its prediction equals the one the trained model makes
here (the first *correct* prediction). Prints the median per kind for the numpy form (model.npz,
what predictions load) and, as the baseline measured in the same run, the joblib artifact of the
text classifier (what they loaded before). The image kind's fetch is replaced by reading the PNG's
bytes (decoding and features included). Also `/ls/health` cold from the same package.
Interpreter start-up is not included; Lambda's own init (and its slower CPU share at small memory
sizes) comes on top.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("activelabel_infra_package", ROOT / "infra" / "package.py")
package = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(package)  # the build's clean environment, as in the tests
clean_env, find_python312 = package.clean_env, package.find_python312

PROBE = r"""
import time
started = time.perf_counter()
import hashlib, json, sys
import app
from chalicelib.api import predict  # noqa: F401 - the route's module
from chalicelib.ml import serving
imported = time.perf_counter()
artifact, sha256, sklearn_version, samples, image = sys.argv[1:6]
if image:
    from chalicelib.store import media
    media.fetch = lambda url: open(image, "rb").read()

def fetch(pointer):
    body = open(artifact, "rb").read()
    assert hashlib.sha256(body).hexdigest() == pointer.sha256
    return body

pointer = serving.ModelPointer(bucket="b", key="k", version_id="1", sha256=sha256, sklearn_version=sklearn_version,
                               model_version="v1")
results = serving.predict(pointer, json.loads(samples), fetch)
done = time.perf_counter()
print(json.dumps({"import_app_seconds": imported - started, "predict_path_seconds": done - started,
                  "results": results, "sklearn_imported": "sklearn" in sys.modules}))
"""


def trained_models(tmp: Path, n_sms: int) -> list[dict]:
    """[{name, kind, artifact paths, one sample, the prediction expected}] for every kind."""
    import hashlib

    from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split
    from chalicelib.ml import numpy_form, training
    from chalicelib.ml.image_classifier import decode, image_features
    from chalicelib.ml.registry import get_kind
    from chalicelib.ml.span_tagger import SpanTagger
    from tests import kind_data

    def make(kind, config):
        return get_kind(kind).implementation()(kind_data.target(config, kind), seed=1)

    wnut = kind_data.wnut("train")[:1000]
    sentences = [r for r in wnut if r["spans"]]
    sms_pool, sms_test = sms_split(n_sms, 1, seed=1)
    cases = []

    def add(name, model, X, labels, sample, image=None):
        model.fit(X, labels)
        expected = model.predictions([sample], "v1") if image is None else None
        entry = {"name": name, "sample": sample, "image": image or ""}
        for form, body in (("npz", numpy_form.export(model)), ("joblib", training.serialize(model))):
            path = tmp / f"{name}.{form}"
            path.write_bytes(body)
            entry[form] = {"path": str(path), "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
        if image is not None:
            from chalicelib.store import media

            real_fetch, media.fetch = media.fetch, lambda url: Path(image).read_bytes()
            try:
                expected = model.predictions([sample], "v1")
            finally:
                media.fetch = real_fetch
        entry["expected"] = expected
        cases.append(entry)

    text = make("text_classifier", SMS_LABEL_CONFIG)
    add(f"text_classifier ({n_sms} SMS)", text, text.encode([r["text"] for r in sms_pool]),
        [r["label"] for r in sms_pool], {"text": "WIN a free prize now, call 0800"})
    taxonomy = make("taxonomy_classifier", kind_data.TAXONOMY_CONFIG)
    add("taxonomy_classifier", taxonomy, [r["text"] for r in sentences],
        ["\x1f".join(kind_data.TAXONOMY_OF[r["spans"][0]["label"]]) for r in sentences], {"text": sentences[0]["text"]})
    tagger: SpanTagger = make("ner_tagger", kind_data.NER_CONFIG)
    add("ner_tagger", tagger, [r["text"] for r in wnut], [kind_data.entity_spans(r) for r in wnut],
        {"text": "Going to see Taylor Swift in London with @mike tonight"})
    regressor = make("text_regressor", kind_data.COUNT_CONFIG)
    add("text_regressor", regressor, [r["text"] for r in wnut], [float(len(r["spans"])) for r in wnut],
        {"text": wnut[0]["text"]})
    rows = kind_data.breast_cancer_rows()
    tabular = make("tabular", kind_data.tabular_config("Choices"))
    add("tabular (Choices)", tabular, tabular.encode([r[0] for r in rows[:400]]), [r[1] for r in rows[:400]],
        {"x": rows[450][0]})
    rows = kind_data.diabetes_rows()
    tabular = make("tabular", kind_data.tabular_config("Number"))
    add("tabular (Number)", tabular, tabular.encode([r[0] for r in rows[:400]]), [r[1] for r in rows[:400]],
        {"x": rows[420][0]})
    from sklearn.datasets import load_digits

    digits = load_digits()
    pngs = [kind_data.digit_png(digits.data[i]) for i in range(501)]
    image = make("image_classifier", kind_data.DIGITS_CONFIG)
    X = [image_features(decode(png)) for png in pngs[:500]]
    png_path = tmp / "digit.png"
    png_path.write_bytes(pngs[500])
    import numpy as np

    add("image_classifier", image, np.vstack(X), [str(d) for d in digits.target[:500]],
        {"image": "s3://media/digit.png"}, image=str(png_path))
    return cases


def comparable(predictions: list[dict]) -> list[dict]:
    """Predictions without their result items' random ids, scores to 9 decimals (the numpy form
    agrees with scikit-learn to rounding)."""
    return [{**p, "result": [{k: round(v, 9) if k == "score" else v for k, v in item.items() if k != "id"}
                             for item in p["result"]]} for p in predictions]


def cold_runs(python: str, paths: list[Path], case: dict, form: str, runs: int, cwd: Path) -> list[dict]:
    import sklearn

    out = []
    for _ in range(runs):
        answer = subprocess.run(
            [python, "-S", "-s", "-c", PROBE, case[form]["path"], case[form]["sha256"], sklearn.__version__,
             json.dumps([case["sample"]]), case["image"]],
            cwd=cwd, env=clean_env(*paths), capture_output=True, text=True)
        if answer.returncode:
            raise RuntimeError(f"{case['name']} ({form}): {answer.stderr[-2000:]}")
        result = json.loads(answer.stdout)
        if comparable(result["results"]) != comparable(case["expected"]):
            raise AssertionError(f"{case['name']} ({form}): cold prediction {result['results']} != {case['expected']}")
        out.append(result)
    return out


def health_runs(python: str, paths: list[Path], runs: int, cwd: Path) -> list[float]:
    sys.path.insert(0, str(ROOT / "bench"))
    from ls_health_cold import HEALTH

    env = {**clean_env(*paths), "ACTIVELABEL_LS_BASIC_AUTH": "u:p"}
    return [float(subprocess.run([python, "-S", "-s", "-c", HEALTH], cwd=cwd, env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()) for _ in range(runs)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sms", type=int, default=300, help="SMS messages the text classifier learns from")
    args = parser.parse_args()
    python = find_python312()
    dist = ROOT / "dist" / args.stage
    report = json.loads((dist / "report.json").read_text())
    runtime_provided = ROOT / "dist" / ".layer-cache" / report["layer_key"] / "runtime-provided"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with zipfile.ZipFile(dist / "deployment.zip") as z:
            z.extractall(tmp / "task")
        with zipfile.ZipFile(dist / "layer.zip") as z:
            z.extractall(tmp / "opt")
        paths = [tmp / "task", tmp / "opt" / "python", runtime_provided]
        cases = trained_models(tmp, args.sms)
        print(f"cold predict path from dist/{args.stage}, bare {python} -S -s, {args.runs} fresh processes each; "
              "import app + route module + sha256 check + load + predict one task (first correct prediction); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
        medians = {}
        for case in cases:
            forms = ("npz", "joblib") if case["name"].startswith("text_classifier") else ("npz",)
            for form in forms:
                results = cold_runs(python, paths, case, form, args.runs, tmp)
                totals = [r["predict_path_seconds"] for r in results]
                medians[(case["name"], form)] = statistics.median(totals)
                label = f"{case['name']}, {'numpy form' if form == 'npz' else 'baseline: joblib'}"
                print(f"  {label:<46} median {ms(statistics.median(totals))} (min {ms(min(totals)).strip()}, "
                      f"max {ms(max(totals)).strip()}); import app {ms(statistics.median(r['import_app_seconds'] for r in results)).strip()}; "
                      f"artifact {case[form]['bytes'] / 1024:.0f} KiB; "
                      f"sklearn imported: {any(r['sklearn_imported'] for r in results)}")
        text = next(name for name, _ in medians if name.startswith("text_classifier"))
        print(f"ratio text_classifier numpy form / joblib: {medians[(text, 'npz')] / medians[(text, 'joblib')]:.2f}")
        health = health_runs(python, paths, args.runs, tmp)
        print(f"/ls/health cold (import app + first answer) from the same package: median {ms(statistics.median(health))} "
              f"(min {ms(min(health)).strip()}, max {ms(max(health)).strip()}); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
