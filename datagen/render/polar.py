"""Drawing polar curves and rendering one shard's rows into an Arrow table (pure: no Ray, no I/O).

The curve is drawn with PIL at `supersample` times the output resolution and box-downsampled, which
anti-aliases it while staying bit-for-bit deterministic (integer rasterisation, integer averaging).
"""

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from datagen.png import encode_png
from datagen.spec.polar import PolarSpec, rows

# The Hugging Face Image layout: PNG bytes plus a file name, decoded to PIL by `datasets`.
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

# Column order of every polar shard, and the `datasets` features that declare it.
POLAR_COLUMNS = ("image", "index", "a", "b", "hole_distance", "in_hole", "split")
POLAR_FEATURES = {
    "image": {"_type": "Image"},
    "index": {"dtype": "int64", "_type": "Value"},
    "a": {"dtype": "float64", "_type": "Value"},
    "b": {"dtype": "float64", "_type": "Value"},
    "hole_distance": {"dtype": "float64", "_type": "Value"},
    "in_hole": {"dtype": "bool", "_type": "Value"},
    "split": {"dtype": "string", "_type": "Value"},
}


def curve_xy(a: float, b: float, spec: PolarSpec) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates of r = b*cos(5 theta) + a at theta_samples angles over one full turn.

    Negative r lands on the opposite side of the origin, as in a polar plot.
    """
    theta = np.linspace(0.0, 2.0 * np.pi, spec.theta_samples, endpoint=False)
    r = b * np.cos(5.0 * theta) + a
    return r * np.cos(theta), r * np.sin(theta)


def to_pixel(x: np.ndarray, y: np.ndarray, size: int, axis_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates (column, row) of plot points on a size x size image.

    [-axis_limit, axis_limit] spans [0, size] on both axes with y up, so row 0 is y = +axis_limit;
    pixel k covers [k, k + 1), so floor() of the result is the pixel a point falls in.
    """
    scale = size / (2.0 * axis_limit)
    return (x + axis_limit) * scale, (axis_limit - y) * scale


def drawn_width(spec: PolarSpec) -> int:
    """Line width in supersampled pixels: line_width at resolution 64, scaled with resolution."""
    return max(1, round(spec.line_width * spec.resolution / 64 * spec.supersample))


def render_curve(a: float, b: float, spec: PolarSpec) -> np.ndarray:
    """The (resolution, resolution) uint8 image of one curve: anti-aliased white on black."""
    size = spec.resolution * spec.supersample
    column, row = to_pixel(*curve_xy(a, b, spec), size, spec.axis_limit)
    # PIL's wide lines take these continuous coordinates as they are: measured against an exact
    # coverage rendering, any half-pixel shift only raises the error. Repeating the first point
    # closes the curve and lets joint="curve" round the seam like every other joint.
    points = list(zip(column.tolist(), row.tolist()))
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).line(points + points[:1], fill=255, width=drawn_width(spec), joint="curve")
    return np.asarray(canvas.reduce(spec.supersample), dtype=np.uint8)


def render_rows(spec: PolarSpec, start: int, stop: int) -> pa.Table:
    """One shard: the attribute columns of rows [start, stop) plus their PNG images (grayscale)."""
    attributes = rows(spec).slice(start, stop - start)
    indices = attributes["index"].to_pylist()
    images = [
        {"bytes": encode_png(render_curve(a, b, spec)), "path": f"polar_{index:06d}.png"}
        for index, a, b in zip(indices, attributes["a"].to_pylist(), attributes["b"].to_pylist())
    ]
    table = attributes.add_column(0, "image", pa.array(images, type=IMAGE_TYPE))
    return table.select(list(POLAR_COLUMNS))
