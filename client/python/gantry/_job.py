"""gantry.Job: one training job, its events, samples and generator."""
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Union

import grpc

from ._errors import DeadlineExceeded, InvalidArgument, ResourceExhausted, Unavailable, from_rpc_error
from ._events import Alarm, Event, StateEvent, alarms_list, event_from_proto, metrics_dict
from ._samples import PointsBuffer, RowsBuffer
from ._spec import TERMINAL, state_name
from .v1 import gantry_pb2 as pb

if TYPE_CHECKING:
    from ._client import Client

# watch()'s reconnect limits (wait() follows the stream with the same ones).
_WATCH_RETRIES = 30
_WATCH_RECONNECT_TIMEOUT = 120.0
# A stream cut by a dying server may end with one of these instead of UNAVAILABLE.
_CUT_MARKERS = ("stream removed", "rst_stream", "socket closed", "connection reset",
                "goaway", "eof", "broken pipe")
# Sample answers at most this many values in one message; beyond it, SampleStream.
_SAMPLE_VALUES = 1_000_000


def _resumable(err: grpc.RpcError) -> bool:
    code = err.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        details = (err.details() or "").lower()
        return any(m in details for m in _CUT_MARKERS)
    return False


def _epoch_fields(epoch: Union[None, int, str]) -> Dict[str, Any]:
    if epoch is None:
        return {}
    if epoch == "best":
        return {"best": True}
    if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1:
        return {"epoch": epoch}
    raise InvalidArgument(f"epoch: {epoch!r} is not None, a positive epoch number or 'best'")


