"""Kafka's client properties file (``CHRONOHOOK_KAFKA_PROPERTIES``): the java-properties format, librdkafka names.

Read at start by the settings (a bad file stops the process) and again by each client's config; it imports nothing
of chronohook, so the settings can use it.

The format is the one ``kafka-console-consumer --consumer.config`` takes: one ``key=value`` (or ``key: value``, or
``key value``) a line; ``#`` and ``!`` start comment lines; a line ending in an odd number of backslashes continues
on the next; ``\\t``, ``\\n``, ``\\r``, ``\\f``, ``\\uXXXX`` and ``\\<any>`` escapes; a later key replaces an
earlier one.
Property names are librdkafka's (``sasl.username``, ``ssl.ca.location``...): a Java-only name is refused with the
librdkafka one to use, since the client would refuse it later anyway, with less help.
"""

from __future__ import annotations

from pathlib import Path

# Keys chronohook sets itself on some client (chronohook/kafka/config.py): the pipeline's guarantees rest on them, so
# a file that sets one is refused instead of silently overridden (tests/unit/test_kafka_config.py ties this list to
# the configs). bootstrap.servers is CHRONOHOOK_KAFKA_BOOTSTRAP's.
RESERVED_KEYS = frozenset(
    {
        "bootstrap.servers",
        "group.id",
        "group.instance.id",
        "transactional.id",
        "transaction.timeout.ms",
        "enable.idempotence",
        "acks",
        "partitioner",
        "isolation.level",
        "enable.auto.commit",
        "auto.offset.reset",
        "message.max.bytes",
        "message.timeout.ms",
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "receive.message.max.bytes",
        "fetch.wait.max.ms",
        "fetch.min.bytes",
        "linger.ms",
        "compression.type",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "partition.assignment.strategy",
        "queued.max.messages.kbytes",
        "enable.partition.eof",
    }
)

# Java client names a copied client.properties often holds, and what librdkafka calls them.
JAVA_ONLY = {
    "sasl.jaas.config": "sasl.username and sasl.password (or CHRONOHOOK_KAFKA_SASL_USERNAME / _PASSWORD)",
    "ssl.truststore.location": "ssl.ca.location (a PEM file; or CHRONOHOOK_KAFKA_SSL_CA_LOCATION)",
    "ssl.truststore.password": "ssl.ca.location (a PEM file needs no password)",
    "ssl.truststore.type": "ssl.ca.location (a PEM file)",
    "ssl.keystore.location": "ssl.certificate.location and ssl.key.location (PEM), or ssl.keystore.location of a .p12",
    "ssl.keystore.type": "ssl.certificate.location and ssl.key.location (PEM)",
}


# librdkafka's aliases, under the one name chronohook's named settings use, so a named setting replaces the file's.
ALIASES = {"sasl.mechanisms": "sasl.mechanism"}


class PropertiesError(ValueError):
    """The properties file cannot be used as written; the message names the file, the line and the fix."""


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: continuations joined, their leading whitespace dropped."""
    out: list[tuple[int, str]] = []
    pending: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip(" \t\f")
        if pending is None:
            if not line or line[0] in "#!":
                continue
            start = number
        trailing = len(line) - len(line.rstrip("\\"))
        continued = trailing % 2 == 1
        body = line[:-1] if continued else line
        pending = body if pending is None else pending + body
        if not continued:
            out.append((start, pending))
            pending = None
    if pending is not None:
        out.append((start, pending))
    return out


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise PropertiesError(f"{where}: \\u{digits} is not a \\uXXXX escape")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _split(line: str) -> tuple[str, str]:
    """The key ends at the first unescaped ``=``, ``:`` or whitespace; one separator (and whitespace) follows."""
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key, rest = line[:i], line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def parse_properties(text: str, source: str = "properties") -> dict[str, str]:
    """The file's key/value pairs, in order; a later key replaces an earlier one. Values stay strings (librdkafka
    parses them itself); a value's trailing whitespace is kept, as Java does."""
    props: dict[str, str] = {}
    for number, line in _logical_lines(text):
        where = f"{source}, line {number}"
        key, value = _split(line)
        name = _unescape(key, where)
        props[ALIASES.get(name, name)] = _unescape(value, where)
    return props


def check_properties(props: dict[str, str], source: str) -> None:
    """Refuse the keys chronohook sets itself and the Java-only names (each with what to use instead)."""
    for key in props:
        if key in RESERVED_KEYS:
            hint = "set CHRONOHOOK_KAFKA_BOOTSTRAP" if key == "bootstrap.servers" else "chronohook sets it itself"
            raise PropertiesError(f"{source}: {key} cannot be set here ({hint}; chronohook/kafka/config.py)")
        if key in JAVA_ONLY:
            raise PropertiesError(f"{source}: {key} is a Java client property; librdkafka takes {JAVA_ONLY[key]}")


def read_properties(path: Path) -> dict[str, str]:
    """The checked properties of the file at ``path``; PropertiesError names what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PropertiesError(f"CHRONOHOOK_KAFKA_PROPERTIES: cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PropertiesError(f"CHRONOHOOK_KAFKA_PROPERTIES: {path} is not UTF-8 text ({exc.reason})") from exc
    source = f"CHRONOHOOK_KAFKA_PROPERTIES ({path})"
    props = parse_properties(text, source)
    check_properties(props, source)
    return props
