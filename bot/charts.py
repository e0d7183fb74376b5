"""The training-curve chart sent with a retrain report (PNG bytes, Agg backend).

Rendered on a worker thread, never on the event loop: it uses matplotlib's
object API (a ``Figure`` with its own Agg canvas) rather than ``pyplot``, whose
global state is not thread-safe.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any


def curve_png(curve: Sequence[dict[str, Any]], title: str) -> bytes | None:
    """Train loss (as RMSE) and holdout RMSE per epoch; None when there is no curve."""
    points = [row for row in curve if row.get("epoch") is not None]
    if not points:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [int(row["epoch"]) for row in points]
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    train = [row.get("train_loss") for row in points]
    if all(value is not None for value in train):
        # The loss is a mean squared error; its root is on the same scale as RMSE.
        axes.plot(epochs, [float(v) ** 0.5 for v in train], marker="o", label="train (√loss)")
    holdout = [(e, row.get("holdout_rmse")) for e, row in zip(epochs, points, strict=True)]
    shown = [(e, float(v)) for e, v in holdout if v is not None]
    if shown:
        axes.plot([e for e, _ in shown], [v for _, v in shown], marker="s", label="holdout RMSE")
    axes.set_xlabel("epoch")
    axes.set_ylabel("RMSE (stars)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
