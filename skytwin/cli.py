"""The ``skytwin`` command.

    skytwin run SCENARIO [--seed N] [--nights K] [--out DIR] [--agent NAME] [--fidelity pixels]
    skytwin render SCENARIO --frames N --out DIR
    skytwin validate FILE
    skytwin scenarios
    skytwin dataset quality|detection --out DIR --n N --seed S
    skytwin train quality|detection|anomaly --seed S
    skytwin judge FITS... [--json]
    skytwin render SCENARIO --frames N --reference --out DIR
    skytwin detect SCIENCE --reference REF... [--nsigma 5] [--min-p P] [--json] [--out FILE.csv]
    skytwin export [quality] [detection] [anomaly] --out DIR [--anomaly-weights FILE.pt]
    skytwin calibrate-anomaly FRAMES... --out FILE.pt [--rate 0.01]

Bad input (a scenario file, a flag) gets one message and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skytwin.argtypes import real_number, whole_number
from skytwin.errors import SkytwinError

EXIT_USAGE = 2


_nonneg_int = whole_number(0)
_positive_int = whole_number(1)
_positive_float = real_number(0.0, what="a threshold", open_minimum=True)
_probability = real_number(0.0, 1.0, what="a probability")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skytwin", description="A digital twin of a robotic telescope network.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario with a scheduler and write events.parquet and summary.json")
    r.add_argument("scenario", help="a bundled scenario name (see 'skytwin scenarios') or a YAML file")
    r.add_argument("--seed", type=_nonneg_int, default=None, help="root seed (default: the scenario's)")
    r.add_argument("--nights", type=_positive_int, default=None, help="nights to simulate (default: the scenario's)")
    r.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder (default: runs/latest)")
    r.add_argument("--fidelity", choices=["fast", "pixels"], default=None, help="fast (metrics only) or pixels (render FITS frames); default: the scenario's")
    r.add_argument("--every", type=_positive_int, default=1, help="in pixel mode, render every K-th frame (default 1)")
    r.add_argument("--agent", default="greedy", help="scheduler: random, greedy, astroplan or ip (default: greedy)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    rd = sub.add_parser("render", help="run a scenario and render a sample of its frames as FITS files")
    rd.add_argument("scenario", help="a bundled scenario name or a YAML file")
    rd.add_argument("--frames", type=_positive_int, default=8, help="how many frames to render (default 8)")
    rd.add_argument("--out", type=Path, default=Path("runs/frames"), help="output folder (default: runs/frames)")
    rd.add_argument("--seed", type=_nonneg_int, default=None, help="root seed (default: the scenario's)")
    rd.add_argument("--nights", type=_positive_int, default=None, help="nights to simulate (default: the scenario's)")
    rd.add_argument("--size", type=_positive_int, default=1024, help="side of the rendered cut-out in pixels (default 1024)")
    rd.add_argument("--transients", action="store_true", help="only frames in which the twin's fast mode found a real transient (an alert's counterpart, a serendipitous one) that lies on the rendered cut-out")
    rd.add_argument("--reference", action="store_true", help="also render each frame's reference image (a stack of good frames of the same pointing) into OUT/reference/, for 'skytwin detect'")
    v = sub.add_parser("validate", help="check a scenario file and say what is wrong")
    v.add_argument("scenario")
    sub.add_parser("scenarios", help="list the bundled scenarios")
    j = sub.add_parser("judge", help="the shipped quality and anomaly models' verdict on FITS frames")
    j.add_argument("frames", nargs="+", type=Path, help="FITS files (a skytwin frame brings its star catalogue)")
    j.add_argument("--json", action="store_true", help="one JSON object per frame instead of a table")
    j.add_argument("--anomaly-weights", type=Path, default=None, help="an anomaly model with a site's own threshold (from 'skytwin calibrate-anomaly'); default: the shipped one")
    ca = sub.add_parser("calibrate-anomaly", help="set the anomaly model's threshold on a site's own normal frames (its false-alarm rate)")
    ca.add_argument("frames", nargs="+", type=Path, help="FITS frames the site calls normal (at least 1 / RATE of them)")
    ca.add_argument("--rate", type=real_number(0.0, 0.5, what="a false-alarm rate", open_minimum=True), default=0.01, help="fraction of such frames to flag (default 0.01)")
    ca.add_argument("--out", type=Path, required=True, help="the weights file to write (.pt)")
    d = sub.add_parser("detect", help="the shipped detection pipeline (subtraction, candidates, real/bogus CNN) on a FITS frame against its reference")
    d.add_argument("science", type=Path, help="the science frame (FITS)")
    d.add_argument("--reference", type=Path, nargs="+", required=True, help="reference frame(s) on the same pixel grid; several are median-stacked")
    d.add_argument("--nsigma", type=_positive_float, default=5.0, help="detection threshold against the local noise of the difference (default 5)")
    d.add_argument("--min-p", type=_probability, default=0.0, help="list only candidates with at least this probability of being real (default 0: all)")
    d.add_argument("--json", action="store_true", help="one JSON object per candidate instead of a table")
    d.add_argument("--out", type=Path, default=None, help="also write every candidate to this CSV file")
    x = sub.add_parser("export", help="write the shipped models as ONNX for an edge computer, with their cards, a manifest and a parity check")
    x.add_argument("models", nargs="*", metavar="MODEL", help="quality, detection and/or anomaly (default: all three)")
    x.add_argument("--out", type=Path, default=Path("runs/edge"), help="output folder (default: runs/edge)")
    x.add_argument("--anomaly-weights", type=Path, default=None, help="the anomaly model with a site's own threshold (from 'skytwin calibrate-anomaly'); default: the shipped one")
    from skytwin.training.cli import register as register_training

    register_training(sub)  # dataset, train
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    try:
        if args.command == "scenarios":
            return _cmd_scenarios(console)
        if args.command == "validate":
            return _cmd_validate(console, args.scenario)
        if args.command == "run":
            return _cmd_run(console, args)
        if args.command == "render":
            return _cmd_render(console, args)
        if args.command == "judge":
            return _cmd_judge(console, args)
        if args.command == "detect":
            return _cmd_detect(console, args)
        if args.command == "export":
            return _cmd_export(console, err, args)
        if args.command == "calibrate-anomaly":
            return _cmd_calibrate_anomaly(console, args)
        if getattr(args, "func", None) is not None:  # training subcommands
            return int(args.func(args) or 0)
    except SkytwinError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


def _cmd_scenarios(console: Console) -> int:
    from skytwin.scenarios import bundled_names, load_scenario

    table = Table("scenario", "sites", "nights", "description")
    for name in bundled_names():
        s = load_scenario(name)
        table.add_row(name, str(len(s.sites)), str(s.nights), " ".join(s.description.split())[:80])
    console.print(table)
    return 0


def _cmd_validate(console: Console, name: str) -> int:
    from skytwin.scenarios import load_scenario

    s = load_scenario(name)
    n_tel = sum(len(site.telescopes) for site in s.sites)
    console.print(f"ok: {name}: {len(s.sites)} sites, {n_tel} telescopes, {len(s.programs)} programs, {s.nights} nights")
    return 0


def _cmd_run(console: Console, args: argparse.Namespace) -> int:
    from skytwin.evaluation.runner import make_scheduler, run_scenario
    from skytwin.scenarios import load_scenario

    scenario = load_scenario(args.scenario)
    scheduler = make_scheduler(args.agent, args.seed)
    nights = args.nights or scenario.nights
    console.print(f"skytwin: {scenario.name}, {len(scenario.sites)} sites, {nights} night(s), agent {args.agent}, seed {args.seed if args.seed is not None else scenario.seed}")
    with Progress(
        TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[day]}"), TimeElapsedColumn(),
        console=console, disable=args.quiet or not console.is_terminal,
    ) as bar:
        task = bar.add_task("sim", total=1.0, day="")

        def progress(t_s: float, end_s: float) -> None:
            bar.update(task, completed=t_s / end_s, day=f"{t_s / 3600:.0f}/{end_s / 3600:.0f} h")

        fidelity = args.fidelity or scenario.fidelity
        pixels = {"out_dir": args.out / "frames", "every": args.every} if fidelity == "pixels" else None
        result = run_scenario(scenario, scheduler, seed=args.seed, nights=args.nights, progress=progress, pixels=pixels)
    events, summary = result.save(args.out)
    s = result.summary
    table = Table("site", "open shutter h", "frames", "slew h", "weather loss h", "faults", title="per site")
    for name, d in s["sites"].items():
        table.add_row(name, f"{d['open_shutter_h']:.2f}", str(d["frames"]), f"{d['slew_overhead_h']:.2f}", f"{d['weather_loss_h']:.1f}", str(d["faults"]))
    console.print(table)
    ptable = Table("program", "visits", "requests completed", "science value", title="per program")
    for name, d in s["programs"].items():
        ptable.add_row(name, str(d["visits"]), f"{d['completed']}/{d['requests']}", f"{d['science_value']:.1f}")
    console.print(ptable)
    console.print(
        f"{s['frames']} frames, {s['alerts']} alerts, {result.decisions} decisions in {result.wall_s:.1f} s; "
        f"science value {s['science_value']:.1f}"
    )
    if result.summary.get("rendered_frames"):
        console.print(f"rendered {result.summary['rendered_frames']} frames into {args.out / 'frames'}")
    console.print(f"wrote {events} and {summary}")
    return 0


def _cmd_render(console: Console, args: argparse.Namespace) -> int:
    import math

    from skytwin.evaluation.runner import make_scheduler
    from skytwin.scenarios import load_scenario
    from skytwin.twin.network import TwinNetwork
    from skytwin.twin.frames import write_fits
    from skytwin.twin.pixels import PixelRecorder, render_reference, render_request, site_dark_sky_mag

    scenario = load_scenario(args.scenario)
    net = TwinNetwork(scenario, seed=args.seed, nights=args.nights)
    records = []
    net.frame_listeners.append(records.append)
    net.run(make_scheduler("greedy", net.seed).decide)
    if not records:
        console.print("the run took no frames (weather or faults all night): nothing to render")
        return 1
    taken = len(records)
    if args.transients:
        records = [r for r in records if render_request(net, r, args.size).transients]  # on the cut-out only
        if not records:
            console.print(f"none of the {taken} frames holds a real transient on a {args.size}-pixel cut-out: nothing to render (try more --nights or a larger --size)")
            return 1
    n = min(args.frames, len(records))
    picks = sorted({round(k * (len(records) - 1) / max(n - 1, 1)) for k in range(n)})
    recorder = PixelRecorder(net, args.out, size=args.size)
    if args.reference:
        (args.out / "reference").mkdir(parents=True, exist_ok=True)
    which = f"{len(picks)} of {len(records)} frames" + (f" with a real transient (of {taken})" if args.transients else "")
    table = Table("frame", "target", "band", "FWHM", "measured", "quality", "reason", "transients", title=which)
    for i in picks:
        rec = records[i]
        path, frame = recorder.render(rec)
        measured = net.log.rows("frame_file")[-1]["measured_fwhm_arcsec"]
        drawn = frame.truth[frame.truth["kind"] == "sn"]
        shown = ", ".join(f"{n.strip()} {m:.1f}" for n, m in zip(drawn["name"], drawn["mag"])) or "-"
        table.add_row(rec.frame_id, rec.target, rec.filter, f"{rec.fwhm_arcsec:.2f}", "-" if math.isnan(measured) else f"{measured:.2f}", frame.quality, frame.reason or "-", shown)
        if args.reference:
            req = render_request(net, rec, args.size)
            write_fits(render_reference(req, dark_sky_mag=site_dark_sky_mag(net, rec, req.band)), args.out / "reference" / f"{rec.frame_id}.fits")
    console.print(table)
    console.print(f"wrote {len(picks)} FITS files (image + TRUTH table) to {args.out}")
    if args.reference:
        first = records[picks[0]].frame_id + ".fits"
        console.print(f"wrote their references to {args.out / 'reference'}; e.g.", highlight=False)
        console.print(f"  skytwin detect {args.out / first} --reference {args.out / 'reference' / first}", highlight=False, soft_wrap=True)
    return 0


def _cmd_judge(console: Console, args: argparse.Namespace) -> int:
    """Quality label, reason and estimates, and the anomaly flag, per frame.

    An unreadable file is judged, not raised: quality "bad" with the reason
    "unreadable: ...", and anomalous.
    """
    import json
    import math

    from skytwin.agents import anomaly, quality

    paths = [str(p) for p in args.frames]
    # a bad weights file is said before the frames are read
    detector = anomaly.load_default() if args.anomaly_weights is None else _anomaly_weights(args.anomaly_weights)
    q = quality.load_default().predict(paths)
    scores = detector.score(paths)
    rows = []
    for path, label, probs, reason, meas, unjudged, derived, score in zip(
            paths, q.labels, q.probabilities, q.reasons, q.measurements, q.unjudged, q.derived, scores):
        # an estimate that could not be made (the transparency without a catalogue) is None
        known = {k: None if isinstance(v, float) and not math.isfinite(v) else v
                 for k, v in meas.items()}
        rows.append({"frame": path, "quality": label, "p": float(probs.max()), "reason": reason,
                     **known, "not_judged": unjudged, "header": derived,
                     "anomaly_score": float(score) if math.isfinite(score) else None,
                     "anomalous": bool(score > detector.threshold)})
    if args.json:
        for r in rows:
            console.print_json(json.dumps(r))
        return 0
    table = Table(title=f"{len(rows)} frames", show_edge=False, collapse_padding=True)
    # a long name folds (a short one stays whole) so that the estimates keep their digits
    table.add_column("frame", overflow="fold",
                     min_width=min(10, 1 + max(len(Path(r["frame"]).name) for r in rows)))
    for name in ("quality (p)", "reason", 'FWHM"', "ell.", "transp", "sky+", "trails", "anom"):
        # the reason's longest criterion ("background", "saturation") and "anom" kept whole
        table.add_column(name, min_width={"reason": 10, "anom": 4}.get(name))
    def num(v: float | None, fmt: str, err: float | None = None) -> str:
        # an estimate with its one-sigma error under it, where the model gives one (two
        # lines keep the table within 80 columns)
        if v is None:
            return "-"
        return format(v, fmt) if err is None else f"{v:{fmt}}\n±{err:{fmt}}"

    for r in rows:
        # a FWHM the header gives no pixel scale for is shown in pixels
        fwhm = num(r["fwhm_arcsec"], ".2f", r.get("fwhm_arcsec_err")) \
            if r.get("fwhm_arcsec") is not None \
            else f"{num(r['fwhm_pixels'], '.1f', r.get('fwhm_pixels_err'))} px" \
            if r.get("fwhm_pixels") is not None else "-"
        est = [fwhm, num(r["ellipticity"], ".2f", r.get("ellipticity_err")),
               num(r["transparency"], ".2f", r.get("transparency_err")),
               num(r["sky_excess_mag"], ".2f", r.get("sky_excess_mag_err")),
               str(r["trails"])] if "ellipticity" in r else ["-"] * 5
        # one criterion a line: a narrow terminal cuts a long word, not a short one
        table.add_row(Path(r["frame"]).name, f"{r['quality']} ({r['p']:.2f})",
                      r["reason"].replace("+", "+\n") or "-",
                      *est, "yes" if r["anomalous"] else "no")
    console.print(table)
    # what the verdicts rest on where a header falls short, said once per cause
    notes: dict[str, list[str]] = {}
    for r in rows:
        by_cause: dict[str, list[str]] = {}  # the same missing zero point leaves out sky and clouds
        for criterion, why in r["not_judged"].items():
            by_cause.setdefault(why, []).append(criterion)
        for why, criteria in by_cause.items():
            notes.setdefault(f"{' and '.join(criteria)} not judged: {why}", []).append(Path(r["frame"]).name)
        for key, where in r["header"].items():
            notes.setdefault(f"{key} = {where}", []).append(Path(r["frame"]).name)
    for note, names in notes.items():
        console.print(f"{note} ({', '.join(names) if len(names) < len(rows) or len(rows) == 1 else 'every frame'})", highlight=False)
    return 0


def _check_writable(path: Path) -> None:
    """Make ``path``'s folder and check a file can be written there (an error, not a traceback)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with open(path, "ab"):
            pass
        if not existed:
            path.unlink()  # no empty file left behind if what follows fails
    except OSError as exc:
        raise SkytwinError(f"--out {path}: cannot write ({exc.strerror or exc})") from exc


