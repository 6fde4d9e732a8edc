"""Dataset, checkpoint and artifact locations: a local path, or a URI on a pyarrow filesystem.

    location("/mnt/shared/data/fonts")        -> pathlib.Path (also "file:///mnt/...", "~/data")
    location("s3://bucket/zsdist/data/fonts") -> RemotePath on pyarrow's S3FileSystem
    location("gs://bucket/zsdist/checkpoints") -> RemotePath on pyarrow's GcsFileSystem

A RemotePath offers the part of pathlib's API zsdist uses (join, read, write, list, delete) on top
of `pyarrow.fs.FileSystem.from_uri`, so any scheme pyarrow knows works, and `str()` of it is the URI
that Ray Data, Ray Train and pyarrow's readers resolve themselves. Credentials and endpoints come
from the environment each library already reads (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL for an
S3-compatible server, GOOGLE_APPLICATION_CREDENTIALS, instance roles), never from a config file.

Atomic writes: an object store has no rename, but an object becomes visible only once its upload
completed, so `RemotePath.write_bytes` is what temp-file-then-rename is on a disk.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.fs as pafs

from zsdist.base.errors import ConfigError


def location(value: str | Path | RemotePath) -> Path | RemotePath:
    """A local path (expanded, absolute) or a RemotePath for a URI; unknown schemes are refused."""
    if isinstance(value, RemotePath):
        return value
    text = str(value)
    if "://" not in text:
        return Path(text).expanduser().resolve()
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(parsed.path).resolve()
    if parsed.query:
        raise ConfigError(f"storage location {text} has options after '?': set them in the environment instead "
                          "(e.g. AWS_ENDPOINT_URL, AWS_DEFAULT_REGION) so every Ray worker sees the same")
    root = text.rstrip("/")
    try:
        _filesystem(root)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
        raise ConfigError(f"storage location {text} is not usable ({error}): give a local path or an "
                          "s3://, gs:// or file:// URI") from None
    return RemotePath(root, _path_in(root))


def is_local(path: Path | RemotePath) -> bool:
    return isinstance(path, Path)


def parquet_dataset(files: list[str | Path | RemotePath], **kwargs) -> pds.Dataset:
    """pyarrow.dataset over Parquet files given as local paths or as URIs (of one filesystem).

    pyarrow.dataset takes a list of plain paths and one filesystem, never a list of URIs.
    """
    located = [location(file) for file in files]
    if all(is_local(file) for file in located):
        return pds.dataset([str(file) for file in located], format="parquet", **kwargs)
    return pds.dataset([file.fs_path for file in located], filesystem=located[0].fs, format="parquet", **kwargs)


@functools.lru_cache(maxsize=32)
def _from_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(uri)


def _filesystem(root: str) -> pafs.FileSystem:
    return _from_uri(root)[0]


def _path_in(root: str) -> str:
    return _from_uri(root)[1].rstrip("/")


@dataclass(frozen=True, order=True)
class RemotePath:
    """A file or directory on a pyarrow filesystem, named by the URI it was reached from.

    root: the URI the user gave (it chooses the filesystem, once per process); fs_path: this path
    in pyarrow's terms (for s3://bucket/a/b that is "bucket/a/b"). Pickles as two strings.
    """

    root: str
    fs_path: str

    @property
    def fs(self) -> pafs.FileSystem:
        return _filesystem(self.root)

    def __str__(self) -> str:
        # The URI: the root's scheme and authority (whatever of it is not in the fs path) + fs_path.
        prefix = self.root[: len(self.root) - len(_path_in(self.root))]
        return prefix + self.fs_path

    def as_uri(self) -> str:
        return str(self)

    def __truediv__(self, part: str | PurePosixPath) -> RemotePath:
        return RemotePath(self.root, f"{self.fs_path}/{str(part).strip('/')}")

    @property
    def name(self) -> str:
        return PurePosixPath(self.fs_path).name

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.root, str(PurePosixPath(self.fs_path).parent))

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        return PurePosixPath(self.fs_path).relative_to(other.fs_path)

    def _info(self) -> pafs.FileInfo:
        return self.fs.get_file_info(self.fs_path)

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._info().type == pafs.FileType.Directory

    def stat(self) -> SimpleNamespace:
        info = self._info()
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"{self} does not exist")
        return SimpleNamespace(st_size=info.size)

    def read_bytes(self) -> bytes:
        try:
            with self.fs.open_input_stream(self.fs_path) as stream:
                return stream.read()
        except OSError:
            if not self.exists():
                raise FileNotFoundError(f"{self} does not exist") from None
            raise

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        """Atomic on object stores: readers see the old object, or none, until the upload completes."""
        with self.fs.open_output_stream(self.fs_path) as stream:
            stream.write(data)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.fs_path)
        except FileNotFoundError:
            if not missing_ok:
                raise
        except OSError:
            if self.exists() or not missing_ok:
                raise

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        # Object stores have no directories (pyarrow writes a marker at most); creating is harmless.
        self.fs.create_dir(self.fs_path, recursive=parents)

    def glob(self, pattern: str) -> list[RemotePath]:
        """Direct children whose name matches (fnmatch), as pathlib's glob of a plain pattern."""
        return [RemotePath(self.root, info.path) for info in self._list(recursive=False)
                if fnmatch.fnmatchcase(PurePosixPath(info.path).name, pattern)]

    def rglob(self, pattern: str) -> list[RemotePath]:
        return [RemotePath(self.root, info.path) for info in self._list(recursive=True)
                if info.type == pafs.FileType.File and fnmatch.fnmatchcase(PurePosixPath(info.path).name, pattern)]

    def _list(self, *, recursive: bool) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(pafs.FileSelector(self.fs_path, allow_not_found=True, recursive=recursive))


def atomic_write(path: Path | RemotePath, data: bytes) -> None:
    """Write data to a dot-prefixed temp file beside path, fsync it, then rename it onto path.

    On an object store one upload is already atomic (see above), so it is written directly.
    """
    if not is_local(path):
        path.write_bytes(data)
        return
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the data from other users, e.g. Ray workers.
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # Makes the rename itself survive a crash.
    finally:
        os.close(directory)
