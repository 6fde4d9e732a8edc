"""What a person sees in a font, measured on the outlines of its 52 letters A-Z a-z with fontTools.

Each glyph is drawn once through OutlinePen (a fontTools pen, on the glyph set at the font's pinned
instance): curves are flattened into 8 straight pieces each, so a glyph becomes a set of directed
straight edges, and the length of outline drawn as curves and as straight lines is kept. Two tools
work on those edges, both with the nonzero winding rule, so overlapping contours (common in variable
fonts) and either contour direction (TrueType or CFF) give the same ink:
- scan lines (Outline.runs), exact: the ink intervals ("runs") along a horizontal or vertical line,
  e.g. the width of a stem where a horizontal line crosses it;
- a raster (Outline.raster): the glyph filled at 100 pixels per cap height (pixel centres tested),
  for areas, moments and topology (holes, separate pieces of ink), with scipy.ndimage.
Lengths are relative to the cap height (top of 'H'), so the em size and the font's units do not
matter. Below, "height" and "width" of a letter are those of its ink box. The values quoted are the
pinned fonts' (`python -m zsdist.fontszsl.attributes --raw` prints them all).

DESCRIPTOR_NAMES, one number per font:

Proportions
- x_height: top of 'x' / cap height. Large x-height (most sans, 0.7-0.8) versus small (Garamond-like
  old styles, scripts, ~0.45-0.65): how big the lowercase looks next to the capitals.
- ascender: highest top of b d h k l / cap height: ascenders rising above the capitals (>1, common in
  old-style serifs) or not.
- descender: depth of the lowest of g j p q y below the baseline / cap height: long or short tails.
- cap_width: median ink width of the 26 capitals / cap height: condensed (Anton, Fjalla One, ~0.5)
  versus wide (Unbounded, Orbitron, ~1) capitals.
- lower_width: median ink width of the 26 lowercase letters / x-height: the same for the lowercase.
- advance_variation: coefficient of variation (std / mean) of the 52 advance widths. 0 for a monospaced
  font, where every letter takes the same room (hence the narrow M W m w and wide, slab-footed i l I).
Weight and stroke
- weight: median width of the ink runs of horizontal lines at 20, 30 ... 80 % of each letter's
  height, over the 52 letters, / cap height: the thickness of the vertical strokes (stems), i.e.
  light versus bold versus black.
- contrast: log(thin / thick), the median over O, o, D and H of the horizontal strokes' thickness
  (a vertical line through the middle of O o D: runs at top and bottom; of H: the crossbar) over the
  vertical strokes' (a horizontal line through the middle of O o D: the sides; of H below the bar: the
  stems). About 0 for monoline sans and slab faces, about -0.7 for text serifs, below -1.5 for
  didones and fat faces (Bodoni Moda, Abril Fatface) with hairline horizontals; slightly > 0 for a
  few marker-pen handwriting faces whose horizontals come out heavier (Shadows Into Light, 0.2).
- darkness: mean over the 52 letters of ink area / ink box area: how much of its box a letter
  blackens (heavy, compact letters high; thin or open scripts low).
Serifs
- serif: median over the foot of I H l i n T and the head of I H l of log(width of the ink run 1.5 %
  of the letter's height inside its end / width of the same stem at mid height). 0 for a sans (the
  stem ends as it runs); ~0.9-1.3 for text serifs and slabs, didones' hairline serifs included, and
  for the slab-footed I i l of monospaced fonts; 0.3-0.5 for display serifs whose heavy stems the
  serifs widen less (Abril Fatface, Alfa Slab One); < 0 for rounded or tapering stroke ends (Varela
  Round, Quicksand, handwriting).
- slab: the same ratio 6 % inside the foot (I H l i n T): still wide for slab serifs (Arvo, Roboto
  Slab, Zilla Slab) whose thick serifs reach that far, back near 0 for hairline or bracketed serifs.
Shape
- slant: mean over the 52 letters of the ink's x-y covariance over its y variance (as fontTools'
  StatisticsPen defines it, on the filled raster): ~0 upright, 0.1-0.3 for leaning scripts/italics.
- roundness: the filled outline of O and o (holes filled in) / its box area, mean of the two: pi/4
  = 0.785 for an ellipse, towards 1 for squarish, superelliptic O (Orbitron, Russo One), lower for
  scripts whose O is a loop or a tilted oval.
- curviness: share of the outline length of the 52 letters drawn as curves rather than straight
  lines: geometric/techno faces made of straight segments (Orbitron, Black Ops One) low, scripts and
  rounded faces high.
- aperture: mean over c C e of the largest gap between ink runs on a vertical line at 85 % of the
  letter's width, / its height (1 when the line meets fewer than two runs): how open the letter's
  mouth is, closed (grotesques, heavy display) to open (humanist serifs and scripts).
- connection: mean over the 26 lowercase letters of how far ink reaches beyond the letter's advance
  box (left of 0 plus right of the advance) / x-height: connecting strokes of scripts (Great Vibes,
  Pacifico, 0.3) reach into the neighbouring letters; print faces stay inside (< 0.03).
Structure
- counters: mean number of enclosed holes (4-connected background regions not reaching the border of
  the raster) per letter: loops of scripts raise it; stencil or open forms lower it.
- pieces: mean number of separate (8-connected) pieces of ink per letter: 1.04-1.08 (i, j and a
  few detached strokes) for all but the stencil Black Ops One (2.3).
- a_storey: top of the highest hole of 'a' above its bottom / its height: ~0.5 for the two-storey
  'a' (bowl in the lower half), ~0.85 for the one-storey 'a' of geometric sans and scripts; 0 if the
  'a' has no hole.
- g_storey: holes in 'g': 2 for a two-storey (binocular) 'g' with a closed lower loop (most text
  serifs, also Work Sans), 1 for the one-storey 'g' and for two-storey ones whose lower loop is open
  (Libre Baskerville, Playfair Display), 0 for a stencil.
"""

