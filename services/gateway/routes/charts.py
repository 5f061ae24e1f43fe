"""A workflow's chart: the published archive and the files of its latest chart."""

from __future__ import annotations

import mimetypes

from fastapi import (
    APIRouter,
    HTTPException,
    Response,
)

from services.gateway.models import (
    Problem,
)
from services.gateway.routes.common import NOT_FOUND, Existing, Reader, SupervisorDep
from shared import artifacts as kinds

router = APIRouter()


@router.get(
    "/v1/workflows/{workflow_id}/chart.tgz",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {"content": {"application/gzip": {}}, "description": "The `helm package` archive."},
    },
    summary="The packaged chart",
)
async def chart_archive(record: Existing, supervisor: SupervisorDep, principal: Reader) -> Response:
    """The archive `helm package` made at publish (404 until then)."""
    files = await supervisor.deps.artifacts.get_files(record.id, kinds.CHART_TGZ)
    if not files:
        raise HTTPException(404, f"workflow {record.id} has not published a chart")
    name, data = next(iter(files.items()))
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def safe_path(path: str) -> str:
    """A chart-relative path, or 400 for absolute paths and `..` segments."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or not path.strip("/"):
        raise HTTPException(400, "the path must be relative to the chart and stay inside it")
    return "/".join(p for p in parts if p not in ("", "."))


@router.get(
    "/v1/workflows/{workflow_id}/files/{path:path}",
    response_class=Response,
    responses={
        **NOT_FOUND,
        400: {"model": Problem, "description": "Path leaves the chart."},
        200: {
            "content": {"text/plain": {}, "application/octet-stream": {}},
            "description": "One file of the latest chart.",
        },
    },
    summary="A file of the latest chart",
)
async def chart_file(
    record: Existing, path: str, supervisor: SupervisorDep, principal: Reader
) -> Response:
    """One file of the latest generated chart, by its path inside the chart."""
    rel = safe_path(path)
    if not record.chart_kind:
        raise HTTPException(404, f"workflow {record.id} has no chart yet")
    files = await supervisor.deps.artifacts.get_files(record.id, record.chart_kind)
    if rel not in files:
        raise HTTPException(404, f"no file {rel} in the chart")
    media = mimetypes.guess_type(rel)[0] or "text/plain"
    if rel.endswith((".yaml", ".yml", ".tpl", ".txt", ".md", ".helmignore")):
        media = "text/plain; charset=utf-8"
    return Response(files[rel], media_type=media)
