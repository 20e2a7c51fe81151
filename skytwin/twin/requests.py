"""The request pool: every observation request and its progress, as arrays.

Schedulers ask "which requests can this telescope do now?" hundreds of
thousands of times; the pool keeps each request's columns in numpy arrays
(position as an apparent unit vector, priority, time a visit takes, window,
visits left, next eligible time, which sites know of it and since when) so
that the question is a handful of vectorised operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from skytwin.scenarios.schema import Program, Scenario
from skytwin.site.types import ObservationRequest, RequestKind

_GOLDEN_ANGLE_DEG = 137.50776405003785  # degrees


def grid_fields(n: int, dec_min_deg: float, dec_max_deg: float) -> list[tuple[float, float]]:
    """``n`` survey fields spread evenly in area (a Fibonacci lattice) between two declinations."""
    z0, z1 = math.sin(math.radians(dec_min_deg)), math.sin(math.radians(dec_max_deg))
    out = []
    for k in range(n):
        z = z0 + (z1 - z0) * (k + 0.5) / n
        out.append(((k * _GOLDEN_ANGLE_DEG) % 360.0, math.degrees(math.asin(z))))
    return out


def program_requests(program: Program) -> list[ObservationRequest]:
    kind = RequestKind(program.kind)
    targets: list[tuple[str, float, float, float]] = [(t.name, t.ra_deg, t.dec_deg, t.magnitude) for t in program.targets]
    if program.grid is not None:
        g = program.grid
        targets += [(f"{program.name}-F{k:05d}", ra, dec, program.magnitude) for k, (ra, dec) in enumerate(grid_fields(g.n, g.dec_min_deg, g.dec_max_deg))]
    sites = program.sites
    out = []
    for k, (name, ra, dec, mag) in enumerate(targets):
        out.append(
            ObservationRequest(
                id=f"{program.name}-{k:05d}", target=name, ra_deg=ra, dec_deg=dec, filter=program.filter,
                exptime_s=program.exptime_s, priority=program.priority, program=program.name, kind=kind,
                count=program.count, visits=program.visits, cadence_s=program.cadence_h * 3600.0,
                magnitude=mag if mag == mag else program.magnitude,
                site=sites[0] if sites is not None and len(sites) == 1 else None,
            )
        )
    return out


class RequestPool:
    """All requests of a run with their progress.

    Parameters
    ----------
    site_names
        The network's sites, in a fixed order (columns of ``known_at``).
    icrs_to_date
        3x3 rotation from ICRS to the true equator of date (shared by every site).
    readout_s
        Readout added per exposure when computing the time a visit takes.
    """

    def __init__(self, site_names: Sequence[str], icrs_to_date: np.ndarray, readout_s: float) -> None:
        self.site_names = list(site_names)
        self._site_index = {s: i for i, s in enumerate(self.site_names)}
        self._m = icrs_to_date
        self._readout_s = readout_s
        self.requests: list[ObservationRequest] = []
        self.index: dict[str, int] = {}
        n_sites = len(self.site_names)
        self.vec = np.zeros((0, 3))
        self.ra = np.zeros(0)
        self.dec = np.zeros(0)
        self.priority = np.zeros(0)
        self.visit_s = np.zeros(0)
        self.exptime = np.zeros(0)
        self.win_start = np.zeros(0)
        self.win_end = np.zeros(0)
        self.visits_left = np.zeros(0, dtype=np.int64)
        self.next_ok = np.zeros(0)
        self.claimed = np.zeros(0, dtype=bool)
        self.known_at = np.zeros((n_sites, 0))
        self.filter = np.zeros(0, dtype=object)
        self.max_visit_s = 0.0
        self.version = 0  # changes whenever a request's availability does (for caches)

    def add(self, requests: Sequence[ObservationRequest], known_at: dict[str, float]) -> None:
        """Add requests; ``known_at[site]`` is when each site learns of them (inf: never)."""
        if not requests:
            return
        n0 = len(self.requests)
        for k, r in enumerate(requests):
            if r.id in self.index:
                raise ValueError(f"duplicate request id {r.id!r}")
            self.index[r.id] = n0 + k
        self.requests.extend(requests)
        ra = np.array([r.ra_deg for r in requests])
        dec = np.array([r.dec_deg for r in requests])
        d2r = math.pi / 180.0
        v = np.stack([np.cos(dec * d2r) * np.cos(ra * d2r), np.cos(dec * d2r) * np.sin(ra * d2r), np.sin(dec * d2r)], axis=-1)
        self.vec = np.concatenate([self.vec, v @ self._m.T])
        self.ra = np.concatenate([self.ra, ra])
        self.dec = np.concatenate([self.dec, dec])
        self.priority = np.concatenate([self.priority, [r.priority for r in requests]])
        self.exptime = np.concatenate([self.exptime, [r.exptime_s for r in requests]])
        self.visit_s = np.concatenate([self.visit_s, [r.count * (r.exptime_s + self._readout_s) for r in requests]])
        self.win_start = np.concatenate([self.win_start, [r.window_start_s for r in requests]])
        self.win_end = np.concatenate([self.win_end, [r.window_end_s for r in requests]])
        self.visits_left = np.concatenate([self.visits_left, np.array([r.visits for r in requests], dtype=np.int64)])
        self.next_ok = np.concatenate([self.next_ok, np.full(len(requests), -np.inf)])
        self.claimed = np.concatenate([self.claimed, np.zeros(len(requests), dtype=bool)])
        self.filter = np.concatenate([self.filter, np.array([r.filter for r in requests], dtype=object)])
        cols = np.full((len(self.site_names), len(requests)), np.inf)
        for s, t in known_at.items():
            i = self._site_index[s]
            for k, r in enumerate(requests):
                if r.site is None or r.site == s:
                    cols[i, k] = t
        self.known_at = np.concatenate([self.known_at, cols], axis=1)
        self._derive()

    def _derive(self) -> None:
        """Columns the open-mask reads, kept up to date so a query is three comparisons."""
        self.version += 1
        self.ready_at = np.maximum(self.known_at, np.maximum(self.win_start, self.next_ok)[None, :])
        self.latest_start = self.win_end - self.visit_s
        self.max_visit_s = float(self.visit_s.max()) if len(self.visit_s) else 0.0
        self.active = (self.visits_left > 0) & ~self.claimed

    def __len__(self) -> int:
        return len(self.requests)

    def site_column(self, site: str) -> int:
        return self._site_index[site]

    def open_mask(self, site: str, t_s: float) -> np.ndarray:
        """Requests the site knows of at ``t_s`` with visits left, in their window and cadence, unclaimed."""
        i = self._site_index[site]
        return self.active & (self.ready_at[i] <= t_s) & (self.latest_start >= t_s)

    def get(self, request_id: str) -> ObservationRequest:
        return self.requests[self.index[request_id]]

    def claim(self, j: int) -> None:
        self.version += 1
        self.claimed[j] = True
        self.active[j] = False

    def release(self, j: int, t_s: float, visited: bool) -> None:
        self.version += 1
        self.claimed[j] = False
        if visited:
            self.visits_left[j] -= 1
            self.next_ok[j] = t_s + self.requests[j].cadence_s
            self.ready_at[:, j] = np.maximum(self.known_at[:, j], max(self.win_start[j], self.next_ok[j]))
        self.active[j] = self.visits_left[j] > 0

    def reopen(self, request_id: str) -> None:
        """Give a request one more visit (a re-take of a frame judged not good enough)."""
        j = self.index[request_id]
        self.visits_left[j] += 1
        self.active[j] = not self.claimed[j]
        self.version += 1

    def completed(self) -> dict[str, tuple[int, int]]:
        """Per program: (requests fully done, requests)."""
        out: dict[str, list[int]] = {}
        for j, r in enumerate(self.requests):
            d = out.setdefault(r.program, [0, 0])
            d[1] += 1
            if self.visits_left[j] == 0:
                d[0] += 1
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def scenario_requests(scenario: Scenario) -> list[ObservationRequest]:
    out: list[ObservationRequest] = []
    for p in scenario.programs:
        out.extend(program_requests(p))
    return out
