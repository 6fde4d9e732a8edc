"""The pinned fonts of the Fonts dataset: their manifest, where they are installed, and their checks.

datagen/fonts/manifest.tsv pins every font by file name, site-packages path and sha256; the wheels
of datagen/fonts/requirements.txt install those files. Before anything is rendered, verify_fonts
proves that each file is the pinned one and that it draws all 52 letters A-Z a-z.

Variable fonts are pinned to a named instance of their fvar table ("Regular"), matched without
regard to case. load_pil_font pins Pillow by that instance's axis coordinates, read with fontTools,
rather than by Pillow's set_variation_by_name, which compares raw name-table bytes with NULs
stripped (so a UTF-16 name only matches while it is ASCII), is case-sensitive, and deduplicates
the names, which shifts the index of every instance after a repeated name (Inconsolata lists
"Regular" and "Bold" twice). For the 45 variable fonts of the manifest both ways draw identical
pixels; 15 of them draw another instance than Regular by default (Bitter Thin, Fraunces Black ...).

`python -m datagen.fonts_manifest --out FILE [--font_manifest FILE] [--fonts_dir DIR]` writes a
manifest pinning the sha256 of the files found, to adopt other versions of the fonts.
"""

import argparse
import csv
import hashlib
import io
import string
import sys
import sysconfig
from dataclasses import dataclass, fields, replace
from pathlib import Path

from fontTools.pens.boundsPen import ControlBoundsPen
from fontTools.ttLib import TTFont
from PIL import ImageFont

from zsdist.base.errors import DataError, UserInputError
from zsdist.base.storage import atomic_write

DEFAULT_MANIFEST = Path(__file__).resolve().parent / "fonts" / "manifest.tsv"
LETTERS = string.ascii_uppercase + string.ascii_lowercase
_INSTALL_HINT = ("run `bash scripts/install.sh` (or pip install -r datagen/fonts/requirements.txt), "
                 "or pass --fonts_dir DIR with --font_manifest FILE")
_REHASH_HINT = "`python -m datagen.fonts_manifest --out FILE [--fonts_dir DIR --font_manifest FILE]`"


@dataclass(frozen=True, kw_only=True)
class FontEntry:
    """One manifest row: a font file pinned by sha256 and, if variable, to a named instance."""

    font_id: int
    family: str
    style: str
    category: str
    file_name: str
    relpath: str  # Path under site-packages; may be empty for fonts that only come from --fonts_dir.
    package: str
    package_version: str
    license: str
    variable: bool
    instance: str  # fvar named instance a variable font is pinned to; empty for a static font.
    sha256: str

    def __post_init__(self) -> None:
        if isinstance(self.font_id, bool) or not isinstance(self.font_id, int) or self.font_id < 0:
            raise DataError(f"font_id {self.font_id!r} is not an integer >= 0: number the fonts 0, 1, 2, ...")
        if not self.family or not self.file_name:
            raise DataError("family or file_name is empty: fill in both")
        if Path(self.file_name).name != self.file_name:
            raise DataError(f"file_name {self.file_name!r} is not a bare file name: put directories in relpath")
        if self.variable != bool(self.instance):
            raise DataError(f"{self.label}: variable={int(self.variable)} with instance {self.instance!r}: "
                            "give a variable font the named instance to pin (e.g. Regular), a static font none")
        if len(self.sha256) != 64 or set(self.sha256) - set("0123456789abcdef"):
            raise DataError(f"{self.label}: sha256 {self.sha256!r} is not 64 lowercase hex digits: "
                            f"write the manifest with {_REHASH_HINT}")

    @property
    def label(self) -> str:
        """How messages name the font: font 'Andada Pro' (AndadaPro[wght].ttf)."""
        return f"font '{self.family}' ({self.file_name})"


COLUMNS = tuple(field.name for field in fields(FontEntry))


def load_manifest(path: Path | None = None) -> list[FontEntry]:
    """The fonts of a manifest TSV (default: the committed one), in file order."""
    path = DEFAULT_MANIFEST if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"font manifest {path} does not exist: pass --font_manifest FILE, "
                        f"a TSV with columns {', '.join(COLUMNS)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read font manifest {path} ({error}): pass a readable UTF-8 TSV") from None
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    if missing := [column for column in COLUMNS if column not in (reader.fieldnames or ())]:
        raise DataError(f"font manifest {path} lacks column(s) {', '.join(missing)}: "
                        f"its header must name {', '.join(COLUMNS)}")
    entries: list[FontEntry] = []
    for row in reader:
        try:
            entry = _parse_row(row)
        except DataError as error:
            raise DataError(f"font manifest {path} line {reader.line_num}: {error}") from None
        for other in entries:
            if entry.font_id == other.font_id or entry.file_name == other.file_name:
                raise DataError(f"font manifest {path} line {reader.line_num}: {entry.label} repeats the font_id "
                                f"or file_name of {other.label}: give every font its own id and file")
        entries.append(entry)
    if not entries:
        raise DataError(f"font manifest {path} lists no fonts: add one row per font")
    return entries


