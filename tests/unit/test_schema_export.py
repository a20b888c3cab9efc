"""The exported event contract (schemas/json/*.json, schemas/asyncapi.yaml) stays true to the models.

``jsonschema`` is not a dependency, so the schemas are checked with the small validator below. It covers every
keyword the exported schemas use, and a test fails if they start using one it does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from pydantic import BaseModel

from schemas import decode_event, encode_event, topics
from schemas import export as ex
from schemas.dead_records import DeadRecord
from schemas.events import CURRENT_VERSIONS, EVENT_TYPES, Envelope

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = ex.ROOT
JSON_DIR = SCHEMAS / ex.JSON_DIR
REGENERATE = "run `python -m schemas.export` and commit the result"
TYPES = [model.__name__ for model in EVENT_TYPES]
# The one event not on the job log: it has a compacted topic of its own (decision 0015).
QUEUE_SETTINGS_TYPES = ["QueueSettingsChanged"]
M = TypeVar("M", bound=BaseModel)


# -- a validator for the subset of JSON Schema 2020-12 that pydantic emits --------------------------------------

HANDLED = {"$ref", "type", "const", "enum", "anyOf", "oneOf", "properties", "required", "additionalProperties"}
HANDLED |= {"items", "format", "minimum", "maximum", "maxItems", "maxLength", "pattern"}
ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "discriminator"}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: object, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


def _is_date_time(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), f"only local references are expected, got {ref}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def validate(instance: object, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    """Every way ``instance`` breaks ``schema`` (empty when it is valid)."""
    errors: list[str] = []
    if "$ref" in schema:
        errors += validate(instance, _resolve(root, schema["$ref"]), root, at)
    if "type" in schema and not _is_type(instance, schema["type"]):
        return [*errors, f"{at}: {instance!r} is not of type {schema['type']}"]
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{at}: {instance!r} is not {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{at}: {instance!r} is not one of {schema['enum']}")
    if isinstance(instance, str) and len(instance) > schema.get("maxLength", len(instance)):
        errors.append(f"{at}: longer than {schema['maxLength']} characters")
    if isinstance(instance, str) and "pattern" in schema and not re.search(schema["pattern"], instance):
        errors.append(f"{at}: {instance!r} does not match {schema['pattern']}")
    is_date_time = schema.get("format") == "date-time" and isinstance(instance, str)
    if is_date_time and not _is_date_time(str(instance)):
        errors.append(f"{at}: {instance!r} is not an RFC 3339 date-time")
    if "anyOf" in schema and all(validate(instance, s, root, at) for s in schema["anyOf"]):
        errors.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema:
        matching = sum(not validate(instance, s, root, at) for s in schema["oneOf"])
        if matching != 1:
            errors.append(f"{at}: matches {matching} branches of oneOf, not exactly one")
    if isinstance(instance, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        errors += [f"{at}: missing {name!r}" for name in schema.get("required", ()) if name not in instance]
        for key, value in instance.items():
            if key in properties:
                errors += validate(value, properties[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(value, schema["additionalProperties"], root, f"{at}.{key}")
    number = isinstance(instance, int | float) and not isinstance(instance, bool)
    if number and "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{at}: {instance!r} is below {schema['minimum']}")
    if number and "maximum" in schema and instance > schema["maximum"]:
        errors.append(f"{at}: {instance!r} is above {schema['maximum']}")
    if isinstance(instance, list) and len(instance) > schema.get("maxItems", len(instance)):
        errors.append(f"{at}: more than {schema['maxItems']} items")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            errors += validate(item, schema["items"], root, f"{at}[{i}]")
    return errors


def subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``schema`` and every schema nested in it (not the property names or $defs names)."""
    yield schema
    nested: list[Any] = [*schema.get("properties", {}).values(), *schema.get("$defs", {}).values()]
    nested += [*schema.get("anyOf", []), *schema.get("oneOf", []), schema.get("items")]
    nested.append(schema.get("additionalProperties"))
    for child in nested:
        if isinstance(child, dict):
            yield from subschemas(child)


# -- helpers ---------------------------------------------------------------------------------------------------


