"""PNG encoding and decoding shared by every dataset and reader.

Encoding is deterministic: a fixed zlib level, no optimisation pass and no metadata chunks (PIL writes
tIME, tEXt or pHYs only when asked to), so the same pixels always give the same bytes and the shards
that hold them hash the same on every machine with the same Pillow/zlib.
"""

import io

import numpy as np
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from zsdist.base.errors import DataError

# Level 6 is zlib's default trade-off; fixed here because it is part of the output bytes.
PNG_COMPRESS_LEVEL = 6

_MODE_BY_NDIM = {2: "L", 3: "RGB"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# An IEND chunk has no data, so its bytes (length, type, CRC) are the same in every PNG.
_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image: HxW (grayscale "L") or HxWx3 (RGB)."""
    if array.dtype != np.uint8:
        raise ValueError(f"encode_png needs a uint8 array, got {array.dtype}")
    if array.ndim not in _MODE_BY_NDIM or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"encode_png needs an HxW or HxWx3 array, got shape {array.shape}")
    image = Image.fromarray(np.ascontiguousarray(array), mode=_MODE_BY_NDIM[array.ndim])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """The uint8 pixels of PNG bytes: HxW for grayscale, HxWx3 for RGB and indexed colour.

    Indexed-colour images (the Fonts dataset stores one glyph stream under many palettes) decode to
    RGB through their palette. Raises DataError (one line) when the bytes are not a complete, intact
    PNG (every chunk checksum is verified) or hold another pixel mode.
    """
    if not data.startswith(_PNG_SIGNATURE):
        raise _not_png(data, "no PNG signature")
    if not data.endswith(_IEND_CHUNK):
        raise _not_png(data, "no end chunk, the data is truncated")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()  # Checks every chunk's CRC, which decoding alone does not.
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            if image.mode == "P":
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
            if image.mode not in ("L", "RGB"):
                raise DataError(f"PNG image has pixel mode {image.mode}, expected L, RGB or P: regenerate the dataset")
            return np.asarray(image, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise _not_png(data, str(error).splitlines()[0] if str(error) else type(error).__name__) from None


def _not_png(data: bytes, reason: str) -> DataError:
    return DataError(f"bytes are not a valid PNG ({len(data)} bytes; {reason}): regenerate the dataset")


def decode_image_column(images: pa.Array | pa.ChunkedArray, rows: pa.Array | None = None) -> np.ndarray:
    """Every PNG of a Hugging Face image column (struct<bytes, path>), stacked: (N, H, W[, 3]) uint8.

    `rows` picks positions first, so only the images a caller uses are decoded.
    """
    blobs = images.combine_chunks().field("bytes") if isinstance(images, pa.ChunkedArray) else images.field("bytes")
    if rows is not None:
        blobs = blobs.take(rows)
    return np.stack([decode_png(blob) for blob in blobs.to_pylist()])
