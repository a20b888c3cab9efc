"""The ``chronohook`` command: ``dev``, ``serve SERVICE``, ``tokens create|import|list|revoke``,
``tenants suspend|resume``, ``secrets generate-key|usage``, ``replay``; and the API verbs (``jobs``, ``queues``,
``crons``, ``dead-letters``, ``signing-secret``, ``receiver``: chronohook/commands)."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from chronohook import commands, devstack, metrics_ports
from chronohook.devstack import BrokerAction, BrokerPlan
from chronohook.settings import Settings, load_settings

app = typer.Typer(help="chronohook: HTTP jobs now, later, at a time or on a cron; event-sourced on Kafka.")
tokens_app = typer.Typer(help="API tokens.")
app.add_typer(tokens_app, name="tokens")
tenants_app = typer.Typer(help="Operate on one tenant.")
app.add_typer(tenants_app, name="tenants")
# The API verbs (jobs, queues, crons, dead-letters, signing-secret, receiver): chronohook/commands, docs/cli.md.
commands.register(app)
secrets_app = typer.Typer(help="The key sensitive request headers are sealed with (docs/security.md).")
app.add_typer(secrets_app, name="secrets")

DEV_TENANT = "dev"
DEV_EGRESS_ALLOW = "127.0.0.0/8,::1/128"


class Service(StrEnum):
    ingest = "ingest"
    timer = "timer"
    executor = "executor"
    projector = "projector"


def _print_version(value: bool) -> None:
    if value:
        from chronohook.version import version

        typer.echo(f"chronohook {version()}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print chronohook's version and exit."),
    ] = False,
) -> None:
    pass


def _logging(settings: Settings, service: str) -> None:
    from chronohook import logs, tracing

    logs.setup(service, settings.log_format, settings.log_level)
    tracing.setup(service, settings.otlp_endpoint, settings.trace_sample_ratio)


def _service_settings(service: str) -> Settings:
    """The settings of `serve` and `dev`; a bad one is one line naming it (one JSON line when CHRONOHOOK_LOG_FORMAT
    asks for JSON, read here because the settings that say so did not load), exit status 2, no traceback."""
    from pydantic import ValidationError

    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"CHRONOHOOK_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            if error["loc"]
            else error["msg"]
            for error in exc.errors()
        )
        if os.environ.get("CHRONOHOOK_LOG_FORMAT", "").strip().lower() == "json":
            import json

            line = {"level": "CRITICAL", "logger": "chronohook", "msg": f"bad settings: {problems}", "service": service}
            typer.echo(json.dumps(line), err=True)
        else:
            typer.echo(f"chronohook: bad settings: {problems}", err=True)
        raise typer.Exit(2) from None


def _say(text: str, err: bool = False) -> None:
    """One line of `chronohook dev`'s own: echoed, or a JSON log line with CHRONOHOOK_LOG_FORMAT=json."""
    from chronohook import logs

    if logs.json_enabled():
        logging.getLogger("chronohook.dev").log(logging.ERROR if err else logging.INFO, text)
    else:
        typer.echo(text, err=err)


@app.command()
def serve(service: Service) -> None:
    """Run one service in the foreground; run several processes of it to scale out."""
    from chronohook.clock import SystemClock

    _owner_only_files()
    settings = _service_settings(service.value)
    _logging(settings, service.value)
    # A crash in native code (librdkafka, SQLite, the C extensions) prints every thread's Python stack on stderr
    # before the process dies, so a restart the supervisor logs has its cause beside it.
    faulthandler.enable()
    clock = SystemClock()
    if service is Service.ingest:
        metrics_ports.prepare_multiprocess(settings.api_metrics_dir)  # before prometheus-client is imported
        from services.ingest.app import serve as run
    elif service is Service.timer:
        from services.timer.service import serve as run
    elif service is Service.executor:
        from services.executor.service import serve as run
    else:
        from services.projector.service import serve as run
    from chronohook.sealing import SecretKeyInvalid, SecretKeyMissing

    try:
        run(settings, clock)
    except (SecretKeyMissing, SecretKeyInvalid) as exc:  # one line naming the way out, never the key (decision 0044)
        _refuse(exc)


