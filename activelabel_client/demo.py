"""The guided demo: the whole active-learning loop on SMS spam, over HTTP, in a few seconds.

`python -m activelabel_client demo [--port 8000] [--exit-after] [--n-tasks 300] [--n-complete 40]
[--min-completions 20] [--use-running]`

Unless `--use-running` (then `--url`/`--token` name a server that already runs), the local stack
(embedded moto + API + event pump, `chalicelib.local.server.start_stack`) is started in this
process. Then, section by section: create a Text+Choices project, import SMS messages, label some
of them as a simulated annotator (training starts by itself once `accepted_tasks` reaches
`min_completions`: the demo never calls /train), wait for the promoted model, show its metrics,
predict unseen messages, measure accuracy on a held-out test set, and show that two disagreeing
completions do not make a task accepted.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from activelabel_client.client import ActivelabelClient, ApiError, ModelNotReady
from activelabel_client.datasets import (
    SMS_LABEL_CONFIG,
    choice_completion,
    classes_first,
    sms_split,
)

AGREEMENT_THRESHOLD = 0.6
PLAUSIBLE_ACCURACY = 0.8  # below this the demo reports failure (always answering "ham" scores ~0.89)
SPLIT_SEED = 7
ANNOTATOR = "annotator-1"


@dataclass
class DemoOutcome:
    """What the demo established; `ok` decides the exit status with --exit-after."""

    project_id: str | None = None
    model_version: str | None = None
    metrics: dict = field(default_factory=dict)
    test_accuracy: float | None = None
    n_test: int = 0
    disagreement_not_accepted: bool | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (self.error is None and self.model_version is not None
                and self.test_accuracy is not None and self.test_accuracy >= PLAUSIBLE_ACCURACY
                and self.disagreement_not_accepted is not False)


def say(line: str = "") -> None:
    print(line, flush=True)


def section(number: int, title: str) -> None:
    say()
    say(f"== {number}. {title} " + "=" * max(3, 66 - len(title)))


def shorten(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def fmt_number(value: Any, digits: int = 3) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


class TrainingWatcher:
    """Prints the /training state whenever it moves (state, model version, threshold reached)."""

    def __init__(self, min_completions: int, write: Callable[[str], None]):
        self.min_completions = min_completions
        self.write = write
        self.last: dict | None = None
        self.threshold_announced = False

    def see(self, state: dict, after: str = "") -> None:
        previous = self.last or {}
        prefix = f"[{after}] " if after else ""
        accepted = state.get("accepted_tasks", 0)
        if not self.threshold_announced and accepted >= self.min_completions:
            self.threshold_announced = True
            self.write(f"  {prefix}accepted_tasks = {accepted} reached min_completions = "
                       f"{self.min_completions}: the completions stream queues a training by itself")
        if state.get("state") != previous.get("state"):
            self.write(f"  {prefix}/training state: {previous.get('state', '-')} -> {state.get('state')} "
                       f"(accepted_tasks {accepted}, completions {state.get('completions')})")
            if state.get("state") == "failed" and state.get("last_error"):
                self.write(f"  {prefix}last_error: {state['last_error']}")
        if state.get("model_version") != previous.get("model_version") and state.get("model_version"):
            self.write(f"  {prefix}model {state['model_version']} promoted (accepted_tasks {accepted})")
        self.last = state


def run_demo(api: ActivelabelClient, *, n_tasks: int = 300, n_complete: int = 40,
             min_completions: int = 20, n_test: int = 200, seed: int = SPLIT_SEED,
             model_timeout: float = 90.0, progress: bool = True) -> DemoOutcome:
    """Drive the loop through `api`, printing each step; never raises ApiError (see `.error`)."""
    outcome = DemoOutcome()
    try:
        _run(api, outcome, n_tasks=n_tasks, n_complete=n_complete, min_completions=min_completions,
             n_test=n_test, seed=seed, model_timeout=model_timeout, progress=progress)
    except ModelNotReady as exc:
        outcome.error = exc.message
        say(f"\n!! no model: {exc.message}")
    except ApiError as exc:
        outcome.error = str(exc)
        say(f"\n!! the API answered an error: {exc}")
    return outcome


def _run(api: ActivelabelClient, outcome: DemoOutcome, *, n_tasks: int, n_complete: int,
         min_completions: int, n_test: int, seed: int, model_timeout: float, progress: bool) -> None:
    from tqdm import tqdm

    # 1. project
    section(1, "Create a Text + Choices project")
    ml = {"min_completions": min_completions, "agreement_threshold": AGREEMENT_THRESHOLD}
    project = api.create_project("SMS spam (demo)", SMS_LABEL_CONFIG, ml=ml)
    project_id = outcome.project_id = project["id"]
    models = ", ".join(m["name"] for m in api.models(project_id)) or "none"
    say(f"project {project_id} '{project['title']}': choices ham / spam on $text")
    say(f"ML settings: min_completions={project['ml']['min_completions']}, "
        f"agreement_threshold={project['ml']['agreement_threshold']}, model={project['ml'].get('model')} "
        f"(fitting models: {models})")

    # 2. tasks
    section(2, f"Import {n_tasks} SMS messages as tasks")
    pool, test = sms_split(n_tasks, n_test, seed=seed)
    task_ids = api.import_tasks(project_id, [{"data": {"text": row["text"]}} for row in pool],
                                progress=progress)
    n_spam_test = sum(row["label"] == "spam" for row in test)
    say(f"imported {len(task_ids)} tasks (ids {task_ids[0]}..{task_ids[-1]}); "
        f"{len(test)} other messages are held out for testing ({n_spam_test} spam)")

    # 3. completions from a simulated annotator
    section(3, f"Label {n_complete} tasks as a simulated annotator")
    # Spam is rare (~13%): a class-balanced start (like a seed set) gives every training both classes.
    order = classes_first(pool, per_class=max(3, n_complete // 4))
    labelled, spare = order[:n_complete], order[n_complete:]
    n_spam = sum(pool[i]["label"] == "spam" for i in labelled)
    say(f"'{ANNOTATOR}' labels {n_complete} tasks from the ground truth ({n_spam} spam, "
        f"{n_complete - n_spam} ham: a class-balanced start, so the first training sees both classes).")
    say(f"Nobody calls /train: watch /training as accepted_tasks reaches min_completions = {min_completions}.")
    bar = tqdm(total=n_complete, desc="completions", unit="task", disable=not progress)
    watcher = TrainingWatcher(min_completions, bar.write if progress else say)
    watcher.last = api.training(project_id)
    started = time.monotonic()
    for n, index in enumerate(labelled, start=1):
        completion = choice_completion(pool[index]["label"], ANNOTATOR)
        api.add_completion(project_id, task_ids[index], completion["result"], completion["completed_by"])
        bar.update(1)
        # Like a human annotator, take a moment per task: here until the stream has counted it.
        watcher.see(wait_for_completions(api, project_id, n, timeout=5.0), after=f"after {n} completions")
    bar.close()

    # 4. the model
    section(4, "Wait for the promoted model")
    final = api.wait_for_model(project_id, timeout=model_timeout, settled=True,
                               on_state=lambda state: watcher.see(state, after="waiting"))
    outcome.model_version = final["model_version"]
    say(f"model_version {final['model_version']} is active ({time.monotonic() - started:.1f} s after "
        f"the first completion); accepted_tasks {final['accepted_tasks']}, completions {final['completions']}")
    versions = api.model_versions(project_id)
    say()
    say(f"  {'version':<8} {'active':<6} {'n_train':>7} {'accuracy':>8} {'macro-F1':>8}  evaluation")
    for version in versions:
        metrics = version.get("metrics") or {}
        say(f"  {version['model_version']:<8} {'yes' if version['active'] else '':<6} "
            f"{version['n_train']:>7} {fmt_number(metrics.get('accuracy')):>8} "
            f"{fmt_number(metrics.get('macro_f1')):>8}  {metrics.get('method', '-')} "
            f"(n_eval {metrics.get('n_eval', '-')})")
        if version["active"]:
            outcome.metrics = metrics

    # 5. a few predictions
    section(5, "Predict new messages (never imported)")
    examples = [test[i] for i in classes_first(test, per_class=4)[:8]]
    results = api.predict(project_id, tasks=[{"data": {"text": row["text"]}} for row in examples])
    say(f"  {'predicted':<9} {'score':>5}  {'truth':<5}  text")
    for row, result in zip(examples, results):
        label = predicted_label(result)
        mark = "" if label == row["label"] else "  <- wrong"
        say(f"  {label:<9} {result['score']:>5.2f}  {row['label']:<5}  {shorten(row['text'], 60)}{mark}")

    # 6. accuracy on the held-out test set
    section(6, f"Evaluate on the {len(test)} held-out messages")
    results = api.predict(project_id, samples=[{"text": row["text"]} for row in test])
    correct = [predicted_label(r) == row["label"] for r, row in zip(results, test)]
    outcome.test_accuracy = sum(correct) / len(correct)
    outcome.n_test = len(test)
    spam_rows = [ok for ok, row in zip(correct, test) if row["label"] == "spam"]
    spam_recall = sum(spam_rows) / len(spam_rows) if spam_rows else None
    say(f"accuracy {outcome.test_accuracy:.3f} on {len(test)} messages (spam recall "
        f"{fmt_number(spam_recall, 2)}; always answering 'ham' would score "
        f"{1 - n_spam_test / len(test):.3f}); model {results[0]['model_version'] if results else '-'}")

    # 7. disagreement
    section(7, "Two disagreeing completions are not accepted")
    if not spare:
        say("(no unlabelled task left for this step; import more tasks than you label)")
        return
    index = spare[0]
    task_id = task_ids[index]
    before = api.training(project_id)
    for label, annotator in (("spam", "annotator-a"), ("ham", "annotator-b")):
        completion = choice_completion(label, annotator)
        api.add_completion(project_id, task_id, completion["result"], completion["completed_by"])
    say(f"task {task_id} ({shorten(pool[index]['text'], 50)!r}): annotator-a says spam, annotator-b says ham")
    after = wait_for_completions(api, project_id, before["completions"] + 2)
    task = api.get_task(project_id, task_id)
    outcome.disagreement_not_accepted = (after["accepted_tasks"] == before["accepted_tasks"]
                                         and not task.get("is_labeled"))
    say(f"agreement {fmt_number(task.get('agreement'), 2)} < agreement_threshold {AGREEMENT_THRESHOLD}: "
        f"is_labeled {task.get('is_labeled')}; accepted_tasks {before['accepted_tasks']} -> "
        f"{after['accepted_tasks']} (completions {before['completions']} -> {after['completions']})")


def predicted_label(result: dict) -> str:
    """The first choice of a Label Studio prediction."""
    for item in result.get("result", []):
        choices = (item.get("value") or {}).get("choices")
        if choices:
            return choices[0]
    return "?"


def wait_for_completions(api: ActivelabelClient, project_id: str, count: int, timeout: float = 15.0) -> dict:
    """Poll /training until the stream has counted `count` completions; returns the last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = api.training(project_id)
        if state["completions"] >= count or time.monotonic() >= deadline:
            return state
        time.sleep(0.2)


