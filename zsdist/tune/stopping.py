"""Trials that Tune stops abort their Ray Train run at once, so their actor can be reused.

What Ray's public API cannot reach here goes through zsdist/base/ray_internals.py.

A trial is a function trainable whose thread sits in `TorchTrainer.fit` while Ray Train V2's
controller (an async actor) runs the training. The controller hands each epoch's report to Tune
through TuneReportCallback's size-1 queue, blocking its event loop in `put` while the queue is
full. When ASHA stops a trial, Tune just stops reading that queue: with `reuse_actors` it caches
the actor and later calls `reset_config` for the next trial, and Ray's own reset_config only waits
TUNE_FUNCTION_THREAD_TIMEOUT_S (2 s) for a thread that never ends, failing that next trial.

So each trial's reporter (`TrialReport`) first sends its controller's actor handle to the trial's
actor, through a queue actor of that actor process, before any result can reach Tune (so before
Tune can stop the trial). When the actor is reset or stopped while its trial's thread still runs,
`AbortStoppedRun` calls that controller's `abort` (what Ray Train does on Ctrl-C: kill the
workers, remove the placement group, end the controller) and shuts Tune's report queue down; a
`put` blocked on it then fails at once (the reporter ignores that), the controller's event loop
gets back to its pending `abort`, `fit` raises in the trial's thread, and `stoppable_run` ends the
trial quietly. A run that has reported its last epoch takes its handle back: it is ending by
itself, and a stop then (ASHA's last rung can be the last epoch) must not cut its final
checkpoint or MLflow records; the actor waits for it instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray.exceptions import RayActorError
from ray.tune.integration.ray_train import TuneReportCallback
from ray.util.queue import Empty, Queue

from zsdist.base.ray_internals import close_trial_report_queue, trial_session_running, wait_for_trial_thread

# How long a reset or stop waits for a stopped trial's thread: an abort takes ~2 s, a run ending
# after its last epoch a few s more (at the end of a search Tune kills actors after 10 s anyway).
RUN_END_TIMEOUT_S = 60.0

_controllers: Queue | None = None  # this actor's mailbox for its running trial's Train controller
_made = threading.Lock()  # the trial's thread and the actor's main thread may both make it first
_aborting = threading.Event()  # set by the actor's main thread when it aborts the trial's run


def controllers() -> Queue:
    """The mailbox of this (trial) actor process, made once and kept across the trials it runs."""
    global _controllers
    with _made:
        if _controllers is None:
            _controllers = Queue(actor_options={"num_cpus": 0})
    return _controllers


def take_controller() -> Any:
    """The running trial's Train controller (an actor handle), or None if none is (still) there."""
    try:
        return controllers().get_nowait()
    except Empty:
        return None


class TrialReport(TuneReportCallback):
    """Tune's reporter, run in the Train controller; it tells the trial's actor how to abort the run."""

    def __init__(self, last_epoch: int) -> None:
        super().__init__()
        self._controllers = controllers()
        self._last_epoch = last_epoch
        self._sent = False

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        last = metrics[0].get("epoch") == self._last_epoch  # every model's loop reports its epoch
        if not (self._sent or last):
            self._controllers.put(ray.get_runtime_context().current_actor)
            self._sent = True
        elif self._sent and last:
            try:  # the run ends by itself now: not to be aborted
                self._controllers.get_nowait()
            except Empty:
                pass  # Tune stopped the trial earlier and its actor is aborting the run already
        try:
            super().after_report(run_context, metrics, checkpoint)
        except RayActorError:
            pass  # Tune stopped the trial: its actor shut this queue down and has asked us to abort


@contextmanager
def stoppable_run(epochs: int) -> Iterator[TrialReport]:
    """The reporter for one trial's Train run of `epochs` epochs; an aborted run ends quietly."""
    _aborting.clear()
    try:
        yield TrialReport(last_epoch=epochs - 1)
    except RayActorError:
        if not _aborting.is_set():
            raise
    finally:
        take_controller()  # left by a run that failed before its last epoch: keep no ended controller alive


class AbortStoppedRun:
    """Mixin for the trial's function trainable: reset (reuse) or stop ends a still running Train run."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        end_train_run()
        return super().reset_config(new_config)

    def cleanup(self) -> None:
        end_train_run()
        super().cleanup()


def end_train_run() -> None:
    """Abort the stopped trial's Train run (unless it is ending by itself) and wait for its thread."""
    if not trial_session_running():
        return
    if (controller := take_controller()) is not None:
        _aborting.set()
        controller.abort.remote()
        close_trial_report_queue()
    # The thread leaves fit and exits at its final report, where finish's stop event ends it; Ray's
    # own reset_config and cleanup then find it gone.
    wait_for_trial_thread(RUN_END_TIMEOUT_S)