def load_schema(name: str) -> dict[str, Any]:
    doc = json.loads((JSON_DIR / ex.schema_file(name)).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def load_asyncapi() -> dict[str, Any]:
    doc = yaml.safe_load((SCHEMAS / ex.ASYNCAPI_FILE).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def wire(event: Envelope) -> dict[str, Any]:
    doc = json.loads(encode_event(event))
    assert isinstance(doc, dict)
    return doc


def nulled(model: M) -> M:
    """``model`` with every field that defaults to None set to None, nested models included."""
    update: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if not field.is_required() and field.default is None:
            update[name] = None
        elif isinstance(value, BaseModel):
            update[name] = nulled(value)
    return model.model_copy(update=update)


EXAMPLES = {type(event).__name__: event for event in ex.EXAMPLES}
CASES = [pytest.param(e, id=f"{n}-full") for n, e in EXAMPLES.items()]
CASES += [pytest.param(nulled(e), id=f"{n}-nulls") for n, e in EXAMPLES.items()]


# -- (a) no drift ----------------------------------------------------------------------------------------------


def test_committed_files_equal_what_the_export_produces_now() -> None:
    # Given the schema files committed under schemas/
    # When the export renders them again from the models
    stale = ex.drifted()
    # Then none is missing, different or left over
    assert stale == [], f"schemas drifted from schemas/events.py: {stale}; {REGENERATE}"


def test_the_export_is_deterministic() -> None:
    # Given one rendering of every file
    first = ex.render()
    # When rendering again
    second = ex.render()
    # Then the text is identical, and every file ends in exactly one newline
    assert first == second
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in first.values())


def test_check_mode_lists_drifted_files_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given freshly exported files in a scratch directory
    assert ex.main(["--root", str(tmp_path)]) == 0
    assert ex.main(["--check", "--root", str(tmp_path)]) == 0
    capsys.readouterr()
    # When one file is edited by hand and a schema of a removed event type lingers
    edited = tmp_path / ex.JSON_DIR / ex.schema_file("JobDue")
    edited.write_text(edited.read_text(encoding="utf-8").replace('"JobDue"', '"JobOverdue"'), encoding="utf-8")
    (tmp_path / ex.JSON_DIR / ex.schema_file("JobVanished")).write_text("{}\n", encoding="utf-8")
    code = ex.main(["--check", "--root", str(tmp_path)])
    # Then --check fails, names both files and says how to fix it, without touching them
    err = capsys.readouterr().err
    assert code == 1
    assert f"json/{ex.schema_file('JobDue')}" in err
    assert f"json/{ex.schema_file('JobVanished')}" in err
    assert "python -m schemas.export" in err
    assert '"JobOverdue"' in edited.read_text(encoding="utf-8")


def test_union_files_of_earlier_revisions_are_kept(tmp_path: Path) -> None:
    # Given an exported directory holding the union schema of an earlier contract revision, as after a bump
    ex.write(tmp_path)
    old = tmp_path / ex.JSON_DIR / ex.schema_file(ex.UNION_NAME, ex.CONTRACT_REVISION - 1)
    old.write_text("{}\n", encoding="utf-8")
    # When exporting again
    changed = ex.write(tmp_path)
    # Then nothing changes: it is history, neither rewritten nor checked
    assert changed == []
    assert old.exists()
    assert ex.drifted(tmp_path) == []


def test_older_versions_of_a_type_are_generated_from_their_frozen_models_and_checked(tmp_path: Path) -> None:
    # Given an exported directory
    ex.write(tmp_path)
    frozen = tmp_path / ex.JSON_DIR / ex.schema_file("JobDeadLettered", 1)
    unknown = tmp_path / ex.JSON_DIR / ex.schema_file("JobDeadLettered", CURRENT_VERSIONS["JobDeadLettered"] + 1)
    # When a frozen version's schema is edited by hand, and a version nothing knows appears
    frozen.write_text(frozen.read_text(encoding="utf-8").replace("retries_enabled", "retries"), encoding="utf-8")
    unknown.write_text("{}\n", encoding="utf-8")
    # Then the check names both, and the export restores the first and removes the second
    assert ex.drifted(tmp_path) == sorted(f"{ex.JSON_DIR}/{p.name}" for p in (frozen, unknown))
    ex.write(tmp_path)
    assert ex.drifted(tmp_path) == []
    assert "retries_enabled" in frozen.read_text(encoding="utf-8") and not unknown.exists()


# -- (b) a schema file per event type --------------------------------------------------------------------------


@pytest.mark.parametrize("name", TYPES)
def test_every_event_type_has_a_schema_file(name: str) -> None:
    # Given an event type of the model
    # When its schema file is read
    schema = load_schema(name)
    # Then it is a draft 2020-12 schema with a relative, versioned $id, pinned to its type and version
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"chronohook/events/{name}.v{CURRENT_VERSIONS[name]}.json"
    assert schema["title"] == name
    assert schema["properties"]["type"]["const"] == name
    assert schema["properties"]["schema_version"]["const"] == CURRENT_VERSIONS[name]
    assert {"event_id", "job_id", "tenant", "occurred_at", "schema_version", "type"} <= set(schema["required"])


def test_the_union_schema_tells_events_apart_by_type() -> None:
    # Given the union schema
    union = load_schema(ex.UNION_NAME)
    # When its branches and discriminator are read
    branches = [_resolve(union, branch["$ref"])["title"] for branch in union["oneOf"]]
    # Then it has one branch per event type, found by the `type` property
    assert branches == TYPES
    assert union["discriminator"]["propertyName"] == "type"
    assert sorted(union["discriminator"]["mapping"]) == sorted(TYPES)


def test_the_validator_knows_every_keyword_the_schemas_use() -> None:
    # Given every exported JSON Schema
    schemas = [load_schema(name) for name in [*TYPES, ex.UNION_NAME]]
    # When collecting the keywords of all their (sub)schemas
    used = {keyword for schema in schemas for sub in subschemas(schema) for keyword in sub}
    # Then the validator below checks or deliberately ignores each of them
    assert used <= HANDLED | ANNOTATIONS, f"teach validate() about {used - HANDLED - ANNOTATIONS}"


# -- (c) encoded events validate -------------------------------------------------------------------------------


def test_there_is_an_example_of_every_event_type() -> None:
    # Given the examples the export publishes
    # When listing their types
    # Then every event type has exactly one
    assert [type(event).__name__ for event in ex.EXAMPLES] == TYPES


@pytest.mark.parametrize("event", CASES)
def test_an_encoded_event_validates_against_its_schema_and_the_union(event: Envelope) -> None:
    # Given an event as encode_event writes it to the topic
    doc = wire(event)
    name = type(event).__name__
    # When validating it against its own schema and against the union
    own = load_schema(name)
    union = load_schema(ex.UNION_NAME)
    # Then both accept it
    assert validate(doc, own, own) == []
    assert validate(doc, union, union) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("tenant"), r"missing 'tenant'"),
        (lambda d: d.update(occurred_at="yesterday"), r"not an RFC 3339 date-time"),
        (lambda d: d.update(occurred_at="2025-03-14T09:26:53"), r"not an RFC 3339 date-time"),
        (lambda d: d.update(schema_version=CURRENT_VERSIONS["JobCreated"] + 1), r"\$\.schema_version"),
        (lambda d: d.update(surprise=1), r"unexpected 'surprise'"),
        (lambda d: d["request"].update(method="FETCH"), r"\$\.request\.method"),
        (lambda d: d["retry"].update(delays=["soon"]), r"\$\.retry\.delays\[0\]"),
        (lambda d: d.update(integer_id=True), r"\$\.integer_id: matches none of anyOf"),
        (lambda d: d.update(type="JobUpdated"), r"\$\.type"),
    ],
    ids=[
        "missing",
        "not-a-date",
        "naive-date",
        "newer-version",
        "extra-field",
        "bad-enum",
        "bad-item",
        "bool-not-int",
        "other-type",
    ],
)
def test_the_schema_rejects_a_document_that_breaks_it(change: Any, expected: str) -> None:
    # Given a valid JobCreated document
    doc = wire(EXAMPLES["JobCreated"])
    schema = load_schema("JobCreated")
    # When it is changed to break the contract
    change(doc)
    # Then its schema says where
    errors = validate(doc, schema, schema)
    assert any(re.search(expected, e) for e in errors), errors


