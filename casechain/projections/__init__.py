"""Read models of the log, each with its tracked position, each rebuildable."""

from casechain.projections.clocks import ClocksView, read_clocks
from casechain.projections.machinery import PAGE, ProjectionRunner, View, ViewStatus
from casechain.projections.views import BoardView, StatisticsView, TimelineView, default_views

__all__ = [
           "PAGE",
           "BoardView",
           "ClocksView",
           "ProjectionRunner",
           "StatisticsView",
           "TimelineView",
           "View",
           "ViewStatus",
           "default_views",
           "read_clocks",
]