def print_summary(outcome: DemoOutcome) -> None:
    section(8, "Summary")
    say(f"project {outcome.project_id}: model {outcome.model_version or '-'}, "
        f"test accuracy {fmt_number(outcome.test_accuracy)} on {outcome.n_test} messages, "
        f"disagreement not accepted: {outcome.disagreement_not_accepted}")
    say("demo OK" if outcome.ok else f"demo FAILED: {outcome.error or 'accuracy or agreement check failed'}")


def print_cli_help(url: str, token: str, project_id: str | None) -> None:
    pid = project_id or "1"
    say()
    say(f"The local stack keeps serving at {url} (admin token {token}). Ctrl-C stops it.")
    say("Try the CLI from another terminal:")
    say(f"  export ACTIVELABEL_URL={url} ACTIVELABEL_TOKEN={token}")
    say("  python -m activelabel_client projects")
    say(f"  python -m activelabel_client status {pid}")
    say(f"  python -m activelabel_client predict {pid} --text \"WINNER! Claim your free prize now\" "
        "--text \"see you at lunch\"")
    say(f"  python -m activelabel_client export {pid} -o export.json")


def wait_until_interrupted() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `demo` command's options (the global --url/--token come from the CLI)."""
    parser.add_argument("--port", type=int, default=8000,
                        help="port of the in-process local stack (0: any free port; default 8000)")
    parser.add_argument("--use-running", action="store_true",
                        help="do not start a stack: use the server at --url with --token")
    parser.add_argument("--exit-after", action="store_true",
                        help="stop after the demo (exit 0 when it succeeded) instead of serving on")
    parser.add_argument("--n-tasks", type=int, default=300, help="SMS messages to import (default 300)")
    parser.add_argument("--n-complete", type=int, default=40, help="tasks to label (default 40)")
    parser.add_argument("--min-completions", type=int, default=20,
                        help="accepted tasks before the first training (default 20)")
    parser.add_argument("--n-test", type=int, default=200, help="held-out messages to evaluate on (default 200)")
    parser.add_argument("--seed", type=int, default=SPLIT_SEED, help="seed of the pool/test split")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_sizes(args: argparse.Namespace) -> str | None:
    """Why the sizes cannot make a working demo, or None."""
    if args.n_complete < args.min_completions:
        return (f"--n-complete {args.n_complete} < --min-completions {args.min_completions}: "
                "training would never start")
    if args.n_tasks <= args.n_complete:
        return "--n-tasks must exceed --n-complete (one unlabelled task shows disagreement)"
    if args.min_completions < 1 or args.n_test < 1:
        return "--min-completions and --n-test must be >= 1"
    return None


