"""The `journey` command."""

from __future__ import annotations

import contextlib
import functools
import signal
import socket
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from . import __version__
from .gc_policy import tune_collector
from .offline.formats import FORMATS, open_input, read_records
from .topics import EVENTS, OUTPUT_TOPICS

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from .config import JourneySettings, KafkaSettings, Settings, WorkerSettings
    from .domain import JourneyPolicy

__all__ = ["main"]

Group = TypeVar("Group", bound="BaseSettings")


def _settings(group: type[Group]) -> Group:
    """The settings a command uses (only those are validated), as a one-line error when one
    is bad. Imported here, not at the top: `journey --help` stays fast."""
    from .config import ConfigError, load

    _warn_unknown_settings()
    try:
        return load(group)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@functools.cache
def _warn_unknown_settings() -> None:
    from .settings_text import unknown_settings

    for warning in unknown_settings():
        click.echo(f"warning: {warning}", err=True)


def _journey_settings() -> JourneySettings:
    from .config import JourneySettings

    return _settings(JourneySettings)


def _kafka_settings() -> KafkaSettings:
    from .config import KafkaSettings

    return _settings(KafkaSettings)


def _all_settings() -> Settings:
    from .config import Settings

    return _settings(Settings)


def _policy(
    settings: JourneySettings, rules: str | None = None, funnels: str | None = None
) -> JourneyPolicy:
    """The journey core's policy; a bad rules, funnels or page-rules file is a one-line error,
    before anything starts."""
    from .contract.rules_file import RulesFileError
    from .policy import journey_policy, misspelt_event_types

    try:
        policy = journey_policy(settings, rules, funnels)
    except RulesFileError as error:
        raise click.ClickException(str(error)) from None
    for warning in misspelt_event_types(policy):
        click.echo(f"warning: {warning}", err=True)
    return policy


@click.group()
@click.version_option(__version__, prog_name="journey")
def main() -> None:
    """Sessions, journey stages and cart-abandonment alerts from clickstream events."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (docker stop, systemd, Kubernetes) unwinds like Ctrl-C: every `finally` runs,
    so an embedded broker is stopped with its command."""
    raise SystemExit(128 + signum)


