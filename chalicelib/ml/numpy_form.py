"""The numpy serving form of a trained model: scored with numpy alone, loaded without pickle.

At training time `export(model)` walks the fitted scikit-learn pipeline and writes every step it
knows as arrays in an .npz (coefficients, idf weights, scaler moments) plus JSON (parameters,
vocabularies, the model's own state) stored in the same .npz as uint8 arrays; it returns None when
a step has no numpy form (that model keeps its joblib artifact). At serving time `load(body)` reads
it with `np.load(allow_pickle=False)` and rebuilds the same model class with a `NumpyPipeline` as
its `estimator`: the model's own `predictions` / `predict_proba` / `scored` run unchanged, and no
scikit-learn (nor scipy, except for `transform` of a sparse embedding) is imported.

Steps with a numpy form (the ones the built-in kinds use):
- TfidfVectorizer (analyzer "word" or "char_wb", lowercase, no accent stripping or stop words),
  a FeatureUnion of them, DictVectorizer (sparse or dense), StandardScaler, passthrough, the NER
  tagger's int32-index FunctionTransformer (a no-op here);
- LogisticRegression (binary: logistic; multiclass: softmax), SGDClassifier with log_loss (binary:
  logistic; multiclass: one-vs-rest normalised), OneVsRestClassifier over them (multilabel),
  Ridge (one target).
Each reproduces scikit-learn's arithmetic (same order of operations), so outputs agree to
floating-point rounding (tests/unit/ml/test_numpy_form.py checks 1e-9 per kind on real data).
"""
import importlib
import io
import json
import re
from collections import Counter
from dataclasses import asdict
from numbers import Number

from chalicelib.labeling.config import Control, ObjectTag
from chalicelib.ml.base import ModelBase
from chalicelib.ml.registry import KINDS, Target
from chalicelib.ml.span_tagger import int32_indices

FORMAT = "activelabel-numpy"
FORMAT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"  # an .npz is a zip archive; a joblib artifact starts with a pickle opcode
_WHITE_SPACES = re.compile(r"\s\s+")
WORD_CACHE_SIZE = 50_000  # distinct words whose character n-gram columns a text model keeps (~16 MB at most: 23,500 words took 7.6 MB)


class CannotExport(Exception):
    """A step of this estimator has no numpy form here."""


def is_numpy_form(body: bytes) -> bool:
    return body[:4] == _ZIP_MAGIC


# ---------------------------------------------------------------- sparse rows


class Rows:
    """A batch of sparse feature rows in CSR layout (indptr, indices, data), without scipy."""

    __slots__ = ("indptr", "indices", "data", "n_features")

    def __init__(self, indptr, indices, data, n_features: int):
        self.indptr, self.indices, self.data, self.n_features = indptr, indices, data, n_features

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), self.n_features

    def row_ids(self):
        import numpy as np

        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def tocsr(self):
        from scipy.sparse import csr_matrix

        return csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    def toarray(self):
        import numpy as np

        out = np.zeros(self.shape)
        np.add.at(out, (self.row_ids(), self.indices), self.data)
        return out


def _rows_from_lists(indptr: list, indices: list, data: list, n_features: int) -> Rows:
    import numpy as np

    return Rows(np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64),
                np.asarray(data, dtype=np.float64), n_features)


# ---------------------------------------------------------------- steps (serving side)


class Identity:
    def transform(self, X):
        return X


