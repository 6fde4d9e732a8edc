"""The seen-unseen accuracy curves of a GZSL evaluation as a figure and as plain points.

One line per method: U on x, S on y, the area under it (AUSUC) in the legend, the uncalibrated point
(gamma = 0) as a circle and, where calibrated stacking chose a gamma, its test point as a star.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from zsdist.eval.calibration import SeenUnseenCurve
from zsdist.eval.figures import save_figure

# The metric prefix of each curve's method in an evaluation's metrics.
PREFIXES = {"CADA-VAE": "", "ESZSL": "baseline/eszsl/"}


def seen_unseen_figure(path: Path, curves: dict[str, SeenUnseenCurve], metrics: dict[str, float]) -> Path:
    """Write the curves (with each method's points read from metrics) as a PNG at path."""
    figure, axes = plt.subplots(figsize=(5, 5))
    for name, curve in curves.items():
        prefix = PREFIXES.get(name, f"{name}/")
        (line,) = axes.plot(curve.unseen, curve.seen, label=f"{name} (AUSUC {curve.ausuc:.3f})")
        axes.plot(metrics[prefix + "U"], metrics[prefix + "S"], "o", color=line.get_color())
        if prefix + "calibrated/S" in metrics:
            axes.plot(metrics[prefix + "calibrated/U"], metrics[prefix + "calibrated/S"], "*", markersize=12,
                      color=line.get_color())
    axes.set(xlabel="U: unseen-class accuracy over all classes", ylabel="S: seen-class accuracy over all classes",
             xlim=(0, 1), ylim=(0, 1), title="seen-unseen curve (o: gamma 0, *: calibrated)")
    axes.legend(loc="upper right")
    return save_figure(path, figure)


def curve_points(curves: dict[str, SeenUnseenCurve]) -> dict[str, dict[str, list[float]]]:
    """The curves as JSON-ready lists: S and U of every interval of gamma, and the thresholds between them."""
    return {name: {"U": curve.unseen.tolist(), "S": curve.seen.tolist(), "thresholds": curve.edges.tolist()}
            for name, curve in curves.items()}