@main.command()
@click.option("--input", "input_path", required=True, help="File to read; '-' for stdin; .gz ok.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path), required=True)
@click.option("--rules", type=click.Path(exists=True, dir_okay=False), help="Stage-rules file.")
@click.option("--funnels", type=click.Path(exists=True, dir_okay=False), help="Funnels file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def process(
    input_path: str, fmt: str, output_dir: Path, rules: str | None, funnels: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Run the journey core over a file; write the topics' records as JSONL files."""
    from .offline.runner import process_records

    if output_dir.exists() and not output_dir.is_dir():
        raise click.ClickException(
            f"--output-dir {output_dir} is a file: name a folder (it is made when missing)"
        )
    from .policy import event_decoder

    tune_collector()
    settings = _journey_settings()
    policy = _policy(settings, rules, funnels)
    try:
        handle = open_input(input_path)
    except OSError as error:
        raise click.UsageError(f"--input {input_path}: {error.strerror}") from None
    with handle:
        summary = process_records(
            read_records(handle, fmt), policy, output_dir, event_decoder(settings)
        )
    if as_json:
        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(summary.render())
        click.echo(f"outputs in {output_dir}/")


@main.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write. Default: OUT_DIR/journey-map.html.")  # fmt: skip
def report(out_dir: Path, output: Path | None) -> None:
    """Draw the journey map of a `journey process` output folder as one static HTML file."""
    from .tools.report import ReportError, write_report

    target = output or out_dir / "journey-map.html"
    try:
        data = write_report(out_dir, target)
    except ReportError as error:
        raise click.UsageError(str(error)) from None
    every = data["all"]
    steps = sum(s["count"] for s in every["paths"]["event_type"]["steps"])
    model = data["propensity"] and data["propensity"]["models"][0]
    scored = (
        f", {model['labels']:,} purchase propensity scores (ROC AUC {model['auc']:.3f})"
        if model and model["auc"] is not None
        else ""
    )
    click.echo(
        f"journey map of {steps:,} steps, {len(every['funnels'])} funnels and"
        f" {sum(r['responses'] for r in every['voc']['overall']):,} answers{scored}: {target}"
    )


@main.command()
@click.option("--count", default=10_000, show_default=True, help="Records to produce.")
@click.option("--customers", default=1_000, show_default=True, help="Journeys in flight.")
@click.option("--seed", default=7, show_default=True)
@click.option("--malformed", default=0.0, show_default=True, help="Share of broken records.")
@click.option(
    "--identify-once",
    default=0.0,
    show_default=True,
    help="Share of visitors whose devices send the customer id once (a pop-up e-mail), then"
    " anonymous-only events.",
)
@click.option("--output", "-o", default="-", show_default=True, help="JSONL file, '-' stdout.")
@click.option("--kafka", is_flag=True, help="Send to the input topic instead of a file.")
@click.option("--rate", default=0.0, show_default=True, help="With --kafka: records/s; 0 = max.")
def generate(
    count: int,
    customers: int,
    seed: int,
    malformed: float,
    identify_once: float,
    output: str,
    kafka: bool,
    rate: float,
) -> None:
    """Write a synthetic clickstream (event-time order) from seeded personas."""
    from .tools.generate import generate as records

    generated = records(
        count, customers, seed=seed, malformed=malformed, identify_once=identify_once
    )
    if kafka:
        from .tools.producer import Pacing, SendRecord

        _send(
            (SendRecord(r.key, r.value, r.occurred_at) for r in generated),
            count,
            Pacing(rate=rate),
            stamp_event_time=True,
        )
        return
    stream = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
    with stream:
        for record in generated:
            stream.write(record.value + b"\n")


@main.command()
@click.argument("path")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "--speed",
    default=0.0,
    show_default=True,
    help="Keep the events' own timing divided by this (1 = real time, 60 = a minute a second); "
    "0 = as fast as possible.",
)
def replay(path: str, fmt: str, speed: float) -> None:
    """Send a file (formats as `journey process`) to the input topic, keyed by journey key."""
    from .policy import event_decoder
    from .tools.producer import Pacing, keyed

    settings = _journey_settings()
    try:
        handle = open_input(path)
    except OSError as error:
        raise click.UsageError(f"{path}: {error.strerror}") from None
    with handle:
        _send(keyed(read_records(handle, fmt), event_decoder(settings)), None, Pacing(speed=speed))


def _send(
    records: Iterable[Any], total: int | None, pacing: Any, stamp_event_time: bool = False
) -> None:
    """Send records to the input topic of the configured broker, with a progress bar."""
    from kafka.errors import KafkaError
    from rich.progress import Progress

    from .tools.producer import send_records

    settings = _kafka_settings()
    bootstrap = _configured_bootstrap(settings)
    with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
        task = progress.add_task("sending", total=total)
        try:
            sent = send_records(
                records, settings, bootstrap, pacing, stamp_event_time=stamp_event_time,
                on_sent=lambda n: progress.update(task, completed=n),
            )  # fmt: skip
        except KafkaError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"sent {sent} records to {EVENTS} at {bootstrap}", err=True)


@main.command()
@click.argument("topic", default=OUTPUT_TOPICS["cart_alerts"])
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record, not the newest.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
@click.option("--idle", default=0.0, help="Stop after this many seconds without a record.")
def tail(topic: str, from_beginning: bool, as_json: bool, idle: float) -> None:
    """Print a topic's records readably (default: the cart alerts) until Ctrl-C."""
    from .tools.tail import describe_bytes, follow

    settings = _kafka_settings()
    bootstrap = _configured_bootstrap(settings)
    try:
        for record in follow(
            settings, bootstrap, topic, from_beginning, done=lambda quiet: 0 < idle <= quiet
        ):
            click.echo(record.decode(errors="replace") if as_json else describe_bytes(record))
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    except KeyboardInterrupt:
        pass


def _web_port_free(settings: WorkerSettings) -> None:
    """Fail at once, before any broker or client starts, when the worker's web port is
    taken (another worker on this host, say)."""
    address = (settings.web_host, settings.web_port)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server binds
        try:
            probe.bind(address)
        except OSError as error:
            raise click.ClickException(
                f"port {settings.web_port} on {settings.web_host} is taken ({error.strerror}):"
                " another worker on this host? Give each one its own JOURNEY_WEB_PORT"
            ) from None


@contextlib.contextmanager
def _bootstrap(settings: KafkaSettings) -> Iterator[str]:
    """The configured broker (checked to answer), else an embedded one for this command's life."""
    from .kafka.broker import BrokerError, embedded_broker, wait_for_broker
    from .kafka.connection import client_options

    try:
        if settings.kafka_bootstrap:
            wait_for_broker(settings.kafka_bootstrap, **client_options(settings))
            yield settings.kafka_bootstrap
            return
        with embedded_broker() as broker:
            click.echo(f"embedded broker (memory only) at {broker.bootstrap}", err=True)
            yield broker.bootstrap
    except BrokerError as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.option("--port", default=9092, show_default=True, help="Loopback port; 0 picks a free one.")
