"""Agreement between collaborators' completions of one task, and their consensus, per control type.

Definitions follow Label Studio Enterprise (docs: labelstudio-protocol.md §3.4), all in [0, 1],
symmetric, and 1.0 for identical answers:

| control | pairwise agreement | consensus |
|---|---|---|
| Choices | exact match; Jaccard when either side chose several | majority vote (per choice when several) |
| Labels (spans) | IoU-matched F1: spans of the same label match one-to-one at IoU >= 0.5 | span voting: spans (exact offsets and labels) in more than half the completions |
| Rating / Number | 1 - normalised distance (range from the config, else relative) | median (median_low for Rating) |
| Taxonomy | Jaccard of the path prefixes (shared ancestors count) | majority vote |
| TextArea | 1 - Levenshtein distance / longer length | medoid (the text closest to the others) |
| anything else | exact match | majority vote |

Task agreement = mean over completion pairs, averaged over the controls answered; a single
completion counts as 1.0. Answers and consensus are JSON values (stored on the task as is).
"""
import json
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from statistics import median, median_low

SPAN_IOU = 0.5
MAX_EDIT_CHARS = 2000  # TextArea edit distance is O(n*m): longer texts are compared on this prefix


@dataclass(frozen=True)
class TaskLabelState:
    n_completions: int
    agreement: float | None
    accepted: bool
    consensus: dict | None  # {control_name: answer}


@dataclass(frozen=True)
class Answer:
    """One completion's answer for one control: `kind` says how to compare it, `value` is JSON."""

    kind: str  # choices | spans | rating | number | taxonomy | textarea | exact
    value: object


def _key(value) -> str:
    return json.dumps(value, sort_keys=True)


# ---- answers from result items

def _span(value: dict, label_key: str) -> dict | None:
    """{"start", "end", "labels"[, "xpath"][, "text"]}: Text spans have numeric start/end; HyperText and
    Paragraphs spans have XPaths there and numeric startOffset/endOffset."""
    numeric = (int, float)
    start, end, xpath = value.get("start"), value.get("end"), None
    if not isinstance(start, numeric) or not isinstance(end, numeric):
        xpath = [str(start), str(end)]
        start, end = value.get("startOffset"), value.get("endOffset")
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, numeric) or not isinstance(end, numeric):
        return None
    span = {"start": start, "end": end, "labels": sorted(str(x) for x in value.get(label_key) or [])}
    if xpath:
        span["xpath"] = xpath
    if isinstance(value.get("text"), str):
        span["text"] = value["text"]
    return span


def answers_by_control(result: list) -> dict[str, Answer]:
    """{control name: Answer} from a completion's result items."""
    answers: dict[str, Answer] = {}
    for item in result or []:
        if not isinstance(item, dict):
            continue
        name = item.get("from_name")
        value = item.get("value") or {}
        kind = (item.get("type") or "").lower()
        if not name or not isinstance(value, dict):
            continue
        if kind.endswith("labels") and kind in value and ("start" in value or "startOffset" in value):
            span = _span(value, kind)
            if span is not None:
                previous = answers.get(name)
                spans = previous.value if previous is not None and previous.kind == "spans" else []
                if span not in spans:  # a duplicated region says nothing more
                    answers[name] = Answer("spans", sorted(spans + [span], key=_key))
        elif kind == "choices" and not any(k in value for k in ("start", "x", "points")):
            answers[name] = Answer("choices", sorted(str(c) for c in value.get("choices") or []))
        elif kind in ("rating", "number") and isinstance(value.get(kind), (int, float)):
            answers[name] = Answer(kind, value[kind])
        elif kind == "taxonomy" and isinstance(value.get("taxonomy"), list):
            answers[name] = Answer("taxonomy", sorted([list(map(str, p)) for p in value["taxonomy"]], key=_key))
        elif kind == "textarea" and isinstance(value.get("text"), list):
            answers[name] = Answer("textarea", [str(t) for t in value["text"]])
        else:
            raw = value[kind] if kind in value else value
            previous = answers.get(name)
            values = previous.value if previous is not None and previous.kind == "exact" else []
            answers[name] = Answer("exact", sorted(values + [raw], key=_key))
    return answers


# ---- pairwise agreement per kind

def _jaccard(a: set, b: set) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _iou(a: dict, b: dict) -> float:
    inter = min(a["end"], b["end"]) - max(a["start"], b["start"])
    union = max(a["end"], b["end"]) - min(a["start"], b["start"])
    if union <= 0:
        return 1.0 if a["start"] == b["start"] and a["end"] == b["end"] else 0.0
    return max(0.0, inter) / union


