"""The Site interface and the shared types: the one seam of skytwin.

Everything above the twin (environments, agents, evaluation, the control room)
talks to a site only through :class:`~skytwin.site.interface.Site` and the
types here; the twin and live mode each implement it. This package imports
nothing from the rest of skytwin but ``errors``.
"""

from skytwin.site.interface import DecisionPoint, Network, Site
from skytwin.site.safety import SafetyLimits, SafetyLayer
from skytwin.site.types import (
    Alert,
    Calibrate,
    CloseDome,
    Command,
    Conditions,
    Decision,
    Expose,
    FrameRecord,
    ObservationRequest,
    Observe,
    OpenDome,
    Park,
    RequestKind,
    SetFilter,
    SiteState,
    Slew,
    TelescopeState,
    Wait,
    WeatherSample,
)

__all__ = [
    "Alert", "Calibrate", "CloseDome", "Command", "Conditions", "Decision",
    "DecisionPoint", "Expose", "FrameRecord", "Network", "ObservationRequest",
    "Observe", "OpenDome", "Park", "RequestKind", "SafetyLayer", "SafetyLimits",
    "SetFilter", "Site", "SiteState", "Slew", "TelescopeState", "Wait",
    "WeatherSample",
]
