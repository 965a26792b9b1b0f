"""The demo dataset shipped in data/ (see data/sms_spam/README.md for origin and licence)."""
import json
import random
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

SMS_LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text" choice="single">
    <Choice value="ham"/>
    <Choice value="spam"/>
  </Choices>
</View>"""


def sms_spam(distinct: bool = True) -> list[dict]:
    """[{"text", "label"}] in file order; with `distinct`, the first row of each repeated text only."""
    rows, seen = [], set()
    with open(DATA_DIR / "sms_spam" / "data.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if distinct and row["text"] in seen:
                continue
            seen.add(row["text"])
            rows.append(row)
    return rows


def sms_split(n_pool: int, n_test: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A seeded shuffle of the distinct texts, cut into a pool and a disjoint test set."""
    rows = sms_spam()
    random.Random(seed).shuffle(rows)
    return rows[:n_pool], rows[n_pool:n_pool + n_test]


def choice_completion(label: str, annotator: str, control: str = "label", to_name: str = "text") -> dict:
    return {
        "result": [{"from_name": control, "to_name": to_name, "type": "choices", "value": {"choices": [label]}}],
        "completed_by": annotator,
    }


def classes_first(rows: list[dict], per_class: int = 3, label_key: str = "label") -> list[int]:
    """Indices of `rows` in an annotation order where every label shows up early.

    The first `per_class` rows of each label come first, interleaved (ham, spam, ham, spam, ...),
    then every other row in its original order. A simulated annotator following this order gives
    the first training both classes (a single-class training fails, see /training last_error).
    """
    by_label: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_label.setdefault(row[label_key], []).append(index)
    early: list[int] = []
    for rank in range(per_class):
        for label in sorted(by_label):
            if rank < len(by_label[label]):
                early.append(by_label[label][rank])
    chosen = set(early)
    return early + [index for index in range(len(rows)) if index not in chosen]