class Tfidf:
    """TfidfVectorizer.transform: n-gram counts over a fixed vocabulary, sublinear tf, idf, l2."""

    def __init__(self, params: dict, vocabulary: list[str], idf):
        self.analyzer = params["analyzer"]
        self.min_n, self.max_n = params["ngram_range"]
        self.token_pattern = re.compile(params["token_pattern"])
        self.sublinear_tf = params["sublinear_tf"]
        self.norm = params["norm"]
        self.vocabulary = dict(zip(vocabulary, range(len(vocabulary))))
        self.idf = idf
        self.n_features = len(vocabulary)
        self._word_columns: dict[str, list[int]] = {}

    def _word_ngrams(self, doc: str) -> list[str]:
        tokens = self.token_pattern.findall(doc.lower())
        min_n, max_n = self.min_n, self.max_n
        if max_n == 1:
            return tokens
        original = tokens
        if min_n == 1:
            tokens = list(original)
            min_n += 1
        else:
            tokens = []
        n_original = len(original)
        for n in range(min_n, min(max_n + 1, n_original + 1)):
            for i in range(n_original - n + 1):
                tokens.append(" ".join(original[i:i + n]))
        return tokens

    def _word_grams(self, word: str) -> list[str]:
        """A word's character n-grams, space-padded; a word no longer than n counts once, whole."""
        w = " " + word + " "
        w_len = len(w)
        grams = []
        for n in range(self.min_n, self.max_n + 1):
            if w_len <= n:
                grams.append(w)
                break
            grams.extend([w[i:i + n] for i in range(w_len - n + 1)])
        return grams

    def _char_wb_columns(self, doc: str) -> list[int]:
        """Vocabulary columns of the doc's char_wb n-grams (with repeats). n-grams never cross a
        word, so each distinct word's columns are computed once and kept (bounded)."""
        get, cache, columns = self.vocabulary.get, self._word_columns, []
        for word in _WHITE_SPACES.sub(" ", doc.lower()).split():
            found = cache.get(word)
            if found is None:
                found = [j for j in map(get, self._word_grams(word)) if j is not None]
                if len(cache) < WORD_CACHE_SIZE:
                    cache[word] = found
            columns.extend(found)
        return columns

    def transform(self, texts) -> Rows:
        import numpy as np

        get = self.vocabulary.get
        indptr, indices, counts = [0], [], []
        for doc in texts:
            if self.analyzer == "word":
                found = Counter([j for j in map(get, self._word_ngrams(doc)) if j is not None])
            else:
                found = Counter(self._char_wb_columns(doc))
            columns = sorted(found)
            indices.extend(columns)
            counts.extend([found[j] for j in columns])
            indptr.append(len(indices))
        rows = _rows_from_lists(indptr, indices, counts, self.n_features)
        data = rows.data
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[rows.indices]
        if self.norm == "l2" and len(data):
            ids = rows.row_ids()
            norms = np.sqrt(np.bincount(ids, weights=data * data, minlength=len(rows)))
            norms[norms == 0.0] = 1.0
            data /= norms[ids]
        return rows


class Union:
    """FeatureUnion of sparse parts: each row's columns part after part, offset by the earlier widths."""

    def __init__(self, parts: list):
        self.parts = parts

    def transform(self, X) -> Rows:
        import numpy as np

        outs = [part.transform(X) for part in self.parts]
        offset, row_ids, indices, data = 0, [], [], []
        for out in outs:
            row_ids.append(out.row_ids())
            indices.append(out.indices + offset)
            data.append(out.data)
            offset += out.n_features
        row_ids = np.concatenate(row_ids)
        order = np.argsort(row_ids, kind="stable")
        counts = np.bincount(row_ids, minlength=len(outs[0]))
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return Rows(indptr, np.concatenate(indices)[order], np.concatenate(data)[order], offset)


class DictColumns:
    """DictVectorizer.transform: numbers under their key, strings as key=value with 1, unknown keys dropped."""

    def __init__(self, params: dict, feature_names: list[str]):
        self.separator = params["separator"]
        self.sparse = params["sparse"]
        self.vocabulary = dict(zip(feature_names, range(len(feature_names))))
        self.n_features = len(feature_names)

    def transform(self, X):

        get, separator = self.vocabulary.get, self.separator
        indptr, indices, values = [0], [], []
        for x in X:
            for f, v in x.items():
                if isinstance(v, str):
                    pairs = ((f"{f}{separator}{v}", 1.0),)
                elif isinstance(v, Number) or v is None:
                    pairs = ((f, v),)
                else:
                    pairs = ((f"{f}{separator}{item}", 1.0) for item in v)
                for name, value in pairs:
                    j = get(name)
                    if j is not None:
                        indices.append(j)
                        values.append(float(value))
            indptr.append(len(indices))
        rows = _rows_from_lists(indptr, indices, values, self.n_features)
        return rows if self.sparse else rows.toarray()


class Scaler:
    def __init__(self, mean, scale):
        self.mean, self.scale = mean, scale

    def transform(self, X):
        import numpy as np

        X = np.array(X, dtype=np.float64)
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale
        return X


class Linear:
    """A linear model's decision function and its link: "logistic" (binary), "softmax", "ovr"
    (one-vs-rest normalised), "multilabel" (a logistic per column, constant columns kept) or
    "identity" (regression)."""

    def __init__(self, link: str, coef, intercept, constant=None):
        self.link, self.coef, self.intercept, self.constant = link, coef, intercept, constant

    def decision_function(self, X):
        import numpy as np

        if isinstance(X, Rows):
            weights = self.coef.T[X.indices] * X.data[:, None]
            ids = X.row_ids()
            out = np.empty((len(X), self.coef.shape[0]))
            for j in range(self.coef.shape[0]):
                out[:, j] = np.bincount(ids, weights=weights[:, j], minlength=len(X))
        else:
            out = np.asarray(X, dtype=np.float64) @ self.coef.T
        out += self.intercept
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X):
        return self.decision_function(X)

    def predict_proba(self, X):
        import numpy as np

        scores = self.decision_function(X)
        if self.link == "softmax":
            scores = scores - scores.max(axis=1)[:, None]
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1)[:, None]
            return scores
        with np.errstate(over="ignore"):  # exp overflows to inf for very negative scores: probability 0
            prob = 1.0 / (1.0 + np.exp(-scores))
        if self.link == "logistic":
            return np.stack([1 - prob, prob], axis=1)
        if self.link == "multilabel":
            prob = prob.reshape(len(prob), -1)
            if self.constant is not None:
                fixed = ~np.isnan(self.constant)
                prob[:, fixed] = self.constant[fixed]
            if prob.shape[1] == 1:
                return np.concatenate([1 - prob, prob], axis=1)
            return prob
        total = prob.sum(axis=1)  # "ovr"
        zero = total == 0
        if zero.any():
            prob[zero, :] = 1
            total[zero] = prob.shape[1]
        prob /= total[:, None]
        return prob