def _anomaly_weights(path: Path):  # noqa: ANN202 - an AnomalyModel
    from skytwin.agents.anomaly import AnomalyModel

    if not path.is_file():
        raise SkytwinError(f"{path}: no such weights file")
    return AnomalyModel.load(path)


def _cmd_calibrate_anomaly(console: Console, args: argparse.Namespace) -> int:
    """A copy of the shipped anomaly model with the threshold of a site's own normal frames."""
    from skytwin.agents import anomaly
    from skytwin.agents.anomaly.model import false_alarms_allowed

    if args.out.is_dir():
        raise SkytwinError(f"--out {args.out}: is a folder; name the weights file to write")
    seen: dict[Path, str] = {}
    for p in args.frames:  # one frame given twice would count twice towards the rate's minimum
        key = p.resolve()
        if key in seen:
            raise SkytwinError(f"{p}: given more than once (also as {seen[key]}); each normal frame counts once")
        seen[key] = str(p)
    _check_writable(args.out)  # before the frames are scored
    shipped = anomaly.load_default()
    paths = [str(p) for p in args.frames]
    site = shipped.calibrated(paths, args.rate, names=paths)
    allowed = false_alarms_allowed(args.rate, len(paths))
    from skytwin.agents.bundle import sha256
    from skytwin.agents.checkpoint import weights_path

    meta = {"based_on": anomaly.model.WEIGHTS, "based_on_sha256": sha256(weights_path(anomaly.model.WEIGHTS)),
            "threshold": site.threshold, "twin_threshold": shipped.threshold,
            "threshold_frames": len(paths), "false_alarm_rate": args.rate}
    try:
        site.save(args.out, meta=meta)
    except (OSError, RuntimeError) as exc:  # torch.save reports an unwritable file as RuntimeError
        raise SkytwinError(f"--out {args.out}: cannot write ({exc})") from exc
    console.print(f"threshold {site.threshold:.3f} (the twin's: {shipped.threshold:.3f}) from {len(paths)} normal frames: "
                  f"at most {allowed} of them ({args.rate:g}) above it", highlight=False)
    console.print(f"wrote {args.out}; use it with: skytwin judge FRAMES --anomaly-weights {args.out}", highlight=False, soft_wrap=True)
    return 0


