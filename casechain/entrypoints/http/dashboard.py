"""The supervisors' dashboard (执法监督看板): one page served by `casechain serve`.

The page is static (casechain/data/dashboard.html and dashboard.js, no build step, nothing
fetched from outside the server) and reads the same `/v1` endpoints as any client, with the
bearer token the user types in; the token stays in the tab's sessionStorage. The zh-CN
display labels come from the domain's own tables and the rule pack's division names, so the
page and the CLI never disagree. Its charts are drawn by Apache ECharts, installed from the npm
registry by `make` (casechain/data/vendor/echarts.min.js) and served from here: without it
the page shows its tables and says the charts are missing.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import orjson
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from casechain.domain.access import ROLE_LABELS
from casechain.domain.crosscase import REFERRAL_STATUS_LABELS
from casechain.domain.deadlines import ALERT_LABELS
from casechain.domain.payloads import EVENT_LABELS, PENALTY_LABELS, STAGE_LABELS

__all__ = ["SEVERITY_LABELS", "SOURCE_LABELS", "register_dashboard"]

SEVERITY_LABELS: dict[str, str] = {"red": "红色", "yellow": "黄色", "green": "绿色",
                                   "info": "提示"}

#: No script, style or connection outside this server; no framing by other sites.
_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
           "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": _POLICY, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


@cache
def _asset(name: str) -> str:
    return files("casechain.data").joinpath(name).read_text(encoding="utf-8")


#: Where an event came from (the envelope's `source`), for people; others are shown as sent.
SOURCE_LABELS: dict[str, str] = {"mobile-app": "移动执法终端", "device-registry": "设备登记系统",
                                 "web": "网上办案系统", "kafka": "消息接入", "import": "批量导入"}


def _script(divisions: dict[str, str]) -> str:
    labels = {
        "alerts": {code: label for code, (label, _, _) in ALERT_LABELS.items()},
        "severities": SEVERITY_LABELS, "stages": STAGE_LABELS, "events": EVENT_LABELS,
        "roles": ROLE_LABELS, "sources": SOURCE_LABELS, "divisions": divisions,
        "penalties": PENALTY_LABELS,
        "referrals": {k: v for k, v in REFERRAL_STATUS_LABELS.items() if k is not None},
    }
    return f"const LABELS = {orjson.dumps(labels).decode()};\n{_asset('dashboard.js')}"


def _echarts() -> bytes | None:
    asset = files("casechain.data").joinpath("vendor", "echarts.min.js")
    return asset.read_bytes() if asset.is_file() else None


def register_dashboard(app: FastAPI, divisions: dict[str, str]) -> None:
    """Serve the page at `/`, its script and style beside it, and the chart library."""
    page_script = _script(divisions)
    charts = _echarts()

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_asset("dashboard.html"), headers=_HEADERS)

    @app.get("/dashboard.js", include_in_schema=False)
    def script() -> Response:
        return Response(page_script, media_type="text/javascript; charset=utf-8", headers=_HEADERS)

    @app.get("/vendor/echarts.min.js", include_in_schema=False)
    def chart_library() -> Response:
        if charts is None:
            return Response("// ECharts is not installed: run make (npm ci) to install it\n",
                            status_code=404, media_type="text/javascript; charset=utf-8",
                            headers=_HEADERS)
        return Response(charts, media_type="text/javascript; charset=utf-8",
                        headers={**_HEADERS, "Cache-Control": "public, max-age=86400"})

    @app.get("/dashboard.css", include_in_schema=False)
    def style() -> Response:
        return Response(_asset("dashboard.css"), media_type="text/css; charset=utf-8",
                        headers=_HEADERS)
