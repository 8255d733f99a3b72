"""The package's public face: `casechain.__all__` is what it exports, each name resolves to
the object its module defines, and importing the package loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import casechain


def test_every_public_name_resolves_to_its_modules_object() -> None:
    """Each name of __all__ is importable from `casechain` and is the module's own object."""
    for name in casechain.__all__:
        value = getattr(casechain, name)
        assert getattr(value, "__name__", name) == name
        assert value.__module__.startswith("casechain.")


def test_the_public_names_are_listed_once_in_order() -> None:
    """__all__ is sorted, has no duplicates, and dir() shows it."""
    assert casechain.__all__ == sorted(set(casechain.__all__))
    assert set(casechain.__all__) <= set(dir(casechain))


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A typo is the usual AttributeError, naming the attribute."""
    try:
        casechain.open_case_logs  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "open_case_logs" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_neither_sqlalchemy_nor_fastapi() -> None:
    """`import casechain` is cheap: the store and the web stack load on first use."""
    done = subprocess.run([sys.executable, "-c", "import sys, casechain; "
                           "print('sqlalchemy' in sys.modules, 'fastapi' in sys.modules)"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