def span_f1(a: list[dict], b: list[dict], threshold: float = SPAN_IOU) -> float:
    """F1 of a one-to-one matching of spans with equal labels and IoU >= threshold (best IoU first)."""
    if not a and not b:
        return 1.0
    candidates = sorted(
        ((_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)
         if x["labels"] == y["labels"] and x.get("xpath") == y.get("xpath")),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_a, used_b, matched = set(), set(), 0
    for iou, i, j in candidates:
        if iou >= threshold and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            matched += 1
    return 2 * matched / (len(a) + len(b))


def _numeric_similarity(a: float, b: float, span: float | None) -> float:
    if a == b:
        return 1.0
    if span and span > 0:
        return max(0.0, 1.0 - abs(a - b) / span)
    return 1.0 - abs(a - b) / max(abs(a), abs(b), abs(a - b))


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def text_similarity(a: str, b: str) -> float:
    a, b = a[:MAX_EDIT_CHARS], b[:MAX_EDIT_CHARS]
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def _prefixes(paths: list[list[str]]) -> set[tuple]:
    return {tuple(p[:i]) for p in paths for i in range(1, len(p) + 1)}


def value_range(control) -> float | None:
    """The span of a Rating (maxRating - 1, stars start at 1) or Number (max - min) control, if known."""
    if control is None:
        return None
    if control.type == "Rating":
        return max(1.0, float(control.attr("maxRating", 5)) - 1.0)
    if control.type == "Number" and control.attr("min") not in (None, "") and control.attr("max") not in (None, ""):
        return float(control.attr("max")) - float(control.attr("min")) or None
    return None


def pair_agreement(a: Answer | None, b: Answer | None, control=None) -> float:
    """Agreement of two answers for one control (a missing or differently typed answer scores 0)."""
    if a is None or b is None:
        return 1.0 if a is b else 0.0
    if a.kind != b.kind:
        return 0.0
    if a.kind == "choices":
        return _jaccard(set(a.value), set(b.value))
    if a.kind == "spans":
        return span_f1(a.value, b.value)
    if a.kind in ("rating", "number"):
        return _numeric_similarity(float(a.value), float(b.value), value_range(control))
    if a.kind == "taxonomy":
        return _jaccard(_prefixes(a.value), _prefixes(b.value))
    if a.kind == "textarea":
        return text_similarity("\n".join(a.value), "\n".join(b.value))
    return 1.0 if _key(a.value) == _key(b.value) else 0.0


def task_agreement(answer_sets: list[dict], config=None) -> float | None:
    """Mean pairwise agreement over completions, averaged over the controls they answered."""
    if not answer_sets:
        return None
    if len(answer_sets) == 1:
        return 1.0
    controls = sorted({name for answers in answer_sets for name in answers})
    if not controls:
        return 1.0
    per_control = []
    for name in controls:
        control = config.control(name) if config is not None else None
        scores = [pair_agreement(a.get(name), b.get(name), control) for a, b in combinations(answer_sets, 2)]
        per_control.append(sum(scores) / len(scores))
    return sum(per_control) / len(per_control)


# ---- consensus per kind

def _majority(values: list):
    """The most frequent value; ties go to the one given first."""
    keys = [_key(v) for v in values]
    counts = Counter(keys)
    best = max(counts.values())
    return next(v for v, k in zip(values, keys) if counts[k] == best)


def _choices_consensus(values: list[list[str]]) -> list[str]:
    if all(len(v) <= 1 for v in values):
        return _majority(values)
    votes = Counter(c for v in values for c in set(v))
    chosen = sorted(c for c, n in votes.items() if 2 * n > len(values))
    return chosen or _majority(values)


def _where(span: dict) -> str:
    return _key({k: span.get(k) for k in ("start", "end", "labels", "xpath")})


def _span_consensus(values: list[list[dict]]) -> list[dict]:
    """Spans (same offsets and labels) marked by more than half the completions (nested spans stay)."""
    votes = Counter()
    first: dict[str, dict] = {}
    for spans in values:
        for key in {_where(s) for s in spans}:
            votes[key] += 1
        for s in spans:
            first.setdefault(_where(s), s)
    kept: list[dict] = []
    for key, n in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
        if 2 * n > len(values):
            kept.append(first[key])
    return sorted(kept, key=_key)


def _medoid(values: list[list[str]]) -> list[str]:
    texts = ["\n".join(v) for v in values]
    scores = [sum(text_similarity(t, u) for u in texts) for t in texts]
    return values[scores.index(max(scores))]


def consensus_value(kind: str, values: list):
    if kind == "choices":
        return _choices_consensus(values)
    if kind == "spans":
        return _span_consensus(values)
    if kind == "rating":
        return median_low(values)
    if kind == "number":
        return median(values)
    if kind == "textarea":
        return _medoid(values)
    return _majority(values)


def consensus(answer_sets: list[dict]) -> dict:
    """{control: consensus value} over the completions that answered each control (JSON values)."""
    result = {}
    controls: list[str] = []
    for answers in answer_sets:
        controls.extend(name for name in answers if name not in controls)
    for name in controls:
        answers = [a[name] for a in answer_sets if name in a]
        kind = _majority([a.kind for a in answers])
        result[name] = consensus_value(kind, [a.value for a in answers if a.kind == kind])
    return result


def evaluate_task(completions: list[dict], agreement_threshold: float, overlap: int, config=None) -> TaskLabelState:
    """Decide whether a task's completions are accepted into training.

    `completions` are dicts with `result` and `was_cancelled`; cancelled (skipped) ones and empty
    results do not count. `config` (a LabelConfig) gives Rating/Number ranges.
    """
    usable = [c for c in completions if not c.get("was_cancelled") and c.get("result")]
    answer_sets = [answers_by_control(c["result"]) for c in usable]
    answer_sets = [a for a in answer_sets if a]
    agreement = task_agreement(answer_sets, config)
    accepted = bool(answer_sets) and len(answer_sets) >= overlap and agreement >= agreement_threshold
    return TaskLabelState(
        n_completions=len(answer_sets),
        agreement=None if agreement is None else round(agreement, 6),
        accepted=accepted,
        consensus=consensus(answer_sets) if accepted else None,
    )
