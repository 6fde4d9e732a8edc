"""Loss-weight schedules shared by the models' training loops."""


def linear_warmup(epoch: float, *, factor: float, end_epoch: float, start_epoch: float = 0.0) -> float:
    """0 until `start_epoch`, rising linearly to `factor` at `end_epoch`, then constant.

    `end_epoch <= start_epoch` means no warm-up: the full factor from the first epoch.
    """
    if end_epoch <= start_epoch:
        return factor
    progress = (epoch - start_epoch) / (end_epoch - start_epoch)
    return factor * min(1.0, max(0.0, progress))
