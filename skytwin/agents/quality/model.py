"""The quality CNN: good / medium / bad and the reasons, from a normalised frame.

Units: inputs are the dimensionless channels and scalars of
:func:`skytwin.agents.quality.inputs.quality_model_input`; outputs are probabilities.

Architecture (about 140k parameters): four stride-2 3x3 convolutions (each
followed by a stride-1 3x3 convolution) with batch norm and ReLU (2 -> 16 ->
32 -> 48 -> 64 channels, 64 -> 4 pixels), global average and max pooling,
concatenated with a two-layer MLP of the scalars and of the labelling rule's
steps on them (:data:`RULE_STEPS`), dropout 0.2 around the joint layer
during training, then two heads (the estimates' also straight from the
pooled features and the scalars' MLP, around the dropout):

* the estimates of the labelling rule's quantities (FWHM, ellipticity,
  transparency, sky excess, saturated fraction: each the measured scalar
  plus a learned correction, with a learned uncertainty) and of the trail
  class, turned into good / medium / bad probabilities by the rule itself
  (:mod:`skytwin.agents.quality.rule_head`); the log-probabilities are
  divided by a fitted temperature (:mod:`skytwin.agents.calibration`) and
  renormalised;
* 8 reason logits (independent sigmoids, one per criterion of the rule).

The reasons reported are the rule's own, read off the estimates: the
criteria whose grade equals the frame's label with a probability above one
half (or else the likeliest one), so that a frame called bad for clouds
(with more than even odds) shows a transparency estimate below 0.5. Two names the estimates cannot
tell apart come from elsewhere: a blur criterion is "defocus" or "seeing" as
the reason head ranks those two, and a bright sky is "moonlight" or
"background" by the Moon test of the rule on the frame's header.

:class:`QualityModel` wraps the network: ``predict(frames)`` takes images,
``RenderedFrame`` objects, FITS paths, or a ``(N, ny, nx)`` stack, and
returns labels, probabilities ``(N, 3)``, reasons and the estimates behind
them (:func:`measurements`). A frame that cannot be
read or normalised (truncated or empty FITS, all NaN, wrong shape or dtype)
gets the label ``bad`` with the reason ``unreadable: ...`` and probabilities
``(0, 0, 1)``, never an exception. A criterion the frame's header cannot
support (the blur without a pixel scale, the sky and clouds without a zero
point, the clouds without a reference catalogue:
:mod:`skytwin.agents.frame_header`) is left out of the verdict and its
estimate reported as NaN; ``QualityResult.unjudged`` says which and why.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from skytwin.agents.checkpoint import load_state, save_state, shipped
from skytwin.agents.frame_header import read_calibration
from skytwin.agents.preprocess import as_image, frame_inputs
from skytwin.agents.quality.inputs import NETWORK_SCALARS, QUALITY_SCALARS, quality_model_input
from skytwin.agents.quality.labels import LABELS, REASONS
from skytwin.agents.quality.rule_head import (CRITERIA, MEASURED, TRAIL_CLASSES,
                                              RuleProbabilities, broad_psf_estimate,
                                              measured_scalars)
from skytwin.agents.quality.stars import STAMP, ReferenceStars
from skytwin.errors import SkytwinError

WEIGHTS = "quality_cnn.pt"
# the estimate (see measurements) that stands for each criterion that can be left out
_ESTIMATE_OF = {"blur": "fwhm_arcsec", "tracking": "ellipticity", "sky": "sky_excess_mag",
                "clouds": "transparency"}
# a frame on which no star is measured (nothing in it, or too small) is bad for this reason,
# and the estimates the stars make are not given
NO_STARS = "no stars"
_OF_STARS = ("fwhm_arcsec", "fwhm_pixels", "ellipticity", "transparency")
LOG_SIGMA_FLOOR = -3.0  # log of the smallest sigma, in units of the correction scale
# a criterion is a reason when its grade is the label's with more than this probability
REASON_THRESHOLD = 0.5
ENGINES = ("auto", "onnx", "torch")


def _rule_thresholds() -> list[tuple[int, float, float]]:
    """``(scalar index, threshold, sign)`` of each step of the labelling rule on a measured scalar.

    The rule (``docs/frames.md``) is the observatory's published policy; a step
    on a measured value (FWHM above 2", transparency below 0.8, ...) is hard
    for a small MLP to learn sharply from a few thousand frames, so the
    network also gets the step itself as a 0/1 input (``sign * value >
    sign * threshold``) beside the continuous value.
    """
    from skytwin.twin.frames import quality as rule  # the labelling rule's constants

    steps = [("psf_halfmax_arcsec", rule.FWHM_ARCSEC, 1.0), ("psf_fwhm_arcsec", rule.FWHM_ARCSEC, 1.0),
             ("psf_ellipticity", rule.ELLIPTICITY, 1.0), ("sky_excess_mag", rule.SKY_EXCESS_MAG, 1.0),
             ("log_transparency", tuple(math.log10(t) for t in rule.CLOUDS), -1.0),
             ("log_saturated_fraction",
              tuple(math.log10(t) for t in rule.SATURATED_FRACTION), 1.0),
             # a count: at least 1 line, at least 3
             ("trail_lines", tuple(n - 0.5 for n in rule.TRAILS), 1.0)]
    return [(QUALITY_SCALARS.index(name), t, sign) for name, ts, sign in steps for t in ts]


RULE_STEPS = _rule_thresholds()


class QualityNet(nn.Module):
    """The CNN (see the module docstring)."""

    def __init__(self, n_scalars: int = len(NETWORK_SCALARS), width: int = 16) -> None:
        super().__init__()
        self.n_scalars = n_scalars  # the first scalars of the input (NETWORK_SCALARS)
        chans = [2, width, 2 * width, 3 * width, 4 * width]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(b),
                       nn.ReLU(inplace=True), nn.Conv2d(b, b, 3, padding=1, bias=False),
                       nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        # the rule's criteria are sharp thresholds on measured scalars: two layers for them
        self.scalars = nn.Sequential(nn.Linear(n_scalars + len(RULE_STEPS), 64),
                                     nn.ReLU(inplace=True),
                                     nn.Linear(64, 64), nn.ReLU(inplace=True))
        # dropout: a few thousand frames are easily memorised by the image branch
        self.trunk = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * chans[-1] + 64, 96),
                                   nn.ReLU(inplace=True), nn.Dropout(0.2))
        # the rule's quantities (mean and log sigma each) and the trail classes; see rule_head
        self.measure = nn.Linear(96, 2 * len(MEASURED) + len(TRAIL_CLASSES))
        # and a path to the quantities around the dropout: dropout on a regression's inputs
        # shrinks it, and they are wanted to a per cent or two (the FWHM's robust scatter on
        # 6000 benchmark frames: 0.028 through the trunk alone, 0.024 with this path)
        self.measure_direct = nn.Linear(2 * chans[-1] + 64, 2 * len(MEASURED))
        self.reason = nn.Linear(96, len(REASONS))
        self.rule = RuleProbabilities()
        self.register_buffer("s_mean", torch.zeros(n_scalars))
        self.register_buffer("s_std", torch.ones(n_scalars))
        # typical size of the correction to each measurement (set from the training data)
        self.register_buffer("correction_scale", torch.ones(len(MEASURED)))
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("step_index", torch.tensor([i for i, _, _ in RULE_STEPS]),
                             persistent=False)
        self.register_buffer("step_threshold", torch.tensor([t * g for _, t, g in RULE_STEPS]),
                             persistent=False)
        self.register_buffer("step_sign", torch.tensor([g for _, _, g in RULE_STEPS]),
                             persistent=False)

    def heads(self, x: torch.Tensor, s: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Estimates' means and log sigmas ``(N, 5)``, trail logits ``(N, 3)``, reason logits."""
        f = self.features(x)
        steps = (s[:, self.step_index] * self.step_sign > self.step_threshold).to(s.dtype)
        z = torch.cat([(s[:, :self.n_scalars] - self.s_mean) / self.s_std, steps], dim=1)
        f = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3)), self.scalars(z)], dim=1)
        h = self.trunk(f)
        k = len(MEASURED)
        m = self.measure(h)
        m = torch.cat([m[:, :2 * k] + self.measure_direct(f), m[:, 2 * k:]], dim=1)
        mean = measured_scalars(s) + m[:, :k] * self.correction_scale
        # floored: a vanishing sigma on a training frame makes the NLL's gradients explode
        log_sigma = m[:, k:2 * k].clamp_min(LOG_SIGMA_FLOOR) + self.correction_scale.log()
        return mean, log_sigma, m[:, 2 * k:], self.reason(h)

    def estimates(self, x: torch.Tensor, s: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`heads` with the FWHM of a broad PSF from the profile grid (what is judged)."""
        mean, log_sigma, trails, reasons = self.heads(x, s)
        mean, log_sigma = broad_psf_estimate(mean, log_sigma, s)
        return mean, log_sigma, trails, reasons

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class log-probabilities ``(N, 3)`` (the untempered logits) and reason logits ``(N, 8)``."""
        mean, log_sigma, trails, reasons = self.estimates(x, s)
        return self.rule(mean, log_sigma.exp(), trails).log(), reasons

    def calibrated(self, log_p: torch.Tensor) -> torch.Tensor:
        """Class probabilities from the log-probabilities and the fitted temperature."""
        return torch.softmax(log_p / self.temperature, dim=1)


class CalibratedQualityNet(nn.Module):
    """The inference (and exported) graph.

    Tempered class probabilities ``(N, 3)``, reason probabilities ``(N, 8)``,
    the estimates' means ``(N, 5)`` (:data:`MEASURED`), the trail-class
    probabilities ``(N, 3)``, each criterion's grade probabilities
    ``(N, 6, 3)`` (:data:`CRITERIA`; good, medium, bad) and the estimates'
    standard deviations ``(N, 5)`` (the Gaussians the rule integrates, in the
    units of :data:`MEASURED`).
    """

    def __init__(self, net: QualityNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, s: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        mean, log_sigma, trails, reasons = self.net.estimates(x, s)
        sigma = log_sigma.exp()
        criteria = self.net.rule.criteria(mean, sigma, trails)
        p = self.net.calibrated(self.net.rule.combine(criteria).log())
        return p, torch.sigmoid(reasons), mean, criteria[:, -1], criteria, sigma


@dataclass
class QualityResult:
    """What :meth:`QualityModel.predict` returns (one entry per frame)."""

    labels: list[str]
    probabilities: NDArray[np.float32]  # (N, 3) over LABELS
    reasons: list[str]
    # the estimates behind each label (see :func:`measurements`); {} for an unreadable frame
    measurements: list[dict[str, float | str]] = field(default_factory=list)
    # per frame: criterion -> why it was left out of the verdict (skytwin.agents.frame_header)
    unjudged: list[dict[str, str]] = field(default_factory=list)
    # per frame: header keyword -> where the model's value came from (e.g. PIXSCALE from the WCS)
    derived: list[dict[str, str]] = field(default_factory=list)

    def __iter__(self):  # labels, probabilities, reasons = model.predict(...)
        return iter((self.labels, self.probabilities, self.reasons))


def _why_no_star(shape: tuple[int, ...], stars: ReferenceStars | None) -> str:
    """Why a frame gave no star to measure, for its ``unjudged`` criteria."""
    side = 2 * STAMP + 1
    if min(shape) <= side:
        return f"no star measured: a {shape[0]} x {shape[1]} frame is too small (a star's " \
            f"stamp takes {side} x {side} pixels)"
    if stars is not None and len(stars):
        return f"no star measured: no catalogue star lies unsaturated {STAMP} or more pixels " \
            "inside the frame"
    return "no unsaturated star found in the frame (a closed dome or shutter, no exposure, " \
        "thick cloud)"


def measurements(mean: NDArray, trail_probs: NDArray, sigma: NDArray
                 ) -> list[dict[str, float | str]]:
    """The network's estimates per frame in the labelling rule's units, with their errors.

    ``fwhm_arcsec``, ``ellipticity`` (1 - b/a), ``transparency`` (fraction),
    ``sky_excess_mag`` (magnitudes brighter than the band's dark sky),
    ``saturated_fraction`` (floored at 1e-6) and ``trails`` (one of
    :data:`~skytwin.agents.quality.rule_head.TRAIL_CLASSES`). From the
    estimates' standard deviations ``sigma`` (:class:`CalibratedQualityNet`)
    each of the first four has its one-sigma error under ``<name>_err``, in
    the same unit (the FWHM's and the transparency's are estimated in log, so
    the error is the value times the sigma, to first order); the saturated
    fraction's, estimated in log10, is ``saturated_fraction_err_dex``.
    """
    out: list[dict[str, float | str]] = []
    for m, t, e in zip(np.asarray(mean, np.float64), np.asarray(trail_probs),
                       np.asarray(sigma, np.float64)):
        # the Gaussian estimates may stray past the quantities' ranges; reported within them
        fwhm, trans = math.exp(m[0]), math.exp(m[2])
        out.append({"fwhm_arcsec": fwhm, "ellipticity": min(max(float(m[1]), 0.0), 1.0),
                    "transparency": trans, "sky_excess_mag": float(m[3]),
                    "saturated_fraction": min(float(10.0 ** m[4]), 1.0),
                    "trails": TRAIL_CLASSES[int(np.argmax(t))],
                    "fwhm_arcsec_err": fwhm * float(e[0]), "ellipticity_err": float(e[1]),
                    "transparency_err": trans * float(e[2]), "sky_excess_mag_err": float(e[3]),
                    "saturated_fraction_err_dex": float(e[4])})
    return out


class QualityModel:
    """The quality CNN with its temperature, on CPU (see the module docstring).

    ``engine`` runs the network: ``"onnx"`` with onnxruntime on one thread
    (the graph exported in memory at the first prediction, from the weights
    of that moment: make a new model after changing them), ``"torch"`` with
    PyTorch, ``"auto"`` onnxruntime where it is installed. Both give the
    same numbers to float32 rounding; for one frame onnxruntime takes ~0.3
    ms where PyTorch takes ~2 ms.
    """

    name = "quality_cnn"

    def __init__(self, net: QualityNet, engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        self.net = net.eval()
        self.calibrated = CalibratedQualityNet(self.net).eval()
        self.engine = engine
        self._session: Any = None  # built from the weights at the first onnxruntime inference

    # ------------------------------------------------------------ inference
    def predict_arrays(self, x: NDArray, s: NDArray) -> tuple[NDArray, NDArray]:
        """Class probabilities ``(N, 3)`` and reason probabilities ``(N, 8)`` of preprocessed inputs."""
        p, r, *_ = self._infer(x, s)
        return p, r

    def estimate_arrays(self, x: NDArray, s: NDArray) -> tuple[NDArray, NDArray]:
        """The estimates' means and standard deviations ``(N, 5)`` of preprocessed inputs.

        In the units of :data:`~skytwin.agents.quality.rule_head.MEASURED`
        (:meth:`predict` reports them in the rule's units, as ``measurements``).
        """
        _, _, mean, _, _, sigma = self._infer(x, s)
        return mean, sigma

    def classify_arrays(self, x: NDArray, s: NDArray, catalogue: bool = True
                        ) -> tuple[NDArray, list[str]]:
        """Class probabilities ``(N, 3)`` and reasons (:func:`rule_reason`) of model inputs.

        ``catalogue`` False: inputs made without reference stars, judged as
        :meth:`predict` judges them (the clouds criterion left out).
        """
        p, r, _, _, crit, _ = self._infer(x, s)
        if not catalogue:
            p, crit = self._without_clouds(crit)
        moon = np.asarray(s)[:, QUALITY_SCALARS.index("moon_lit_near")] > 0.5
        return p, [rule_reason(int(np.argmax(p[i])), crit[i], r[i], bool(moon[i]))
                   for i in range(len(p))]

    def _infer(self, x: NDArray, s: NDArray) -> tuple[NDArray, ...]:
        """Probabilities, reason probabilities, estimates' means, trail probabilities, the
        criteria's grade probabilities and the estimates' standard deviations (the outputs of
        :class:`CalibratedQualityNet`)."""
        x = np.ascontiguousarray(x, np.float32)
        s = np.ascontiguousarray(s, np.float32)
        if self._use_onnx():
            if self._session is None:
                from skytwin.agents.onnx_export import quality_session
                self._session = quality_session(self.calibrated)
            return tuple(self._session.run(None, {"x": x, "s": s}))  # type: ignore[return-value]
        with torch.inference_mode():
            out = self.calibrated(torch.from_numpy(x), torch.from_numpy(s))
            return tuple(t.numpy() for t in out)  # type: ignore[return-value]

    def _without_clouds(self, criteria: NDArray) -> tuple[NDArray, NDArray]:
        """Tempered class probabilities and criteria with the clouds criterion set to good."""
        return self._without(criteria, ("clouds",))

    def _without(self, criteria: NDArray, names: Sequence[str]) -> tuple[NDArray, NDArray]:
        """Tempered class probabilities and criteria with the ``names`` criteria set to good."""
        crit = np.array(criteria, np.float32)
        for name in names:
            crit[:, CRITERIA.index(name)] = (1.0, 0.0, 0.0)
        with torch.inference_mode():
            log_p = self.net.rule.combine(torch.from_numpy(crit)).log()
            return self.net.calibrated(log_p).numpy(), crit

    def __getstate__(self) -> dict[str, Any]:
        # an onnxruntime session does not pickle (vector environments, worker processes):
        # the copy builds its own at its first prediction
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def _use_onnx(self) -> bool:
        if self.engine == "auto":
            self.engine = "onnx" if importlib.util.find_spec("onnxruntime") else "torch"
        return self.engine == "onnx"

    def predict(self, frames: Any, headers: Sequence[Mapping[str, Any] | None] | None = None,
                deterministic: bool = True,
                stars: Sequence[ReferenceStars | None] | None = None) -> QualityResult:
        """Labels, probabilities and reasons of one frame or many.

        Parameters
        ----------
        frames
            One 2-D image (ADU), a ``(N, ny, nx)`` stack, a ``RenderedFrame``, a
            FITS path, or a list of any of these.
        headers
            Optional FITS-like headers (keyword -> value) for bare images, one per
            frame (a lone header for a lone frame), used
            for the photometric scalars (EXPTIME s, GAIN e-/ADU, PIXSCALE
            arcsec/pixel, MAGZERO e-/s, ...).
        deterministic
            Ignored (the model is deterministic); there for the Policy protocol.
        stars
            Optional reference catalogue per frame (a lone one for a lone frame;
            pixel positions and band
            magnitudes, e.g. Gaia matched through the WCS); twin frames bring
            their own. Without one the stars give no zero point: the clouds
            criterion is left out of the verdict and the transparency is
            reported as NaN.
        """
        if isinstance(frames, np.ndarray) and frames.ndim == 2:
            items: list[Any] = [frames]
        elif isinstance(frames, np.ndarray) and frames.ndim == 3:
            items = list(frames)
        elif isinstance(frames, (list, tuple)):
            items = list(frames)
        else:
            items = [frames]
        # one frame may come with one header and one catalogue rather than lists of one
        if headers is not None and not isinstance(headers, (list, tuple)):
            headers = [headers]
        if isinstance(stars, ReferenceStars):
            stars = [stars]
        for name, given in (("headers", headers), ("stars", stars)):
            if given is not None and len(given) != len(items):
                raise ValueError(f"{name}: {len(given)} given for {len(items)} frames "
                                 "(one per frame, None where a frame has none)")
        xs, ss, bad = [], [], {}
        starless: dict[int, str] = {}  # frames on which no star was measured, and why
        unjudged: list[dict[str, str]] = [{} for _ in items]
        derived: list[dict[str, str]] = [{} for _ in items]
        for i, item in enumerate(items):
            try:
                img, hdr, moon, truth = frame_inputs(item)
                # a twin frame brings its catalogue: the twin plays the part Gaia plays
                cat = ReferenceStars.from_truth(truth) if truth is not None and len(truth) \
                    else None
                if headers is not None and hdr is None:
                    hdr = headers[i]
                if stars is not None and stars[i] is not None:
                    cat = stars[i]
                img = as_image(img, copy=False)
                cal = read_calibration(hdr, img)
                x, s = quality_model_input(img, cal.header, moon, cat)
                unjudged[i], derived[i] = dict(cal.unjudged), cal.derived
                if cat is None or len(cat) == 0:
                    unjudged[i].setdefault("clouds", "no reference catalogue")
                if s[QUALITY_SCALARS.index("log_n_stars")] == 0.0:
                    starless[i] = _why_no_star(np.shape(img), cat)
                    for name in ("blur", "tracking", "clouds"):
                        unjudged[i].setdefault(name, starless[i])
                xs.append(x)
                ss.append(s)
            except SkytwinError as exc:  # FrameError, PreprocessError
                bad[i] = f"unreadable: {exc}"
        probs = np.zeros((len(items), len(LABELS)), np.float32)
        rprobs = np.zeros((len(items), len(REASONS)), np.float32)
        grades = np.zeros((len(items), len(CRITERIA), len(LABELS)), np.float32)
        moon = np.zeros(len(items), bool)
        good_idx = [i for i in range(len(items)) if i not in bad]
        meas: list[dict[str, float | str]] = [{} for _ in items]
        if good_idx:
            s_all = np.stack(ss)
            p, r, mean, trails, crit, sigma = self._infer(np.stack(xs), s_all)
            # what the header or a missing catalogue cannot support is left out of the verdict
            # (not judged on the model's pessimistic or neutral stand-ins)
            left_out = [tuple(sorted(unjudged[i])) for i in good_idx]
            p, crit = p.copy(), crit.copy()
            for names in sorted(set(left_out) - {()}):
                rows = np.array([k for k, n in enumerate(left_out) if n == names])
                p[rows], crit[rows] = self._without(crit[rows], names)
            probs[good_idx], rprobs[good_idx], grades[good_idx] = p, r, crit
            moon[good_idx] = s_all[:, QUALITY_SCALARS.index("moon_lit_near")] > 0.5
            scale = s_all[:, QUALITY_SCALARS.index("pixel_scale_arcsec")]
            for i, m, names, sc in zip(good_idx, measurements(mean, trails, sigma), left_out,
                                       scale):
                # in pixels the FWHM is known whatever the header (the scale assumed is divided out)
                m["fwhm_pixels"] = float(m["fwhm_arcsec"]) / max(float(sc), 1e-6)
                m["fwhm_pixels_err"] = float(m["fwhm_arcsec_err"]) / max(float(sc), 1e-6)
                for name in names:
                    m[_ESTIMATE_OF[name]] = m[_ESTIMATE_OF[name] + "_err"] = math.nan
                if i in starless:  # the network's estimates of the PSF would rest on stand-ins
                    for key in _OF_STARS:
                        m[key] = m[key + "_err"] = math.nan
                meas[i] = m
        labels, reasons = [], []
        for i in range(len(items)):
            if i in bad or i in starless:
                probs[i] = (0.0, 0.0, 1.0)
                labels.append("bad")
                reasons.append(bad[i] if i in bad else NO_STARS)
                continue
            k = int(np.argmax(probs[i]))
            labels.append(LABELS[k])
            reasons.append(rule_reason(k, grades[i], rprobs[i], bool(moon[i])))
        return QualityResult(labels, probs, reasons, meas, unjudged, derived)

    __call__ = predict

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path, meta: Mapping[str, Any] | None = None) -> None:
        """Save the weights (state dict, temperature included) and metadata."""
        save_state(self.net, path, meta)

    @classmethod
    def load(cls, path: str | Path, engine: str = "auto") -> QualityModel:
        return cls(load_state(QualityNet(), path, "quality"), engine)  # type: ignore[arg-type]

    @property
    def temperature(self) -> float:
        return float(self.net.temperature)


def rule_reason(label: int, criteria: NDArray, reason_probs: NDArray, moon: bool) -> str:
    """The reason for label index ``label`` (see the module docstring); "" for a good frame.

    ``criteria``: the grade probabilities ``(len(CRITERIA), 3)``;
    ``reason_probs``: the reason head's ``(len(REASONS),)``; ``moon``: the
    Moon is lit and near (the rule's moonlight test).
    """
    if label == 0:
        return ""
    at_grade = np.asarray(criteria)[:, label]
    on = np.flatnonzero(at_grade > REASON_THRESHOLD)
    if on.size == 0:
        on = np.array([int(np.argmax(at_grade))])
    names = {"blur": "defocus" if reason_probs[REASONS.index("defocus")]
             > reason_probs[REASONS.index("seeing")] else "seeing",
             "sky": "moonlight" if moon else "background"}
    picked = {names.get(CRITERIA[c], CRITERIA[c]) for c in on}
    return "+".join(r for r in REASONS if r in picked)  # the rule's order


def load_default(engine: str = "auto") -> QualityModel:
    """The shipped quality CNN (``skytwin/agents/weights/quality_cnn.pt``).

    ``engine``: see :class:`QualityModel`.
    """
    return QualityModel.load(shipped(WEIGHTS, "quality", "quality"), engine)

