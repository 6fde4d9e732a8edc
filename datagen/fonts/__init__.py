"""The pinned fonts of the Fonts dataset: manifest.tsv (files and sha256) and requirements.txt (their wheels).

Code that reads them lives in datagen.fonts_manifest.
"""