def _parse_row(row: dict) -> FontEntry:
    # DictReader puts surplus fields under the key None and fills missing ones with None.
    if None in row or None in row.values():
        header = [key for key in row if key is not None]
        given = sum(row[key] is not None for key in header) + len(row.get(None) or ())
        raise DataError(f"the row has {given} fields, the header {len(header)}: separate the fields by single tabs")
    values = {column: row[column].strip() for column in COLUMNS}
    if not values["font_id"].isdigit():
        raise DataError(f"font_id {values['font_id']!r} is not an integer >= 0: number the fonts 0, 1, 2, ...")
    if values["variable"] not in ("0", "1"):
        raise DataError(f"variable {values['variable']!r} is not 0 or 1: write 1 for a variable font, else 0")
    return FontEntry(**values | {"font_id": int(values["font_id"]), "variable": values["variable"] == "1"})


def write_manifest(entries: list[FontEntry], path: Path) -> None:
    """Write entries as a manifest TSV (atomically), the format load_manifest reads."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow(int(getattr(entry, column)) if column == "variable" else getattr(entry, column)
                        for column in COLUMNS)
    atomic_write(Path(path), buffer.getvalue().encode("utf-8"))


def locate_fonts(entries: list[FontEntry], fonts_dir: Path | None = None) -> list[Path]:
    """The file of each entry: its relpath in this Python's site-packages, or its file_name in fonts_dir."""
    if fonts_dir is not None:
        fonts_dir = Path(fonts_dir)
        if not fonts_dir.is_dir():
            raise DataError(f"--fonts_dir {fonts_dir} is not a directory: pass the directory of your font files")
        paths = [fonts_dir / entry.file_name for entry in entries]
        for entry, path in zip(entries, paths):
            if not path.is_file():
                raise DataError(f"{entry.label} is not in {fonts_dir}: copy it there, or pass a "
                                "--font_manifest FILE that lists only the fonts in that directory")
        return paths
    # This interpreter's install directories first, then sys.path (user site, PYTHONPATH) as imports see it.
    install_paths = sysconfig.get_paths()
    roots = list(dict.fromkeys(Path(p) for p in (install_paths["purelib"], install_paths["platlib"], *sys.path) if p))
    paths = []
    for entry in entries:
        found = [root / entry.relpath for root in roots if entry.relpath and (root / entry.relpath).is_file()]
        if not found:
            raise DataError(f"{entry.label} is not installed: {_INSTALL_HINT}")
        paths.append(found[0])
    return paths


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def verify_fonts(entries: list[FontEntry], paths: list[Path], *, accept_checksums: bool = False) -> list[str]:
    """Check every font before rendering; return warnings, raise DataError on the first unusable font.

    Each file must exist, match the manifest's sha256 (with accept_checksums a mismatch is only a
    warning), map all 52 letters in its cmap, draw ink for each of them (at the pinned instance of a
    variable font) and, if variable, have that named instance.
    """
    warnings = []
    for entry, path in zip(entries, paths, strict=True):
        if not Path(path).is_file():
            raise DataError(f"{entry.label} is missing at {path}: {_INSTALL_HINT}")
        found = file_sha256(path)
        if found != entry.sha256 and not accept_checksums:
            raise DataError(f"{entry.label} at {path} has sha256 {found}, the manifest pins {entry.sha256}: "
                            "reinstall the pinned fonts (bash scripts/install.sh), pass --accept_font_checksums, "
                            f"or write a manifest with the new sha256 via {_REHASH_HINT}")
        if found != entry.sha256:
            warnings.append(f"{entry.label} at {path}: sha256 {found} differs from the manifest's {entry.sha256}")
        try:
            # lazy: only the tables the checks touch are parsed, once per font.
            with TTFont(path, lazy=True) as font:
                _check_glyphs(entry, font)
        except DataError:
            raise
        except Exception as error:  # noqa: BLE001  (corrupt fonts raise struct.error, KeyError, TTLibError ...)
            detail = " ".join(f"{type(error).__name__}: {error}".split())
            raise DataError(f"{entry.label} at {path} cannot be parsed by fontTools ({detail}): "
                            f"reinstall it or remove it from the manifest") from None
    return warnings


