"""Shared pieces of the training loops: seeding, progress bar, curves, data cache, model cards.

Units: times in seconds; losses dimensionless.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

RUNS = Path("runs")  # gitignored: data set cache and training outputs


def weights_dir() -> Path:
    """The package's shipped-weights folder (``skytwin/agents/weights``)."""
    return Path(__file__).resolve().parents[1] / "agents" / "weights"


def seed_everything(seed: int, threads: int = 2) -> torch.Generator:
    """Seed torch (and return a generator for the data order); limit CPU threads."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return torch.Generator().manual_seed(seed)


def cpu_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16).

    There autocast to bfloat16 trains the real/bogus CNN ~2.7x faster on two cores;
    elsewhere bfloat16 is emulated and slower than float32.
    """
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln for ln in fh if ln.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


@contextmanager
def progress_bar(total: int, description: str, quiet: bool = False
                 ) -> Iterator[Callable[[int], None]]:
    """A rich progress bar; yields ``advance(n)``."""
    if quiet:
        yield lambda n: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), transient=False) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)


def plot_curves(history: Mapping[str, list[float]], path: str | Path, title: str) -> Path:
    """Plot training curves (one line per key, epochs on x) to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    for k, v in history.items():
        ax = axes[0] if "loss" in k else axes[1]
        ax.plot(np.arange(1, len(v) + 1), v, label=k)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("metric")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def cached(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Load a data set from ``path`` or make and save it there."""
    from skytwin.training.datasets import load, save
    if path.is_file():
        return load(path)
    data = make()
    save(data, path)
    return data


def machine() -> str:
    """A one-line description of the machine (CPU count, torch threads)."""
    return (f"{platform.machine()}, {os.cpu_count()} CPUs visible, torch {torch.__version__} "
            f"with {torch.get_num_threads()} threads, Python {platform.python_version()}")


class Timer:
    """Wall-clock stopwatch."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def s(self) -> float:
        return time.perf_counter() - self.t0


def write_json(obj: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(obj, indent=2, default=float) + "\n")
    return out


def record_run(out: Path, metrics: dict[str, Any], history: Any, files: tuple[str, ...], card: str,
               ship: bool) -> None:
    """Write ``metrics.json`` and ``history.json`` to ``out``; with ``ship``, copy ``files``
    (weights first) into the package's weights folder and write the model card ``card``."""
    from skytwin.training.cards import write_card  # cards imports the site tables, not this module

    write_json(metrics, out / "metrics.json")
    write_json(history, out / "history.json")
    if ship:
        wd = weights_dir()
        wd.mkdir(exist_ok=True)
        for f in files:
            (wd / f).write_bytes((out / f).read_bytes())
        write_card(card, metrics, wd / files[0])
