"""The font manifest, its installed fonts and the checks run before the Fonts dataset is rendered.

Broken fonts are real font files made with fontTools from an installed one, in tmp_path.
"""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables._g_l_y_f import Glyph
from PIL import Image, ImageDraw, ImageFont

from datagen.fonts_manifest import (
    COLUMNS,
    LETTERS,
    FontEntry,
    file_sha256,
    font_instance_coords,
    font_metadata,
    load_manifest,
    load_pil_font,
    locate_fonts,
    main,
    verify_fonts,
    write_manifest,
)
from zsdist.base.errors import DataError


@pytest.fixture(scope="module")
def installed() -> dict[str, tuple[FontEntry, Path]]:
    """family -> (entry, installed path) of the committed manifest."""
    entries = load_manifest()
    return {entry.family: (entry, path) for entry, path in zip(entries, locate_fonts(entries))}


def own_font(tmp_path: Path, entry: FontEntry, font: TTFont | Path, **changes) -> tuple[list[FontEntry], Path]:
    """A user's font directory holding one font (a TTFont to save or a file to copy) and its manifest."""
    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir(exist_ok=True)
    target = fonts_dir / entry.file_name
    font.save(target) if isinstance(font, TTFont) else shutil.copyfile(font, target)
    manifest = tmp_path / "manifest.tsv"
    write_manifest([replace(entry, **{"relpath": "", "sha256": file_sha256(target)} | changes)], manifest)
    return load_manifest(manifest), fonts_dir


def test_committed_manifest_verifies_against_installed_fonts(installed):
    entries = [entry for entry, _ in installed.values()]
    paths = [path for _, path in installed.values()]
    assert len(entries) == 100
    for column in ("font_id", "family", "file_name", "sha256"):
        assert len({getattr(entry, column) for entry in entries}) == 100, column
    variable = [entry for entry in entries if entry.variable]
    assert len(variable) == 45 and {entry.instance for entry in variable} == {"Regular"}
    assert verify_fonts(entries, paths) == []
    records = font_metadata(entries)
    assert json.loads(json.dumps(records)) == records and records[0]["family"] == "Andada Pro"


def test_missing_font_file_is_named(tmp_path, installed):
    entry, path = installed["Arvo"]
    entries, fonts_dir = own_font(tmp_path, entry, path)
    (fonts_dir / entry.file_name).unlink()
    with pytest.raises(DataError, match=r"font 'Arvo' \(Arvo-Regular\.ttf\) is not in .*fonts"):
        locate_fonts(entries, fonts_dir)
    with pytest.raises(DataError, match=r"font 'Arvo' \(Arvo-Regular\.ttf\) is missing"):
        verify_fonts(entries, [fonts_dir / entry.file_name])


def test_corrupt_font_file(tmp_path, installed):
    entry, path = installed["Arvo"]
    entries, fonts_dir = own_font(tmp_path, entry, path)
    font_file = fonts_dir / entry.file_name
    font_file.write_bytes(font_file.read_bytes()[:2000])  # Truncated: the table directory points past the end.
    entries = [replace(entries[0], sha256=file_sha256(font_file))]
    with pytest.raises(DataError, match=r"font 'Arvo' .* cannot be parsed by fontTools \(.*\): reinstall it"):
        verify_fonts(entries, [font_file])


def test_uninstalled_font_points_to_install_script(installed):
    entry, _ = installed["Andada Pro"]
    message = r"font 'Andada Pro' \(AndadaPro\[wght\]\.ttf\) is not installed: run `bash scripts/install.sh`"
    with pytest.raises(DataError, match=message):
        locate_fonts([replace(entry, relpath="fontpkg_nowhere/files/AndadaPro[wght].ttf")])


def test_font_lacking_a_letter(tmp_path, installed):
    entry, path = installed["Arvo"]
    font = TTFont(path)
    subsetter = subset.Subsetter()
    subsetter.populate(unicodes=[ord(letter) for letter in LETTERS if letter != "Q"])
    subsetter.subset(font)
    entries, fonts_dir = own_font(tmp_path, entry, font)
    with pytest.raises(DataError, match=r"font 'Arvo' .* lacks letter\(s\) Q in its cmap"):
        verify_fonts(entries, locate_fonts(entries, fonts_dir))


