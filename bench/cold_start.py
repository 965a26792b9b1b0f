"""Cold start of the predict path from the packaged layer, as Lambda would run it.

    python bench/cold_start.py [--stage dev] [--runs 5]      (`make bench-cold-start`)

Unzips dist/<stage>/deployment.zip and layer.zip (build them with `make package`), trains one SMS
model in a bare CPython 3.12 on them, then starts `--runs` fresh processes that each import app.py,
load that model through chalicelib.ml.serving and predict one message (infra/layer_probe.py
--predict-from). Prints the median and the spread, with the layer as shipped (.pyc for the
imported modules) and, as the baseline measured in the same run, the same layer with its .pyc
removed (what every cold start on Lambda's read-only /opt would pay without them).
Interpreter start-up is not included; Lambda's own init (and its slower CPU share at small memory
sizes) comes on top.
"""
import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("activelabel_infra_package", ROOT / "infra" / "package.py")
package = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(package)  # the build's clean environment, as in the tests
clean_env, find_python312 = package.clean_env, package.find_python312

PROBE = ROOT / "infra" / "layer_probe.py"


def cold_runs(python: str, paths: list[Path], artifact: Path, runs: int, cwd: Path) -> list[dict]:
    results = []
    for _ in range(runs):
        out = subprocess.run([python, "-S", "-s", str(PROBE), "--predict-from", str(artifact)], cwd=cwd,
                             env=clean_env(*paths), capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout))
    return results


def summary(label: str, results: list[dict]) -> float:
    imports = [r["import_app_seconds"] for r in results]
    totals = [r["predict_path_seconds"] for r in results]
    print(f"{label:<28} import app: median {statistics.median(imports) * 1000:6.0f} ms | "
          f"import app + load model + predict: median {statistics.median(totals) * 1000:6.0f} ms "
          f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f}, n={len(totals)}); "
          f"peak RSS {max(r['max_rss_mb'] for r in results):.0f} MB")
    return statistics.median(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--runs", type=int, default=5)
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
        artifact = tmp / "model.joblib"
        trained = json.loads(subprocess.run(
            [python, "-S", "-s", str(PROBE), "--json", "--artifact", str(artifact)], cwd=tmp,
            env=clean_env(*paths), capture_output=True, check=True, text=True).stdout)
        print(f"train path (300 SMS messages, holdout + refit): peak RSS {trained['max_rss_mb']:.0f} MB, "
              f"model {trained['artifact_bytes'] / 1024:.0f} KiB")
        print(f"cold predict path from dist/{args.stage}, bare {python} -S -s, {args.runs} fresh processes each:")
        shipped = summary("layer as shipped (.pyc)", cold_runs(python, paths, artifact, args.runs, tmp))
        for cache in (tmp / "opt" / "python").rglob("__pycache__"):
            shutil.rmtree(cache)
        baseline = summary("baseline: no .pyc", cold_runs(python, paths, artifact, args.runs, tmp))
        print(f"ratio shipped / baseline: {shipped / baseline:.2f}")


if __name__ == "__main__":
    main()
