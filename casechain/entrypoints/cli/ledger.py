"""The ledger commands: keys, checkpoint(s), verify, proof, verify-proof, bundle."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from casechain.application.paging import MAX_LIMIT, every_row
from casechain.application.proofs import (
    Checkpoint,
    bundle,
    check_document,
    checkpoints_page,
    consistency_document,
    generate_key,
    inclusion_document,
    key_id,
    load_private_key,
    load_public_key,
    public_key_from_pem,
    public_pem,
    read_document,
)
from casechain.entrypoints.cli.common import (
    CursorOption,
    DbOption,
    JsonOption,
    KeyOption,
    LimitOption,
    PublicKeyOption,
    _asked,
    _failing,
    _ledger,
    _page_note,
    _print_json,
    _print_json_rows,
    app,
    err,
    keys_app,
    out,
)
from casechain.errors import CaseChainError


@keys_app.command("generate")
def keys_generate(out_dir: Annotated[Path, typer.Option("--out-dir", file_okay=False)] = Path("."),
                  ) -> None:
    """Write a new signing key (casechain-signing.pem, mode 0600) and its public key
    (casechain-public.pem). Keep the private key off the database server."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with _failing():
        key = generate_key(out_dir / "casechain-signing.pem", out_dir / "casechain-public.pem")
    out.print(f"key id {key_id(key.public_key())}: {out_dir / 'casechain-signing.pem'} "
              f"(private), {out_dir / 'casechain-public.pem'} (public)")


@keys_app.command("public")
def keys_public(key: KeyOption = None) -> None:
    """Print the public key (PEM) of a signing key, to publish or hand to a witness."""
    if key is None:
        err.print("[red]error:[/red] --key (or CASECHAIN_SIGNING_KEY) is required")
        raise typer.Exit(2)
    with _failing():
        sys.stdout.write(public_pem(load_private_key(key).public_key()).decode())


def _public_key(public_key: str | None, key: str | None) -> Any:
    with _failing():
        if public_key:
            return load_public_key(public_key)
        if key:
            return load_private_key(key).public_key()
    return None


@app.command()
def checkpoint(db: DbOption = None, key: KeyOption = None,
               output: Annotated[Path | None, typer.Option(
                   "-o", "--output", help="Also write the checkpoint here (for a witness)")] = None,
               every: Annotated[float | None, typer.Option(
                   "--every", min=1, help="Issue one every SECONDS until stopped")] = None,
               as_json: JsonOption = False) -> None:
    """Sign the log's current size and Merkle root (Ed25519) and store the checkpoint."""
    if key is None:
        err.print("[red]error:[/red] --key (or CASECHAIN_SIGNING_KEY) is required to sign")
        raise typer.Exit(2)
    with _failing():
        signing = load_private_key(key)
    stop = threading.Event()
    if every is not None:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _ledger(db, up_to_date=False) as (_, ledger), suppress(KeyboardInterrupt):
        while True:
            with _failing():
                issued = ledger.checkpoint(signing)
            if output is not None:
                output.write_bytes(orjson.dumps(issued.as_dict(), option=orjson.OPT_INDENT_2))
            if as_json:
                _print_json(issued.as_dict())
            else:
                out.print(f"checkpoint: {issued.tree_size} events, root {issued.root_hash}, "
                          f"signed {issued.issued_at} by key {issued.key_id}", markup=False)
            if every is None or stop.wait(every):
                return


@app.command()
def checkpoints(db: DbOption = None, limit: LimitOption = None, cursor: CursorOption = None,
                as_json: JsonOption = False) -> None:
    """Every stored checkpoint, oldest first (the JSON form is what a witness keeps); with
    --limit a page of them and the next page's cursor on stderr. Without it every one is
    printed, read a page at a time."""
    with _ledger(db, up_to_date=False) as (_, ledger), _asked():
        if limit is not None or cursor is not None:
            page = checkpoints_page(ledger, limit, cursor)
            _page_note(len(page.rows), page.total, page.next_cursor)
            listed: Iterable[dict[str, Any]] = page.rows
        else:
            listed = every_row(lambda after: checkpoints_page(ledger, MAX_LIMIT, after))
        if as_json:
            _print_json_rows(listed)
            return
        for cp in listed:
            out.print(f"{cp['issued_at']}  {cp['tree_size']:>10} events  root "
                      f"{cp['root_hash']}  key {cp['key_id']}", markup=False)


