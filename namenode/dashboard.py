"""The web dashboard: server-rendered pages of the cluster, its files and its jobs.

    /                         overview: capacity, datanodes, block health, safe mode, events
    /datanodes                every datanode, dead ones included
    /datanodes/{id}           one datanode and the replicas it holds
    /browse/{path}            a folder's listing, or a file with its blocks and replicas
    /download/{path}          a file's bytes, streamed from the datanodes through here
    /jobs, /jobs/{id}         jobs (from the job tracker), and one job with its timeline
    /api                      the JSON endpoints scripts can use (from the OpenAPI document)
    /fragments/…              the live parts of those pages, re-fetched by dashboard.js
    /static/{name}            the CSS, JS and icon shipped in this package (no CDN)

Every route is a read (the `read` dependency) and none is in the OpenAPI document: the JSON
the pages show is, at ``/nn/v1/cluster``, ``/nn/v1/fsck`` and the job tracker's ``/mr/v1/…``.
Handlers are sync `def`, so FastAPI runs them in its thread pool; the only slow call, to
the job tracker, has a short timeout. A bad path or an unknown id is a 4xx page, never a
traceback. Templates are autoescaped.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from minihadoop import paths
from minihadoop.errors import MiniHadoopError, UnavailableError
from minihadoop.filesystem import DFSInputStream, FileSystem
from namenode import display, pages
from namenode.group_view import GroupView
from namenode.jobs_view import JobTrackerView
from namenode.namesystem import Namesystem
from namenode.permissions import NOBODY

HERE = Path(__file__).parent
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
NO_STORE = {"cache-control": "no-store"}
# What the dashboard's pages are made of, told on the API page beside each endpoint.
FEEDS = {
    ("GET", "/nn/v1/cluster"): "capacity, datanodes, block health, safe mode, recent events "
    "(the Overview and Datanodes pages)",
    ("GET", "/nn/v1/fsck"): "every block under a path: size, health, replica locations "
    "(the file pages)",
    ("GET", "/webhdfs/v1/{path}"): "op=LISTSTATUS, GETFILESTATUS, OPEN… (the Browse pages)",
    ("GET", "/nn/v1/blocks"): "a file's blocks with the datanodes holding them, nearest first",
}
JOBTRACKER_ENDPOINTS = [
    ("GET", "/mr/v1/jobs", "jobs, newest first (limit=); the Jobs page"),
    ("GET", "/mr/v1/jobs/{job_id}", "a job: progress, counters, attempts; a job's page"),
    ("GET", "/mr/v1/workers", "workers, their slots and last heartbeat"),
    ("POST", "/mr/v1/jobs", "submit a job (token)"),
    ("POST", "/mr/v1/jobs/{job_id}/kill", "kill a job (token)"),
]


class Renderer:
    """The Jinja2 environment and the static files, loaded once."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.static: dict[str, tuple[bytes, str]] = {
            f.name: (f.read_bytes(), STATIC_TYPES[f.suffix])
            for f in sorted((HERE / "static").iterdir())
            if f.suffix in STATIC_TYPES
        }
        versions = {n: hashlib.sha256(b).hexdigest()[:10] for n, (b, _) in self.static.items()}
        self.env.filters.update(
            size=display.size,
            duration=display.duration,
            age=display.age,
            clock=display.clock,
            clock_ms=display.clock_ms,
            timeofday=display.time_of_day,
            number=display.number,
            urlpath=display.url_path,
            last_line=display.last_line,
        )
        self.env.globals.update(
            asset=lambda name: f"/static/{name}?v={versions[name]}",
            percent=display.percent,
            lead_counters=pages.LEADING_COUNTERS,
        )

    def html(self, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        body = self.env.get_template(template).render(rendered_at=time.time(), **context)
        return HTMLResponse(body, status_code=status, headers=NO_STORE)

    def page(
        self, template: str, build: Callable[[], dict[str, Any]], **context: Any
    ) -> HTMLResponse:
        """`template` filled from `build()`; a MiniHadoopError from it becomes an error page
        with its status (404 for a path or id that is not there, 400 for a bad one)."""
        try:
            data = build()
        except MiniHadoopError as exc:
            return self.error(exc.status, exc.message, **context)
        return self.html(template, {"live": False, **context, **data})

    def error(self, status: int, message: str, **context: Any) -> HTMLResponse:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        ctx = {"active": "", "back": None, "back_label": "", **context, "live": False}
        return self.html(
            "error.html", {**ctx, "status": status, "reason": reason, "message": message}, status
        )


def router(system: Namesystem, read: Any) -> APIRouter:
    api = APIRouter(include_in_schema=False, dependencies=[read])
    view = Renderer()
    jobs = JobTrackerView(
        lambda: system.jobtracker_url, system.settings.token or None, tls_ca=system.settings.tls_ca
    )
    group = GroupView(system)
    _storage_pages(api, view, system, jobs, group)
    _job_pages(api, view, jobs)
    _fragments(api, view, system, jobs, group)
    _extras(api, view, system)
    return api


def _storage_pages(
    api: APIRouter, view: Renderer, system: Namesystem, jobs: JobTrackerView, group: GroupView
) -> None:
    @api.get("/")
    def overview() -> HTMLResponse:
        build = partial(pages.overview, system, jobs, group, time.time())
        return view.page("overview.html", build, active="overview", live=True)

    @api.get("/datanodes")
    def datanodes() -> HTMLResponse:
        build = partial(pages.datanodes, system, time.time())
        return view.page("datanodes.html", build, active="datanodes", live=True)

    @api.get("/datanodes/{node_id}")
    def datanode(node_id: str) -> HTMLResponse:
        build = partial(pages.datanode, system, node_id, time.time())
        return view.page(
            "datanode.html", build, active="datanodes", back="/datanodes", back_label="Datanodes"
        )

    @api.get("/browse")
    def browse_root() -> RedirectResponse:
        return RedirectResponse("/browse/")

    @api.get("/browse/{path:path}")
    def browse(path: str) -> HTMLResponse:
        def build() -> dict[str, Any]:
            with system.acting_as(NOBODY):  # a page shows what anybody may see, as HDFS's
                page = pages.browse(system, "/" + path)
            return {**page, "crumbs": display.breadcrumbs(page["path"])}

        return view.page("browse.html", build, active="browse", back="/browse/", back_label="/")

    @api.get("/download/{path:path}")
    def download(path: str, request: Request) -> Response:
        try:
            with system.acting_as(NOBODY):
                return _download(system, "/" + path, str(request.base_url))
        except MiniHadoopError as exc:
            return view.error(exc.status, exc.message, active="browse")


def _job_pages(api: APIRouter, view: Renderer, jobs: JobTrackerView) -> None:
    @api.get("/jobs")
    def jobs_page() -> HTMLResponse:
        return view.page("jobs.html", partial(pages.jobs_list, jobs), active="jobs", live=True)

    @api.get("/jobs/{job_id}")
    def job_page(job_id: str) -> HTMLResponse:
        build = partial(pages.job, jobs, job_id, time.time())
        return view.page(
            "job.html", build, active="jobs", live=True, back="/jobs", back_label="Jobs"
        )

    @api.get("/jobs/{job_id}/logs/{attempt_id}")
    def attempt_logs_page(job_id: str, attempt_id: str) -> HTMLResponse:
        build = partial(pages.attempt_logs, jobs, job_id, attempt_id)
        return view.page(
            "logs.html", build, active="jobs", back=f"/jobs/{job_id}", back_label="Job"
        )


def _fragments(
    api: APIRouter, view: Renderer, system: Namesystem, jobs: JobTrackerView, group: GroupView
) -> None:
    """The refreshing parts of the pages above, rendered by the same templates."""

    @api.get("/fragments/overview")
    def overview() -> HTMLResponse:
        build = partial(pages.overview, system, jobs, group, time.time())
        return view.page("_overview.html", build)

    @api.get("/fragments/datanodes")
    def datanodes() -> HTMLResponse:
        return view.page("_datanodes.html", partial(pages.datanodes, system, time.time()))

    @api.get("/fragments/jobs")
    def jobs_list() -> HTMLResponse:
        return view.page("_jobs.html", partial(pages.jobs_list, jobs))

    @api.get("/fragments/jobs/{job_id}")
    def job(job_id: str) -> HTMLResponse:
        return view.page("_job.html", partial(pages.job, jobs, job_id, time.time()))


def _extras(api: APIRouter, view: Renderer, system: Namesystem) -> None:
    @api.get("/api")
    def api_page(request: Request) -> HTMLResponse:
        context = {
            "endpoints": _endpoints(request.app.openapi()),
            "jobtracker": system.jobtracker_url,
            "jobtracker_endpoints": JOBTRACKER_ENDPOINTS,
        }
        return view.html("api.html", {"active": "api", "live": False, **context})

    @api.get("/static/{name}")
    def static(name: str) -> Response:
        found = view.static.get(name)
        if found is None:
            return view.error(404, f"no static file {name!r}")
        body, media_type = found
        # Links carry ?v=<content hash>, so a changed file is a new URL: cache for a day.
        return Response(body, media_type=media_type, headers={"cache-control": "max-age=86400"})


def _download(system: Namesystem, path: str, namenode_url: str) -> StreamingResponse:
    """Stream a file through the namenode: blocks read from the datanodes with the client's
    checksum verification and replica failover (a bad replica is reported, as any reader
    would). Refused up front when some block has no live replica, so a download that starts
    is one that can finish; Content-Length lets a browser see a cut-off transfer."""
    located = system.located_blocks(paths.normalize(path))
    for b in located.blocks:
        if not b.locations:
            raise UnavailableError(
                f"block {b.block.block_id} of {located.status.path} has no live replica"
            )
    settings = system.settings
    fs = FileSystem(namenode_url, settings.token or None, user=NOBODY, tls_ca=settings.tls_ca)
    stream = DFSInputStream(fs, located)

    def body() -> Iterator[bytes]:
        try:
            yield from stream.iter_chunks()
        finally:
            stream.close()
            fs.close()

    name = paths.name(located.status.path)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    headers = {"content-disposition": disposition, "content-length": str(located.status.length)}
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


def _endpoints(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The namenode's public endpoints from its OpenAPI document (internal ones left out)."""
    found = []
    for path, methods in sorted(schema.get("paths", {}).items()):
        if path.startswith("/internal/"):
            continue
        for method, op in methods.items():
            params = [
                {"name": p.get("name"), "where": p.get("in"), "required": p.get("required")}
                for p in op.get("parameters", [])
                if p.get("in") in ("query", "path")
            ]
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "feeds": FEEDS.get((method.upper(), path)),
                    "params": params,
                }
            )
    return found
