"""Topic provisioning: every topic is created explicitly, never auto-created."""

from __future__ import annotations

import socket

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.catalogue import Catalogue


class TopicError(RuntimeError):
    """Topics could not be created; the message names the broker setting."""


def catalogue_topics(catalogue: Catalogue) -> list[str]:
    return [
        topic
        for dataset in catalogue.datasets
        for topic in (
            dataset.raw_topic,
            dataset.clean_topic,
            dataset.dlq_topic,
            dataset.shared_topic,
        )
    ]


def check_reachable(bootstrap_servers: str, timeout_s: float = 3.0) -> None:
    """Fail fast, naming the setting, when no bootstrap server accepts a connection.

    kafka-python would retry for half a minute before saying the same thing.
    """
    reasons = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            return
        except (OSError, ValueError) as exc:
            reasons.append(f"{server.strip()}: {exc.strerror if isinstance(exc, OSError) else exc}")
    raise TopicError(
        f"LGSP_BOOTSTRAP_SERVERS: broker at {bootstrap_servers} is unreachable "
        f"({'; '.join(reasons)})"
    )


def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int = 1) -> None:
    """Create whichever of ``topics`` do not exist yet."""
    check_reachable(bootstrap_servers)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="lgsp-admin",
            request_timeout_ms=10_000,
        )
    except KafkaError as exc:
        raise TopicError(
            f"LGSP_BOOTSTRAP_SERVERS: broker at {bootstrap_servers} is unreachable: {exc}"
        ) from exc
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)])
            except TopicAlreadyExistsError:
                continue
    except KafkaError as exc:
        raise TopicError(f"cannot create topics on {bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()
