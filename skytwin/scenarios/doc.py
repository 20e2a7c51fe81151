"""Write the scenario reference (docs/scenarios.md) from the schema's own descriptions.

    python -m skytwin.scenarios.doc > docs/scenarios.md
"""

from __future__ import annotations

import math
import sys
from typing import Any

from pydantic import BaseModel

from skytwin.scenarios.schema import Scenario

INTRO = """# Scenario files

A scenario is one YAML file validated by typed models
(`skytwin/scenarios/schema.py`). Anything left out takes the default shown
here. Times inside a scenario are hours after `epoch` (`at_h`). Check a file
with `skytwin validate FILE`; a broken file gets one message per problem,
naming the file, the field path, the value and what was expected.

The bundled scenarios (`skytwin scenarios`) are commented examples:
`one_site_night`, `six_site_week`, `gw_followup`, `stormy_month`. Site
figures come from `shared/realdata/observatory_sites.csv`; each bundled site
says in `source` what it took from there and what it assumed.

This page is generated: `python -m skytwin.scenarios.doc > docs/scenarios.md`.
"""


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    d = field.get_default(call_default_factory=True)
    if isinstance(d, BaseModel):
        return "(see below)"
    if isinstance(d, float) and math.isnan(d):
        return "NaN (unknown)"
    return f"`{d!r}`"


def _section(model: type[BaseModel], title: str, seen: set[type]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    lines = [f"## {title}", ""]
    if model.__doc__ and "Scenario" not in title:
        lines += [" ".join(model.__doc__.split()), ""]
    lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested: list[tuple[type[BaseModel], str]] = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        tname = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        lines.append(f"| `{name}` | {tname} | {_default(f)} | {f.description or ''} |")
        for sub in _models_in(ann):
            nested.append((sub, f"{title} / {name}"))
    lines.append("")
    for sub, t in nested:
        lines += _section(sub, t, seen)
    return lines


def _models_in(ann: Any) -> list[type[BaseModel]]:
    out = []
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    for a in getattr(ann, "__args__", ()) or ():
        out += _models_in(a)
    return out


def main() -> None:
    sys.stdout.write(INTRO + "\n" + "\n".join(_section(Scenario, "Scenario", set())) + "\n")


if __name__ == "__main__":
    main()
