"""The label-studio-ml SDK peer of bench/predict.py: an SDK backend (label-studio-ml 1.0.9, in
.venv-lsml/) serving the very model our API serves, from its numpy form (chalicelib/ml/numpy_form/,
numpy alone), with the same prediction code. Run with that venv's python:

    .venv-lsml/bin/python bench/lsml_peer.py <port> <model.npz> <model_version> <model_dir>

The SDK's own Flask server (threaded, as its docs run it) on 127.0.0.1; only its HTTP layer differs
from ours, so its ratio to the in-process limit is what the SDK adds.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from label_studio_ml.api import init_app  # noqa: E402
from label_studio_ml.model import LabelStudioMLBase  # noqa: E402

from chalicelib.ml import numpy_form  # noqa: E402

MODEL = numpy_form.load(Path(sys.argv[2]).read_bytes())
MODEL_VERSION = sys.argv[3]


class SameModelBackend(LabelStudioMLBase):
    def predict(self, tasks, **kwargs):
        return MODEL.predictions([task["data"] for task in tasks], MODEL_VERSION)


if __name__ == "__main__":
    app = init_app(model_class=SameModelBackend, model_dir=sys.argv[4])
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=False, threaded=True)