from __future__ import annotations

import numpy as np
from fontTools.pens.basePen import BasePen
from scipy import ndimage

from datagen.fonts_manifest import LETTERS

DESCRIPTOR_NAMES = (
    "x_height", "ascender", "descender", "cap_width", "lower_width", "advance_variation",
    "weight", "contrast", "darkness",
    "serif", "slab",
    "slant", "roundness", "curviness", "aperture", "connection",
    "counters", "pieces", "a_storey", "g_storey",
)
CURVE_STEPS = 8  # straight pieces per flattened curve
PIXELS_PER_CAP = 100  # raster resolution: pixels per cap height
_UPPER, _LOWER = LETTERS[:26], LETTERS[26:]
_SCAN = np.linspace(0.2, 0.8, 7)  # fractions of a letter's height (width) where weight scans it
_SERIF_END, _SLAB_END = 0.015, 0.06  # fractions of a letter's height inside its end where serifs are read
# Letters whose stems end in serifs, and the fraction of their height where the stem is measured.
_FEET = {"I": 0.5, "H": 0.3, "l": 0.5, "i": 0.3, "n": 0.4, "T": 0.5}
_HEADS = {"I": 0.5, "H": 0.7, "l": 0.5}


class OutlinePen(BasePen):
    """A glyph's outline as straight edges (curves flattened), with the length drawn as curves and as lines.

    Only the set of directed edges matters to the nonzero winding rule, so curves are kept aside and
    flattened together, vectorised, by `edges`.
    """

    def __init__(self, glyphset) -> None:
        super().__init__(glyphset)
        self.lines: list[tuple] = []
        self.quadratics: list[tuple] = []
        self.cubics: list[tuple] = []
        self._start = self._current = None

    def _moveTo(self, p0) -> None:
        self._start = self._current = p0

    def _lineTo(self, p1) -> None:
        self.lines.append((self._current, p1))
        self._current = p1

    def _qCurveToOne(self, p1, p2) -> None:
        self.quadratics.append((self._current, p1, p2))
        self._current = p2

    def _curveToOne(self, p1, p2, p3) -> None:
        self.cubics.append((self._current, p1, p2, p3))
        self._current = p3

    def _closePath(self) -> None:
        if self._current != self._start:
            self._lineTo(self._start)
        self._start = self._current = None

    _endPath = _closePath

    def edges(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(starts (n, 2), ends (n, 2), length drawn as curves, length drawn as lines)."""
        t = np.linspace(0.0, 1.0, CURVE_STEPS + 1)[None, :, None]
        pieces = [np.asarray(self.lines, dtype=np.float64).reshape(-1, 2, 2)]
        if self.quadratics:
            p = np.asarray(self.quadratics, dtype=np.float64)[:, :, None, :]
            pieces.append((1 - t) ** 2 * p[:, 0] + 2 * (1 - t) * t * p[:, 1] + t**2 * p[:, 2])
        if self.cubics:
            p = np.asarray(self.cubics, dtype=np.float64)[:, :, None, :]
            pieces.append((1 - t) ** 3 * p[:, 0] + 3 * (1 - t) ** 2 * t * p[:, 1] + 3 * (1 - t) * t**2 * p[:, 2]
                          + t**3 * p[:, 3])
        starts = np.concatenate([piece[:, :-1].reshape(-1, 2) for piece in pieces])
        ends = np.concatenate([piece[:, 1:].reshape(-1, 2) for piece in pieces])
        lengths = [np.hypot(*(piece[:, 1:] - piece[:, :-1]).reshape(-1, 2).T).sum() for piece in pieces]
        return starts, ends, float(sum(lengths[1:])), float(lengths[0])


class Outline:
    """One letter: its outline's straight edges, ink box, advance and outline lengths."""

    def __init__(self, pen: OutlinePen, advance: float) -> None:
        self.p0, self.p1, self.curve_length, self.line_length = pen.edges()
        if not len(self.p0):
            raise ValueError("the glyph draws no outline")
        self.x0, self.y0 = self.p0.min(axis=0)
        self.x1, self.y1 = self.p0.max(axis=0)
        self.advance = advance

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def runs(self, values, horizontal: bool = True) -> list[np.ndarray]:
        """Per line y = value (horizontal) or x = value: its (k, 2) ink intervals, in order."""
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))[:, None]
        axis = 1 if horizontal else 0
        a0, a1 = self.p0[None, :, axis], self.p1[None, :, axis]
        b0, b1 = self.p0[None, :, 1 - axis], self.p1[None, :, 1 - axis]
        cross = ((a0 <= values) & (values < a1)) | ((a1 <= values) & (values < a0))
        with np.errstate(divide="ignore", invalid="ignore"):
            position = np.where(cross, b0 + (values - a0) / (a1 - a0) * (b1 - b0), np.inf)
        direction = np.where(cross, np.where(a1 > a0, 1, -1), 0)
        order = np.argsort(position, axis=1, kind="stable")
        position = np.take_along_axis(position, order, axis=1)
        after = np.cumsum(np.take_along_axis(direction, order, axis=1), axis=1)
        before = np.concatenate([np.zeros_like(after[:, :1]), after[:, :-1]], axis=1)
        # A run opens where the winding leaves 0 and closes where it returns to 0; row-major order keeps
        # each line's opens and closes alternating, so they pair up across all lines at once.
        line, _ = np.nonzero((before == 0) & (after != 0))
        opens = position[(before == 0) & (after != 0)]
        closes = position[(before != 0) & (after == 0)]
        first = np.ones(len(opens), dtype=bool)  # runs that touch (abutting contours) are one
        first[1:] = (line[1:] != line[:-1]) | (opens[1:] > closes[:-1])
        last = np.roll(first, -1)
        runs = np.column_stack([opens[first], closes[last]])
        return np.split(runs, np.cumsum(np.bincount(line[first], minlength=len(values)))[:-1])

    def run_at(self, fraction: float, *, horizontal: bool = True) -> np.ndarray:
        """The runs on the line at this fraction of the letter's height (horizontal) or width."""
        if horizontal:
            return self.runs(self.y0 + fraction * self.height, True)[0]
        return self.runs(self.x0 + fraction * self.width, False)[0]

    def raster(self, pixels_per_unit: float) -> np.ndarray:
        """The ink as a bool image (row 0 at the top), pixel centres tested, with a 1-pixel empty border."""
        rows = int(np.ceil(self.height * pixels_per_unit)) + 2
        cols = int(np.ceil(self.width * pixels_per_unit)) + 2
        centres = self.y1 - (np.arange(rows) - 0.5) / pixels_per_unit  # row r's centre, from the top
        a0, a1 = self.p0[:, 1], self.p1[:, 1]
        cross = ((a0[None] <= centres[:, None]) & (centres[:, None] < a1[None])) | \
                ((a1[None] <= centres[:, None]) & (centres[:, None] < a0[None]))
        row, edge = np.nonzero(cross)
        t = (centres[row] - a0[edge]) / (a1[edge] - a0[edge])
        x = self.p0[edge, 0] + t * (self.p1[edge, 0] - self.p0[edge, 0])
        # A crossing at x changes the winding of the pixels whose centre lies right of it.
        column = np.clip(np.ceil((x - self.x0) * pixels_per_unit + 0.5), 0, cols).astype(np.int64)
        delta = np.zeros((rows, cols + 1), dtype=np.int64)
        np.add.at(delta, (row, column), np.where(a1[edge] > a0[edge], 1, -1))
        return np.cumsum(delta[:, :cols], axis=1) != 0