def test_the_union_rejects_an_event_of_no_known_type() -> None:
    # Given a document whose type is unknown
    doc = wire(EXAMPLES["JobPaused"]) | {"type": "JobExploded"}
    union = load_schema(ex.UNION_NAME)
    # When validating it against the union
    errors = validate(doc, union, union)
    # Then no branch matches
    assert errors == ["$: matches 0 branches of oneOf, not exactly one"]


# -- (d) the AsyncAPI document ---------------------------------------------------------------------------------


def test_asyncapi_lists_every_event_type_as_a_message_of_the_topic_it_is_on() -> None:
    # Given the AsyncAPI document
    doc = load_asyncapi()
    # When reading its job log and queue settings channels and the messages
    channel = doc["channels"]["jobEvents"]
    settings = doc["channels"]["queueSettings"]
    messages = doc["components"]["messages"]
    # Then every event type is a message of the channel it is on (QueueSettingsChanged of the queue settings
    # topic only), with its payload schema, type header and key
    assert doc["asyncapi"] == "3.0.0"
    assert channel["address"] == "chronohook.job-events"
    assert settings["address"] == "chronohook.queue-settings"
    assert sorted(channel["messages"]) == sorted(set(TYPES) - set(QUEUE_SETTINGS_TYPES))
    assert sorted(settings["messages"]) == QUEUE_SETTINGS_TYPES
    for name in TYPES:
        message = messages[name]
        on = settings if name in QUEUE_SETTINGS_TYPES else channel
        assert on["messages"][name] == {"$ref": f"#/components/messages/{name}"}
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        assert doc["components"]["schemas"][name]["properties"]["type"]["const"] == name
        assert message["headers"]["properties"]["type"]["const"] == name
        assert message["bindings"]["kafka"]["key"] == {"$ref": "#/components/schemas/JobId"}