def _check_glyphs(entry: FontEntry, font: TTFont) -> None:
    if "fvar" in font and not entry.variable:
        raise DataError(f"{entry.label} is a variable font: set its variable to 1 and its instance to a named "
                        "instance such as Regular in the manifest")
    if entry.variable and "fvar" not in font:
        raise DataError(f"{entry.label} is not a variable font: set its variable to 0 and its instance empty")
    cmap = font.getBestCmap() or {}
    if missing := [letter for letter in LETTERS if ord(letter) not in cmap]:
        raise DataError(f"{entry.label} lacks letter(s) {''.join(missing)} in its cmap: "
                        "use a font covering A-Z a-z or remove it from the manifest")
    location = _instance_coords(font, entry.instance, entry.label) if entry.variable else None
    glyphs = font.getGlyphSet(location=location)
    if inkless := [letter for letter in LETTERS if not _has_ink(glyphs, cmap[ord(letter)])]:
        raise DataError(f"{entry.label} draws nothing for letter(s) {''.join(inkless)}: "
                        "use a font with outlines for A-Z a-z or remove it from the manifest")


def _has_ink(glyphs, glyph_name: str) -> bool:
    # Control-point bounds suffice: an outline (contours, components or CFF drawing ops) spans an area.
    pen = ControlBoundsPen(glyphs)
    glyphs[glyph_name].draw(pen)
    return pen.bounds is not None and pen.bounds[0] < pen.bounds[2] and pen.bounds[1] < pen.bounds[3]


def _instance_coords(font: TTFont, instance: str, label: str) -> dict[str, float]:
    """User-space coordinates of a named instance, in fvar axis order (the order Pillow's axes follow)."""
    fvar, names = font["fvar"], font["name"]
    instances = {}  # Decoded name -> coordinates; the first of repeated names wins, as in FreeType's order.
    for named in fvar.instances:
        instances.setdefault(names.getDebugName(named.subfamilyNameID) or "", named.coordinates)
    for name, coordinates in instances.items():
        if name.casefold() == instance.casefold():
            return {axis.axisTag: coordinates[axis.axisTag] for axis in fvar.axes}
    raise DataError(f"{label} has no named instance {instance!r} (it has {', '.join(instances)}): "
                    "set the manifest's instance to one of them")


def font_instance_coords(path: Path, instance: str) -> dict[str, float]:
    """Axis tag -> user-space value of the named instance (case-insensitive) of the variable font at path."""
    label = f"font file {Path(path).name}"
    with TTFont(path, lazy=True) as font:
        if "fvar" not in font:
            raise DataError(f"{label} is not a variable font: set its variable to 0 and its instance empty")
        return _instance_coords(font, instance, label)


def load_pil_font(path: Path, instance: str, size: int) -> ImageFont.FreeTypeFont:
    """The font at `size` px em; a variable font pinned to its named `instance` ("" for a static font).

    Pinned by the instance's axis coordinates, not Pillow's set_variation_by_name (see the module docstring).
    """
    # BASIC layout: single letters need no shaping, and it draws the same whether or not libraqm is present.
    font = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    if instance:
        font.set_variation_by_axes(list(font_instance_coords(path, instance).values()))
    return font


def font_metadata(entries: list[FontEntry]) -> list[dict]:
    """JSON-able records of the fonts, for the dataset's metadata."""
    keys = ("font_id", "family", "style", "file_name", "package", "package_version", "license", "sha256", "instance")
    return [{key: getattr(entry, key) for key in keys} for entry in entries]


def main(argv: list[str] | None = None) -> None:
    """Write a font manifest pinning the sha256 of the files found, after every other check passes."""
    parser = argparse.ArgumentParser(prog="python -m datagen.fonts_manifest", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="manifest TSV to write")
    parser.add_argument("--font_manifest", type=Path, default=DEFAULT_MANIFEST,
                        help="manifest listing the fonts (default: the committed one)")
    parser.add_argument("--fonts_dir", type=Path, help="directory of your own font files (default: site-packages)")
    args = parser.parse_args(argv)
    try:
        entries = load_manifest(args.font_manifest)
        paths = locate_fonts(entries, args.fonts_dir)
        for warning in verify_fonts(entries, paths, accept_checksums=True):
            print(f"warning: {warning}", file=sys.stderr)
        write_manifest([replace(entry, sha256=file_sha256(path)) for entry, path in zip(entries, paths)], args.out)
    except UserInputError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {args.out}: {len(entries)} fonts")


if __name__ == "__main__":
    main()
