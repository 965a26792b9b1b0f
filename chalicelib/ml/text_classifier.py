"""Text classification: a Choices control on Text / HyperText (tags stripped) / Paragraphs (joined).

Single choice: TF-IDF word (1-2) and character (2-5, word-bounded) n-grams feeding a logistic
regression. `choice="multiple"`: the same features, one logistic regression per choice
(one-vs-rest); a prediction holds every choice with probability >= 0.5 (at least the best one).
Deterministic for a given seed; scikit-learn is imported on the train/predict path only.
"""
from chalicelib.ml.base import ChoicesModel
from chalicelib.ml import pool_representation
from chalicelib.ml.text_input import text_of


def text_features():
    """Word 1-2-grams and word-bounded character 2-5-grams, sublinear TF-IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=1, sublinear_tf=True)),
    ])


class TextClassifier(ChoicesModel):
    kind = "text_classifier"
    reads_pool = True

    def raw_input(self, data):
        return text_of(data, self.target.obj)

    def features(self):
        return pool_representation.features(text_features(), self.pool, self.feature_mode)

    def __setstate__(self, state):
        # Artifacts written before the shared ChoicesModel kept the fitted pipeline as `pipeline`.
        if "pipeline" in state:
            state["estimator"] = state.pop("pipeline")
        self.__dict__.update(state)