def test_asyncapi_describes_the_timer_changelog() -> None:
    # Given the AsyncAPI document
    doc = load_asyncapi()
    # When reading the timer's changelog channel
    channel = doc["channels"]["timerState"]
    # Then it is compacted and carries TimerEntry records keyed by job id, and CallbackEntry ones by callback id
    assert channel["address"] == "chronohook.timer-state"
    assert channel["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]
    assert doc["components"]["messages"]["TimerEntry"]["payload"] == {
        "oneOf": [
            {"$ref": f"#/components/schemas/{kind}"}
            for kind in ("TimerEntry", "CallbackEntry", "AlertEntry", "PurgeEntry", "QueueAlertsEntry")
        ]
    }
    assert doc["channels"]["jobEvents"]["bindings"]["kafka"]["topicConfiguration"]["retention.ms"] == -1


def test_asyncapi_operations_reference_real_messages_and_cover_every_event() -> None:
    # Given the AsyncAPI document
    doc = load_asyncapi()
    # When following every operation's channel and message references
    sent: set[str] = set()
    received: set[str] = set()
    for op in doc["operations"].values():
        channel_name = op["channel"]["$ref"].removeprefix("#/channels/")
        for ref in op["messages"]:
            prefix = f"#/channels/{channel_name}/messages/"
            assert ref["$ref"].startswith(prefix)
            name = ref["$ref"].removeprefix(prefix)
            assert name in doc["channels"][channel_name]["messages"]
            (sent if op["action"] == "send" else received).add(name)
    # Then every event is sent by some service and received by another
    assert set(TYPES) <= sent
    assert set(TYPES) <= received
    assert {"ingestSendJobEvents", "timerSendJobEvents", "executorSendJobEvents"} <= set(doc["operations"])
    assert {"timerReceiveJobEvents", "executorReceiveJobEvents", "projectorReceiveJobEvents"} <= set(doc["operations"])
    assert {"ingestSendQueueSettings", "timerReceiveQueueSettings", "projectorReceiveQueueSettings"} <= set(
        doc["operations"]
    )


def test_asyncapi_has_a_channel_for_every_topic_with_its_settings() -> None:
    # Given the AsyncAPI document and every topic schemas/topics.py names, with the settings ensure_topics uses
    doc = load_asyncapi()
    wanted = {
        topics.EVENTS: topics.LOG_CONFIG,
        topics.TIMER_STATE: topics.CHANGELOG_CONFIG,
        topics.QUEUE_SETTINGS: topics.QUEUE_SETTINGS_CONFIG,
        topics.DEAD_RECORDS: topics.DEAD_RECORDS_CONFIG,
    }
    # (a topic added there comes with a config of its own: it must be in this list too)
    configs = [value for name, value in vars(topics).items() if name.endswith("_CONFIG")]
    assert sorted(map(id, configs)) == sorted(map(id, wanted.values()))
    by_address = {channel["address"]: channel for channel in doc["channels"].values()}
    # When finding each topic's channel by its address
    for topic, config in wanted.items():
        address = topics.topic_name(topics.DEFAULT_PREFIX, topic)
        assert address in by_address, f"no channel for {address}"
        channel = by_address[address]
        binding = channel["bindings"]["kafka"]
        # Then its binding holds the topic's settings (each the binding has a field for), its description the rest
        expected: dict[str, Any] = {}
        for key, value in config.items():
            if key in ex.BINDING_TOPIC_KEYS:
                expected[key] = value.split(",") if key == "cleanup.policy" else int(value)
            else:
                assert f"{key}={value}" in channel["description"], (address, key)
        assert binding["topicConfiguration"] == expected, address
        assert binding["partitions"] == topics.DEFAULT_PARTITIONS
    # And there is no channel for a topic chronohook does not have
    assert len(by_address) == len(wanted)


def test_asyncapi_every_event_type_is_a_message_of_some_channel() -> None:
    # Given the AsyncAPI document
    doc = load_asyncapi()
    # When collecting the messages of every channel
    carried = {name for channel in doc["channels"].values() for name in channel["messages"]}
    # Then each event type is among them
    assert set(TYPES) <= carried


def test_asyncapi_describes_the_dead_records() -> None:
    # Given the AsyncAPI document
    doc = load_asyncapi()
    # When reading the dead records' channel, its message and the operations on it
    channel = doc["channels"]["deadRecords"]
    message = doc["components"]["messages"][channel["messages"]["DeadRecord"]["$ref"].split("/")[-1]]
    headers = _resolve(doc, message["headers"]["$ref"])
    senders = {
        op["title"].split()[0]
        for op in doc["operations"].values()
        if op["channel"]["$ref"] == "#/channels/deadRecords" and op["action"] == "send"
    }
    # Then the record is opaque bytes with a header per DeadRecord field, sent by every consumer
    assert channel["address"] == "chronohook.dead-records"
    assert message["contentType"] == "application/octet-stream"
    assert message["payload"]["format"] == "binary"
    header = {name: "chronohook.dead." + name.replace("_", "-") for name in DeadRecord.model_fields}
    assert set(header.values()) <= set(headers["properties"])
    assert headers["required"] == [header[name] for name, f in DeadRecord.model_fields.items() if f.is_required()]
    assert senders == {"timer", "executor", "projector"}
    # And its example's headers are valid, and read back as a DeadRecord
    (example,) = message["examples"]
    assert validate(example["headers"], headers, doc) == []
    record = DeadRecord.from_headers(list(example["headers"].items()))
    assert record.source_topic == "chronohook.job-events"


def test_the_dead_record_header_schema_rejects_a_bad_header() -> None:
    # Given the dead records' header schema and its example's headers
    doc = load_asyncapi()
    schema = doc["components"]["schemas"]["DeadRecordHeaders"]
    (example,) = doc["components"]["messages"]["DeadRecord"]["examples"]
    # When an offset is not a number, the reason too long and the time missing
    bad = example["headers"] | {"chronohook.dead.source-offset": "forty", "chronohook.dead.reason": "x" * 1001}
    del bad["chronohook.dead.dead-at"]
    errors = validate(bad, schema, doc)
    # Then the schema names each
    assert any("source-offset" in e and "does not match" in e for e in errors), errors
    assert any("reason" in e and "longer than 1000" in e for e in errors), errors
    assert any("missing 'chronohook.dead.dead-at'" in e for e in errors), errors


def test_asyncapi_references_all_resolve() -> None:
    # Given the AsyncAPI document
    doc = load_asyncapi()

    # When collecting every $ref in it
    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(doc))
    # Then each points at something in the document
    assert found
    for ref in found:
        assert _resolve(doc, ref), ref