class Chain:
    """Steps applied in turn (a nested Pipeline)."""

    def __init__(self, steps: list):
        self.steps = steps

    def transform(self, X):
        for step in self.steps:
            X = step.transform(X)
        return X


class NumpyPipeline:
    """Transform steps then a final Linear; `pipeline[:-1].transform(X)` is the feature embedding."""

    def __init__(self, steps: list[tuple[str, object]]):
        self.steps = steps

    def __getitem__(self, index):
        return NumpyPipeline(self.steps[index])

    def transform(self, X):
        for _, step in self.steps:
            X = step.transform(X)
        return X.tocsr() if isinstance(X, Rows) else X

    def _features(self, X):
        for _, step in self.steps[:-1]:
            X = step.transform(X)
        return X

    def predict_proba(self, X):
        return self.steps[-1][1].predict_proba(self._features(X))

    def predict(self, X):
        return self.steps[-1][1].predict(self._features(X))


# ---------------------------------------------------------------- export (training side)


class _Writer:
    def __init__(self):
        self.arrays: dict = {}

    def array(self, name: str, value) -> str:
        import numpy as np

        self.arrays[name] = np.ascontiguousarray(value, dtype=np.float64)
        return name

    def json(self, name: str, value) -> str:
        import numpy as np

        self.arrays[name] = np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        return name


def _vocabulary_list(vocabulary: dict) -> list[str]:
    names = [None] * len(vocabulary)
    for name, j in vocabulary.items():
        names[int(j)] = str(name)
    if any(n is None for n in names):
        raise CannotExport("vocabulary indices are not 0..n-1")
    return names


def _export_transform(step, writer: _Writer, prefix: str) -> dict:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler


    if step is None or step == "passthrough":
        return {"type": "identity"}
    if isinstance(step, FunctionTransformer) and step.func is int32_indices:
        return {"type": "identity"}
    if isinstance(step, Pipeline):
        return {"type": "chain", "steps": [_export_transform(s, writer, f"{prefix}{i}.")
                                           for i, (_, s) in enumerate(step.steps)]}
    if isinstance(step, FeatureUnion):
        if step.transformer_weights:
            raise CannotExport("weighted FeatureUnion")
        parts = [_export_transform(s, writer, f"{prefix}{i}.") for i, (_, s) in enumerate(step.transformer_list)]
        if any(p["type"] != "tfidf" for p in parts):
            raise CannotExport("FeatureUnion of non-text parts")
        return {"type": "union", "parts": parts}
    if isinstance(step, TfidfVectorizer):
        import numpy as np

        plain = (step.input == "content" and step.lowercase and step.strip_accents is None
                 and step.preprocessor is None and step.tokenizer is None and step.stop_words is None
                 and not step.binary and step.norm in ("l2", None) and step.analyzer in ("word", "char_wb")
                 and np.dtype(step.dtype) == np.float64)
        if not plain:
            raise CannotExport("TfidfVectorizer options beyond the plain word / char_wb analyzers")
        return {"type": "tfidf",
                "params": {"analyzer": step.analyzer, "ngram_range": list(step.ngram_range),
                           "token_pattern": step.token_pattern, "sublinear_tf": bool(step.sublinear_tf),
                           "norm": step.norm},
                "vocabulary": writer.json(prefix + "vocabulary", _vocabulary_list(step.vocabulary_)),
                "idf": writer.array(prefix + "idf", step.idf_) if step.use_idf else None}
    if isinstance(step, DictVectorizer):
        return {"type": "dict", "params": {"separator": step.separator, "sparse": bool(step.sparse)},
                "feature_names": writer.json(prefix + "feature_names", _vocabulary_list(step.vocabulary_))}
    if isinstance(step, StandardScaler):
        return {"type": "scaler",
                "mean": writer.array(prefix + "mean", step.mean_) if step.with_mean else None,
                "scale": writer.array(prefix + "scale", step.scale_) if step.with_std else None}
    raise CannotExport(f"no numpy form for {type(step).__name__}")


