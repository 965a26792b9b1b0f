"""Named entities: a Labels control on Text, learnt by a token-level scikit-learn tagger.

Text is split into tokens with their character offsets (URLs, @handles, #tags and words kept whole,
punctuation apart). Each token gets BIO tags from the consensus spans and a feature dict (word,
shape, affixes, neighbours); a class-balanced logistic regression (SGD) predicts tag probabilities, and a constrained Viterbi pass (no I-X without a
B-X/I-X before it) picks the tag sequence. Predicted spans run from their first token's start to
their last token's end, so `text == data[start:end]` exactly (Python code-point offsets).
"""
import re
from functools import lru_cache

from chalicelib.ml.base import ModelBase
from chalicelib.ml.text_input import text_of

TOKEN = re.compile(r"https?://\S+|www\.\S+|[@#]?\w+(?:['’\-&]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in TOKEN.finditer(text)]


@lru_cache(maxsize=65536)
def _shape(word: str) -> str:
    out = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)[:8]


_NEIGHBOURS = ((-2, "-2:"), (-1, "-1:"), (1, "1:"), (2, "2:"))


def token_features(text: str, tokens: list[tuple[int, int]]) -> list[dict]:
    """One feature dict per token: the word, its shape and affixes and flags, and the word, shape
    and title flag of the two tokens either side ("edge" past the text's ends). Each word's lower
    case, shape and title flag are computed once and shared by the rows that read them."""
    words = [text[s:e] for s, e in tokens]
    lowers = [word.lower() for word in words]
    shapes = [_shape(word) for word in words]
    titles = [float(word[:1].isupper()) for word in words]
    n = len(words)
    rows = []
    for i, word in enumerate(words):
        lower = lowers[i]
        row = {
            "bias": 1.0,
            "w=" + lower: 1.0,
            "shape=" + shapes[i]: 1.0,
            "pre2=" + lower[:2]: 1.0, "pre3=" + lower[:3]: 1.0,
            "suf2=" + lower[-2:]: 1.0, "suf3=" + lower[-3:]: 1.0,
            "title": titles[i],
            "upper": float(word.isupper()),
            "digit": float(any(ch.isdigit() for ch in word)),
            "handle": float(word[:1] in "@#"),
            "url": float(lower.startswith(("http", "www."))),
            "first": float(i == 0),
        }
        for offset, prefix in _NEIGHBOURS:
            j = i + offset
            if 0 <= j < n:
                row[prefix + "w=" + lowers[j]] = 1.0
                row[prefix + "shape=" + shapes[j]] = 1.0
                row[prefix + "title"] = titles[j]
            else:
                row[prefix + "edge"] = 1.0
        rows.append(row)
    return rows


def bio_tags(tokens: list[tuple[int, int]], spans: list[tuple[int, int, str]]) -> list[str]:
    """BIO tag per token: a token overlapping a span takes its label (B for the first one)."""
    tags = ["O"] * len(tokens)
    for start, end, label in sorted(spans):
        inside = [i for i, (s, e) in enumerate(tokens) if s < end and e > start and tags[i] == "O"]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + label
    return tags


