"""Text classification: a Choices control on Text / HyperText / Paragraphs.

TF-IDF word (1-2) and character (2-5, word-bounded) n-grams feeding a logistic regression.
Deterministic for a given seed; scikit-learn is imported here only, on the train/predict path.
"""
from chalicelib.labeling.results import choices_result
from chalicelib.ml.registry import Target
from chalicelib.ml.text_input import text_of


class TextClassifier:
    kind = "text_classifier"

    def __init__(self, target: Target, seed: int = 0):
        self.target = target
        self.seed = seed
        self.pipeline = None
        self.classes_: list[str] = []

    # -- training data
    def example(self, data: dict, consensus: dict):
        """(input, label) for one accepted task, or None when the task has no answer for our control."""
        answer = (consensus or {}).get(self.target.control.name)
        if not answer:
            return None
        label = answer[0] if isinstance(answer, list) else answer
        return text_of(data, self.target.obj), label

    def inputs(self, samples: list[dict]) -> list[str]:
        return [text_of(data, self.target.obj) for data in samples]

    # -- estimator
    def build(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline

        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=1, sublinear_tf=True)),
        ])
        classifier = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced", random_state=self.seed)
        return Pipeline([("features", features), ("classifier", classifier)])

    def fit(self, texts: list[str], labels: list[str]) -> "TextClassifier":
        self.pipeline = self.build().fit(texts, labels)
        self.classes_ = [str(c) for c in self.pipeline.classes_]
        return self

    def predict_proba(self, texts: list[str]):
        return self.pipeline.predict_proba(texts)

    # -- Label Studio output
    def predictions(self, samples: list[dict], model_version: str) -> list[dict]:
        """One Label Studio prediction per sample, in order."""
        probabilities = self.predict_proba(self.inputs(samples))
        results = []
        for row in probabilities:
            best = int(row.argmax())
            score = float(row[best])
            label = self.classes_[best]
            results.append({
                "result": [choices_result(self.target.control, [label], score)],
                "score": score,
                "model_version": model_version,
            })
        return results
