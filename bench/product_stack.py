"""What the benchmarks that drive the product share: the data sets as projects, the local stack,
and a simulated annotator working through `GET /next`.

Used by bench/active_learning.py (`--product`) and bench/auto_label.py. The local stack is the
embedded one (`chalicelib.local.server.start_stack`: moto, the event pump, the HTTP server on
127.0.0.1); a benchmark drives it with activelabel_client exactly as annotators would, and calls
`settle` where it must see the stream's work done (training, the rescoring fan-out) before going on.
"""
from __future__ import annotations

import contextlib
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DIGITS_LABEL_CONFIG = ('<View><Table name="x" value="$x"/><Choices name="digit" toName="x">'
                       + "".join(f'<Choice value="{d}"/>' for d in range(10)) + "</Choices></View>")
BREAST_CANCER_LABEL_CONFIG = ('<View><Table name="x" value="$x"/><Choices name="diagnosis" toName="x">'
                              '<Choice value="malignant"/><Choice value="benign"/></Choices></View>')


# ---------------------------------------------------------------- data

def digits_data(n_pool: int, n_test: int, seed: int):
    """scikit-learn's 1,797 8x8 digits, seeded shuffle: pool rows and test rows as {"p<i>": 0..16}."""
    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    rows = [{f"p{i}": int(v) for i, v in enumerate(pixels)} for pixels in x[order]]
    y = [str(v) for v in y[order]]
    n_pool = min(n_pool, len(y) - n_test)
    return rows[:n_pool], y[:n_pool], rows[n_pool:n_pool + n_test], y[n_pool:n_pool + n_test]


def breast_cancer_data(n_pool: int, n_test: int, seed: int):
    """scikit-learn's Wisconsin diagnostic breast cancer set (569 tumours, 30 measurements each,
    malignant / benign), seeded shuffle: rows as {"mean_radius": ..., ...}."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in bunch.feature_names]
    order = np.random.default_rng(seed).permutation(len(bunch.target))
    rows = [{c: round(float(v), 6) for c, v in zip(columns, values)} for values in bunch.data[order]]
    y = [str(bunch.target_names[t]) for t in bunch.target[order]]
    n_pool = min(n_pool, len(y) - n_test)
    return rows[:n_pool], y[:n_pool], rows[n_pool:n_pool + n_test], y[n_pool:n_pool + n_test]


def sms_data(n_pool: int, n_test: int, seed: int, distinct: bool = True):
    """SMS spam texts, seeded shuffle. `distinct`: the 5,171 distinct texts (so that a test split
    shares no text with the pool); False: all 5,574 rows of the collection, repeats included."""
    from activelabel_client.datasets import sms_spam

    rows = sms_spam(distinct=distinct)
    random.Random(seed).shuffle(rows)
    pool, test = rows[:n_pool], rows[n_pool:n_pool + n_test]
    return ([r["text"] for r in pool], [r["label"] for r in pool],
            [r["text"] for r in test], [r["label"] for r in test])


def product_setup(dataset: str):
    """(label config, task data of a pool/test row, completion result of a label) for a product loop."""
    from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion

    if dataset == "sms":
        return (SMS_LABEL_CONFIG, lambda text: {"text": text},
                lambda label: choice_completion(label, "simulated")["result"])
    if dataset.startswith("fortunes"):  # bench/fortunes.py: topics8 / topics20
        from bench.fortunes import label_config

        return (label_config(dataset.removeprefix("fortunes-")), lambda text: {"text": text},
                lambda label: choice_completion(label, "simulated", control="topic")["result"])
    if dataset == "breast_cancer":
        return (BREAST_CANCER_LABEL_CONFIG, lambda row: {"x": row},
                lambda label: choice_completion(label, "simulated", control="diagnosis", to_name="x")["result"])
    return (DIGITS_LABEL_CONFIG, lambda row: {"x": row},
            lambda label: choice_completion(label, "simulated", control="digit", to_name="x")["result"])


# ---------------------------------------------------------------- the stack

@contextlib.contextmanager
def local_stack():
    """The embedded local stack on 127.0.0.1 (no scheduled jobs: the benchmark settles the pump
    itself), stopped on the way out whatever happens."""
    from chalicelib.local.server import start_stack

    stack = start_stack(port=0, schedule_every=None)
    try:
        yield stack
    finally:
        stack.stop()


def settle(stack, timeout: float = 3600) -> int:
    """Wait until the stream, the training and the rescoring fan-out have nothing left to deliver
    (an hour at most: rescoring a 5,574-task pool through moto takes minutes on a loaded machine)."""
    return stack.pump.drain(timeout=timeout)


def client_for(stack):
    from activelabel_client.client import ActivelabelClient

    return ActivelabelClient(stack.url, stack.admin_token, timeout=300)


def import_pool(client, project_id: str, rows: list, labels: list, task_data) -> dict[int, str]:
    """Import the pool's rows as tasks; returns {task id: ground-truth label}."""
    ids = client.import_tasks(project_id, [{"data": task_data(x)} for x in rows], progress=False)
    return dict(zip(map(int, ids), labels))


def annotate_next(client, project_id: str, answer, completion_result, annotator: str = "simulated"):
    """One round of a simulated annotator: `GET /next`, then a completion with `answer(task id)`.
    Returns (task id, the label given) or None when /next has nothing to serve."""
    task = client.next_task(project_id, annotator)
    if task is None:
        return None
    task_id = int(task["id"])
    label = answer(task_id)
    client.add_completion(project_id, task_id, completion_result(label), completed_by=annotator)
    return task_id, label
