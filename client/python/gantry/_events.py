"""Typed views of gantry's messages: a job's events and alarms."""
import datetime
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from ._spec import TERMINAL, state_name
from .v1 import gantry_pb2 as pb


@dataclass(frozen=True)
class Alarm:
    """Training that went wrong: ``kind`` (e.g. "saturation"), the ``epoch``
    it was seen at and a ``message`` with the figures."""
    kind: str
    epoch: int
    message: str


def metrics_dict(m: "pb.Metrics") -> Dict[str, float]:
    """The figures a Metrics message carries (those set or non-zero), by name."""
    return {f.name: v for f, v in m.ListFields()}


def alarms_list(alarms) -> List[Alarm]:
    return [Alarm(a.kind, a.epoch, a.message) for a in alarms]


def _time(ts) -> Optional[datetime.datetime]:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=datetime.timezone.utc)


@dataclass(frozen=True)
class StateEvent:
    """The job entered ``state`` (QUEUED, RUNNING, SUCCEEDED, FAILED,
    CANCELLED); ``error`` says why it FAILED, ``reason`` why a SUCCEEDED job
    stopped early."""
    seq: int
    time: Optional[datetime.datetime]
    state: str
    error: str = ""
    reason: str = ""

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class EpochEvent:
    """An epoch's report (epochs count from 1): mean losses over the epoch's
    batches (``loss_d``, ``loss_g``) and the last batch's, D's mean outputs,
    held-out ``metrics`` when the epoch was evaluated (else empty), the best
    epoch so far and its metrics, every alarm raised so far, and
    ``preview`` points (a NumPy array [n, dim])."""
    seq: int
    time: Optional[datetime.datetime]
    epoch: int
    epochs: int
    loss_d: float
    loss_g: float
    last_loss_d: float
    last_loss_g: float
    d_real: float
    d_fake: float
    quality: float
    seconds: float
    metrics: Dict[str, float]
    best_epoch: int
    best_metrics: Dict[str, float]
    alarms: List[Alarm]
    stop_reason: str
    trainer_path: str
    # Left out of == (a NumPy array has no single truth value and the
    # message mirrors the fields above) and so of the hash too.
    preview: Any = field(repr=False, compare=False)
    report: "pb.EpochReport" = field(repr=False, compare=False)

    def __hash__(self) -> int:
        # metrics, best_metrics and alarms are dicts and a list, which the
        # generated hash cannot take; equal events share these fields, so
        # the hash stays consistent with ==.
        return hash((self.seq, self.time, self.epoch, self.epochs))

    @property
    def losses(self) -> Dict[str, float]:
        """The four losses by name: loss_d, loss_g, last_loss_d, last_loss_g."""
        return {"loss_d": self.loss_d, "loss_g": self.loss_g,
                "last_loss_d": self.last_loss_d, "last_loss_g": self.last_loss_g}


@dataclass(frozen=True)
class AlarmEvent:
    """An alarm raised at ``epoch`` (it follows that epoch's EpochEvent)."""
    seq: int
    time: Optional[datetime.datetime]
    kind: str
    epoch: int
    message: str


Event = Union[StateEvent, EpochEvent, AlarmEvent]


def points_array(points: "pb.Points"):
    import numpy as np
    dim = points.dim or 1
    return np.asarray(points.values, dtype=np.float32).reshape(-1, dim)


def event_from_proto(e: "pb.JobEvent") -> Event:
    kind = e.WhichOneof("kind")
    t = _time(e.time)
    if kind == "state":
        return StateEvent(e.seq, t, state_name(e.state.state), e.state.error, e.state.reason)
    if kind == "alarm":
        return AlarmEvent(e.seq, t, e.alarm.kind, e.alarm.epoch, e.alarm.message)
    if kind == "epoch":
        r = e.epoch
        return EpochEvent(
            seq=e.seq, time=t, epoch=r.epoch, epochs=r.epochs, loss_d=r.loss_d, loss_g=r.loss_g,
            last_loss_d=r.last_loss_d, last_loss_g=r.last_loss_g, d_real=r.d_real,
            d_fake=r.d_fake, quality=r.quality, seconds=r.seconds,
            metrics=metrics_dict(r.metrics), best_epoch=r.best_epoch,
            best_metrics=metrics_dict(r.best_metrics), alarms=alarms_list(r.alarms),
            stop_reason=r.stop_reason, trainer_path=r.trainer_path,
            preview=points_array(r.preview), report=r)
    raise ValueError(f"event {e.seq} has no kind this client knows (a newer gantryd?)")
