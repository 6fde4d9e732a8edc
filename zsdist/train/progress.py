"""The console's view of a training run: a bar of epochs with the last loss and speed.

Rank 0 logs every epoch's metrics to the run's MLflow record (epochs.report_epoch); a thread of the
driver reads them back once a second, so the bar needs nothing from Ray beyond what the run records
anyway, on a laptop or a cluster alike.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from mlflow.tracking import MlflowClient

from zsdist.base import tracking
from zsdist.base.console import progress_bar

POLL_S = 1.0


class EpochProgress:
    """`with EpochProgress(...)`: the bar runs while the block (the TorchTrainer's fit) does."""

    def __init__(self, *, run_id: str, run_name: str, epochs: int, loss: str, speed: str) -> None:
        self.run_id, self.epochs, self.loss, self.speed = run_id, epochs, loss, speed
        self.bar = progress_bar(total=epochs, desc=f"train {run_name}", unit="epoch")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="zsdist-epoch-progress", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join()
        self._update()  # the last epoch, logged just before fit returned
        self.bar.close()

    def _follow(self) -> None:
        while not self.stop.wait(POLL_S):
            self._update()

    def _update(self) -> None:
        client = MlflowClient(tracking.tracking_uri())
        history = client.get_metric_history(self.run_id, self.loss)
        if not history:
            return
        speed = client.get_metric_history(self.run_id, self.speed)
        self.bar.set_postfix({self.loss: f"{history[-1].value:.4g}",
                              **({self.speed: f"{speed[-1].value:.0f}"} if speed else {})}, refresh=False)
        self.bar.update(min(self.epochs, max(m.step for m in history) + 1) - self.bar.n)