def main(args: argparse.Namespace) -> int:
    """The `demo` command. Returns the exit status."""
    problem = check_sizes(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    sizes = dict(n_tasks=args.n_tasks, n_complete=args.n_complete, min_completions=args.min_completions,
                 n_test=args.n_test, seed=args.seed, progress=not args.no_progress)

    if args.use_running:
        if not args.token:
            print("error: --use-running needs --token (or ACTIVELABEL_TOKEN)", file=sys.stderr)
            return 2
        say(f"Using the activelabel server at {args.url}")
        with ActivelabelClient(args.url, args.token) as api:
            outcome = run_demo(api, **sizes)
        print_summary(outcome)
        return 0 if outcome.ok else 1

    section(0, "Start the local stack (embedded moto + API + event pump)")
    from chalicelib.local.server import (
        start_stack,  # heavy imports only when the demo runs
    )

    started = time.monotonic()
    try:
        stack = start_stack(port=args.port)
    except OSError as exc:  # typically: the port is taken
        print(f"error: cannot start the local stack on port {args.port}: {exc} "
              "(try --port 0 for any free port)", file=sys.stderr)
        return 1
    try:
        say(f"API on {stack.url}, AWS (moto) on {stack.aws_endpoint}, ready in "
            f"{time.monotonic() - started:.1f} s; admin token {stack.admin_token}")
        with ActivelabelClient(stack.url, stack.admin_token) as api:
            outcome = run_demo(api, **sizes)
        print_summary(outcome)
        if args.exit_after:
            return 0 if outcome.ok else 1
        print_cli_help(stack.url, stack.admin_token, outcome.project_id)
        wait_until_interrupted()
        say("stopping the local stack")
        return 0 if outcome.ok else 1
    finally:
        stack.stop()
