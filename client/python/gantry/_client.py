"""gantry.Client: a connection to gantryd."""
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Mapping, Optional, Union

import grpc

from ._errors import InvalidArgument, Unavailable, from_rpc_error
from ._job import Job, _resumable
from ._spec import build_spec, build_study_spec, label_selector, state_value
from ._health import health_pb2, health_pb2_grpc
from .v1 import gantry_pb2 as pb
from .v1 import gantry_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"


@dataclass(frozen=True)
class Table:
    """An uploaded table: its id (the SHA-256 of its bytes), name, size, rows
    and inferred schema (a TableSchema message)."""
    id: str
    name: str
    size_bytes: int
    rows: int
    columns: List[str]
    schema: Any


def _table(t: "pb.TableInfo") -> Table:
    """A Table from gantryd's TableInfo message."""
    return Table(t.id, t.name, t.size_bytes, t.schema.rows,
                 [c.name for c in t.schema.columns], t.schema)


class Client:
    """A connection to gantryd's gRPC API.

    ``address`` defaults to $GANTRY_SERVER, else 127.0.0.1:50051; ``token``
    to $GANTRY_TOKEN (sent as ``authorization: Bearer TOKEN``); ``tls_ca``
    is a CA certificate file (PEM) for a TLS server (``tls=True`` uses the
    system's roots); ``timeout`` bounds each unary call, in seconds. Use it
    as a context manager, or call ``close()``."""

    def __init__(self, address: Optional[str] = None, token: Optional[str] = None,
                 tls_ca: Optional[Union[str, os.PathLike]] = None, timeout: float = 30, *,
                 tls: bool = False):
        self.address = address or os.environ.get("GANTRY_SERVER") or DEFAULT_ADDRESS
        token = token if token is not None else os.environ.get("GANTRY_TOKEN")
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [
            ("grpc.max_receive_message_length", 64 << 20),
            # Reconnect quickly after a restart (the default backoff grows to 2 min).
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if tls_ca is not None or tls:
            root = None
            if tls_ca is not None:
                try:
                    with open(tls_ca, "rb") as f:
                        root = f.read()
                except OSError as e:
                    raise InvalidArgument(f"tls_ca: cannot read {os.fspath(tls_ca)}: "
                                          f"{e.strerror}") from None
            creds = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(self.address, creds, options)
        else:
            self._channel = grpc.insecure_channel(self.address, options)
        self._stub = gantry_pb2_grpc.GantryStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    # The one place where calls are made and their errors translated.
    def _call(self, method: str, request, timeout: Optional[float] = None):
        try:
            return getattr(self._stub, method)(request, metadata=self._metadata,
                                               timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _stream(self, method: str, request) -> Iterator[Any]:
        stream = getattr(self._stub, method)(request, metadata=self._metadata)
        try:
            yield from stream
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            stream.cancel()

    def close(self) -> None:
        """Closes the connection (open watches end)."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    # The API -------------------------------------------------------------
    def submit(self, spec: Union[None, "pb.JobSpec", Mapping[str, Any]] = None, *,
               name: Optional[str] = None, labels: Optional[Mapping[str, str]] = None,
               request_id: Optional[str] = None, priority: Optional[str] = None,
               **fields: Any) -> Job:
        """Queues a job and returns it.

        ``spec`` is a JobSpec message or a dict (protobuf's JSON names or the
        field names, e.g. ``{"epochs": 50, "dataset": {"kind": "ring8"}}``);
        keyword arguments set JobSpec fields over it, with short names for
        enums and conveniences: ``dataset="ring8"`` (or a dict, or a 2-D
        array of your own points), ``loss="wgan_gp"``,
        ``generator_hidden=[64, 64]``. Unset fields take the seed program's
        values. An unknown field raises InvalidArgument naming it; gantryd's
        checks raise InvalidArgument with its message. ``request_id`` makes a
        retry return the job created the first time."""
        if labels is not None and not isinstance(labels, Mapping):
            raise InvalidArgument(f"labels: {type(labels).__name__} is not a dict")
        req = pb.CreateJobRequest(spec=build_spec(spec, fields), name=name or "",
                                  request_id=request_id or "")
        for k, v in (labels or {}).items():
            req.labels[str(k)] = str(v)
        if priority is not None:
            names = {"low": pb.PRIORITY_LOW, "normal": pb.PRIORITY_NORMAL, "high": pb.PRIORITY_HIGH}
            if str(priority).lower() not in names:
                raise InvalidArgument(f"priority: {priority!r} is not one of low, normal, high")
            req.priority = names[str(priority).lower()]
        return Job(self, self._call("CreateJob", req))

    def get(self, job_id: str, *, full: bool = False) -> Job:
        """The job with this id (NotFound if there is none). ``full``: with a
        user dataset's points in ``spec``."""
        view = pb.JOB_VIEW_FULL if full else pb.JOB_VIEW_BASIC
        return Job(self, self._call("GetJob", pb.GetJobRequest(job_id=job_id, view=view)))

    def job(self, job_id: str) -> Job:
        """Same as ``get``."""
        return self.get(job_id)

    def jobs(self, state: Union[None, str, int] = None,
             labels: Union[None, str, Mapping[str, str]] = None,
             page_size: int = 100, owner: Optional[str] = None) -> Iterator[Job]:
        """Every job, newest first, through all pages; ``state`` (running,
        RUNNING or JOB_STATE_RUNNING), ``labels`` (a dict, every pair must
        match, or "k=v,k2=v2") and ``owner`` (the principal that created
        them) filter them."""
        req = pb.ListJobsRequest(page_size=page_size, label_selector=label_selector(labels),
                                 owner=owner or "")
        if state is not None:
            req.state = state_value(state)
        # The arguments are checked now, the pages read as iterated.
        return (Job(self, j) for j in self._pages("ListJobs", req, "jobs"))

    def _pages(self, method: str, req, field: str) -> Iterator[Any]:
        """The items (`field` of each page) of a paged list call, through all
        pages, read as iterated."""
        while True:
            page = self._call(method, req)
            yield from getattr(page, field)
            if not page.next_page_token:
                return
            req.page_token = page.next_page_token

    def tables(self) -> List[Table]:
        """Every uploaded table, through all pages."""
        return [_table(t) for t in self._pages("ListTables", pb.ListTablesRequest(page_size=100), "tables")]

    def upload_table(self, path: Union[str, os.PathLike], name: Optional[str] = None,
                     delimiter: str = "") -> Table:
        """Uploads a CSV file (in 1 MiB chunks) and returns the table; its id
        is the SHA-256 of the file, so uploading the same file again stores
        nothing new. Submit a job on it with
        ``dataset={"kind": "table", "table": {"table_id": table.id}}``."""
        path = os.fspath(path)

        def chunks():
            with open(path, "rb") as f:
                first = True
                while True:
                    data = f.read(1 << 20)
                    if not data and not first:
                        return
                    if first:
                        yield pb.UploadTableRequest(name=name or os.path.basename(path),
                                                    delimiter=delimiter, chunk=data)
                        first = False
                    else:
                        yield pb.UploadTableRequest(chunk=data)

        if not os.path.isfile(path):
            raise FileNotFoundError(f"upload_table: no such file: {path}")
        t = self._call("UploadTable", chunks(), timeout=max(self.timeout, 600))
        return _table(t)

    def health(self) -> str:
        """The server's health: "SERVING" when it serves (else Unavailable,
        or another status name)."""
        try:
            r = self._health.Check(health_pb2.HealthCheckRequest(), metadata=self._metadata,
                                   timeout=self.timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)

    def server_info(self) -> "pb.ServerInfo":
        """gantryd's version, HTTP address and storage, and who asked
        (``principal`` and ``role``; empty without credentials): a
        ServerInfo message."""
        return self._call("GetServerInfo", pb.GetServerInfoRequest())

    def audit(self, principal: Optional[str] = None, target: Optional[str] = None,
              page_size: int = 100) -> Iterator["pb.AuditEntry"]:
        """The audit log of state-changing calls, newest first, through all
        pages (AuditEntry messages): admins read every entry, others their
        own; ``principal`` and ``target`` (a job or table id) filter it."""
        req = pb.ListAuditRequest(page_size=page_size, principal=principal or "",
                                  target=target or "")
        return self._pages("ListAudit", req, "entries")

    # --- webhooks (server/webhooks/README.md) ---

    _WEBHOOK_EVENTS = {"ended": 1, "job_ended": 1, "best": 2, "new_best": 2, "alarm": 3}

    def create_webhook(self, url: str, events: Optional[List[str]] = None, *,
                       job_id: Optional[str] = None, labels: Optional[Mapping[str, str]] = None,
                       owner: Optional[str] = None, secret: Optional[str] = None) -> "pb.Webhook":
        """Subscribes ``url`` to signed POSTs for ``events`` ("ended", "best",
        "alarm"; default all three) of every job, or of one job, the jobs
        carrying all of ``labels``, or those ``owner`` created. The returned
        Webhook is the only one that carries its ``secret`` (the HMAC key of
        the X-Gantry-Signature header)."""
        codes = []
        for e in events or []:
            code = self._WEBHOOK_EVENTS.get(str(e).lower())
            if code is None:
                raise ValueError(f"webhook event {e!r} is not one of ended, best, alarm")
            codes.append(code)
        selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items())
        hook = pb.Webhook(url=url, events=codes, job_id=job_id or "", label_selector=selector,
                          owner=owner or "", secret=secret or "")
        return self._call("CreateWebhook", pb.CreateWebhookRequest(webhook=hook))

    def webhooks(self) -> List["pb.Webhook"]:
        """The caller's webhooks (an admin's: everyone's), oldest first,
        without their secrets."""
        return list(self._call("ListWebhooks", pb.ListWebhooksRequest()).webhooks)

    def delete_webhook(self, webhook_id: str) -> None:
        """Deletes the webhook and its delivery log."""
        self._call("DeleteWebhook", pb.DeleteWebhookRequest(webhook_id=webhook_id))

    def deliveries(self, webhook_id: str, page_size: int = 100) -> Iterator["pb.WebhookDelivery"]:
        """The webhook's delivery log, newest first, through all pages."""
        req = pb.ListDeliveriesRequest(webhook_id=webhook_id, page_size=page_size)
        return self._pages("ListDeliveries", req, "deliveries")

    # --- studies (server/studies/README.md) ---

    def create_study(self, spec: Union["pb.StudySpec", Mapping[str, Any]], *,
                     name: Optional[str] = None,
                     labels: Optional[Mapping[str, str]] = None) -> "pb.Study":
        """Starts a study: gantryd runs its trials (jobs labelled study=ID)
        and decides which continue. Returns the Study message (its ``id``,
        ``spec`` with the defaults filled, ``state`` RUNNING).

        ``spec`` is a StudySpec message or a dict::

            {"base": {"dataset": "ring8", "epochs": 81},    # as submit() takes it
             "space": ["learning_rate=log_uniform:1e-4:1e-2",
                       {"name": "dropout", "kind": "uniform", "min": 0, "max": 0.5},
                       {"name": "generator_hidden", "kind": "choice",
                        "values": [[16, 32], [64, 64]]}],
             "algorithm": "asha", "objective": "sliced_w1", "max_trials": 27,
             "concurrency": 2, "seed": 1}

        A bad field raises InvalidArgument naming it (gantryd's checks too);
        ``labels`` go on the study and every trial."""
        if labels is not None and not isinstance(labels, Mapping):
            raise InvalidArgument(f"labels: {type(labels).__name__} is not a dict")
        req = pb.CreateStudyRequest(spec=build_study_spec(spec), name=name or "")
        for k, v in (labels or {}).items():
            req.labels[str(k)] = str(v)
        return self._call("CreateStudy", req)

    def study(self, study_id: str) -> "pb.Study":
        """The study with every trial (a Study message; NotFound for an
        unknown id): ``state``, ``summary`` (best_trial, best_objective,
        best_job_id, best_epoch, epochs_spent), ``trials`` (number, status,
        params, objective, epochs, segments, metrics)."""
        return self._call("GetStudy", pb.GetStudyRequest(study_id=study_id))

    def studies(self, owner: Optional[str] = None, page_size: int = 100) -> Iterator["pb.Study"]:
        """Every study, newest first, through all pages, without their
        trials; ``owner`` keeps the ones that principal created."""
        req = pb.ListStudiesRequest(page_size=page_size, owner=owner or "")
        return self._pages("ListStudies", req, "studies")

    def watch_study(self, study_id: str, *, retries: int = 30,
                    reconnect_timeout: float = 120.0) -> Iterator["pb.Study"]:
        """The study now, then again at every change (a trial created,
        promoted, paused or ended, a new result), up to and including the
        ended study (SUCCEEDED, FAILED or CANCELLED).

        A cut stream (gantryd restarting, the network) is reopened by itself
        and starts again with the study as it is then; backoff 0.1 s doubling
        to 2 s, Unavailable after ``retries`` failures in a row or
        ``reconnect_timeout`` seconds without a connection. Other errors
        (NotFound, ...) are raised at once."""
        ended = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
        failures, lost_at, delay = 0, None, 0.1
        while True:
            stream = self._stub.WatchStudy(pb.WatchStudyRequest(study_id=study_id),
                                           metadata=self._metadata)
            last_error = "the stream ended before the study did"
            try:
                for study in stream:
                    failures, lost_at, delay = 0, None, 0.1
                    yield study
                    if study.state in ended:
                        return
            except grpc.RpcError as err:
                if not _resumable(err):
                    raise from_rpc_error(err) from None
                last_error = f"{err.code().name}: {err.details()}"
            finally:
                stream.cancel()
            now = time.monotonic()
            lost_at = lost_at or now
            failures += 1
            if failures > retries or now - lost_at > reconnect_timeout:
                raise Unavailable(f"watch_study {study_id}: not reconnected after {failures - 1} "
                                  f"tries in {now - lost_at:.1f} s; last error: {last_error}")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def cancel_study(self, study_id: str) -> "pb.Study":
        """Ends a running study CANCELLED and cancels its queued and running
        trials (FailedPrecondition for an ended study); returns it."""
        return self._call("CancelStudy", pb.CancelStudyRequest(study_id=study_id))

    def delete_study(self, study_id: str) -> None:
        """Deletes an ended study and all its trials' jobs
        (FailedPrecondition while it runs or its trials are still ending)."""
        self._call("DeleteStudy", pb.DeleteStudyRequest(study_id=study_id))

    def replay_trial(self, study_id: str, trial: int = 0, name: str = "") -> Job:
        """Creates one job that retraces trial ``trial`` (0: the study's best)
        along its whole history, its parameters changing at the epochs they
        changed, and ends bit-identical to the trial's last segment. The job
        is labelled replay-of=STUDY, trial=N."""
        if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
            raise InvalidArgument(f"trial: {trial!r} is not a trial number (0: the best)")
        req = pb.ReplayTrialRequest(study_id=study_id, trial=trial, name=name or "")
        return Job(self, self._call("ReplayTrial", req))