def outlines(glyphset, cmap: dict[int, str], letters: str = LETTERS) -> dict[str, Outline]:
    """Each letter's Outline, drawn from a fontTools glyph set (at the instance's location)."""
    drawn = {}
    for letter in letters:
        glyph = glyphset[cmap[ord(letter)]]
        pen = OutlinePen(glyphset)
        glyph.draw(pen)
        drawn[letter] = Outline(pen, glyph.width)
    return drawn


def descriptors(glyphs: dict[str, Outline]) -> np.ndarray:
    """The DESCRIPTOR_NAMES values (float64) of a font, from the Outlines of its 52 letters."""
    cap, x_height = glyphs["H"].y1, glyphs["x"].y1
    scale = PIXELS_PER_CAP / cap
    rasters = {letter: glyph.raster(scale) for letter, glyph in glyphs.items()}
    values = {
        "x_height": x_height / cap,
        "ascender": max(glyphs[c].y1 for c in "bdhkl") / cap,
        "descender": -min(glyphs[c].y0 for c in "gjpqy") / cap,
        "cap_width": np.median([glyphs[c].width for c in _UPPER]) / cap,
        "lower_width": np.median([glyphs[c].width for c in _LOWER]) / x_height,
        "advance_variation": _variation([glyphs[c].advance for c in LETTERS]),
        "weight": np.median(np.concatenate([_lengths(runs) for c in LETTERS
                                            for runs in glyphs[c].runs(glyphs[c].y0 + _SCAN * glyphs[c].height)])) / cap,
        "contrast": _contrast(glyphs),
        "darkness": np.mean([image.sum() / image[1:-1, 1:-1].size for image in rasters.values()]),
        "serif": _median([*_serifs(glyphs, _FEET, _SERIF_END), *_serifs(glyphs, _HEADS, 1 - _SERIF_END)]),
        "slab": _median(_serifs(glyphs, _FEET, _SLAB_END)),
        "slant": np.mean([_slant(image) for image in rasters.values()]),
        "roundness": np.mean([_box_fill(ndimage.binary_fill_holes(rasters[c])) for c in "Oo"]),
        "curviness": sum(g.curve_length for g in glyphs.values()) /
                     sum(g.curve_length + g.line_length for g in glyphs.values()),
        "aperture": np.mean([_aperture(glyphs[c]) for c in "cCe"]),
        "connection": np.mean([max(0.0, -glyphs[c].x0) + max(0.0, glyphs[c].x1 - glyphs[c].advance)
                               for c in _LOWER]) / x_height,
        "counters": np.mean([len(_holes(image)) for image in rasters.values()]),
        "pieces": np.mean([ndimage.label(image, structure=np.ones((3, 3)))[1] for image in rasters.values()]),
        "a_storey": _storey(rasters["a"]),
        "g_storey": float(len(_holes(rasters["g"]))),
    }
    return np.array([values[name] for name in DESCRIPTOR_NAMES], dtype=np.float64)


