"""Commands that run CaseChain as a service: `serve`, `tokens issue`, `kafka publish|consume`.

Registered on the `casechain` command when `casechain.entrypoints.cli.main` imports it.
"""

from __future__ import annotations

# kafka-python and FastAPI are imported by the commands that use them: every other
# `casechain` command starts without them (about 0.2 s each).
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from casechain.application.authorisation import issue_token
from casechain.application.proofs import AutoCheckpoint, Ledger
from casechain.batching import freeze_for_life
from casechain.bootstrap import (
    auto_checkpoint,
    db_url_from,
    kafka_settings,
    missing_store_file,
    open_ledger,
    open_projections,
    open_publisher,
    open_service,
)
from casechain.domain.access import ROLES
from casechain.entrypoints.cli.common import DbOption, KeyOption, RulesOption, _open, app, err, out
from casechain.errors import CaseChainError, StoreError

if TYPE_CHECKING:
    from casechain.bootstrap import KafkaSettings

__all__ = ["kafka_app", "tokens_app"]

tokens_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of the HTTP API (令牌).")
app.add_typer(tokens_app, name="tokens")
kafka_app = typer.Typer(no_args_is_help=True, help="Kafka: publish committed events, consume "
                                                   "inbound envelopes.")
app.add_typer(kafka_app, name="kafka")

TokensOption = Annotated[Path, typer.Option(
    "--tokens", envvar="CASECHAIN_TOKENS", help="Token file (YAML; hashes only, never tokens)")]


@tokens_app.command("issue")
def tokens_issue(principal: Annotated[str, typer.Option("--principal", help="Principal id")],
                 role: Annotated[list[str], typer.Option("--role", help=f"One of {', '.join(ROLES)}"
                                                         "; repeat for several")],
                 tokens: TokensOption,
                 scope: Annotated[str, typer.Option("--scope", help="Division-code prefix; "
                                                    "empty: everywhere")] = "",
                 days: Annotated[float, typer.Option("--days", min=0.0, help="Valid for; "
                                                     "0: no expiry")] = 90.0) -> None:
    """Add a token to the token file and print it once (only its SHA-256 is kept)."""
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    try:
        token = issue_token(tokens, principal, role, scope, expires)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(f"token for {principal} ({', '.join(role)}, scope {scope or '(all)'}, "
              f"expires {expires.isoformat() if expires else 'never'}) — shown once:")
    out.print(token, markup=False)


CheckpointSecondsOption = Annotated[float, typer.Option(
    "--checkpoint-every", min=1, help="with --key: a signed checkpoint at least this often "
    "(seconds) while anything new was recorded")]
CheckpointEventsOption = Annotated[int, typer.Option(
    "--checkpoint-events", min=1, help="with --key: a signed checkpoint after this many new "
    "events at the latest")]


def _auto_checkpoint(ledger: Ledger, key: str | None, seconds: float, events: int
                     ) -> AutoCheckpoint | None:
    """Automatic checkpoints when a signing key is given (exit 2 naming a bad key)."""
    if key is None:
        return None
    try:
        return auto_checkpoint(ledger, key, seconds, events)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def serve(tokens: TokensOption, db: DbOption = None, rules: RulesOption = None,
          host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
          max_lag: Annotated[int, typer.Option("--max-lag", help="/readyz fails when a view "
                                               "lags more events than this")] = 100_000,
          key: KeyOption = None, checkpoint_every: CheckpointSecondsOption = 60.0,
          checkpoint_events: CheckpointEventsOption = 10_000,
          listing_slots: Annotated[int | None, typer.Option(
              "--listing-slots", min=1,
              help="how many supervision listings (alerts, summaries, deadlines, board, "
                   "referrals, statistics, exports) are computed at once; the others wait "
                   "their turn, case reads and appends never wait for them [default: "
                   "the cores less one, at least 1]")] = None,
          create: Annotated[bool, typer.Option(
              "--create", help="start on a new, empty SQLite store if the file does not exist "
                               "(otherwise a missing file is an error: a store deleted or "
                               "mistyped never starts empty unnoticed)")] = False,
          listing_process: Annotated[bool | None, typer.Option(
              "--listing-process/--no-listing-process",
              help="compute the supervision listings in a second process, so that they "
                   "never hold this one's interpreter while a case is read [default: on "
                   "PostgreSQL, off on a SQLite file]")] = None,
          uds: Annotated[str | None, typer.Option("--uds", hidden=True)] = None,
          listings_only: Annotated[bool, typer.Option("--listings-only", hidden=True)] = False,
          ) -> None:
    """The HTTP API (OpenAPI at /openapi.json, docs at /docs) on HOST:PORT; with --key it
    signs checkpoints of the log and the access log itself."""
    import uvicorn

    from casechain.entrypoints.http.app import create_app
    from casechain.entrypoints.http.listings import (
        ListingProcess,
        exit_with_parent,
        listing_process_wanted,
    )

    missing = missing_store_file(db)
    if missing is not None and not create:
        err.print(f"[red]error:[/red] no SQLite store at {missing}: it was deleted, moved or "
                  "mistyped. Pass --create to start a new, empty store there.")
        raise typer.Exit(2)
    case_log = _open(db, rules, create=True)  # a missing file was refused just above
    try:
        try:
            components = open_service(case_log, open_projections(case_log, rules), tokens,
                                      max_lag=max_lag, key=key,
                                      checkpoint_every=checkpoint_every,
                                      checkpoint_events=checkpoint_events,
                                      listing_slots=listing_slots)
        except StoreError:
            raise
        except CaseChainError as exc:  # a token file or a signing key that cannot be used
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        if listings_only:  # serve's listing process: no follower, no checkpoints, no child
            exit_with_parent()
            freeze_for_life()
            uvicorn.run(create_app(components, follow=False), uds=uds, log_level="warning",
                        access_log=False)
            return
        listings = None
        if listing_process_wanted(listing_process, db_url_from(db)):
            listings = ListingProcess(
                ["--tokens", str(Path(tokens).resolve())]
                + (["--rules", rules] if rules else [])
                + (["--listing-slots", str(listing_slots)] if listing_slots else []),
                env={"CASECHAIN_DB": db_url_from(db)}).start()  # the URL kept off `ps`
        err.print(f"CaseChain API on http://{host}:{port} (store {case_log.db_url})"
                  + (" with a listing process" if listings else ""))
        api = create_app(components, listings=listings)
        # What the server holds from its start (the libraries, the rule pack, the routes and
        # their schemas) kept out of the collector's full passes: none of it is garbage, and
        # each pass over it took 70-80 ms — under a supervisor's paging one every two
        # seconds, one answer in ten that much later. Passes now cover what came after.
        freeze_for_life()
        try:
            uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)
        finally:
            if listings is not None:
                listings.stop()
    finally:
        case_log.close()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for workers that stop between batches."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


