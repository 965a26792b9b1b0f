"""The small interface every model kind implements, and the shared Choices / numeric models.

A model is made for one `Target` (a control and the object it reads) and goes through:

    example(data, consensus) -> (raw input, label) | None     training data from an accepted task
    raw_input(data)          -> raw input                      the same for a task to predict
    encode(raws)             -> X                              features computed once (fetch images...)
    fit(X, labels) / predict(X) -> labels                      scikit-learn underneath
    predictions(samples, model_version) -> Label Studio predictions with scores

`problem` tells training how to split and score: "classification", "multilabel", "regression"
or "spans". scikit-learn is imported inside methods only (the API imports this module).
"""
from chalicelib.labeling.results import result_item
from chalicelib.ml.registry import Target

MULTILABEL_THRESHOLD = 0.5


class ModelBase:
    kind = ""
    problem = "classification"
    # the project's pool representation (ml/pool_representation.py) and how the features use it;
    # set with `use_pool` on the text kinds, kept by `fresh`
    pool = None
    feature_mode = "present"
    reads_pool = False  # True on the kinds whose features() can use it

    def __init__(self, target: Target, seed: int = 0):
        self.target = target
        self.seed = seed
        self.estimator = None

    @property
    def control(self):
        return self.target.control

    def fresh(self) -> "ModelBase":
        """An unfitted model of the same kind, target and pool representation (evaluation fits several)."""
        model = type(self)(self.target, seed=self.seed)
        return model.use_pool(self.pool, self.feature_mode) if self.pool is not None else model

    def use_pool(self, projection, mode: str) -> "ModelBase":
        """Read features through the project's pool representation in `mode` (before fitting)."""
        self.pool, self.feature_mode = projection, mode
        return self

    def embedding(self, X):
        """The space active learning measures diversity in: the pool representation when the model
        has one (X holds raw texts then), else None (ml/sampling.py falls back to the features)."""
        return None if self.pool is None else self.pool.transform(X)

    def answer(self, consensus: dict | None):
        return (consensus or {}).get(self.control.name)

    def canonical(self, label: str) -> str:
        """A config value for a label that may be a `<Choice alias=...>`."""
        return self.control.aliases.get(label, label)

    def raw_input(self, data: dict):
        raise NotImplementedError

    def example(self, data: dict, consensus: dict | None):
        raise NotImplementedError

    def encode(self, raws: list):
        return list(raws)

    def build(self):
        raise NotImplementedError

    def fit(self, X, labels: list) -> "ModelBase":
        raise NotImplementedError

    def predict(self, X) -> list:
        return self.predict_scored(self.scored(X))

    def predict_scored(self, scored: list) -> list:
        """The labels `predict` gives, from `scored`'s output (training scores held-out inputs once)."""
        return [label for label, _ in scored]

    def scored(self, X) -> list[tuple[object, float]]:
        """(label, score) per input."""
        raise NotImplementedError

    def result_items(self, label, score: float) -> list[dict]:
        raise NotImplementedError

    def item(self, value: dict, score: float | None) -> dict:
        return result_item(self.control, self.target.obj.name, value, score)

    def inputs(self, samples: list[dict]):
        """What the estimator reads for these task data (what `predict_proba` and rescoring take)."""
        return self.encode([self.raw_input(data) for data in samples])

    def predictions(self, samples: list[dict], model_version: str) -> list[dict]:
        """One Label Studio prediction per sample, in order."""
        X = self.inputs(samples)
        return [
            {"result": self.result_items(label, score), "score": round(float(score), 6), "model_version": model_version}
            for label, score in self.scored(X)
        ]


