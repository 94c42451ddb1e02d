"""The Kafka ACLs the grants imply, as ``kafka-acls.sh`` commands for the broker's admin.

Each consuming system is a SASL user named by its system id. A grant with personal data lets
it read ``clean.<dataset>``; one without lets it read ``shared.<dataset>`` only. The script
is declarative: for every subscription it removes the topic ACLs not in force and adds the
one in force, so running it again after any change (a revocation, a grant without personal
data replacing one with) leaves the broker matching the grants. ``kafka-acls.sh --remove``
of an ACL that does not exist changes nothing.
"""

from __future__ import annotations

import shlex
from typing import Final

from pydantic import BaseModel, ConfigDict

from hub.access.grants import Status, SubscriptionView
from schemas.catalogue import Catalogue, CatalogueError

DEFAULT_KAFKA_ACLS: Final = "/opt/kafka/bin/kafka-acls.sh"
# Inside the compose Kafka container, the internal listener, whose clients are super users.
DEFAULT_BOOTSTRAP: Final = "localhost:9092"


class AclTarget(BaseModel):
    """Where and how the commands reach the broker."""

    model_config = ConfigDict(frozen=True)

    bootstrap_server: str = DEFAULT_BOOTSTRAP
    kafka_acls: str = DEFAULT_KAFKA_ACLS
    command_config: str | None = None


def principal(system_id: str) -> str:
    return f"User:{system_id}"


def granted_topic(subscription: SubscriptionView, catalogue: Catalogue) -> str | None:
    """The topic a subscription lets its system read, or ``None`` when it is not granted."""
    if subscription.status != Status.GRANTED:
        return None
    dataset = catalogue.dataset(subscription.dataset)
    return dataset.clean_topic if subscription.personal_data else dataset.shared_topic


def _command(target: AclTarget, change: str, *arguments: str) -> str:
    parts = [target.kafka_acls, "--bootstrap-server", target.bootstrap_server]
    if target.command_config:
        parts += ["--command-config", target.command_config]
    parts.append(change)
    if change == "--remove":
        parts.append("--force")
    return shlex.join([*parts, *arguments])


def acl_script(
    subscriptions: list[SubscriptionView], catalogue: Catalogue, target: AclTarget
) -> str:
    """A POSIX shell script bringing the broker's ACLs in line with the subscriptions."""
    lines = [
        "#!/bin/sh",
        "# Kafka ACLs implied by the hub's grants (lgsp subscription acls).",
        "# Consumers authenticate with SASL/SCRAM as their system id; see docker-compose.yml.",
        "set -e",
    ]
    systems_with_grants: set[str] = set()
    systems: list[str] = []
    for subscription in subscriptions:
        try:
            dataset = catalogue.dataset(subscription.dataset)
        except CatalogueError:
            continue  # a dataset since removed from the catalogue has no topics left
        user = principal(subscription.system_id)
        in_force = granted_topic(subscription, catalogue)
        if subscription.system_id not in systems:
            systems.append(subscription.system_id)
        lines.append("")
        lines.append(
            f"# {subscription.system_id} {dataset.id}: {subscription.status.value}"
            + (" with personal data" if subscription.personal_data else "")
        )
        for topic in (dataset.clean_topic, dataset.shared_topic):
            if topic == in_force:
                continue
            lines.append(
                _command(
                    target,
                    "--remove",
                    "--allow-principal",
                    user,
                    "--operation",
                    "Read",
                    "--operation",
                    "Describe",
                    "--topic",
                    topic,
                )
            )
        if in_force is not None:
            systems_with_grants.add(subscription.system_id)
            lines.append(
                _command(
                    target,
                    "--add",
                    "--allow-principal",
                    user,
                    "--operation",
                    "Read",
                    "--operation",
                    "Describe",
                    "--topic",
                    in_force,
                )
            )
    for system_id in systems:
        # Consumer groups named <system id>... belong to the system, so it can commit offsets.
        change = "--add" if system_id in systems_with_grants else "--remove"
        lines.append("")
        lines.append(f"# {system_id}: consumer groups")
        lines.append(
            _command(
                target,
                change,
                "--allow-principal",
                principal(system_id),
                "--operation",
                "Read",
                "--group",
                system_id,
                "--resource-pattern-type",
                "prefixed",
            )
        )
    return "\n".join(lines) + "\n"
