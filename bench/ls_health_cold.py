"""Benchmark: Label Studio's /health budget (1 s) on a cold start.

    .venv/bin/python bench/ls_health_cold.py [--runs 5]

Each run is a fresh interpreter that imports `app` and answers `GET /ls/health` (Basic auth)
given an API Gateway proxy event, as the Lambda runtime calls it: what a new container does
before its first answer (the runtime's own start is not included). The
baseline, measured in the same run, is a fresh interpreter that only imports scikit-learn (what
/health would cost if it loaded a model). Prints medians and their ratio. No AWS is touched.
"""
import argparse
import os
import statistics
import subprocess
import sys
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


def timed(code: str) -> float:
    env = {**os.environ, "ACTIVELABEL_LS_BASIC_AUTH": "u:p"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    health = [timed(HEALTH) for _ in range(runs)]
    sklearn = [timed(SKLEARN) for _ in range(runs)]
    h, s = statistics.median(health), statistics.median(sklearn)
    print(f"fresh process, import app + first /ls/health answer: median {h:.3f} s (runs: "
          f"{', '.join(f'{x:.3f}' for x in health)})")
    print(f"baseline, fresh process importing scikit-learn only:  median {s:.3f} s")
    print(f"ratio health / sklearn import: {h / s:.2f} (Label Studio's budget for /health: 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
