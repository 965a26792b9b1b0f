"""Feature steps of the numpy form: serving classes that reproduce scikit-learn's `transform`
(TfidfVectorizer, FeatureUnion, DictVectorizer, StandardScaler, passthrough, a nested Pipeline,
the pool representation's Projection)
and `export_transform`, which writes a fitted step as arrays and JSON.

numpy is imported inside functions only, and scikit-learn only when exporting: the API imports
this package at cold start, and the predict path must not import scikit-learn.
"""
import re
from collections import Counter
from numbers import Number

from chalicelib.ml import pool_representation
from chalicelib.ml.numpy_form.arrays import CannotExport, Rows, Writer, rows_from_lists
from chalicelib.ml.span_tagger import int32_indices

_WHITE_SPACES = re.compile(r"\s\s+")
WORD_CACHE_SIZE = 50_000  # distinct words whose character n-gram columns a text model keeps (~16 MB at most: 23,500 words took 7.6 MB)


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
        rows = rows_from_lists(indptr, indices, counts, self.n_features)
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


class Projection:
    """ml/pool_representation.py Projection.transform: a word TF-IDF's rows times the SVD basis,
    each row l2-normalised; a dense array. Computed in chunks of rows, so the products held at
    once stay small whatever the batch."""

    CHUNK = 256

    def __init__(self, tfidf: Tfidf, components):
        self.tfidf, self.components_ = tfidf, components
        self._basis = None

    def transform(self, texts):
        import numpy as np

        rows = self.tfidf.transform(texts)
        if self._basis is None:
            self._basis = np.ascontiguousarray(self.components_.T)
        out = np.zeros((len(rows), self.components_.shape[0]))
        indptr = rows.indptr
        for start in range(0, len(rows), self.CHUNK):
            stop = min(len(rows), start + self.CHUNK)
            lo, hi = indptr[start], indptr[stop]
            if lo == hi:
                continue
            products = self._basis[rows.indices[lo:hi]] * rows.data[lo:hi, None]
            filled = np.diff(indptr[start:stop + 1]) > 0
            out[start:stop][filled] = np.add.reduceat(products, indptr[start:stop][filled] - lo, axis=0)
        norms = np.sqrt((out * out).sum(axis=1))
        norms[norms == 0.0] = 1.0
        return out / norms[:, None]


def dense_rows(X) -> Rows:
    """A dense 2-d array as Rows (every cell a stored value)."""
    import numpy as np

    n, k = X.shape
    return Rows(np.arange(0, n * k + 1, k, dtype=np.int64), np.tile(np.arange(k, dtype=np.int64), n),
                np.asarray(X, dtype=np.float64).ravel(), k)


class Union:
    """FeatureUnion of sparse parts (a dense part, the pool projection, as rows of every column):
    each row's columns part after part, offset by the earlier widths."""

    def __init__(self, parts: list):
        self.parts = parts

    def transform(self, X) -> Rows:
        import numpy as np

        outs = [part.transform(X) for part in self.parts]
        outs = [out if isinstance(out, Rows) else dense_rows(out) for out in outs]
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


def dense_table(vocabulary: dict, rows: list):
    """A dense DictVectorizer's transform of `rows` when every row has the same keys in the same
    order and only numbers (a table's usual shape): one float64 array, each key's values in its
    vocabulary column, absent features 0, unknown keys dropped. None for any other rows (strings
    to one-hot, differing keys, no rows), which the caller transforms cell by cell."""
    import numpy as np

    if not rows:
        return None
    keys = tuple(rows[0])
    if any(tuple(row) != keys for row in rows):
        return None
    try:
        values = np.array([tuple(row.values()) for row in rows])
    except (TypeError, ValueError, OverflowError):
        return None
    if values.dtype != np.float64 or values.shape != (len(rows), len(keys)):
        return None
    known = [i for i, key in enumerate(keys) if key in vocabulary]
    out = np.zeros((len(rows), len(vocabulary)))
    out[:, [vocabulary[keys[i]] for i in known]] = values[:, known]
    return out


class DictColumns:
    """DictVectorizer.transform: numbers under their key, strings as key=value with 1, unknown keys dropped."""

    def __init__(self, params: dict, feature_names: list[str]):
        self.separator = params["separator"]
        self.sparse = params["sparse"]
        self.vocabulary = dict(zip(feature_names, range(len(feature_names))))
        self.n_features = len(feature_names)

    def transform(self, X):
        if not self.sparse:
            X = list(X)
            dense = dense_table(self.vocabulary, X)
            if dense is not None:
                return dense
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
        rows = rows_from_lists(indptr, indices, values, self.n_features)
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


class Chain:
    """Steps applied in turn (a nested Pipeline)."""

    def __init__(self, steps: list):
        self.steps = steps

    def transform(self, X):
        for step in self.steps:
            X = step.transform(X)
        return X


def vocabulary_list(vocabulary: dict) -> list[str]:
    names = [None] * len(vocabulary)
    for name, j in vocabulary.items():
        names[int(j)] = str(name)
    if any(n is None for n in names):
        raise CannotExport("vocabulary indices are not 0..n-1")
    return names


def export_transform(step, writer: Writer, prefix: str) -> dict:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if step is None or step == "passthrough":
        return {"type": "identity"}
    if isinstance(step, FunctionTransformer) and step.func is int32_indices:
        return {"type": "identity"}
    if isinstance(step, Pipeline):
        return {"type": "chain", "steps": [export_transform(s, writer, f"{prefix}{i}.")
                                           for i, (_, s) in enumerate(step.steps)]}
    if isinstance(step, pool_representation.Projection):
        return {"type": "projection", "tfidf": export_transform(step.vectorizer, writer, prefix + "v."),
                "components": writer.array(prefix + "components", step.components_, dtype="float32")}
    if isinstance(step, FeatureUnion):
        if step.transformer_weights:
            raise CannotExport("weighted FeatureUnion")
        parts = [export_transform(s, writer, f"{prefix}{i}.") for i, (_, s) in enumerate(step.transformer_list)]
        if any(p["type"] not in ("tfidf", "union", "projection") for p in parts):
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
                "vocabulary": writer.json(prefix + "vocabulary", vocabulary_list(step.vocabulary_)),
                "idf": writer.array(prefix + "idf", step.idf_) if step.use_idf else None}
    if isinstance(step, DictVectorizer):
        return {"type": "dict", "params": {"separator": step.separator, "sparse": bool(step.sparse)},
                "feature_names": writer.json(prefix + "feature_names", vocabulary_list(step.vocabulary_))}
    if isinstance(step, StandardScaler):
        return {"type": "scaler",
                "mean": writer.array(prefix + "mean", step.mean_) if step.with_mean else None,
                "scale": writer.array(prefix + "scale", step.scale_) if step.with_std else None}
    raise CannotExport(f"no numpy form for {type(step).__name__}")
