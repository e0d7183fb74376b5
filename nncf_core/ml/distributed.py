"""Data-parallel training over several processes (``nncf-bot train --ddp`` under torchrun).

How the work is split, and why:

* Rank 0 is the only one that touches the database and the registry: it loads the
  ratings and sends them, with the training config, to the other ranks
  (:meth:`DistContext.share`). Every rank then trains on exactly the same arrays;
  reading the database once per rank could give ranks different data when a
  rating arrives in between, and the runs would no longer agree.
* Each global minibatch (the same shuffled permutation on every rank) is cut
  into ``world_size`` contiguous slices, one per rank, so the global batch, the
  number of steps and the learning rate are those of a single-process run.
* The MLP is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`,
  which averages its gradients. The embedding rows are not dense parameters
  (each step touches a few thousand of millions of rows), so their gradients
  travel as (rows, gradient) pairs: :meth:`DistContext.gather` concatenates every
  rank's and each rank applies the same lazy Adam step to the union, which keeps
  the replicated tables identical without ever reducing a dense table.
* Decisions (early stopping, cancellation) are taken on rank 0 and broadcast, so
  no rank can leave the loop while another waits in a collective.

CPU runs use the gloo backend; CUDA runs ``cpu:gloo,cuda:nccl`` (NCCL for the
training collectives, gloo for the data sent once at the start).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from nncf_core.errors import InvalidInput
from nncf_core.ml.config import TrainConfig
from nncf_core.ml.data import RatingsData

log = logging.getLogger(__name__)

TORCHRUN_HINT = "torchrun --standalone --nproc-per-node 2 .venv/bin/nncf-bot train --ddp"
TIMEOUT = timedelta(minutes=30)
"""How long a collective may wait for a slow rank (an epoch on 25M ratings is minutes)."""


@dataclass
class DistContext:
    """This process's place in a torchrun job, and the collectives training needs."""

    rank: int
    world_size: int
    local_rank: int
    _shared: bool = field(default=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per local rank on CUDA; the CPU is shared."""
        if device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    # -- the start of a run -------------------------------------------------------------

    def share(
        self, data: RatingsData | None, config: TrainConfig | None
    ) -> tuple[RatingsData, TrainConfig]:
        """Rank 0 passes the ratings and config it trains on; other ranks pass None and
        get rank 0's. Raises :class:`RunAborted` on the other ranks when rank 0 gave up
        before training (see :meth:`abort`)."""
        if self.is_main:
            if data is None or config is None:
                raise ValueError("rank 0 must share its data and config")
            self._shared = True
            _broadcast_bytes(json.dumps({"config": config.as_dict(), "n": data.n}).encode())
            for array in (data.user_ids, data.movie_ids, data.stars, data.timestamps):
                dist.broadcast(torch.from_numpy(np.ascontiguousarray(array)), src=0)
            return data, config
        header = json.loads(_broadcast_bytes(None).decode())
        if header is None:
            raise RunAborted()
        n = int(header["n"])
        arrays = [
            torch.empty(n, dtype=torch.int64),
            torch.empty(n, dtype=torch.int64),
            torch.empty(n, dtype=torch.float32),
            torch.empty(n, dtype=torch.int64),
        ]
        for tensor in arrays:
            dist.broadcast(tensor, src=0)
        data = RatingsData(*(tensor.numpy() for tensor in arrays))
        return data, TrainConfig.from_dict(header["config"])

    def abort(self) -> None:
        """On rank 0: tell the waiting ranks that no training follows (rank 0 failed
        before it had data to share). Does nothing once data was shared."""
        if self.is_main and not self._shared:
            self._shared = True
            _broadcast_bytes(b"null")

    # -- during training ----------------------------------------------------------------

    def local_slice(self, start: int, stop: int) -> tuple[int, int]:
        """This rank's contiguous part of the global batch ``[start, stop)``."""
        size = stop - start
        return (
            start + size * self.rank // self.world_size,
            start + size * (self.rank + 1) // self.world_size,
        )

    def gather(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every rank's ``tensors`` concatenated along the first dimension, in rank order.

        The tensors of one call share their first dimension; ranks may differ in it
        (the last batch of an epoch), so they are padded to the largest for the
        collective and trimmed afterwards. Tensors of one dtype travel together, as
        the columns of one matrix: one collective per dtype, not per tensor.
        """
        device = tensors[0].device
        n = torch.tensor([tensors[0].shape[0]], dtype=torch.int64, device=device)
        sizes = [torch.empty_like(n) for _ in range(self.world_size)]
        dist.all_gather(sizes, n)
        counts = [int(size) for size in sizes]
        largest = max(counts)
        columns = [tensor.reshape(tensor.shape[0], -1) for tensor in tensors]
        out: list[torch.Tensor | None] = [None] * len(tensors)
        for dtype in dict.fromkeys(tensor.dtype for tensor in tensors):
            picked = [k for k, tensor in enumerate(tensors) if tensor.dtype == dtype]
            widths = [columns[k].shape[1] for k in picked]
            packed = torch.zeros((largest, sum(widths)), dtype=dtype, device=device)
            packed[: counts[self.rank]] = torch.cat([columns[k] for k in picked], dim=1)
            parts = [torch.empty_like(packed) for _ in range(self.world_size)]
            dist.all_gather(parts, packed)
            joined = torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)])
            for k, piece in zip(picked, joined.split(widths, dim=1), strict=True):
                out[k] = piece.reshape(-1, *tensors[k].shape[1:])
        return [tensor for tensor in out if tensor is not None]

    def sum(self, value: float, device: torch.device) -> float:
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return float(tensor)

    def from_main(self, value: float | None, device: torch.device) -> float | None:
        """Rank 0's ``value`` on every rank (None travels as NaN)."""
        number = math.nan if value is None else value
        tensor = torch.tensor([number], dtype=torch.float64, device=device)
        dist.broadcast(tensor, src=0)
        result = float(tensor)
        return None if math.isnan(result) else result

    def close(self) -> None:
        self.abort()
        if dist.is_initialized():
            dist.destroy_process_group()


class RunAborted(Exception):
    """Rank 0 ended the run before training began; the other ranks have nothing to do."""


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group that torchrun set up (its environment variables)."""
    if not launched_by_torchrun():
        raise InvalidInput(
            f"--ddp trains in several processes that torchrun starts, e.g. `{TORCHRUN_HINT}`."
        )
    if not dist.is_available():
        raise InvalidInput("This PyTorch build has no torch.distributed; --ddp cannot run.")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    context = DistContext(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ["LOCAL_RANK"]),
    )
    if use_cuda:
        torch.cuda.set_device(context.local_rank)
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if use_cuda else "gloo", timeout=TIMEOUT)
    log.info("rank %d of %d joined (%s)", context.rank, context.world_size, dist.get_backend())
    return context


def _broadcast_bytes(payload: bytes | None) -> bytes:
    """Rank 0's ``payload`` on every rank (CPU tensors: gloo on either backend)."""
    length = torch.tensor([0 if payload is None else len(payload)], dtype=torch.int64)
    dist.broadcast(length, src=0)
    if payload is None:
        buffer = torch.empty(int(length), dtype=torch.uint8)
    else:
        buffer = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    dist.broadcast(buffer, src=0)
    return bytes(buffer.numpy())
