"""Source simulators: realistic source systems with a known number of spoiled records."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from connectors.simulators.manifest import SimulationManifest

Simulator = Callable[[Path, int, float, int], SimulationManifest]

# System name -> "module:function"; imported on use, since each simulator carries its data.
# The population comes first: civil status and business registration name the people of the
# register it writes into the sibling directory (see connectors.simulators.register).
SIMULATORS: dict[str, str] = {
    "population": "connectors.simulators.population:simulate_population",
    "civil_status": "connectors.simulators.civil_status:simulate_civil_status",
    "document_management": (
        "connectors.simulators.document_management:simulate_document_management"
    ),
    "business_registration": (
        "connectors.simulators.business_registration:simulate_business_registration"
    ),
}


def simulator(system: str) -> Simulator:
    """The simulator of a source system; ``KeyError`` names the known ones."""
    if system not in SIMULATORS:
        raise KeyError(f"no simulator for {system!r}; known: {', '.join(sorted(SIMULATORS))}")
    module, _, function = SIMULATORS[system].partition(":")
    simulate: Simulator = getattr(import_module(module), function)
    return simulate
