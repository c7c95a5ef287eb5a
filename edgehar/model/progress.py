"""A rich progress bar per epoch for Keras training."""

from __future__ import annotations

import keras
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RichProgress(keras.callbacks.Callback):
    """Shows epoch k/N with the latest loss and accuracy (and validation accuracy if any)."""

    def __init__(self, epochs: int, label: str = "train"):
        super().__init__()
        self.epochs, self.label = epochs, label
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), transient=False)

    def on_train_begin(self, logs=None):
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=self.epochs, stats="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        stats = f"loss {logs.get('loss', float('nan')):.4f} acc {logs.get('accuracy', float('nan')):.4f}"
        if "val_accuracy" in logs:
            stats += f" val_acc {logs['val_accuracy']:.4f}"
        self.bar.update(self.task, advance=1, stats=stats)

    def on_train_end(self, logs=None):
        self.bar.stop()
