"""The one place zsdist uses Ray's non-public API (Ray pinned to 2.60.x), each piece with its reason.

tests/test_ray_internals.py checks every piece against the installed Ray (`missing()`), so an upgrade
that moves one fails that test by name instead of failing a search or a run later.

1. Aborting a Ray Train run whose Tune trial was stopped (zsdist/tune/stopping.py). A function
   trainable whose thread sits in `TorchTrainer.fit` cannot be reused after ASHA stops it: Tune's
   reset_config only waits 2 s for the thread. Public Ray has no hook from "Tune stopped this trial"
   to "abort its Train V2 run", so the trial's actor reads its Tune session (`trial_session_*`) and
   the trainable class gets a mixin through `__mixins__`, the attribute Tune's `wrap_function` reads.
   Gone when Tune aborts a Train V2 run nested in a stopped trial itself (see ray-project/ray#42951 for
   the reuse_actors / function-trainable clean-up this extends).
2. How often Ray Train V2's controller polls its workers (`TRAIN_POLL_ENV`): 2 s by default, which
   doubles the wall time of the tiny epochs of tests and demos. Public once Ray documents
   RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (today only `ray.train.v2._internal.constants` names it).
3. Reading a run's checkpoint record while the run reports (zsdist/train/checkpoint.py). Ray Train
   rewrites `checkpoint_manager_snapshot.json` in place, so a reader can find it empty or half
   written; `Result.from_path` then raises a non-public `CheckpointManagerInitializationError`
   (`checkpoint_record_unreadable_error()`), and the reader tries again. Gone when Ray writes the
   snapshot atomically (write to a temporary name, then rename) or exports the error class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TRAIN_POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
_SESSION_ATTRIBUTES = ("training_started", "training_thread", "_inter_actor_queue", "finish")


def _session() -> Any:
    from ray.train._internal.session import get_session

    return get_session()


def trial_session_running() -> bool:
    """Whether this (trial) actor's Tune function trainable still runs its training thread."""
    session = _session()
    return bool(session and session.training_started and session.training_thread.is_alive())


def close_trial_report_queue() -> None:
    """Shut down the queue the trial's reports reach Tune through: a report blocked on it fails at once."""
    queue = _session()._inter_actor_queue
    if queue is not None:
        queue.shutdown(force=True)


def wait_for_trial_thread(timeout_s: float) -> None:
    """Let the trial's thread leave at its final report and wait (at most timeout_s) for it to end."""
    _session().finish(timeout=timeout_s)


def with_trainable_mixins(function: Callable, *mixins: type) -> Callable:
    """Make Tune build `function`'s trainable class with `mixins` as extra bases."""
    function.__mixins__ = mixins
    return function


def checkpoint_record_unreadable_error() -> type[Exception]:
    """What `ray.train.Result.from_path` raises when the run's checkpoint record is not valid JSON."""
    from ray.train.v2._internal.exceptions import CheckpointManagerInitializationError

    return CheckpointManagerInitializationError


def missing() -> list[str]:
    """The pieces above that the installed Ray no longer has, each named; [] when all are there."""
    import inspect

    from ray.train._internal import session
    from ray.train.v2._internal import constants
    from ray.tune.trainable import function_trainable

    gaps = []
    source = inspect.getsource(session._TrainSession)
    gaps += [f"ray.train._internal.session._TrainSession.{name}" for name in _SESSION_ATTRIBUTES
             if f"self.{name}" not in source and f"def {name}(" not in source]
    if "__mixins__" not in inspect.getsource(function_trainable.wrap_function):
        gaps.append("ray.tune.trainable.function_trainable.wrap_function reading __mixins__")
    try:
        checkpoint_record_unreadable_error()
    except ImportError:
        gaps.append("ray.train.v2._internal.exceptions.CheckpointManagerInitializationError")
    if getattr(constants, "HEALTH_CHECK_INTERVAL_S_ENV_VAR", None) != TRAIN_POLL_ENV:
        gaps.append(f"ray.train.v2._internal.constants.HEALTH_CHECK_INTERVAL_S_ENV_VAR == {TRAIN_POLL_ENV}")
    return gaps