@pytest.mark.parametrize("name", TYPES)
def test_asyncapi_examples_are_real_events_valid_against_the_payload_schema(name: str) -> None:
    # Given the example of a message in the AsyncAPI document
    doc = load_asyncapi()
    (example,) = doc["components"]["messages"][name]["examples"]
    # When decoding its payload with the codec and checking it against the component schema
    event = decode_event(json.dumps(example["payload"]))
    errors = validate(example["payload"], doc["components"]["schemas"][name], doc)
    # Then it is the published example, its header names its type, and the schema accepts it
    assert event == EXAMPLES[name]
    assert example["headers"] == {"type": name}
    assert errors == []


# -- the facts the export restates ------------------------------------------------------------------------------


def test_the_kafka_layer_uses_the_contracts_topic_facts() -> None:
    # Given the contract's topic facts (schemas/topics.py, the one copy the export also reads)
    from chronohook.kafka import config
    from chronohook.settings import Settings
    from schemas import topics

    # When building a producer's and a consumer's settings
    producer = config.producer_config(Settings.model_construct())
    consumer = config.consumer_config(Settings.model_construct(), "any")
    # Then they partition as the contract says, take its record size, and read committed data only
    assert producer["partitioner"] == topics.PARTITIONER
    assert producer["message.max.bytes"] == topics.MAX_MESSAGE_BYTES
    assert int(topics.LOG_CONFIG["max.message.bytes"]) > topics.MAX_MESSAGE_BYTES
    assert consumer["isolation.level"] == "read_committed"


def test_the_catalogue_in_the_docs_names_every_event_type() -> None:
    # Given the event catalogue in docs/events.md
    text = (REPO / "docs" / "events.md").read_text(encoding="utf-8")
    # When looking for each event type in its table
    missing = [name for name in TYPES if f"| `{name}` |" not in text]
    # Then none is missing
    assert missing == [], f"add {missing} to docs/events.md"