def _cmd_detect(console: Console, args: argparse.Namespace) -> int:
    """Candidates of a science frame against its reference, with their probability of being real."""
    import csv
    import json
    import math

    from skytwin.agents.detection.frames import detect_fits

    found = detect_fits(args.science, args.reference, args.nsigma)
    rows = found.candidates
    if args.out is not None:  # every candidate, whatever --min-p shows
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["x", "y", "ra_deg", "dec_deg", "snr", "p_real", "truth"])
                for r in rows:
                    sky = ["", ""] if math.isnan(r.ra) else [f"{r.ra:.6f}", f"{r.dec:.6f}"]
                    w.writerow([r.x, r.y, *sky, f"{r.snr:.2f}", f"{r.probability:.4f}", r.truth])
        except OSError as exc:
            raise SkytwinError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    shown = [r for r in rows if r.probability >= args.min_p]
    if args.json:
        for r in shown:
            console.print_json(json.dumps({
                "x": r.x, "y": r.y, "ra": None if math.isnan(r.ra) else r.ra,
                "dec": None if math.isnan(r.dec) else r.dec, "snr": r.snr,
                "p_real": r.probability, "truth": r.truth or None}))
        return 0
    n_real = sum(r.probability >= 0.5 for r in rows)
    summary = f"{args.science.name}: {len(rows)} candidate{'' if len(rows) == 1 else 's'} at {args.nsigma:g} sigma, {n_real} with p(real) >= 0.5"
    if args.min_p > 0:
        summary += f"; {len(shown)} at p(real) >= {args.min_p:g} listed"
    if not shown:
        console.print(summary)
    else:
        _print_candidates(console, shown, summary, with_truth=any(r.truth for r in rows))
    console.print(found.kernel_note, highlight=False)
    if args.out is not None:
        console.print(f"wrote {len(rows)} candidates to {args.out}")
    return 0


