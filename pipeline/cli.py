"""The `journey` command."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import click
import orjson

from . import __version__
from .config import ConfigError, Settings, settings_markdown
from .formats import FORMATS, open_input, read_records
from .rules_file import RulesFileError

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


@click.group()
@click.version_option(__version__, prog_name="journey")
def main() -> None:
    """Sessions, journey stages and cart-abandonment alerts from clickstream events."""


@main.command()
@click.option("--input", "input_path", required=True, help="File to read; '-' for stdin; .gz ok.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path), required=True)
@click.option("--rules", type=click.Path(exists=True, dir_okay=False), help="Stage-rules file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def process(input_path: str, fmt: str, output_dir: Path, rules: str | None, as_json: bool) -> None:
    """Run the journey core over a file; write the topics' records as JSONL files."""
    from .offline import process_records

    settings = _settings()
    try:
        policy = settings.policy(rules)
    except RulesFileError as error:
        raise click.UsageError(str(error)) from None
    try:
        handle = open_input(input_path)
    except OSError as error:
        raise click.UsageError(f"--input {input_path}: {error.strerror}") from None
    with handle:
        summary = process_records(
            read_records(handle, fmt), policy, output_dir, settings.max_event_bytes
        )
    if as_json:
        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(summary.render())
        click.echo(f"outputs in {output_dir}/")


@main.command()
@click.option("--count", default=10_000, show_default=True, help="Records to produce.")
@click.option("--customers", default=1_000, show_default=True, help="Journeys in flight.")
@click.option("--seed", default=7, show_default=True)
@click.option("--malformed", default=0.0, show_default=True, help="Share of broken records.")
@click.option("--output", "-o", default="-", show_default=True, help="JSONL file, '-' stdout.")
def generate(count: int, customers: int, seed: int, malformed: float, output: str) -> None:
    """Write a synthetic clickstream (JSONL, event-time order) from seeded personas."""
    from .generate import generate as records

    stream = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
    with stream:
        for record in records(count, customers, seed=seed, malformed=malformed):
            stream.write(record.value + b"\n")


@main.command()
@click.option("--markdown", is_flag=True, help="The README's settings table.")
def settings(markdown: bool) -> None:
    """Show the JOURNEY_* settings in effect (or the documentation table)."""
    if markdown:
        click.echo(settings_markdown())
        return
    current = _settings()
    for field in fields(current):
        value = getattr(current, field.name)
        click.echo(f"{field.name} = {'***' if 'password' in field.name and value else value}")