def broker(port: int) -> None:
    """Run the embedded broker in the foreground; prints its bootstrap address first."""
    from .kafka.broker import BrokerError, start_embedded_broker

    try:
        running = start_embedded_broker(port)
    except BrokerError as error:
        raise click.ClickException(str(error)) from None
    click.echo(running.bootstrap)
    click.echo("memory only: all data is gone when it stops. Ctrl-C to stop.", err=True)
    try:
        running.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@main.command()
@click.argument("keys", nargs=-1, required=True)
def forget(keys: tuple[str, ...]) -> None:
    """Erase customers (and the anonymous ids stitched to them) from a running pipeline's
    state and changelog. Needs JOURNEY_KAFKA_BOOTSTRAP and the pipeline's JOURNEY_APP_ID."""
    from kafka.errors import KafkaError

    from .tools.forget import request_erasure

    settings = _kafka_settings()
    bootstrap = _configured_bootstrap(settings)
    try:
        sent = request_erasure(keys, settings, bootstrap)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    except KafkaError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"{sent} erasure requests sent; each owning worker applies its own in order"
        " (journey_erasures_total); outputs already published stay on their topics",
        err=True,
    )


@main.group()
def topics() -> None:
    """Provision or list the pipeline's topics (JOURNEY_KAFKA_BOOTSTRAP required)."""


_BROKER_WAIT_S = 10.0
"""How long a tool waits for the configured broker to answer before it gives up."""


def _configured_bootstrap(settings: KafkaSettings) -> str:
    """JOURNEY_KAFKA_BOOTSTRAP, once a broker answers there (else a one-line error)."""
    from .kafka.broker import BrokerError, wait_for_broker
    from .kafka.connection import client_options

    if not settings.kafka_bootstrap:
        raise click.UsageError(
            "JOURNEY_KAFKA_BOOTSTRAP is not set (start a broker with `journey broker`)"
        )
    try:
        wait_for_broker(settings.kafka_bootstrap, _BROKER_WAIT_S, **client_options(settings))
    except BrokerError as error:
        raise click.ClickException(str(error)) from None
    return settings.kafka_bootstrap


@topics.command("create")
@click.option("--internal/--no-internal", default=True, help="Also the worker's own topics.")
def topics_create(internal: bool) -> None:
    """Create the missing topics with JOURNEY_PARTITIONS / JOURNEY_REPLICATION."""
    from .kafka.admin import ensure_topics

    settings = _kafka_settings()
    created = ensure_topics(settings, _configured_bootstrap(settings), internal=internal)
    click.echo("created: " + (", ".join(created) if created else "nothing (all exist)"))


@topics.command("list")
def topics_list() -> None:
    """Show the topics and their partition counts."""
    from .kafka.admin import list_topics

    settings = _kafka_settings()
    for name, partitions in sorted(list_topics(settings, _configured_bootstrap(settings)).items()):
        click.echo(f"{name}\t{partitions}")


@main.command()
def worker() -> None:
    """Run a stream worker (embedded broker when JOURNEY_KAFKA_BOOTSTRAP is unset)."""
    from .config import ConfigError
    from .worker.changelog import StateFormatError
    from .worker.main import run_worker

    tune_collector()
    settings = _all_settings()
    policy = _policy(settings)
    _web_port_free(settings)
    with _bootstrap(settings) as bootstrap:
        try:
            run_worker(settings, bootstrap, policy)
        except (ConfigError, StateFormatError) as error:
            raise click.ClickException(str(error)) from None


@main.command()
@click.option("--count", default=2_000_000, show_default=True, help="Events to generate.")
@click.option("--customers", default=2_000, show_default=True, help="Journeys in flight.")
@click.option("--rate", default=500.0, show_default=True, help="Events per second.")
@click.option("--malformed", default=0.005, show_default=True, help="Share of broken records.")
def run(count: int, customers: int, rate: float, malformed: float) -> None:
    """Broker (embedded unless configured), topics, a worker and the generator, shown live."""
    from .tools.live import Demo, run_live

    settings = _all_settings()
    _policy(settings)  # the worker's rules and funnels files, checked before anything starts
    _web_port_free(settings)
    with _bootstrap(settings) as bootstrap:
        run_live(settings, bootstrap, Demo(count, customers, rate, malformed))


@main.command()
@click.option("--markdown", is_flag=True, help="The README's settings table.")
def settings(markdown: bool) -> None:
    """Show the JOURNEY_* settings in effect as lines to paste back (or the documentation
    table)."""
    from .settings_text import env_lines, settings_markdown

    if markdown:
        click.echo(settings_markdown())
        return
    for line in env_lines(_all_settings()):
        click.echo(line)