@app.command()
def verify(db: DbOption = None, public_key: PublicKeyOption = None, key: KeyOption = None,
           against: Annotated[list[Path] | None, typer.Option(
               "--against", exists=True, dir_okay=False,
               help="A checkpoint JSON held outside the store (repeatable)")] = None,
           as_json: JsonOption = False) -> None:
    """Recompute every case chain and the Merkle tree; check them against the stored
    checkpoints and those given with --against. Exit 0 when intact, 1 otherwise."""
    verifying = _public_key(public_key, key)
    if against and verifying is None:
        err.print("[red]error:[/red] --against needs --public-key to check the checkpoint")
        raise typer.Exit(2)
    with _failing():
        outside = [Checkpoint.from_dict(orjson.loads(p.read_bytes())) for p in against or []]
    with _ledger(db, up_to_date=False) as (_, ledger):
        total = ledger.size()
        with Progress(TextColumn("verifying"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} events"), TimeRemainingColumn(),
                      console=err, disable=not err.is_terminal) as progress:
            task = progress.add_task("verify", total=total)
            result = ledger.verify(verifying, outside, on_page=lambda n: progress.advance(task, n))
    if as_json:
        _print_json(result.as_dict())
    else:
        out.print(f"{result.events} events of {result.cases} cases, tree root "
                  f"{result.root_hash}, {result.checkpoints_checked} checkpoint comparison(s)"
                  + ("" if result.signatures_checked else " (signatures not checked: no key)"),
                  markup=False)
        for problem in result.problems[:20]:
            where = (f"case {problem.case_id} seq {problem.seq} position {problem.position}"
                     if problem.case_id else f"position {problem.position}"
                     if problem.position else "log")
            out.print(f"BAD {problem.what}: {where}: {problem.detail}", markup=False)
        out.print("intact (完整)" if result.intact else
                  f"{len(result.problems)} problem(s) — NOT intact (已被篡改)")
    if not result.intact:
        raise typer.Exit(1)


@app.command()
def proof(case_id: Annotated[str | None, typer.Argument(help="Case whose events to prove")] = None,
          seq: Annotated[int | None, typer.Option("--seq", min=1)] = None,
          consistency: Annotated[tuple[int, int] | None, typer.Option(
              "--consistency", help="OLD_SIZE NEW_SIZE")] = None,
          db: DbOption = None,
          output: Annotated[Path | None, typer.Option("-o", "--output")] = None) -> None:
    """An inclusion proof of a case's events against the latest checkpoint, or a
    consistency proof between two tree sizes; JSON, checkable with verify-proof."""
    if (case_id is None) == (consistency is None):
        err.print("[red]error:[/red] give a CASE_ID or --consistency OLD_SIZE NEW_SIZE")
        raise typer.Exit(2)
    with _ledger(db) as (case_log, ledger), _failing(1):
        doc = (consistency_document(ledger, *consistency) if consistency
               else inclusion_document(case_log, ledger, str(case_id), seq))
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    if output is not None:
        output.write_bytes(text)
        out.print(f"proof written to {output}")
    else:
        sys.stdout.write(text.decode() + "\n")


@app.command("verify-proof")
def verify_proof(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
                 public_key: PublicKeyOption = None, as_json: JsonOption = False) -> None:
    """Check a proof file or an evidence bundle offline, with the public key alone."""
    with _failing():
        doc, bundled = read_document(file)
    verifying = _public_key(public_key, None)
    note = None
    if verifying is None and bundled is not None:
        with _failing():
            verifying = public_key_from_pem(bundled)
        note = (f"key taken from the bundle (id {key_id(verifying)}): compare it with the key "
                "the agency publishes")
    if verifying is None:
        err.print("[red]error:[/red] --public-key (or CASECHAIN_PUBLIC_KEY) is required")
        raise typer.Exit(2)
    try:
        findings = check_document(doc, verifying)
    except (CaseChainError, KeyError, ValueError, TypeError) as exc:
        if as_json:
            _print_json({"valid": False, "error": str(exc)})
        else:
            out.print(f"INVALID: {exc}", markup=False)
        raise typer.Exit(1) from None
    if note:
        findings.append(note)
    if as_json:
        _print_json({"valid": True, "findings": findings})
        return
    for line in findings:
        out.print(line, markup=False)
    out.print("valid (核验通过)")


@app.command("bundle")
def bundle_(case_id: str, output: Annotated[Path, typer.Option("-o", "--output")],
            db: DbOption = None, public_key: PublicKeyOption = None,
            key: KeyOption = None) -> None:
    """Evidence bundle (证据包): the case's events, their inclusion proofs, the signed
    checkpoint, the public key and a zh-CN summary, in one zip."""
    verifying = _public_key(public_key, key)
    if verifying is None:
        err.print("[red]error:[/red] --public-key or --key is required (the bundle carries it)")
        raise typer.Exit(2)
    with _ledger(db) as (case_log, ledger), _failing(1):
        doc = bundle(case_log, ledger, case_id, verifying, output)
    out.print(f"{output}: {len(doc['proofs'])} events of case {case_id}, checkpoint of "
              f"{doc['tree_size']} events")
