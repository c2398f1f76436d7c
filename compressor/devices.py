"""Device, precision and process group, resolved once (nanoGPT's single autocast context).

Nothing else in the package calls `.cuda()`: every function takes a `device` or follows its model's.
Several processes (GPUs, or CPU processes with the gloo backend) run under torchrun, which sets the standard
environment (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`/`MASTER_PORT`) read here and by
`torch.distributed.init_process_group`. Data-parallel semantics: every rank starts from rank 0's weights, draws its
own synthetic batches, and gradients are averaged with one all-reduce per step, so the effective batch is
`batch_size x world_size` at the same learning rate; the time budget, interruptions and NaN stops are agreed by all
ranks (`any_rank`), so they stop at the same step, and every rank reads the slowest rank's clock (`max_over_ranks`),
so the learning rate, a function of progress, is the same everywhere; rank 0 alone shows progress and writes files.

The gradients are reduced by hand rather than through `DistributedDataParallel` because synthesizers run backward
passes of their own (HotFlip's input gradients, AS-DFD's adversarial step) on some steps only: DDP would hook an
all-reduce into each of them and hang the ranks that did not take that branch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from asdfd.core.errors import AsdfdError, ConfigError
from asdfd.core.hardware import CpuFeatures, OtherProcessesMeter, detect_cpu_features, usable_cores

__all__ = [
    "Placement",
    "resolve_device",
    "resolve_precision",
    "autocast_context",
    "cpu_threads",
    "setup_placement",
    "all_reduce_mean",
    "any_rank",
    "max_over_ranks",
    "broadcast_parameters",
    "broadcast_object",
    "replica_digests",
    "PeerLostError",
]


def resolve_device(name: str = "auto", *, local_rank: int = 0) -> torch.device:
    """ "auto" -> CUDA when available, else CPU; "cuda" without a GPU is a one-line error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is visible: use --device cpu or auto")
        return torch.device("cuda", local_rank)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"device must be auto, cpu or cuda, got {name!r}")


def resolve_precision(precision: str, device: torch.device, features: CpuFeatures | None = None) -> str:
    """ "auto" -> "bf16" on CUDA, and on CPUs with native bf16 dot products (AVX512-BF16, AMX-BF16, ARM BF16);
    "fp32" on other CPUs, where bf16 autocast is emulated and slower (docs/distill_results.md has the timings)."""
    if precision == "auto":
        if device.type == "cuda":
            return "bf16"
        return "bf16" if (features or detect_cpu_features()).has_bf16_matmul else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ConfigError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    return precision


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """One autocast context for every forward pass: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Placement:
    """Where and how this process computes."""

    device: torch.device
    precision: str
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast_context(self.device, self.precision)

    def training_attention(self) -> contextlib.AbstractContextManager:
        """The attention kernel a model that is being trained runs under: on CPU the math one (softmax and matmuls),
        whose backward is faster than the fused CPU kernel's in bf16 (timings in docs/distill_results.md); on CUDA
        torch's own choice."""
        if self.device.type != "cpu":
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel(SDPBackend.MATH)


