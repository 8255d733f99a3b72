"""The command line `casechain`: each command parses, calls the application, renders."""

from casechain.entrypoints.cli.main import app, main

__all__ = ["app", "main"]