def test_glyph_without_ink(tmp_path, installed):
    entry, path = installed["Arvo"]
    font = TTFont(path)
    font["glyf"][font.getBestCmap()[ord("g")]] = Glyph()  # An empty outline: the letter draws nothing.
    entries, fonts_dir = own_font(tmp_path, entry, font)
    with pytest.raises(DataError, match=r"font 'Arvo' .* draws nothing for letter\(s\) g:"):
        verify_fonts(entries, locate_fonts(entries, fonts_dir))


def test_checksum_mismatch_fails_unless_accepted(tmp_path, installed):
    entry, path = installed["Arvo"]
    font = TTFont(path)
    font["name"].setName("Arvo Modified", 5, 3, 1, 0x409)  # Another version string: other bytes, same glyphs.
    entries, fonts_dir = own_font(tmp_path, entry, font, sha256=entry.sha256)  # Keeps the pinned sha256.
    paths = locate_fonts(entries, fonts_dir)
    found = file_sha256(paths[0])
    message = f"has sha256 {found}, the manifest pins {entry.sha256}: .*--accept_font_checksums"
    with pytest.raises(DataError, match=message):
        verify_fonts(entries, paths)
    [warning] = verify_fonts(entries, paths, accept_checksums=True)
    assert entry.file_name in warning and found in warning and entry.sha256 in warning

    # The rehash command writes a manifest that then verifies strictly.
    rehashed = tmp_path / "rehashed.tsv"
    main(["--out", str(rehashed), "--font_manifest", str(tmp_path / "manifest.tsv"), "--fonts_dir", str(fonts_dir)])
    assert verify_fonts(load_manifest(rehashed), paths) == []


def test_instance_names_match_without_case_and_must_exist(installed):
    entry, path = installed["Bitter"]
    assert font_instance_coords(path, "REGULAR") == {"wght": 400.0}
    assert verify_fonts([replace(entry, instance="regular")], [path]) == []
    with pytest.raises(DataError, match=r"font 'Bitter' .* has no named instance 'Wide' \(it has Thin, .*Regular"):
        verify_fonts([replace(entry, instance="Wide")], [path])
    with pytest.raises(DataError, match=r"is a variable font: set its variable to 1"):
        verify_fonts([replace(entry, variable=False, instance="")], [path])


def render(font: ImageFont.FreeTypeFont, letter: str = "a") -> bytes:
    image = Image.new("L", (128, 128))
    ImageDraw.Draw(image).text((10, 0), letter, font=font, fill=255)
    return image.tobytes()


def test_pinned_variable_fonts_render_their_named_instance(installed):
    for entry, path in installed.values():
        if entry.variable:  # Pinning by coordinates draws what Pillow's own pinning by name draws.
            by_name = ImageFont.truetype(str(path), 80, layout_engine=ImageFont.Layout.BASIC)
            by_name.set_variation_by_name(entry.instance)
            assert render(load_pil_font(path, entry.instance, 80)) == render(by_name), entry.family
    entry, path = installed["Bitter"]  # Its default instance is Thin.
    default = ImageFont.truetype(str(path), 80, layout_engine=ImageFont.Layout.BASIC)
    regular = load_pil_font(path, entry.instance, 80)
    assert sum(render(regular)) > 1.5 * sum(render(default))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("font_id\tfamily\n", r"lacks column\(s\) style, category"),
        ("\t".join(COLUMNS) + "\n", "lists no fonts"),
        ("\t".join(COLUMNS) + "\nx\tArvo\n", r"line 2: the row has 2 fields, the header 12"),
    ],
)
def test_malformed_manifests(tmp_path, text, message):
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(text)
    with pytest.raises(DataError, match=message):
        load_manifest(manifest)


def test_manifest_rows_are_validated(tmp_path, installed):
    manifest = tmp_path / "manifest.tsv"
    with pytest.raises(DataError, match=r"manifest.tsv does not exist: pass --font_manifest FILE"):
        load_manifest(manifest)
    arvo, bitter = installed["Arvo"][0], installed["Bitter"][0]
    write_manifest([arvo, replace(bitter, font_id=arvo.font_id)], manifest)
    with pytest.raises(DataError, match=r"line 3: font 'Bitter' .* repeats the font_id or file_name of font 'Arvo'"):
        load_manifest(manifest)
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], lines[1].replace("\t0\t\t", "\t2\t\t")]) + "\n")
    with pytest.raises(DataError, match=r"line 2: variable '2' is not 0 or 1"):
        load_manifest(manifest)
    with pytest.raises(DataError, match=r"font 'Bitter' .* variable=1 with instance ''"):
        replace(bitter, instance="")