def cpu_threads(requested: int | None, processes: int = 1) -> int:
    """Threads for CPU work: `requested`, else torch's default lowered to the cores other processes leave idle,
    shared among the `processes` that torchrun starts on this machine (`LOCAL_WORLD_SIZE`).

    On a small machine that other jobs keep busy, fewer threads run distillation steps faster than one per core,
    because oversubscribed threads wait on each other. Busy cores are sampled over half a second (other processes
    only), not read from the 1-min load average: that lags, so right after `make demo` built the teacher it made the
    distiller run on one thread of an idle machine (fewer steps in the same budget).
    """
    if requested:
        return requested
    if processes > 1:  # the sibling ranks start together: each takes its share, not what looks idle right now
        return max(1, min(torch.get_num_threads(), usable_cores() // processes))
    default = torch.get_num_threads()
    cores = usable_cores()
    meter = OtherProcessesMeter()
    time.sleep(0.5)
    busy = meter.busy_cores()
    if busy is None:  # no psutil: the load average is the next best reading
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # not available on Windows
            return default
    return max(1, min(default, round(cores - busy)))


TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun sets beside WORLD_SIZE; without them, a WORLD_SIZE is a stray."""


def _launch_number(name: str, default: int) -> int:
    """A torchrun variable as a non-negative integer (`default` when unset), or one line naming it."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ConfigError(f"environment variable {name}={value!r} is not a non-negative integer: unset it or fix it")
    return int(value)


def _require_launcher(world_size: int) -> None:
    """A WORLD_SIZE > 1 left in the environment, without torchrun's other variables, would stop the run with a
    rendezvous traceback (or wait for processes that never come): one line instead."""
    missing = [name for name in TORCHRUN_VARIABLES if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE={world_size} is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: "
            "launch with torchrun (docs/torchrun.md), or unset WORLD_SIZE for one process"
        )


def setup_placement(device: str, precision: str, threads: int | None) -> Placement:
    """Resolve the device once; join the torchrun process group when WORLD_SIZE > 1."""
    world_size = _launch_number("WORLD_SIZE", 1)
    torch.set_num_threads(cpu_threads(threads, _launch_number("LOCAL_WORLD_SIZE", 1)))
    rank = _launch_number("RANK", 0)
    local_rank = _launch_number("LOCAL_RANK", 0)
    if world_size > 1:
        _require_launcher(world_size)
    resolved = resolve_device(device, local_rank=local_rank)
    if world_size > 1:
        import torch.distributed as dist

        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return Placement(
        device=resolved, precision=resolve_precision(precision, resolved), rank=rank, world_size=world_size
    )


class PeerLostError(AsdfdError):
    """Another process of the torchrun job stopped (killed, out of memory, its machine gone): the collective this
    rank was in failed."""


@contextlib.contextmanager
def _collective() -> Iterator[None]:
    """A collective whose peer is gone raises one line instead of the backend's traceback (gloo: "Connection reset
    by peer"; nccl: a communicator error); the checkpoints written so far are kept."""
    try:
        yield
    except RuntimeError as err:
        reason = re.sub(r"^\[[^\]]*\]\s*", "", str(err).strip().splitlines()[0] if str(err).strip() else "")
        reason = reason.split(". ")[0].strip() or type(err).__name__
        raise PeerLostError(
            f"another process of this torchrun job stopped ({reason}): its own log says why; checkpoints written "
            "so far are kept: run the same torchrun launch with --resume"
        ) from None


def all_reduce_mean(parameters: list[torch.nn.Parameter], placement: Placement) -> None:
    """Average gradients over ranks with one all-reduce of a flat buffer (a no-op in a single process)."""
    if placement.world_size <= 1:
        return
    import torch.distributed as dist

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    with _collective():
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= placement.world_size
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def max_over_ranks(value: float, placement: Placement) -> float:
    """The largest `value` of all ranks, on every rank (a no-op in a single process)."""
    if placement.world_size <= 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64, device=placement.device)
    with _collective():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def any_rank(flag: bool, placement: Placement) -> bool:
    """True on every rank when `flag` is true on any (what makes interrupt and NaN stops collective)."""
    return bool(max_over_ranks(float(flag), placement))


def broadcast_parameters(parameters: list[torch.nn.Parameter], placement: Placement) -> None:
    """Give every rank rank 0's values (trainable parts seeded per rank would otherwise start apart)."""
    if placement.world_size <= 1:
        return
    import torch.distributed as dist

    with torch.no_grad(), _collective():
        for parameter in parameters:
            dist.broadcast(parameter.data, src=0)


def broadcast_object(value: Any, placement: Placement) -> Any:
    """Rank 0's `value` on every rank (a resumed checkpoint that only rank 0's node holds)."""
    if placement.world_size <= 1:
        return value
    import torch.distributed as dist

    box = [value if placement.is_main else None]
    with _collective():
        dist.broadcast_object_list(box, src=0)
    return box[0]


def replica_digests(module: torch.nn.Module, placement: Placement) -> list[str]:
    """sha256 of each rank's weights, gathered on every rank: equal digests prove the replicas stayed in sync."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    mine = digest.hexdigest()[:16]
    if placement.world_size <= 1:
        return [mine]
    import torch.distributed as dist

    gathered: list[Any] = [None] * placement.world_size
    with _collective():
        dist.all_gather_object(gathered, mine)
    return [str(x) for x in gathered]
