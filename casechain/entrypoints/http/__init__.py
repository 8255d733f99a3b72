"""The HTTP API and the supervisors' dashboard (`casechain serve`)."""

from casechain.entrypoints.http.app import ApiProblem, Components, create_app

__all__ = ["ApiProblem", "Components", "create_app"]