def _export_final(step, writer: _Writer) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.multiclass import OneVsRestClassifier

    def linear(link, coef, intercept, constant=None):
        out = {"type": "linear", "link": link, "coef": writer.array("final.coef", np.atleast_2d(coef)),
               "intercept": writer.array("final.intercept", np.atleast_1d(intercept))}
        if constant is not None:
            out["constant"] = writer.array("final.constant", constant)
        return out

    if isinstance(step, LogisticRegression):
        return linear("logistic" if step.coef_.shape[0] == 1 else "softmax", step.coef_, step.intercept_)
    if isinstance(step, SGDClassifier):
        if step.loss != "log_loss":
            raise CannotExport(f"SGDClassifier loss {step.loss!r}")
        return linear("logistic" if step.coef_.shape[0] == 1 else "ovr", step.coef_, step.intercept_)
    if isinstance(step, Ridge):
        if np.ndim(step.coef_) != 1:
            raise CannotExport("Ridge with several targets")
        return linear("identity", step.coef_, step.intercept_)
    if isinstance(step, OneVsRestClassifier):
        if not step.multilabel_:
            raise CannotExport("multiclass OneVsRestClassifier")
        coefs, intercepts, constant = [], [], []
        for estimator in step.estimators_:
            if isinstance(estimator, LogisticRegression) and estimator.coef_.shape[0] == 1:
                coefs.append(estimator.coef_[0])
                intercepts.append(estimator.intercept_[0])
                constant.append(np.nan)
            elif hasattr(estimator, "y_"):  # a column that was constant in training
                coefs.append(np.zeros(step.n_features_in_))
                intercepts.append(0.0)
                constant.append(float(estimator.predict_proba(np.zeros((1, 1)))[0, 1]))
            else:
                raise CannotExport(f"one-vs-rest column {type(estimator).__name__}")
        return linear("multilabel", np.vstack(coefs), np.asarray(intercepts), np.asarray(constant))
    raise CannotExport(f"no numpy form for {type(step).__name__}")


def _model_state(model) -> dict:

    state = {k: v for k, v in vars(model).items() if k not in ("estimator", "target")}
    return {"module": type(model).__module__, "class": type(model).__name__,
            "target": {"control": asdict(model.target.control), "obj": asdict(model.target.obj)},
            "state": state}


def export(model) -> bytes | None:
    """The numpy form of a fitted model, or None when its estimator has a step without one."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    estimator = getattr(model, "estimator", None)
    if not isinstance(estimator, Pipeline):
        return None
    writer = _Writer()
    try:
        steps = [_export_transform(step, writer, f"{i}.") for i, (_, step) in enumerate(estimator.steps[:-1])]
        steps.append(_export_final(estimator.steps[-1][1], writer))
        spec = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": _model_state(model),
                "names": [name for name, _ in estimator.steps], "steps": steps}
        writer.json("spec", spec)
    except (CannotExport, TypeError, ValueError):
        return None
    buffer = io.BytesIO()
    np.savez(buffer, **writer.arrays)
    return buffer.getvalue()


# ---------------------------------------------------------------- load (serving side)


def _allowed_class(module: str, name: str):

    if module not in {kind.module for kind in KINDS}:
        raise ValueError(f"numpy model form names module {module!r}, not a model kind's")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, ModelBase)):
        raise ValueError(f"numpy model form names {module}.{name}, not a model class")
    return cls


def load(body: bytes):
    """The model an `export` body holds, scoring with numpy alone."""
    import numpy as np


    with np.load(io.BytesIO(body), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}

    def text(name):
        return json.loads(arrays[name].tobytes().decode("utf-8"))

    def array(name):
        return None if name is None else arrays[name]

    spec = text("spec")
    if spec.get("format") != FORMAT or spec.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not an {FORMAT} v{FORMAT_VERSION} artifact")

    def build(step: dict):
        kind = step["type"]
        if kind == "identity":
            return Identity()
        if kind == "chain":
            return Chain([build(s) for s in step["steps"]])
        if kind == "union":
            return Union([build(p) for p in step["parts"]])
        if kind == "tfidf":
            return Tfidf(step["params"], text(step["vocabulary"]), array(step["idf"]))
        if kind == "dict":
            return DictColumns(step["params"], text(step["feature_names"]))
        if kind == "scaler":
            return Scaler(array(step["mean"]), array(step["scale"]))
        if kind == "linear":
            return Linear(step["link"], array(step["coef"]), array(step["intercept"]), array(step.get("constant")))
        raise ValueError(f"unknown step type {kind!r}")

    described = spec["model"]
    cls = _allowed_class(described["module"], described["class"])
    model = cls.__new__(cls)
    model.__dict__.update(described["state"])
    model.target = Target(Control(**described["target"]["control"]), ObjectTag(**described["target"]["obj"]))
    model.estimator = NumpyPipeline([(name, build(step)) for name, step in zip(spec["names"], spec["steps"])])
    return model
