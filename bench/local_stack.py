"""The embedded stack holding a real project: import N SMS-like tasks, half of them with one
annotation, into `python -m chalicelib.local serve` (what `make serve` runs, state kept in a
temporary directory), and measure the server.

    .venv/bin/python bench/local_stack.py [--tasks 20000] [--annotated 10000] [--batch 500]
                                          [--out bench/results/local_stack.json]

Reports: wall time until the stream has counted every annotation and a model trained on them is
promoted; the server's peak RSS (VmHWM) and RSS per stored completion; the import time per 1,000
completions, first vs last, and the same for the stream's counting. Must: every annotation
counted exactly once, peak RSS under 2 GB, last 1,000 within 1.5x of the first 1,000.

The project trains once, when every annotation is counted (min_completions = --annotated), so the
figures are about storage and the stream, not about repeated trainings. The server is a child
process on 127.0.0.1, stopped by its PID.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from activelabel_client.client import ActivelabelClient  # noqa: E402
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, sms_spam  # noqa: E402

READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+) \(admin token: ([^;]+);")


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def sms_like(n: int, annotated: int) -> list[dict]:
    """n distinct SMS-like texts (the SMS corpus, cycled with a serial number), the first
    `annotated` of every two with one completion."""
    rows = sms_spam()
    tasks = []
    step = max(1, round(n / annotated)) if annotated else 0
    done = 0
    for i in range(n):
        row = rows[i % len(rows)]
        task = {"data": {"text": f"{row['text']} #{i}"}}
        if annotated and i % step == 0 and done < annotated:
            task["annotations"] = [choice_completion(row["label"], "bench")]
            done += 1
        tasks.append(task)
    return tasks


def per_thousand(times: list[tuple[int, float]], total: int) -> tuple[float | None, float | None]:
    """Seconds for the first and the last 1,000 of a (count, time) series."""
    def time_at(count: int) -> float | None:
        for c, t in times:
            if c >= count:
                return t
        return None

    first = time_at(1000)
    start = times[0][1] if times else None
    last_a, last_b = time_at(total - 1000), time_at(total)
    return ((first - start) if first is not None and start is not None else None,
            (last_b - last_a) if last_a is not None and last_b is not None else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--annotated", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    tasks = sms_like(args.tasks, args.annotated)
    n_annotated = sum(1 for t in tasks if "annotations" in t)
    state_dir = tempfile.mkdtemp(prefix="activelabel-bench-state-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ACTIVELABEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local", "serve", "--port", "0", "--schedule-every",
         "0", "--state-dir", state_dir], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    try:
        url = token = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the server did not start")
            m = READY.search(line)
            if m:
                url, token = m.group(1), m.group(2)
        time.sleep(1.0)
        rss_start = rss_kb(proc.pid)

        def sample() -> None:
            while not stop.wait(0.5):
                try:
                    samples.append((time.monotonic(), rss_kb(proc.pid)))
                except OSError:
                    return

        threading.Thread(target=sample, daemon=True).start()
        counted_at: list[tuple[int, float]] = []
        imported_at: list[tuple[int, float]] = []
        with ActivelabelClient(url, token, timeout=600) as api:
            project = api.create_project("bench local stack", SMS_LABEL_CONFIG, ml={
                "min_completions": n_annotated, "retrain_every": n_annotated})
            pid = project["id"]
            t0 = time.monotonic()
            imported_at.append((0, t0))
            counted_at.append((0, t0))
            done_annotated = 0
            counter_stop = threading.Event()

            def watch_count() -> None:
                with ActivelabelClient(url, token, timeout=600) as watcher:
                    while not counter_stop.wait(0.5):
                        try:
                            counted_at.append((watcher.training(pid)["completions"],
                                               time.monotonic()))
                        except Exception:  # noqa: BLE001 - keep sampling
                            pass

            watcher = threading.Thread(target=watch_count, daemon=True)
            watcher.start()
            for start in range(0, len(tasks), args.batch):
                chunk = tasks[start:start + args.batch]
                api.request("POST", f"/api/projects/{pid}/tasks", chunk)
                done_annotated += sum(1 for t in chunk if "annotations" in t)
                imported_at.append((done_annotated, time.monotonic()))
                print(f"imported {start + len(chunk)} tasks ({done_annotated} annotated) at "
                      f"{time.monotonic() - t0:.1f}s, server RSS "
                      f"{rss_kb(proc.pid) / 1024:.0f} MB, counted "
                      f"{counted_at[-1][0]}", flush=True)
            import_s = time.monotonic() - t0
            deadline = t0 + args.timeout
            model = None
            while time.monotonic() < deadline:
                state = api.training(pid)
                model = api.active_model_version(pid)
                if state["completions"] >= n_annotated and model:
                    break
                time.sleep(1.0)
            wall_s = time.monotonic() - t0
            counter_stop.set()
            watcher.join(timeout=5)
            final = api.training(pid)
            counted_at.append((final["completions"], time.monotonic()))
        peak_kb = rss_kb(proc.pid, "VmHWM")
        end_kb = rss_kb(proc.pid)
    finally:
        stop.set()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    state_mb = sum(p.stat().st_size for p in Path(state_dir).iterdir()) / 2**20
    imp_first, imp_last = per_thousand(imported_at, n_annotated)
    cnt_first, cnt_last = per_thousand(sorted(counted_at), n_annotated)
    result = {
        "tasks": len(tasks), "annotated": n_annotated, "batch": args.batch,
        "counted": final["completions"], "exactly_once": final["completions"] == n_annotated,
        "model_version": (model or {}).get("model_version"),
        "n_train": (model or {}).get("n_train"),
        "import_s": round(import_s, 1), "wall_s_to_counted_and_promoted": round(wall_s, 1),
        "rss_start_mb": round(rss_start / 1024, 1), "rss_peak_mb": round(peak_kb / 1024, 1),
        "rss_end_mb": round(end_kb / 1024, 1),
        "rss_per_completion_kb": round((peak_kb - rss_start) / max(n_annotated, 1), 2),
        "import_s_first_1000": imp_first and round(imp_first, 2),
        "import_s_last_1000": imp_last and round(imp_last, 2),
        "import_last_over_first": round(imp_last / imp_first, 2) if imp_first and imp_last else None,
        "count_s_first_1000": cnt_first and round(cnt_first, 2),
        "count_s_last_1000": cnt_last and round(cnt_last, 2),
        "state_dir_mb": round(state_mb, 1),
        "must": {"exactly_once": final["completions"] == n_annotated,
                 "peak_under_2gb": peak_kb < 2 * 2**20,
                 "last_within_1.5x_first": bool(imp_first and imp_last
                                                and imp_last <= 1.5 * imp_first)},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(result["must"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