def _lengths(runs: np.ndarray) -> np.ndarray:
    return runs[:, 1] - runs[:, 0]


def _median(values: list[float]) -> float:
    """The median, 0 (nothing seen) for no values."""
    return float(np.median(values)) if values else 0.0


def _variation(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values.std() / values.mean())


def _contrast(glyphs: dict[str, Outline]) -> float:
    """log(thin / thick) per letter of O o D H, the median of the four."""
    ratios = []
    for letter in "OoD":
        sides, ends = glyphs[letter].run_at(0.5), glyphs[letter].run_at(0.5, horizontal=False)
        if len(sides) >= 2 and len(ends) >= 2:  # a closed bowl, crossed twice each way
            thick = np.mean(_lengths(sides[[0, -1]]))
            thin = np.mean(_lengths(ends[[0, -1]]))
            ratios.append(np.log(thin / thick))
    h = glyphs["H"]
    stems, bar = h.run_at(0.25), h.runs((h.x0 + h.x1) / 2, False)[0]
    if len(stems) and len(bar):
        ratios.append(np.log(_lengths(bar).min() / _lengths(stems).mean()))
    return _median(ratios)


def _serifs(glyphs: dict[str, Outline], letters: dict[str, float], end: float) -> list[float]:
    """log(width of the stem's run at fraction `end` of the letter's height / its width at mid height)."""
    ratios = []
    for letter, middle in letters.items():
        glyph = glyphs[letter]
        stem = glyph.run_at(middle)
        if not len(stem):
            continue
        stem = stem[0] if letter != "T" else stem[np.argmax(_lengths(stem))]  # T: the stem, not the arms
        centre = stem.mean()
        near_end = glyph.run_at(end)
        # The run at the stroke end that holds the stem's centre line (else the one nearest to it).
        if not len(near_end):
            continue
        holding = (near_end[:, 0] <= centre) & (centre <= near_end[:, 1])
        run = near_end[np.argmax(holding)] if holding.any() else near_end[np.argmin(np.abs(near_end.mean(1) - centre))]
        ratios.append(np.log((run[1] - run[0]) / (stem[1] - stem[0])))
    return ratios