# -- kafka ---------------------------------------------------------------------------------
BootstrapOption = Annotated[str, typer.Option(
    "--bootstrap-servers", envvar="CASECHAIN_KAFKA_BOOTSTRAP", help="host:port[,host:port…]")]
ClientOption = Annotated[list[str] | None, typer.Option(
    "--client-option", help="kafka-python setting KEY=VALUE passed through (security_protocol, "
                            "sasl_*, ssl_*, client_id, request_timeout_ms); repeat")]


def _kafka_settings(bootstrap: str, options: list[str] | None, **topics: str) -> KafkaSettings:
    client: dict[str, object] = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        if not sep:
            err.print(f"[red]error:[/red] --client-option {option!r} is not KEY=VALUE")
            raise typer.Exit(2)
        client[key] = int(value) if value.isdigit() else value
    try:
        return kafka_settings(bootstrap, client, **topics)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@kafka_app.command("publish")
def kafka_publish(bootstrap: BootstrapOption, db: DbOption = None,
                  topic: Annotated[str, typer.Option("--topic", envvar="CASECHAIN_KAFKA_OUTBOUND")
                                   ] = "casechain.events",
                  page: Annotated[int, typer.Option("--page", min=1)] = 1000,
                  client_option: ClientOption = None,
                  once: Annotated[bool, typer.Option("--once", help="Publish what is committed, "
                                                     "then stop")] = False) -> None:
    """Publish every committed event to TOPIC (key case id, value the exported envelope),
    resuming after the position tracked in the store; runs until SIGTERM/SIGINT."""
    from kafka.errors import KafkaError

    settings = _kafka_settings(bootstrap, client_option, outbound_topic=topic)
    case_log = _open(db)
    publisher = open_publisher(case_log, settings, page=page)
    try:
        if once:
            sent = 0
            while (n := publisher.publish_page()) > 0:
                sent += n
        else:
            err.print(f"publishing to {topic} from position {publisher.position()} (Ctrl-C stops)")
            sent = publisher.run(stop_on_signals())
    except (CaseChainError, KafkaError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        publisher.close()
        case_log.close()
    out.print(f"published {sent} event(s) to {topic}; position {publisher.position()}")


@kafka_app.command("consume")
def kafka_consume(bootstrap: BootstrapOption, db: DbOption = None, rules: RulesOption = None,
                  topic: Annotated[str, typer.Option("--topic", envvar="CASECHAIN_KAFKA_INBOUND")
                                   ] = "casechain.inbound",
                  dead_letter_topic: Annotated[str, typer.Option(
                      "--dead-letter-topic", envvar="CASECHAIN_KAFKA_DEAD_LETTER")
                  ] = "casechain.rejected",
                  group: Annotated[str, typer.Option("--group", envvar="CASECHAIN_KAFKA_GROUP")
                                   ] = "casechain",
                  max_poll_interval_ms: Annotated[int, typer.Option(
                      "--max-poll-interval-ms", help="also the group's rebalance timeout")
                  ] = 300_000,
                  client_option: ClientOption = None, key: KeyOption = None,
                  checkpoint_every: CheckpointSecondsOption = 60.0,
                  checkpoint_events: CheckpointEventsOption = 10_000) -> None:
    """Append envelopes from TOPIC in consumer group GROUP; rejections go to the dead-letter
    topic with their code; offsets are committed after the append. Runs until SIGTERM. With
    --key it signs checkpoints itself."""
    from casechain.entrypoints.kafka_consumer import InboundConsumer
    settings = _kafka_settings(bootstrap, client_option, inbound_topic=topic,
                               dead_letter_topic=dead_letter_topic, group_id=group)
    case_log = _open(db, rules, create=True)
    ledger = open_ledger(case_log)  # the Merkle tree follows what the consumer appends
    auto = _auto_checkpoint(ledger, key, checkpoint_every, checkpoint_events)

    def appended(_: int) -> None:
        ledger.catch_up()
        if auto is not None:
            auto.maybe()

    consumer = InboundConsumer(case_log, settings, max_poll_interval_ms=max_poll_interval_ms,
                               on_appended=appended)
    err.print(f"consuming {topic} as group {group} (Ctrl-C stops)")
    try:
        stats = consumer.run(stop_on_signals())
    finally:
        case_log.close()
    out.print(f"read {stats.read}, appended {stats.appended}, duplicates {stats.duplicates}, "
              f"dead-lettered {stats.rejected}")
