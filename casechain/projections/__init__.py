"""Read models of the log, each with its tracked position, each rebuildable."""

from casechain.projections.clocks import ClocksView, read_clocks
from casechain.projections.crosscase import CrossCaseView
from casechain.projections.machinery import PAGE, ProjectionRunner, View, ViewStatus
from casechain.projections.views import (
    BoardView,
    ResponseView,
    StatisticsView,
    TimelineView,
    Views,
    default_views,
    response_shares,
    views_of,
)

__all__ = [
    "PAGE",
    "BoardView",
    "ClocksView",
    "CrossCaseView",
    "ProjectionRunner",
    "ResponseView",
    "StatisticsView",
    "TimelineView",
    "View",
    "ViewStatus",
    "Views",
    "default_views",
    "read_clocks",
    "response_shares",
    "views_of",
]
