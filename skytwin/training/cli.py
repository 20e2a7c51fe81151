"""The ``skytwin dataset`` and ``skytwin train`` subcommands.

    skytwin dataset quality|detection --out DIR --n N --seed S
    skytwin train quality|detection|anomaly --seed S [--n N] [--epochs E] [--no-ship]

``dataset`` writes ``DIR/quality_seed<S>_n<N>.npz`` or
``DIR/detection_seed<S>_f<N>.npz`` (arrays: inputs, labels, site, split; see
:mod:`skytwin.training.datasets` and :mod:`skytwin.training.detection_data`);
for ``detection`` ``N`` counts fields (two science epochs each). With
``--out runs/data`` these are the files ``train`` looks for first (its
cache), so ``train`` with the same seed and size reuses them. ``train`` shows a progress bar, writes the
weights, curve and metrics under ``runs/train_<model>_seed<S>/`` and, unless
``--no-ship``, copies the weights and plots into ``skytwin/agents/weights``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from skytwin.argtypes import whole_number

from rich.console import Console

from skytwin.errors import SkytwinRangeError


_count = whole_number(1)
_seed = whole_number(0, "a seed")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``dataset`` and ``train`` to the ``skytwin`` parser (sets ``func`` on each)."""
    d = subparsers.add_parser("dataset", help="render a training data set in the twin")
    d.add_argument("kind", choices=("quality", "detection"))
    d.add_argument("--out", type=Path, required=True, help="output folder")
    d.add_argument("--n", type=_count, default=None,
                   help="frames (quality, default 8000) or fields (detection, default 3500)")
    d.add_argument("--seed", type=_seed, default=0, help="seed (default 0)")
    d.add_argument("--workers", type=_count, default=2, help="processes (default 2)")
    d.set_defaults(func=cmd_dataset)
    t = subparsers.add_parser("train", help="train an edge model and write its weights")
    t.add_argument("model", choices=("quality", "detection", "anomaly"))
    t.add_argument("--seed", type=_seed, default=0, help="seed (default 0)")
    t.add_argument("--n", type=_count, default=None,
                   help="data set size (frames, or fields for detection)")
    t.add_argument("--epochs", type=_count, default=None, help="epochs")
    t.add_argument("--threads", type=_count, default=2, help="CPU threads and processes")
    t.add_argument("--no-ship", action="store_true",
                   help="do not copy the weights into skytwin/agents/weights")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)


def cmd_dataset(args: argparse.Namespace) -> int:
    from skytwin.training.common import progress_bar
    from skytwin.training.datasets import make_quality_dataset, save
    console = Console()
    if args.kind == "quality":
        from skytwin.training.train_quality import DEFAULT_N
        n = args.n or DEFAULT_N
        with progress_bar(n, "render quality frames") as adv:
            data = make_quality_dataset(n, args.seed, workers=args.workers, progress=adv)
    else:
        from skytwin.training.detection_data import make_detection_dataset
        from skytwin.training.train_detection import DEFAULT_FIELDS
        n = args.n or DEFAULT_FIELDS
        with progress_bar(n, "render fields and subtract") as adv:
            data = make_detection_dataset(n, args.seed, workers=args.workers, progress=adv)
    try:
        name = f"quality_seed{args.seed}_n{n}.npz" if args.kind == "quality" else \
            f"detection_seed{args.seed}_f{n}.npz"
        path = save(data, args.out / name)
    except OSError as exc:
        raise SkytwinRangeError(f"--out {args.out}: cannot write ({exc})", str(args.out)) \
            from exc
    extra = f", {int((~data['catalogue']).sum())} of them again without the catalogue" \
        if "catalogue" in data else ""
    console.print(f"wrote {path} ({len(data['split'])} samples{extra})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    console = Console()
    kw: dict = {"seed": args.seed, "threads": args.threads, "ship": not args.no_ship,
                "quiet": args.quiet}
    if args.epochs:
        kw["epochs"] = args.epochs
    if args.model == "quality":
        from skytwin.training.train_quality import train
        if args.n:
            kw["n"] = args.n
    elif args.model == "detection":
        from skytwin.training.train_detection import train
        if args.n:
            kw["n_fields"] = args.n
    else:
        from skytwin.training.train_anomaly import train
        if args.n:
            kw["n"] = args.n
    metrics = train(**kw)
    console.print_json(json.dumps(metrics, default=float))
    return 0