def _slant(image: np.ndarray) -> float:
    """Covariance of x and y over the variance of y of the ink pixels (y up): > 0 leaning right."""
    y, x = np.nonzero(image)
    y = -y.astype(np.float64)
    x = x.astype(np.float64)
    return float(np.mean((x - x.mean()) * (y - y.mean())) / y.var())


def _box_fill(image: np.ndarray) -> float:
    rows, cols = np.nonzero(image)
    return float(image.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1)))


def _aperture(glyph: Outline) -> float:
    runs = glyph.run_at(0.85, horizontal=False)
    if len(runs) < 2:
        return 1.0
    return float((runs[1:, 0] - runs[:-1, 1]).max() / glyph.height)


def _holes(image: np.ndarray) -> list[np.ndarray]:
    """Row indices of each enclosed background region (4-connected, not reaching the border)."""
    labels, count = ndimage.label(~image)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return [np.nonzero(labels == k)[0] for k in range(1, count + 1) if k not in border]


def _storey(image: np.ndarray) -> float:
    """Height of the top of the highest hole above the ink's bottom / the ink's height (0: no hole)."""
    holes = _holes(image)
    if not holes:
        return 0.0
    rows = np.nonzero(image.any(axis=1))[0]
    top, bottom = rows.min(), rows.max()
    return float((bottom - min(hole.min() for hole in holes)) / (bottom - top))