def _print_candidates(console: Console, rows: list, title: str, with_truth: bool) -> None:
    import math

    table = Table(title=title)
    cols = ["x", "y", "RA", "Dec", "SNR", "p(real)"] + (["truth"] if with_truth else [])
    for c in cols:
        table.add_column(c)
    for r in rows:
        sky = ["-", "-"] if math.isnan(r.ra) else [f"{r.ra:.5f}", f"{r.dec:+.5f}"]
        table.add_row(str(r.x), str(r.y), *sky, f"{r.snr:.1f}", f"{r.probability:.3f}", *([r.truth] if with_truth else []))
    console.print(table)


def _cmd_export(console: Console, err: Console, args: argparse.Namespace) -> int:
    """The edge bundle (skytwin.agents.bundle); exit status 1 when a parity check fails."""
    import math

    from skytwin.agents.bundle import MANIFEST, MODELS, PARITY_TOLERANCE, write_bundle

    models = args.models or list(MODELS)
    if args.anomaly_weights is not None and "anomaly" not in models:
        raise SkytwinError("--anomaly-weights is for the anomaly model, which this export leaves out")
    manifest = write_bundle(args.out, models, progress=lambda name: console.print(f"exporting {name} ..."),
                            anomaly_weights=args.anomaly_weights)
    table = Table("file", "kB", "inputs (N: batch)", "parity with torch")
    for m in manifest["models"].values():
        worst = max(math.inf if v is None else v for v in m["parity"]["max_abs_diff"].values())
        shapes = ", ".join(f"{k} " + "x".join("N" if d < 0 else str(d) for d in v) for k, v in m["inputs"].items())
        verdict = "ok" if m["parity"]["passed"] else "[bold red]FAILED[/]"
        table.add_row(m["file"], f"{m['bytes'] / 1024:.0f}", shapes, f"{verdict}: |diff| <= {worst:.0e} on {m['parity']['inputs']} twin inputs")
    console.print(table)
    console.print(f"wrote {args.out / MANIFEST} (opset {manifest['opset']}, onnxruntime {manifest['onnxruntime']})")
    if not manifest["passed"]:
        err.print(f"[bold red]error:[/] onnxruntime and torch differ by more than {PARITY_TOLERANCE:g} "
                  f"(see 'parity' in {args.out / MANIFEST}); the files are written but should not be deployed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
