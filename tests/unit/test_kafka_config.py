"""Every Kafka client takes its connection from one place: the named settings, then a client properties file.

The properties file is Kafka's own format with librdkafka's names; the named settings win over the same key in the
file; keys chronohook sets itself (the pipeline's guarantees) cannot be set there; passwords are never printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chronohook.kafka.config import (
    connection_config,
    consumer_config,
    producer_config,
    redacted,
    transactional_producer_config,
)
from chronohook.kafka.properties import RESERVED_KEYS, PropertiesError, parse_properties, read_properties
from chronohook.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("# a comment\n! another\n\n   \n", {}),
        ("security.protocol=SASL_SSL\n", {"security.protocol": "SASL_SSL"}),
        ("security.protocol = SASL_SSL\n", {"security.protocol": "SASL_SSL"}),
        ("security.protocol: SASL_SSL\n", {"security.protocol": "SASL_SSL"}),
        ("security.protocol SASL_SSL\n", {"security.protocol": "SASL_SSL"}),
        ("   client.id=a\n", {"client.id": "a"}),
        # Only a line's first non-blank # or ! makes a comment: in a value, they are text.
        ("sasl.password=p#ss!word\n", {"sasl.password": "p#ss!word"}),
        # The first separator ends the key; the rest, = included, is the value.
        ("sasl.password=a=b:c\n", {"sasl.password": "a=b:c"}),
        ("client.id=\n", {"client.id": ""}),
        ("client.id\n", {"client.id": ""}),
        # A later key replaces an earlier one.
        ("client.id=a\nclient.id=b\n", {"client.id": "b"}),
        # A line ending in an odd number of backslashes continues, its next line's indentation dropped.
        ("ssl.cipher.suites=A,\\\n    B\n", {"ssl.cipher.suites": "A,B"}),
        ("client.id=a\\\\\nx=y\n", {"client.id": "a\\", "x": "y"}),
        # Escapes: in keys and values.
        ("a\\=b=c\\td\n", {"a=b": "c\td"}),
        ("client.id=\\u00e9t\\u00e9\n", {"client.id": "été"}),
        ("ssl.ca.location=C:\\\\certs\\\\ca.pem\n", {"ssl.ca.location": "C:\\certs\\ca.pem"}),
        # CRLF line ends, as a file written on Windows has.
        ("client.id=a\r\nsocket.keepalive.enable=true\r\n", {"client.id": "a", "socket.keepalive.enable": "true"}),
        # librdkafka's alias, under the name the named setting uses, so the named setting replaces it.
        ("sasl.mechanisms=PLAIN\n", {"sasl.mechanism": "PLAIN"}),
    ],
)
def test_the_properties_format_reads_as_kafka_reads_it(text: str, expected: dict[str, str]) -> None:
    # Given a properties file's text / When it is parsed / Then the pairs are what Kafka's tools read from it
    assert parse_properties(text) == expected


def test_a_bad_unicode_escape_names_its_line() -> None:
    # Given a \u escape without four hex digits on line 2
    # When it is parsed / Then the error names the line
    with pytest.raises(PropertiesError, match="line 2"):
        parse_properties("client.id=a\nclient.id=\\u12x4\n", "client.properties")


@pytest.mark.parametrize("key", ["group.id", "enable.idempotence", "isolation.level", "transactional.id", "acks"])
def test_a_key_chronohook_sets_itself_is_refused(tmp_path: Path, key: str) -> None:
    # Given a properties file that sets a key the pipeline's guarantees rest on
    path = tmp_path / "client.properties"
    path.write_text(f"{key}=x\n")
    # When it is read / Then it is refused, naming the key, rather than silently overridden
    with pytest.raises(PropertiesError, match=key.replace(".", r"\.")):
        read_properties(path)


def test_bootstrap_servers_belongs_to_its_named_setting(tmp_path: Path) -> None:
    # Given a properties file copied from a Java client, with its brokers
    path = tmp_path / "client.properties"
    path.write_text("bootstrap.servers=kafka-1:9093\n")
    # When it is read / Then the error says where the brokers go
    with pytest.raises(PropertiesError, match="CHRONOHOOK_KAFKA_BOOTSTRAP"):
        read_properties(path)


def test_a_java_only_property_is_refused_with_the_librdkafka_name(tmp_path: Path) -> None:
    # Given a Java client's SASL line
    path = tmp_path / "client.properties"
    path.write_text('sasl.jaas.config=org.apache.kafka...ScramLoginModule required username="u" password="p";\n')
    # When it is read / Then the error names what librdkafka takes instead
    with pytest.raises(PropertiesError, match=r"sasl\.username and sasl\.password"):
        read_properties(path)


def test_a_missing_properties_file_stops_the_settings(tmp_path: Path) -> None:
    # Given CHRONOHOOK_KAFKA_PROPERTIES naming no file
    # When the process builds its settings / Then it fails at once, naming the variable
    with pytest.raises(ValidationError, match="CHRONOHOOK_KAFKA_PROPERTIES"):
        Settings(kafka_properties=tmp_path / "nowhere.properties")


def test_no_connection_settings_is_plaintext_to_the_bootstrap_servers() -> None:
    # Given no security settings / When the connection is built / Then it is the brokers alone (librdkafka's defaults)
    assert connection_config(Settings(kafka_bootstrap="127.0.0.1:19092")) == {"bootstrap.servers": "127.0.0.1:19092"}


def test_the_named_settings_map_to_librdkafka_properties() -> None:
    # Given every named connection setting
    settings = Settings(
        kafka_bootstrap="127.0.0.1:19093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="chronohook",
        kafka_sasl_password="s3cret",
        kafka_ssl_ca_location=Path("/etc/kafka/ca.pem"),
        kafka_ssl_certificate_location=Path("/etc/kafka/client.pem"),
        kafka_ssl_key_location=Path("/etc/kafka/client.key"),
        kafka_ssl_key_password="k3y",
    )
    # When the connection is built / Then each is its librdkafka property, the secrets in plain text for the client
    assert connection_config(settings) == {
        "bootstrap.servers": "127.0.0.1:19093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "chronohook",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/client.pem",
        "ssl.key.location": "/etc/kafka/client.key",
        "ssl.key.password": "k3y",
    }


def test_the_named_settings_win_over_the_properties_file(tmp_path: Path) -> None:
    # Given a properties file with a protocol, a mechanism (under librdkafka's alias) and a key of its own
    path = tmp_path / "client.properties"
    path.write_text(
        "# the cluster's client settings\n"
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanisms=PLAIN\n"
        "sasl.username=from-file\n"
        "ssl.endpoint.identification.algorithm=none\n"
    )
    # And named settings for the protocol and the mechanism only
    settings = Settings(kafka_properties=path, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256")
    # When the connection is built
    config = connection_config(settings)
    # Then the named settings win, and the file gives the rest
    assert config == {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "from-file",
        "ssl.endpoint.identification.algorithm": "none",
    }


def test_every_client_config_starts_from_the_connection() -> None:
    # Given SASL settings
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="p")
    connection = connection_config(settings)
    # When each kind of client's config is built
    configs = [
        producer_config(settings),
        transactional_producer_config(settings, "t"),
        consumer_config(settings, "g"),
    ]
    # Then each holds the whole connection
    for config in configs:
        assert {k: config[k] for k in connection} == connection


def test_every_key_chronohook_sets_itself_is_reserved() -> None:
    # Given every client config chronohook builds, with no connection settings
    settings = Settings(group_instance_id="i")
    configs = [
        producer_config(settings),
        transactional_producer_config(settings, "t"),
        consumer_config(settings, "g", **{"enable.partition.eof": True}),
    ]
    # When their keys are collected / Then a properties file may set none of them
    own = {key for config in configs for key in config} - {"bootstrap.servers"}
    assert own <= RESERVED_KEYS, own - RESERVED_KEYS


def test_passwords_are_never_printed() -> None:
    # Given settings holding a SASL password and a key password
    settings = Settings(kafka_sasl_password="s3cret-sasl", kafka_ssl_key_password="s3cret-key")
    # When the settings are printed, or a client config is redacted for a log line or a result file
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(redacted(producer_config(settings)))]
    # Then no password appears
    for text in shown:
        assert "s3cret" not in text
    assert redacted(producer_config(settings))["sasl.password"] == "***"


def test_min_insync_replicas_above_the_replication_factor_stops_the_settings() -> None:
    # Given min.insync.replicas larger than the replication factor
    # When the settings are built / Then they are refused: no write could ever be acknowledged
    with pytest.raises(ValidationError, match="CHRONOHOOK_MIN_INSYNC_REPLICAS"):
        Settings(replication_factor=2, min_insync_replicas=3)
