"""The HTTP API and the supervisors' dashboard (`casechain serve`)."""

from casechain.entrypoints.http.app import ApiProblem, create_app

__all__ = ["ApiProblem", "create_app"]
