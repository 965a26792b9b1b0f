"""Benchmark: Label Studio's /health budget (1 s) on a cold start.

    .venv/bin/python bench/ls_health_cold.py [--runs 5]

Each run is a fresh interpreter that imports `app` and answers `GET /ls/health` (Basic auth)
given an API Gateway proxy event, as the Lambda runtime calls it: what a new container does
before its first answer (the runtime's own start is not included). Three trees, round-robin:

- the repository as checked out (with whatever __pycache__ it has: none where the environment
  sets PYTHONDONTWRITEBYTECODE, as this machine's does, so it compiles every time);
- what deployment.zip holds (app.py, chalicelib/ without local/, Chalice's runtime), from sources
  only and with bytecode writing off: a container whose read-only /var/task has no .pyc compiles
  them on every cold start (the package before `infra/package.py` added them);
- the same tree with its .pyc (3.12, unchecked-hash), as the package ships now.

Dependencies come from this interpreter's site-packages (compiled), as the layer's probed modules
and the runtime's boto3/botocore are. The baseline, measured in the same run, is a fresh
interpreter that only imports scikit-learn (what /health would cost if it loaded a model). Prints
medians and their ratios, with the CPU time besides the wall time (steadier on a shared machine).
No AWS is touched.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEALTH = (
    "import time; t0 = time.perf_counter()\n"
    "import base64, json, app\n"
    "event = {'resource': '/ls/health', 'path': '/ls/health', 'httpMethod': 'GET',\n"
    "         'headers': {'Authorization': 'Basic ' + base64.b64encode(b'u:p').decode()},\n"
    "         'multiValueHeaders': {}, 'queryStringParameters': None, 'multiValueQueryStringParameters': None,\n"
    "         'pathParameters': None, 'stageVariables': None, 'body': None, 'isBase64Encoded': False,\n"
    "         'requestContext': {'resourcePath': '/ls/health', 'httpMethod': 'GET', 'path': '/api/ls/health',\n"
    "                            'stage': 'api'}}\n"
    "class Context: function_name = 'api_handler'; aws_request_id = 'cold'; memory_limit_in_mb = 1024\n"
    "answer = app.app(event, Context())\n"
    "assert answer['statusCode'] == 200 and json.loads(answer['body'])['status'] == 'UP', answer\n"
    "print(time.perf_counter() - t0)\n"
)
SKLEARN = "import time; t0 = time.perf_counter()\nimport sklearn.linear_model\nprint(time.perf_counter() - t0)\n"
CPU = "import atexit, time; atexit.register(lambda: print(time.process_time()))\n"


def timed(code: str, cwd: Path = ROOT, no_bytecode: bool = False) -> tuple[float, float]:
    """(wall seconds as the code prints them, CPU seconds of the whole process, start-up included)."""
    env = {**os.environ, "ACTIVELABEL_LS_BASIC_AUTH": "u:p"}
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = subprocess.run([sys.executable, "-c", CPU + code], cwd=cwd,
                         capture_output=True, text=True, check=True, env=env)
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def package_tree(target: Path, compiled: bool) -> Path:
    """What deployment.zip holds, copied from this checkout (with .pyc when `compiled`)."""
    import chalice

    target.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", target / "app.py")
    shutil.copytree(ROOT / "chalicelib", target / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "local"))
    (target / "chalice").mkdir()
    for name in ("__init__.py", "app.py"):
        shutil.copy2(Path(chalice.__file__).with_name(name), target / "chalice" / name)
    if compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                        str(target)], check=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        sides = {
            "repository tree (as checked out)": (ROOT, False),
            "package tree, sources only (no .pyc, as before)": (package_tree(Path(tmp) / "src", False), True),
            "package tree with .pyc (as shipped now)": (package_tree(Path(tmp) / "pyc", True), True),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for _ in range(runs):
            for name, (cwd, no_bytecode) in sides.items():
                times[name].append(timed(HEALTH, cwd, no_bytecode))
        sklearn = [timed(SKLEARN)[0] for _ in range(runs)]
    base = statistics.median(sklearn)
    print(f"fresh process, import app + first /ls/health answer ({runs} runs each, round-robin; load "
          f"{os.getloadavg()[0]:.1f}):")
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {name:<50} median {wall:.3f} s wall, {cpu:.3f} s CPU (runs: "
              f"{', '.join(f'{v[0]:.3f}' for v in values)}); / sklearn import {wall / base:.2f}")
    print(f"baseline, fresh process importing scikit-learn only: median {base:.3f} s "
          "(Label Studio's budget for /health: 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
