"""Load promoted models and score samples. Models are cached per warm container by S3 VersionId.

The artifact a pointer names is either the numpy form (chalicelib/ml/numpy_form/: an .npz, loaded
with numpy alone, whatever scikit-learn is installed) or, for kinds without one and for versions
trained before it existed, the joblib pickle (loaded with scikit-learn, which must be the version
that trained it). The two are told apart by their first bytes.
"""
from collections import OrderedDict
from threading import Lock
from typing import Callable

from chalicelib.domain.records import ModelPointer
from chalicelib.errors import ArtifactIntegrityError
from chalicelib.ml import numpy_form
from chalicelib.ml.training import deserialize, sklearn_version

CACHE_SIZE = 4


_cache: "OrderedDict[tuple, object]" = OrderedDict()
_lock = Lock()


def load(pointer: ModelPointer, fetch: Callable[[ModelPointer], bytes]):
    """The model `pointer` names: from the cache, or fetched (digest-checked by `fetch`) and loaded."""
    cache_key = (pointer.bucket, pointer.key, pointer.version_id)
    with _lock:
        if cache_key in _cache:
            _cache.move_to_end(cache_key)
            return _cache[cache_key]
    model = from_bytes(pointer, fetch(pointer))
    with _lock:
        _cache[cache_key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def from_bytes(pointer: ModelPointer, body: bytes):
    """The model in a fetched (digest-checked) artifact body."""
    if numpy_form.is_numpy_form(body):
        return numpy_form.load(body)
    installed = sklearn_version()
    if pointer.sklearn_version != installed:
        raise ArtifactIntegrityError(
            f"model {pointer.model_version} was trained with scikit-learn {pointer.sklearn_version}; "
            f"this function has {installed}: retrain the project to serve it"
        )
    return deserialize(body)


def predict(pointer: ModelPointer, samples: list[dict], fetch: Callable[[ModelPointer], bytes]) -> list[dict]:
    return load(pointer, fetch).predictions(samples, pointer.model_version)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
