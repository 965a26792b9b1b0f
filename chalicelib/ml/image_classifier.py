"""Image classification: a Choices control (single or multiple) on an Image object.

Images are read from `s3://` or http(s) URLs through chalicelib.store.media (size, type and address
limits) and decoded with Pillow (decompression-bomb limit, EXIF orientation applied). Features that
work for photos and scans alike, about 900 numbers per image:
- HOG-like gradient histograms: 64x64 grayscale, 8x8 cells, 9 unsigned orientations, each cell
  normalised by its 2x2 neighbourhood (shape and strokes);
- a 16x16 grayscale thumbnail, standardised per image (layout);
- a joint RGB colour histogram, 4 levels per channel (colour).
Standardised, then a logistic regression (one-vs-rest for `choice="multiple"`).
"""
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from io import BytesIO

from chalicelib.ml.base import ChoicesModel
from chalicelib.store import media
from chalicelib.store.media import MediaError

MAX_PIXELS = 40_000_000
FETCH_THREADS = 8
SIDE, CELL, BINS = 64, 8, 9


def image_url(data: dict, obj) -> str:
    value = data.get(obj.value_key)
    if isinstance(value, list):  # <Image valueList="$images">: the first image
        value = value[0] if value else ""
    return str(value)


def decode(body: bytes, url: str = "image"):
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(BytesIO(body))
        image.draft("RGB", (SIDE * 2, SIDE * 2))  # JPEG: decode at a reduced size
        return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(url, f"not a readable image: {exc}") from None


@lru_cache(maxsize=1)
def _cell_slots():
    """Each pixel's (cell row, cell column) bin offset in the cells x orientations histogram (built
    once, when numpy is first needed: this module is imported without it)."""
    import numpy as np

    n = SIDE // CELL
    cell_of = np.arange(SIDE) // CELL
    return (cell_of[:, None] * n + cell_of[None, :]) * BINS


def gradient(gray):
    """np.gradient(gray) (unit spacing, first-order edges) without its generic set-up: the same
    differences and divisions, so the same values."""
    import numpy as np

    gy, gx = np.empty_like(gray), np.empty_like(gray)
    gy[1:-1] = (gray[2:] - gray[:-2]) / 2.0
    gy[0] = (gray[1] - gray[0]) / 1.0
    gy[-1] = (gray[-1] - gray[-2]) / 1.0
    gx[:, 1:-1] = (gray[:, 2:] - gray[:, :-2]) / 2.0
    gx[:, 0] = (gray[:, 1] - gray[:, 0]) / 1.0
    gx[:, -1] = (gray[:, -1] - gray[:, -2]) / 1.0
    return gy, gx


def gradient_histograms(gray):
    import numpy as np

    gy, gx = gradient(gray)
    magnitude = np.hypot(gx, gy)
    orientation = (np.degrees(np.arctan2(gy, gx)) % 180.0) / (180.0 / BINS)
    bins = np.minimum(orientation.astype(int), BINS - 1)
    n = SIDE // CELL
    # each pixel's magnitude added to its (cell row, cell column, orientation) bin in one pass
    slot = (_cell_slots() + bins).ravel()
    cells = np.bincount(slot, weights=magnitude.ravel(), minlength=n * n * BINS).reshape(n, n, BINS)
    energy = (cells ** 2).sum(axis=2)
    padded = np.empty((n + 1, n + 1))  # np.pad(energy, ((0, 1), (0, 1)), mode="edge")
    padded[:n, :n] = energy
    padded[n, :n] = energy[n - 1]
    padded[:, n] = padded[:, n - 1]
    block = padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:]
    return (cells / np.sqrt(block[:, :, None] + 1e-6)).ravel()


def image_features(image):
    import numpy as np
    from PIL import Image

    luminance = image.convert("L")
    gray = np.asarray(luminance.resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=float) / 255.0
    thumbnail = np.asarray(luminance.resize((16, 16), Image.Resampling.BILINEAR), dtype=float).ravel()
    thumbnail = (thumbnail - thumbnail.mean()) / (thumbnail.std() + 1e-6)
    rgb = np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BILINEAR)) // 64
    codes = (rgb[:, :, 0] * 16 + rgb[:, :, 1] * 4 + rgb[:, :, 2]).ravel()
    colours = np.bincount(codes, minlength=64) / codes.size
    return np.concatenate([gradient_histograms(gray), thumbnail, colours])


def features_of_url(url: str):
    return image_features(decode(media.fetch(url), url))


class ImageClassifier(ChoicesModel):
    kind = "image_classifier"

    def raw_input(self, data):
        return image_url(data, self.target.obj)

    def encode(self, raws):
        """Fetch and featurise every image once (threads: the work is mostly waiting on I/O)."""
        import numpy as np

        if not raws:
            return np.zeros((0, 1))
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(raws))) as pool:
            return np.vstack(list(pool.map(features_of_url, raws)))

    def features(self):
        from sklearn.preprocessing import StandardScaler

        return StandardScaler()

    def classifier(self, binary: bool):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced", random_state=self.seed)