@tokens_app.command("create")
def tokens_create(
    tenant: Annotated[str, typer.Option(help="The tenant the token acts for.")],
    label: Annotated[str | None, typer.Option(help="A note to tell tokens apart.")] = None,
) -> None:
    """Create a token for TENANT and print it once; only its hash is stored."""
    from chronohook.store.engine import create_schema, make_engine
    from chronohook.store.tokens import create_token

    settings = load_settings()
    _stack_data(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    typer.echo(create_token(engine, tenant, label))


@tokens_app.command("import")
def tokens_import(
    tenant: Annotated[str, typer.Option(help="The tenant the token acts for.")],
    label: Annotated[str | None, typer.Option(help="A note to tell tokens apart.")] = None,
) -> None:
    """Register an existing token (a Recuro or QuedUp one a client keeps using), read from standard input, never from
    the command line: `chronohook tokens import --tenant acme < token.txt`. Only its hash is stored."""
    from chronohook.store.engine import create_schema, make_engine
    from chronohook.store.tokens import TokenRefused, import_token

    settings = load_settings()
    _stack_data(settings)
    if sys.stdin.isatty():
        import getpass

        given = getpass.getpass("token (not shown): ")
    else:
        given = sys.stdin.read()
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    try:
        token = import_token(engine, tenant, given.strip(), label)
    except TokenRefused as exc:
        typer.echo(f"not imported: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"imported {token.id} (tenant {token.tenant})")


@tokens_app.command("list")
def tokens_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's tokens.")] = None,
) -> None:
    """List tokens: id, tenant, label, created, revoked (never the token itself)."""
    from chronohook.store.engine import create_schema, make_engine
    from chronohook.store.tokens import list_tokens

    settings = load_settings()
    _stack_data(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    rows = [("ID", "TENANT", "LABEL", "CREATED", "REVOKED")]
    for t in list_tokens(engine, tenant):
        revoked = "-" if t.revoked_at is None else _when(t.revoked_at)
        rows.append((t.id, t.tenant, t.label or "-", _when(t.created_at), revoked))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    engine.dispose()


@tokens_app.command("revoke")
def tokens_revoke(token_or_id: Annotated[str, typer.Argument(help="The token, or its id from `tokens list`.")]) -> None:
    """Revoke a token: every ingest process refuses it within 5 seconds."""
    from chronohook.store.engine import create_schema, make_engine
    from chronohook.store.tokens import TokenNotFound, revoke_token

    settings = load_settings()
    _stack_data(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    try:
        token = revoke_token(engine, token_or_id)
    except TokenNotFound as exc:
        typer.echo(f"not revoked: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    assert token.revoked_at is not None
    typer.echo(f"revoked {token.id} (tenant {token.tenant}) at {_when(token.revoked_at)}")


@tenants_app.command("suspend")
def tenants_suspend(tenant: Annotated[str, typer.Argument(help="The tenant whose schedules stop.")]) -> None:
    """Pause every active schedule of TENANT (QuedUp scheduled jobs, Recuro crons); `tenants resume` restarts them.

    Safe to run again (it pauses what was created or resumed since). The tenant's tokens still work: revoke them too
    to stop it creating or resuming schedules.
    """
    from services.ingest.tenants import suspend

    outcome = _on_tenant(suspend, tenant)
    typer.echo(f"suspended tenant {outcome.tenant}: {outcome.changed} schedules paused")


@tenants_app.command("resume")
def tenants_resume(tenant: Annotated[str, typer.Argument(help="The tenant whose schedules restart.")]) -> None:
    """Resume the schedules of TENANT that `tenants suspend` paused (not those the tenant paused itself); the
    occurrences missed meanwhile are skipped. Safe to run again."""
    from services.ingest.tenants import resume

    outcome = _on_tenant(resume, tenant)
    typer.echo(f"resumed tenant {outcome.tenant}: {outcome.changed} schedules resumed")


def _on_tenant(action: Any, tenant: str) -> Any:
    """Run ``action(engine, log, tenant, now)`` against the configured database and job log."""
    from chronohook.clock import SystemClock
    from chronohook.errors import PublishFailed
    from chronohook.kafka.config import producer_config
    from chronohook.kafka.log import KafkaEventLog
    from chronohook.kafka.producer import AsyncEventProducer
    from chronohook.kafka.topics import Topics
    from chronohook.store.engine import create_schema, make_engine

    settings = load_settings()
    _stack_data(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    log = KafkaEventLog(AsyncEventProducer(producer_config(settings)), Topics.from_settings(settings).events)
    try:
        return action(engine, log, tenant, SystemClock().now)
    except PublishFailed as exc:
        typer.echo(f"not done, the job log did not acknowledge: {exc} (safe to run again)", err=True)
        raise typer.Exit(1) from None
    finally:
        log.close()
        engine.dispose()


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dev_token(settings: Settings) -> str:
    """The dev tenant's token, kept in ``$CHRONOHOOK_DATA_DIR/dev-token`` (mode 0600) across restarts."""
    from chronohook.store.engine import create_schema, make_engine
    from chronohook.store.tokens import create_token, tenant_for_token

    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    path = settings.data_dir / "dev-token"
    if path.exists():
        token = path.read_text().strip()
        if tenant_for_token(engine, token) is not None:
            return token
    token = create_token(engine, DEV_TENANT, "dev")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def dev_secret_key(data_dir: Path) -> str:
    """The dev stack's secret key (decision 0044), kept in ``<data dir>/secret-key`` (mode 0600) across restarts: the
    events it sealed stay readable. Made on first use; ``CHRONOHOOK_SECRET_KEY``, when set, is used instead."""
    from chronohook.sealing import SecretKeyInvalid, generate_key, parse_key

    path = data_dir / "secret-key"
    if path.exists():
        key = path.read_text().strip()
        try:
            parse_key(key)
        except SecretKeyInvalid as exc:
            _refuse(SecretKeyInvalid(f"{path}: {exc}"))
        return key
    key = generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new secret key for CHRONOHOOK_SECRET_KEY (32 random bytes, URL-safe base64); nothing is stored."""
    from chronohook.sealing import generate_key

    typer.echo(generate_key())


@secrets_app.command("usage")
def secrets_usage() -> None:
    """Count the jobs whose stored definition holds a value sealed under each key: a retired key with none left can
    be dropped from CHRONOHOOK_SECRET_KEYS_RETIRED (docs/security.md, key rotation)."""
    from chronohook.readmodel.sealed import jobs_by_key
    from chronohook.sealing import SecretKeyInvalid, settings_ring
    from chronohook.store.engine import make_engine

    settings = load_settings()
    _stack_data(settings)
    try:
        ring = settings_ring(settings)
    except SecretKeyInvalid as exc:
        _refuse(exc)
    engine = make_engine(settings.resolved_database_url)
    try:
        counts = jobs_by_key(engine)
    finally:
        engine.dispose()
    for kid, role in ring.roles().items():
        typer.echo(f"{kid} ({role}): {counts.pop(kid, 0)} jobs")
    for kid, count in sorted(counts.items()):
        typer.echo(f"{kid} (not configured: these jobs' sealed headers cannot be sent): {count} jobs")


def use_broker(settings: Settings, plan: BrokerPlan) -> object | None:
    """Act on the broker plan: start the embedded broker, or take back the one an earlier run left; return what this
    stack must stop at the end (a ``LocalBroker`` or an adopted pid), None when it joined someone's broker."""
    from chronohook.broker import LocalBroker

    if plan.action is BrokerAction.use:
        _say(f"using the Kafka broker at {plan.bootstrap} ({devstack.BOOTSTRAP_SETTING})")
        return None
    if plan.action is BrokerAction.adopt:
        _say(f"using the local Kafka broker an earlier `chronohook dev` left running (pid {plan.pid})")
        return plan.pid
    _, port = devstack.split_bootstrap(plan.bootstrap)
    assert port is not None  # plan_broker starts a broker only at a numbered port
    broker = LocalBroker(settings.data_dir / "kafka", port=port, controller_port=settings.kafka_controller_port)
    _say(f"starting a local Kafka broker at {broker.bootstrap} (data in {broker.data_dir}) ...")
    broker.start()
    return broker


def _refuse(exc: Exception) -> NoReturn:
    """One line on standard error, exit status 1: no traceback for a refusal a user can act on."""
    _say(f"chronohook: {exc}", err=True)
    raise typer.Exit(1)


def _stack_data(settings: Settings) -> None:
    """A verb that reads or writes the stack's database refuses a data directory that holds none (decision 0037)."""
    try:
        devstack.require_stack_data(settings.data_dir, settings.database_url)
    except devstack.NoStackData as exc:
        _refuse(exc)


def _owner_only_files() -> None:
    """Files this process and its children (services, the local broker) create are readable by their owner only: job
    data sits in the SQLite file, the broker's logs and the services' logs (decision 0013, docs/security.md)."""
    os.umask(0o077)


def private_data_dir(path: Path) -> None:
    """The data directory, 0700: made so, or tightened if an older version left it open to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        path.chmod(0o700)


@app.command()
def dev(
    logs: Annotated[Path | None, typer.Option(help="Write each service's output to DIR/<service>.log.")] = None,
) -> None:
    """Run everything on this machine: a broker of its own (or the one CHRONOHOOK_KAFKA_BOOTSTRAP names) and the four
    services, restarted if they die. A busy port stops it before it starts anything (decision 0037)."""
    from chronohook.broker import LocalBroker
    from chronohook.errors import BrokerStartFailed
    from chronohook.kafka.config import connection_config
    from chronohook.kafka.topics import broker_answers, ensure_topics
    from chronohook.logs import json_enabled
    from chronohook.supervisor import Supervisor

    settings = _service_settings("dev")
    _logging(settings, "dev")
    _owner_only_files()
    try:
        sockets = devstack.api_sockets(settings.api_host, settings.api_port, settings.api_workers)
    except devstack.DevRefused as exc:
        _refuse(exc)
    api_port = int(sockets[0].getsockname()[1])
    try:
        for name, port in metrics_ports.planned(settings.metrics_base_port, settings.executor_processes).items():
            devstack.check_port(settings.metrics_host, port, "CHRONOHOOK_METRICS_BASE_PORT", f"the {name}'s metrics")
        plan = devstack.plan_broker(
            bootstrap=settings.kafka_bootstrap,
            explicit="kafka_bootstrap" in settings.model_fields_set,
            controller_port=settings.kafka_controller_port,
            # Asked as every client connects (TLS, SASL): a secured broker answers too.
            answers=lambda bootstrap: broker_answers(bootstrap, connection=connection_config(settings)),
            free=devstack.port_free,
            leftover_pid=devstack.leftover_broker(settings.data_dir / "kafka"),
        )
        private_data_dir(settings.data_dir)
        broker = use_broker(settings, plan)
    except (devstack.DevRefused, BrokerStartFailed) as exc:
        for sock in sockets:
            sock.close()
        _refuse(exc)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = Supervisor(
        env=_child_env(settings, plan.bootstrap, api_port),
        log_dir=logs,
        api_workers=settings.api_workers,
        executors=settings.executor_processes,
        api_sockets=tuple(sockets),
        rebind_api_socket=(
            (lambda: devstack.bind_api_socket(settings.api_host, api_port, reuseport=True))
            if settings.api_workers > 1
            else None
        ),
    )
    url = devstack.api_url(settings.api_host, api_port)
    code = 0
    try:
        ensure_topics(settings)
        token = dev_token(settings)
        supervisor.start()
        _say(f"starting the services; waiting for the API at {url}/readyz ...")

        def between() -> bool:
            supervisor.check()
            return not stop.wait(0.2)

        if devstack.wait_until(
            lambda: devstack.answers_ready(f"{url}/readyz"), timeout=devstack.READY_TIMEOUT_S, between=between
        ):
            _say(f"chronohook is up: API {url} (docs {url}/docs)")
            _say(f"  console: {url}/console/ (log in with the dev token, or open {url}/console/#token=TOKEN)")
            _say(f"  metrics: {url}/metrics (API)")
            for name, port in supervisor.metrics_ports().items():
                _say(f"  metrics: {metrics_ports.metrics_url(settings.metrics_host, port)} ({name})")
            data = settings.data_dir.resolve()
            if json_enabled():  # a log pipeline is no place for a credential: where it is, not what
                _say(f"dev token (tenant '{DEV_TENANT}') in {data / 'dev-token'}; Ctrl-C stops everything")
            else:
                _say(f"dev token (tenant '{DEV_TENANT}'): {token}")
                _say(f"  also in {data / 'dev-token'}; Ctrl-C stops everything")
            _say(f"  data in {data} (other directories: CHRONOHOOK_DATA_DIR={data} chronohook tokens ...)")
            supervisor.run(stop)
        elif not stop.is_set():
            where = f"their output is in {logs}" if logs is not None else "their output is above"
            _say(
                f"chronohook: the API did not answer at {url}/readyz within {devstack.READY_TIMEOUT_S:.0f} s "
                f"({where}); stopping",
                err=True,
            )
            code = 1
    finally:
        _say("stopping ...")
        supervisor.stop()
        for sock in supervisor.api_sockets:
            sock.close()
        if isinstance(broker, LocalBroker):
            broker.stop()
        elif isinstance(broker, int):
            devstack.stop_pid(broker)
    if code:
        raise typer.Exit(code)


@app.command()
def replay(
    into: Annotated[
        str | None,
        typer.Option(help="The database to replay into: a SQLite path, sqlite:///PATH or a PostgreSQL URL."),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Compare with the live database's read models; exit 1 if they differ.")
    ] = False,
    until: Annotated[
        str | None,
        typer.Option(help="Replay only records stamped at or before this RFC 3339 time (UTC unless it says); audits."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Empty a target that holds read models first.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds --verify waits for the live projector to catch up.")] = 30.0,
) -> None:
    """Fold the job log from its beginning into a fresh read-model database, sending and producing nothing.

    Exit status: 0 done (with --verify: every read model equal), 1 the read models differ, 2 an error.
    """
    settings = load_settings()
    if verify:  # --verify compares with the live read models: they must be the stack's
        _stack_data(settings)
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _owner_only_files()
    from services.projector.replay_command import run_replay

    code = run_replay(settings, into=into, verify=verify, until=until, force=force, wait=wait)
    raise typer.Exit(code)


def _child_env(settings: Settings, bootstrap: str, api_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CHRONOHOOK_DATA_DIR=str(settings.data_dir.resolve()),
        CHRONOHOOK_KAFKA_BOOTSTRAP=bootstrap,
        CHRONOHOOK_DATABASE_URL=settings.resolved_database_url,
        CHRONOHOOK_API_PORT=str(api_port),
        CHRONOHOOK_API_HOST=settings.api_host,
    )
    if settings.secret_key is None:  # the dev stack seals with a key of its own, kept in its data directory
        env["CHRONOHOOK_SECRET_KEY"] = dev_secret_key(settings.data_dir)
    else:  # a malformed key stops dev here, in one line, rather than every ingest and executor in a restart loop
        from chronohook.sealing import SecretKeyInvalid, settings_ring

        try:
            settings_ring(settings)
        except SecretKeyInvalid as exc:
            _refuse(exc)
    env.pop("CHRONOHOOK_API_SOCKET_FD", None)  # only the supervisor hands one out, to each ingest worker its own
    # On one's own machine the targets are usually local: allow loopback unless the variable is set, even to empty.
    env.setdefault("CHRONOHOOK_EGRESS_ALLOW", DEV_EGRESS_ALLOW)
    return env


def main() -> None:
    app()


if __name__ == "__main__":
    main()
