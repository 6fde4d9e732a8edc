"""What a person sees on the console: one progress bar per phase, and Ray's own logs kept in files.

Ray prints its workers' output (Train's controller and workers, Data's coordinators) on the driver by
default, hundreds of lines per run. zsdist keeps that in the Ray session's log files and shows a
progress bar per phase instead (tqdm: shards written, epochs trained with loss and speed, evaluation);
`zsdist -v` (ZSDIST_VERBOSE=1) shows Ray's logs as well.
"""

from __future__ import annotations

import logging
import os
import sys

from tqdm import tqdm

VERBOSE_ENV = "ZSDIST_VERBOSE"


def verbose() -> bool:
    """Whether Ray's own logs are shown on this console (zsdist -v)."""
    return os.environ.get(VERBOSE_ENV) == "1"


def set_verbose(on: bool) -> None:
    os.environ[VERBOSE_ENV] = "1" if on else "0"


def quiet_library_logs() -> None:
    """Unless verbose: the INFO lines the driver's own libraries print (MLflow creating its tables,
    Ray Data estimating Parquet sizes) go unsaid; warnings and errors still show."""
    if not verbose():
        for name in ("mlflow", "ray.data", "ray.train", "ray.tune", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)


def progress_bar(*, total: int | None, desc: str, unit: str, initial: int = 0) -> tqdm:
    """A bar on stderr. On a terminal it redraws in place; in a log file it writes a line at most every
    30 s and one at the end, so job logs stay short."""
    interactive = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr, dynamic_ncols=interactive,
                mininterval=0.2 if interactive else 30.0, leave=True)


def note(message: str) -> None:
    """One line for the person at the console (stderr, beside the bars)."""
    tqdm.write(message, file=sys.stderr)