class Job:
    """A gantry job as last read from gantryd (``refresh()`` reads it again).

    Attributes: ``id``, ``name``, ``state`` (QUEUED, RUNNING, SUCCEEDED,
    FAILED, CANCELLED), ``epochs_done``, ``best_epoch`` (0 before the first
    evaluation), ``best_metrics`` (a dict), ``alarms`` (a list of Alarm),
    ``spec`` (the effective JobSpec message), ``labels`` (a dict), ``error``,
    ``stop_reason``, ``last_seq`` and ``proto`` (the Job message itself)."""

    def __init__(self, client: "Client", proto: "pb.Job"):
        self._client = client
        self.proto = proto

    # The job's fields --------------------------------------------------
    @property
    def id(self) -> str:
        return self.proto.id

    @property
    def name(self) -> str:
        return self.proto.name

    @property
    def state(self) -> str:
        return state_name(self.proto.state)

    @property
    def epochs_done(self) -> int:
        return self.proto.epochs_done

    @property
    def best_epoch(self) -> int:
        return self.proto.best_epoch

    @property
    def best_metrics(self) -> Dict[str, float]:
        return metrics_dict(self.proto.best_metrics)

    @property
    def alarms(self) -> List[Alarm]:
        return alarms_list(self.proto.alarms)

    @property
    def spec(self) -> "pb.JobSpec":
        return self.proto.spec

    @property
    def labels(self) -> Dict[str, str]:
        return dict(self.proto.labels)

    @property
    def error(self) -> str:
        return self.proto.error

    @property
    def stop_reason(self) -> str:
        return self.proto.stop_reason

    @property
    def last_seq(self) -> int:
        return self.proto.last_seq

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL

    def __repr__(self) -> str:
        return (f"Job(id={self.id!r}, name={self.name!r}, state={self.state}, "
                f"epochs_done={self.epochs_done}/{self.proto.spec.epochs})")

    # Calls ---------------------------------------------------------------
    def refresh(self) -> "Job":
        """Reads the job again from gantryd; returns self."""
        self.proto = self._client._call("GetJob", pb.GetJobRequest(job_id=self.id))
        return self

    def cancel(self) -> "Job":
        """Cancels the queued or running job (FailedPrecondition if it has
        ended); a running one stops between two batches. Returns self."""
        self.proto = self._client._call("CancelJob", pb.CancelJobRequest(job_id=self.id))
        return self

    def delete(self) -> None:
        """Deletes the ended job and everything stored for it
        (FailedPrecondition while it is queued or running)."""
        self._client._call("DeleteJob", pb.DeleteJobRequest(job_id=self.id))

    def snapshots(self) -> List[int]:
        """The epochs whose generator snapshots are kept (what ``sample`` and
        ``export`` take), ascending."""
        r = self._client._call("ListSnapshots", pb.ListSnapshotsRequest(job_id=self.id))
        return list(r.epochs)

    def watch(self, from_seq: int = 1, *, retries: int = _WATCH_RETRIES,
              reconnect_timeout: float = _WATCH_RECONNECT_TIMEOUT) -> Iterator[Event]:
        """The job's events from ``from_seq`` (inclusive; 1: from the start):
        StateEvent, EpochEvent and AlarmEvent, stored ones first, then live
        ones, up to and including the terminal StateEvent.

        If the stream is cut (gantryd restarts, drains, the network drops),
        it reconnects by itself from the last seq seen plus one, so the
        events continue without gaps or duplicates; it retries with backoff
        (0.1 s doubling to 2 s) and raises Unavailable after ``retries``
        failed tries in a row or ``reconnect_timeout`` seconds without a
        connection. Other errors (NotFound, ...) are raised at once."""
        return self._events(from_seq, retries, reconnect_timeout, None)

    def _events(self, from_seq: int, retries: int, reconnect_timeout: float,
                deadline: Optional[float]) -> Iterator[Event]:
        if not isinstance(from_seq, int) or isinstance(from_seq, bool) or from_seq < 0:
            raise InvalidArgument(f"from_seq: {from_seq!r} is not a whole number >= 0")
        next_seq = max(1, from_seq)
        failures, lost_at, delay = 0, None, 0.1
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            stream = self._client._stub.WatchJob(
                pb.WatchJobRequest(job_id=self.id, from_seq=next_seq),
                metadata=self._client._metadata, timeout=timeout)
            last_error = "the stream ended before the job did"
            try:
                for e in stream:
                    if e.seq < next_seq:
                        continue  # already seen (never expected; kept exact anyway)
                    failures, lost_at, delay = 0, None, 0.1
                    next_seq = e.seq + 1
                    event = event_from_proto(e)
                    yield event
                    if isinstance(event, StateEvent) and event.terminal:
                        return
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None:
                    raise DeadlineExceeded(f"job {self.id} did not end within the timeout") from None
                if not _resumable(err):
                    raise from_rpc_error(err) from None
                last_error = f"{err.code().name}: {err.details()}"
            finally:
                stream.cancel()
            now = time.monotonic()
            lost_at = lost_at or now
            failures += 1
            if failures > retries or now - lost_at > reconnect_timeout:
                raise Unavailable(
                    f"watch {self.id}: not reconnected after {failures - 1} tries in "
                    f"{now - lost_at:.1f} s (resume with from_seq={next_seq}); "
                    f"last error: {last_error}")
            if deadline is not None and now + delay > deadline:
                raise DeadlineExceeded(f"job {self.id} did not end within the timeout")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def wait(self, timeout: Optional[float] = None) -> str:
        """Blocks until the job ends and returns its final state (SUCCEEDED,
        FAILED or CANCELLED), refreshing the job. Follows the event stream
        (resuming across restarts like ``watch``); raises DeadlineExceeded
        (a TimeoutError) after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.refresh()
        if not self.ended:
            for _ in self._events(max(1, self.last_seq), _WATCH_RETRIES,
                                  _WATCH_RECONNECT_TIMEOUT, deadline):
                pass
            self.refresh()
        return self.state

    def _sample_request(self, n: int, epoch, seed) -> "pb.SampleRequest":
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidArgument(f"n: {n!r} is not a whole number >= 1")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                                 or not 0 <= seed < 2 ** 64):
            raise InvalidArgument(f"seed: {seed!r} is not a whole number in 0..2^64-1")
        return pb.SampleRequest(job_id=self.id, count=n, seed=seed, **_epoch_fields(epoch))

    def sample_with_info(self, n: int, epoch: Union[None, int, str] = None,
                         seed: Optional[int] = None, *, where: Optional[Dict[str, str]] = None,
                         as_pandas: Optional[bool] = None):
        """Like ``sample`` and also the seed and epoch that reproduce it:
        returns (data, seed, epoch)."""
        req = self._sample_request(n, epoch, seed)
        for column, value in (where or {}).items():
            req.where.add(column=column, value=str(value))
        points, rows, used_seed, used_epoch = PointsBuffer(n), RowsBuffer(), 0, 0

        def take(r):
            nonlocal used_seed, used_epoch
            used_seed, used_epoch = r.seed, r.epoch
            if r.HasField("rows"):
                rows.add(r)
            else:
                points.add(r)

        # One message holds at most 1,000,000 values: small counts go through
        # Sample, larger ones (or a refusal naming SampleStream) SampleStream.
        # spec.dataset.points.dim is kept in every view; built-in kinds are 2-D.
        dim = self.proto.spec.dataset.points.dim or 2
        streamed = n * dim > _SAMPLE_VALUES
        if not streamed:
            try:
                take(self._client._call("Sample", req))
            except ResourceExhausted as e:
                if "SampleStream" not in e.message:
                    raise
                streamed = True
        if streamed:
            for r in self._client._stream("SampleStream", req):
                take(r)
        if rows.names:
            return rows.result(as_pandas), used_seed, used_epoch
        return points.array, used_seed, used_epoch

    def sample(self, n: int, epoch: Union[None, int, str] = None, seed: Optional[int] = None, *,
               where: Optional[Dict[str, str]] = None, as_pandas: Optional[bool] = None):
        """``n`` generated points as a NumPy float32 array [n, dim], from the
        latest snapshot (``epoch=None``), a kept epoch (an int, see
        ``snapshots()``) or the best evaluated one (``"best"``). The same
        ``seed`` gives the same points; without one gantryd picks it
        (``sample_with_info`` returns it). Large counts stream in chunks.

        A table job gives rows with the table's columns: a pandas DataFrame
        when pandas is installed (``as_pandas=False``: always a dict of
        column lists), missing cells None; ``where={"column": "value"}``
        conditions them."""
        return self.sample_with_info(n, epoch, seed, where=where, as_pandas=as_pandas)[0]

    def export(self, path: Union[str, os.PathLike], epoch: Union[None, int, str] = None) -> int:
        """Writes the generator as a TorchScript file (``torch.jit.load(path)``)
        from the latest snapshot, a kept epoch or ``"best"``: to a temporary
        file beside ``path``, fsynced and renamed over it, so ``path`` holds
        the old file or the whole new one. Returns the exported epoch."""
        path = os.fspath(path)
        req = pb.ExportGeneratorRequest(job_id=self.id, **_epoch_fields(epoch))
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"export: no such directory: {directory}/")
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".tmp", dir=directory)
        exported = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in self._client._stream("ExportGenerator", req):
                    f.write(chunk.data)
                    exported = chunk.epoch
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return exported
