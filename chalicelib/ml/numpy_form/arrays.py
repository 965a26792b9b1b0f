"""What both sides of the numpy form share: sparse feature rows in CSR layout without scipy, the
writer that collects an export's arrays, and `CannotExport`.

numpy (and scipy, for `Rows.tocsr`) is imported inside functions only: the API imports this
package at cold start, and the predict path must not import scikit-learn.
"""
import json


class CannotExport(Exception):
    """A step of this estimator has no numpy form here."""


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


def rows_from_lists(indptr: list, indices: list, data: list, n_features: int) -> Rows:
    import numpy as np

    return Rows(np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64),
                np.asarray(data, dtype=np.float64), n_features)


class Writer:
    def __init__(self):
        self.arrays: dict = {}

    def array(self, name: str, value, dtype: str = "float64") -> str:
        import numpy as np

        self.arrays[name] = np.ascontiguousarray(value, dtype=dtype)
        return name

    def json(self, name: str, value) -> str:
        import numpy as np

        self.arrays[name] = np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        return name
