"""The published contract: an AsyncAPI 3.0 document generated from the catalogue.

Subscribers read what every topic carries, its key, headers, owner and sharing level from
here; nothing in it is written by hand, so it cannot drift from what the hub does.
"""

from __future__ import annotations

from typing import Any

from schemas import headers as h
from schemas.catalogue import Catalogue, Dataset

ASYNCAPI_VERSION = "3.0.0"
AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA_BINDING_VERSION = "0.5.0"

_RECORD_HEADERS: dict[str, str] = {
    h.SOURCE_SYSTEM: "Hệ thống nguồn / Source system",
    h.AGENCY_ID: "Mã định danh điện tử của cơ quan sản sinh dữ liệu / Producing agency e-ID",
    h.CONNECTOR: "Tên connector đã xuất bản bản ghi / Connector that published the record",
    h.TRACE_ID: "Mã vết xuyên suốt / Trace id across the pipeline",
    h.INGEST_TIME: "Thời điểm tiếp nhận (ISO 8601) / Ingest time (ISO 8601)",
    h.REPLAY_OF: "Mã bản ghi cách ly được gửi lại, nếu có / Quarantine id of a replayed record",
}
_ERROR_HEADERS: dict[str, str] = {
    h.ERROR_STAGE: "Công đoạn dừng bản ghi / Stage: connector, decode, validate, sink",
    h.ERROR_RULE: "Các quy tắc vi phạm, phân tách bằng dấu phẩy / Failed rules, comma-separated",
    h.ERROR_REASON: "Lý do đọc được / Readable reasons",
    h.ERROR_FAILURES: "JSON: [{rule, field, reason, reason_vi}]",
    h.ORIGIN_TOPIC: "Topic gốc / Topic the record was read from",
    h.ORIGIN_PARTITION: "Partition gốc / Its partition",
    h.ORIGIN_OFFSET: "Offset gốc / Its offset",
}


def _headers_schema(descriptions: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in descriptions.items()
        },
    }


def _key_binding(dataset: Dataset) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {
                "type": "string",
                "description": "Khóa tự nhiên / Natural key: " + " | ".join(dataset.key),
            },
            "schemaIdLocation": "payload",
            "schemaIdPayloadEncoding": "confluent",
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _lgsp_extensions(dataset: Dataset) -> dict[str, Any]:
    return {
        "x-lgsp-dataset": dataset.id,
        "x-lgsp-owner-agency": dataset.owner_agency,
        "x-lgsp-source-system": dataset.source_system,
        "x-lgsp-sharing-level": dataset.sharing_level,
        "x-lgsp-personal-data": list(dataset.personal_data),
        "x-lgsp-update-frequency": dataset.update_frequency,
    }


def _component_id(dataset: Dataset, kind: str) -> str:
    return f"{kind}.{dataset.id}"


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def build_asyncapi(
    catalogue: Catalogue, *, servers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic the catalogue implies.

    Args:
        catalogue: The shared-database catalogue.
        servers: Server name to ``host:port`` of a Kafka bootstrap server, if known.
    """
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for dataset in catalogue.datasets:
        avro = dataset.avro_schema()
        record_id = _component_id(dataset, "record")
        messages[record_id] = {
            "name": avro["name"],
            "title": dataset.title.en,
            "summary": dataset.title.vi,
            "contentType": "application/octet-stream",
            "headers": _headers_schema(_RECORD_HEADERS),
            "payload": {"schemaFormat": AVRO_FORMAT, "schema": avro},
            "bindings": _key_binding(dataset),
            **_lgsp_extensions(dataset),
        }
        dead_letter_id = _component_id(dataset, "dead-letter")
        messages[dead_letter_id] = {
            "name": f"{avro['name']}DeadLetter",
            "title": f"{dataset.title.en}: records held back",
            "summary": f"{dataset.title.vi}: bản ghi bị giữ lại",
            "description": (
                "The original bytes as received (Avro in the Confluent wire format, or the "
                "source row as JSON when the connector could not map it), with why it stopped."
            ),
            "contentType": "application/octet-stream",
            "headers": _headers_schema({**_RECORD_HEADERS, **_ERROR_HEADERS}),
            "payload": {"type": "string", "format": "binary"},
            "bindings": {"kafka": {"key": {"type": "string"}, "bindingVersion": "0.5.0"}},
            **_lgsp_extensions(dataset),
        }
        topics = {
            dataset.raw_topic: (
                record_id,
                "Bản ghi như hệ thống nguồn gửi / As the source sent it",
            ),
            dataset.clean_topic: (
                record_id,
                "Bản ghi đã kiểm tra và chuẩn hóa / Validated and normalised records",
            ),
            dataset.dlq_topic: (dead_letter_id, "Bản ghi bị giữ lại và lý do / Held back, and why"),
            dataset.shared_topic: (
                record_id,
                "Bản ghi cho bên khai thác không được cấp quyền dữ liệu cá nhân: các trường "
                "dữ liệu cá nhân được bí danh hóa / For consumers without a personal-data "
                "grant: personal-data fields pseudonymised",
            ),
        }
        for topic, (message_id, description) in topics.items():
            channel_id = _channel_id(topic)
            channels[channel_id] = {
                "address": topic,
                "title": topic,
                "description": description,
                "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
                "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION}},
                **_lgsp_extensions(dataset),
            }
            operations[f"receive_{channel_id}"] = {
                "action": "receive",
                "title": f"Subscribe to {topic}",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
            }
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"LGSP Hub – {catalogue.province.name}",
            "version": str(catalogue.version),
            "description": (
                "Các topic của nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh (LGSP). "
                "Topics of the provincial data integration hub, generated from the "
                "shared-database catalogue. Values are Avro in the Confluent wire format; "
                "schemas are in the registry under the subject `<topic>-value`."
            ),
            "x-lgsp-province-agency": catalogue.province.agency_id,
        },
        "defaultContentType": "application/octet-stream",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
    if servers:
        document["servers"] = {
            name: {"host": host, "protocol": "kafka", "description": f"Kafka at {host}"}
            for name, host in servers.items()
        }
    return document