def _utf16_to_codepoints(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets counted in UTF-16 code units (Label Studio's editor) -> Python code points."""
    units, mapping = 0, {}
    for index, ch in enumerate(text):
        mapping[units] = index
        units += 2 if ord(ch) > 0xFFFF else 1
    mapping[units] = len(text)
    return mapping.get(start, start), mapping.get(end, end)


def int32_indices(matrix):
    """SGD accepts only 32-bit sparse indices; DictVectorizer may build 64-bit ones."""
    matrix = matrix.tocsr()
    matrix.indices = matrix.indices.astype("int32")
    matrix.indptr = matrix.indptr.astype("int32")
    return matrix


def viterbi(log_probs, tags: list[str]) -> list[int]:
    """Best tag index per token under BIO constraints (I-X only after B-X or I-X)."""
    import numpy as np

    n_tags = len(tags)
    allowed = np.zeros((n_tags, n_tags), dtype=bool)  # allowed[previous, current]
    start_ok = np.array([not t.startswith("I-") for t in tags])
    for p, prev in enumerate(tags):
        for c, cur in enumerate(tags):
            allowed[p, c] = not cur.startswith("I-") or (prev != "O" and prev[2:] == cur[2:])
    penalty = np.where(allowed, 0.0, -1e9)
    score = np.where(start_ok, log_probs[0], -1e9)
    back = []
    for row in log_probs[1:]:
        total = score[:, None] + penalty
        best = total.argmax(axis=0)
        back.append(best)
        score = total[best, np.arange(n_tags)] + row
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return path[::-1]


class SpanTagger(ModelBase):
    kind = "ner_tagger"
    problem = "spans"

    def __init__(self, target, seed: int = 0):
        super().__init__(target, seed)
        self.tags_: list[str] = []

    def raw_input(self, data):
        return text_of(data, self.target.obj)

    def example(self, data, consensus):
        spans = self.answer(consensus)
        if not isinstance(spans, list):
            return None
        text = self.raw_input(data)
        label = []
        for span in spans:
            if not isinstance(span, dict) or not span.get("labels"):
                continue
            start, end = int(span["start"]), int(span["end"])
            quoted = span.get("text")
            if quoted is not None and text[start:end] != quoted:
                start, end = _utf16_to_codepoints(text, start, end)
            label.append((start, end, self.canonical(str(span["labels"][0]))))
        return text, tuple(sorted(label))

    def build(self):
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        classifier = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=15, tol=None,
                                   class_weight="balanced", random_state=self.seed)
        return Pipeline([
            ("features", DictVectorizer()),
            ("indices", FunctionTransformer(int32_indices, accept_sparse=True)),
            ("classifier", classifier),
        ])

    def fit(self, X, labels):
        rows, tags = [], []
        for text, spans in zip(X, labels):
            tokens = tokenize(text)
            rows.extend(token_features(text, tokens))
            tags.extend(bio_tags(tokens, list(spans)))
        self.estimator = self.build().fit(rows, tags)
        self.tags_ = [str(t) for t in self.estimator.classes_]
        return self

    def scored(self, X):
        import numpy as np

        out = []
        all_tokens = [tokenize(text) for text in X]
        rows = [row for text, tokens in zip(X, all_tokens) for row in token_features(text, tokens)]
        probabilities = self.estimator.predict_proba(rows) if rows else np.zeros((0, len(self.tags_)))
        offset = 0
        for text, tokens in zip(X, all_tokens):
            probs = probabilities[offset:offset + len(tokens)]
            offset += len(tokens)
            if not tokens:
                out.append(((), 1.0))
                continue
            path = viterbi(np.log(np.clip(probs, 1e-12, 1.0)), self.tags_)
            spans, current = [], None
            for i, tag_index in enumerate(path):
                tag, p = self.tags_[tag_index], float(probs[i, tag_index])
                if tag.startswith("B-") or tag == "O":
                    if current:
                        spans.append(current)
                    current = [tokens[i][0], tokens[i][1], tag[2:], [p]] if tag != "O" else None
                else:
                    current[1] = tokens[i][1]
                    current[3].append(p)
            if current:
                spans.append(current)
            confidence = float(np.mean([probs[i, t] for i, t in enumerate(path)]))
            out.append((tuple((s, e, label, sum(ps) / len(ps)) for s, e, label, ps in spans), confidence))
        return out

    def predict_scored(self, scored):
        return [tuple((s, e, label) for s, e, label, _ in spans) for spans, _ in scored]

    def predictions(self, samples, model_version):
        texts = [self.raw_input(data) for data in samples]
        results = []
        for text, (spans, confidence) in zip(texts, self.scored(texts)):
            items = [
                self.item({"start": s, "end": e, "text": text[s:e], "labels": [label]}, p)
                for s, e, label, p in spans
            ]
            results.append({"result": items, "score": round(confidence, 6), "model_version": model_version})
        return results
