"""A Label Studio ML backend built with the `label-studio-ml` SDK (1.0.9, in .venv-lsml/), used by
tests/e2e/test_labelstudio_ml_sdk.py as a custom model. Run with that venv's python:
`keyword_backend.py <port> <model_dir> <fit_log>`. It learns spam words from its training tasks and
appends what every fit() received to <fit_log> (JSON lines), so the test can see the training arrive."""
import json
import re
import sys
from collections import Counter

from label_studio_ml.api import init_app
from label_studio_ml.model import LabelStudioMLBase

FIT_LOG = sys.argv[3] if len(sys.argv) > 3 else None


class KeywordBackend(LabelStudioMLBase):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.from_name, info = next(iter(self.parsed_label_config.items()))
        self.to_name = info["to_name"][0]
        self.value = info["inputs"][0]["value"]
        self.spam_words = set((self.train_output or {}).get("spam_words", ["free", "win", "prize"]))

    def predict(self, tasks, **kwargs):
        out = []
        for task in tasks:
            words = set(re.findall(r"[a-z]+", task["data"][self.value].lower()))
            hits = len(words & self.spam_words)
            label = "spam" if hits else "ham"
            out.append({"result": [{"from_name": self.from_name, "to_name": self.to_name, "type": "choices",
                                    "value": {"choices": [label]}}],
                        "score": min(1.0, 0.6 + 0.1 * hits)})
        return out

    def fit(self, tasks, workdir=None, **kwargs):
        spam, ham, received = Counter(), Counter(), []
        for task in tasks:
            annotations = task.get("annotations") or task.get("completions") or []
            if not annotations:
                continue
            label = annotations[0]["result"][0]["value"]["choices"][0]
            words = set(re.findall(r"[a-z]+", task["data"][self.value].lower()))
            (spam if label == "spam" else ham).update(words)
            received.append({"id": task.get("id"), "label": label})
        learned = sorted(w for w, n in spam.items() if n >= 1 and w not in ham and len(w) > 3)
        if FIT_LOG:
            with open(FIT_LOG, "a") as f:
                f.write(json.dumps({"tasks": received, "event": kwargs.get("event")}) + "\n")
        return {"spam_words": learned or sorted(self.spam_words), "n_tasks": len(received)}


if __name__ == "__main__":
    app = init_app(model_class=KeywordBackend, model_dir=sys.argv[2])
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=False, threaded=True)
