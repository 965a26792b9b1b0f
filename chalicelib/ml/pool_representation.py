"""A project's pool representation: text features fitted on the project's whole pool of tasks,
labelled and not, so a model learns from a few hundred labels in a space the whole pool shaped.

For text (the text classifier, taxonomy and text regressor kinds): word TF-IDF (sublinear tf, words
seen in at least two tasks, at most MAX_VOCABULARY of the most frequent) fitted on a stable sample
of the pool's texts, then a truncated SVD to DIMENSIONS (latent semantic analysis), each row
l2-normalised. `Projection` is that transform as a step a model's scikit-learn pipeline holds,
already fitted: fitting a model never refits it. The numpy form exports it
(ml/numpy_form/features.py `Projection`), so predict and rescoring still need numpy alone.

A model uses it in one of three feature modes, chosen per training on the project's validation
set (services/training.py): "present" (its own features, fitted on its labelled examples),
"pool" (the projection alone) or "both" (concatenated). Active learning's diversity and BADGE
embeddings are the projection whenever the model holds one (`embedding`).

Pure computation: the train worker reads the sample (store/tasks.py) and stores the fitted
representation (store/representations.py). scikit-learn is imported inside functions only.
"""
import hashlib

SAMPLE_CAP = 20_000  # tasks a representation is fitted on, at most (a stable hash sample)
DIMENSIONS = 300
MAX_VOCABULARY = 10_000  # with 300 dimensions in float32: a 12 MB basis at most in each artifact
MIN_TEXTS = 50  # fewer distinct texts in the pool: no representation
DOCUMENTS_PER_DIMENSION = 5  # a small pool gets fewer dimensions (400 texts: 80)
DENSE_CELLS = 20_000_000  # up to this many documents x words, the SVD is computed exactly
REFIT_GROWTH = 0.25  # refit when the pool has grown by a quarter since the fit
MODES = ("present", "pool", "both")
DEFAULT_MODE = "both"  # without a validation set to choose on


def in_sample(project_id: str, task_id: int, n_tasks: int, cap: int = SAMPLE_CAP) -> bool:
    """Whether a task belongs to the fitting sample of a pool of `n_tasks` (every task up to the cap,
    then a stable hash share of about `cap` tasks)."""
    if n_tasks <= cap:
        return True
    digest = hashlib.sha256(f"pool/{project_id}/{int(task_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < cap / n_tasks


def needs_refit(fitted_on: int | None, n_tasks: int, growth: float = REFIT_GROWTH) -> bool:
    """Refit when there is none yet, or the pool has grown by `growth` since the last fit."""
    return fitted_on is None or n_tasks >= fitted_on * (1 + growth)


class Projection:
    """A fitted word TF-IDF and SVD basis: texts -> l2-normalised rows of `components_.shape[0]`
    columns. Duck-typed as a scikit-learn transformer whose `fit` does nothing (it was fitted on
    the pool), so pipelines and feature unions hold it as they are."""

    def __init__(self, vectorizer=None, components=None, fitted_on: int = 0):
        self.vectorizer, self.components_, self.fitted_on = vectorizer, components, fitted_on

    @property
    def dimensions(self) -> int:
        return int(self.components_.shape[0])

    def get_params(self, deep: bool = True) -> dict:
        return {"vectorizer": self.vectorizer, "components": self.components_, "fitted_on": self.fitted_on}

    def set_params(self, **params):
        for name, value in params.items():
            setattr(self, "components_" if name == "components" else name, value)
        return self

    def fit(self, X, y=None, **fit_params):
        return self

    def transform(self, X):
        import numpy as np

        projected = np.asarray(self.vectorizer.transform(X) @ self.components_.T)
        norms = np.sqrt((projected * projected).sum(axis=1))
        norms[norms == 0.0] = 1.0
        return projected / norms[:, None]

    def fit_transform(self, X, y=None, **fit_params):
        return self.transform(X)


def fit_text(texts: list[str], seed: int = 0, dimensions: int = DIMENSIONS) -> Projection | None:
    """The projection fitted on `texts` (the pool sample); None when there are too few of them."""
    distinct = list(dict.fromkeys(t for t in texts if t and t.strip()))
    if len(distinct) < MIN_TEXTS:
        return None
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    import numpy as np

    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=MAX_VOCABULARY, dtype=np.float64)
    try:
        counts = vectorizer.fit_transform(distinct)
    except ValueError:  # no word seen twice
        return None
    k = min(dimensions, counts.shape[1] - 1, len(distinct) // DOCUMENTS_PER_DIMENSION)
    if k < 2:
        return None
    if counts.shape[0] * counts.shape[1] <= DENSE_CELLS:  # small pools: the exact SVD is quicker
        _, _, basis = np.linalg.svd(counts.toarray(), full_matrices=False)
        components = basis[:k]
    else:
        components = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5,
                                  random_state=seed).fit(counts).components_
    # float32 halves the artifacts; both forms read the same float32 values (tests check 1e-9)
    return Projection(vectorizer, np.ascontiguousarray(components, dtype=np.float32), fitted_on=len(texts))


def features(present, projection: Projection | None, mode: str):
    """The feature step of a text model in `mode`, given its present features' step."""
    if projection is None or mode == "present":
        return present
    if mode == "pool":
        return projection
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([("present", present), ("pool", projection)])