class ChoicesModel(ModelBase):
    """A Choices control: one class (`choice="single"`) or a set (`choice="multiple"`, one-vs-rest).

    Subclasses give `features()` (a transformer, or "passthrough") and `raw_input`."""

    def __init__(self, target: Target, seed: int = 0):
        super().__init__(target, seed)
        self.problem = "multilabel" if target.control.choice == "multiple" else "classification"
        self.classes_: list[str] = []

    def example(self, data, consensus):
        answer = self.answer(consensus)
        if not answer:
            return None
        chosen = [self.canonical(str(c)) for c in (answer if isinstance(answer, list) else [answer])]
        label = tuple(sorted(set(chosen))) if self.problem == "multilabel" else chosen[0]
        return self.raw_input(data), label

    def features(self):
        return "passthrough"

    def classifier(self, binary: bool):
        """liblinear for two-class problems (each one-vs-rest column too): same optimum, several times faster."""
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced", random_state=self.seed,
                                  solver="liblinear" if binary else "lbfgs")

    def build(self, binary: bool = False):
        from sklearn.pipeline import Pipeline

        classifier = self.classifier(binary or self.problem == "multilabel")
        if self.problem == "multilabel":
            from sklearn.multiclass import OneVsRestClassifier

            classifier = OneVsRestClassifier(classifier)
        return Pipeline([("features", self.features()), ("classifier", classifier)])

    def fit(self, X, labels):
        if self.problem == "multilabel":
            from sklearn.preprocessing import MultiLabelBinarizer

            binarizer = MultiLabelBinarizer()
            y = binarizer.fit_transform(labels)
            self.classes_ = [str(c) for c in binarizer.classes_]
            self.estimator = self.build().fit(X, y)
        else:
            self.estimator = self.build(binary=len(set(labels)) == 2).fit(X, labels)
            self.classes_ = [str(c) for c in self.estimator.classes_]
        return self

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)

    def scored(self, X):
        return self.scored_from(self.predict_proba(X))

    def scored_from(self, proba) -> list[tuple[object, float]]:
        """`scored` from class probabilities already computed (rescoring reuses one predict_proba)."""
        if self.problem != "multilabel":
            best = proba.argmax(axis=1)
            top = proba[range(len(best)), best]
            return [(self.classes_[b], p) for b, p in zip(best.tolist(), top.tolist())]
        out = []
        for row in proba:
            chosen = [i for i, p in enumerate(row) if p >= MULTILABEL_THRESHOLD] or [int(row.argmax())]
            out.append((tuple(self.classes_[i] for i in chosen), float(sum(row[i] for i in chosen) / len(chosen))))
        return out

    def result_items(self, label, score):
        choices = list(label) if isinstance(label, tuple) else [label]
        return [self.item({"choices": choices}, score)]

    def answer_of(self, label) -> list:
        """A predicted label as a consensus holds the control's answer (auto labels, their audit)."""
        return [str(c) for c in label] if self.problem == "multilabel" else [str(label)]


def numeric_bounds(control) -> tuple[float | None, float | None, bool]:
    """(low, high, integer) a Rating (1..maxRating stars) or Number (min/max if set) answer lies in."""
    if control.type == "Rating":
        return 1.0, float(control.attr("maxRating", 5)), True
    low, high = control.attr("min"), control.attr("max")
    return (None if low in (None, "") else float(low)), (None if high in (None, "") else float(high)), False


class NumericModel(ModelBase):
    """A Rating or Number control learnt by ridge regression; predictions clipped to the tag's range.

    The score is a model-level confidence, 1 - RMSE / range on the training data (0.5 without a range)."""

    problem = "regression"

    def __init__(self, target: Target, seed: int = 0):
        super().__init__(target, seed)
        self.low, self.high, self.integer = numeric_bounds(target.control)
        self.confidence = 0.5

    def example(self, data, consensus):
        answer = self.answer(consensus)
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            return None
        return self.raw_input(data), float(answer)

    def features(self):
        return "passthrough"

    def build(self):
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import Pipeline

        return Pipeline([("features", self.features()), ("regressor", Ridge(alpha=1.0))])

    def clip(self, values):
        import numpy as np

        values = np.asarray(values, dtype=float)
        if self.low is not None or self.high is not None:
            values = np.clip(values, self.low, self.high)
        return np.rint(values) if self.integer else values

    def fit(self, X, labels):
        import numpy as np

        # Pipeline.fit's steps, keeping the training features for the confidence below (predicting
        # on X through the pipeline would compute them a second time)
        self.estimator = self.build()
        features = X
        for _, step in self.estimator.steps[:-1]:
            if step != "passthrough":
                features = step.fit_transform(features, labels)
        regressor = self.estimator.steps[-1][1].fit(features, labels)
        residual = self.clip(regressor.predict(features)) - np.asarray(labels, dtype=float)
        rmse = float(np.sqrt(np.mean(residual ** 2)))
        if self.low is not None and self.high is not None and self.high > self.low:
            self.confidence = max(0.0, 1.0 - rmse / (self.high - self.low))
        return self

    def regress(self, X):
        """The fitted regressor's raw (unclipped) values for inputs X."""
        return self.estimator.predict(X)

    def scored(self, X):
        values = self.clip(self.regress(X))
        return [(int(v) if self.integer else float(v), self.confidence) for v in values]

    def result_items(self, label, score):
        return [self.item({self.control.result_type: label}, score)]
