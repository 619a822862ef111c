"""gantry's Python client: submit GAN training jobs to gantryd, follow
their events, sample their generators into NumPy and export them.

    import gantry
    with gantry.Client("127.0.0.1:50051") as client:
        job = client.submit(dataset="ring8", epochs=200, eval_every=10)
        for event in job.watch():
            print(event)
        points = job.sample(1000, epoch="best", seed=7)   # numpy [1000, 2]

The gRPC stubs are generated from proto/ at build time: ``gantry.v1.gantry_pb2``
(the messages, as ``gantry.pb``) and ``gantry.v1.gantry_pb2_grpc``.
"""
from ._client import Client, Table
from ._errors import (AlreadyExists, Cancelled, DeadlineExceeded, FailedPrecondition, GantryError,
                      Internal, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted,
                      Unauthenticated, Unavailable)
from ._events import Alarm, AlarmEvent, EpochEvent, Event, StateEvent
from ._job import Job
from ._spec import build_spec, build_study_spec
from .v1 import gantry_pb2 as pb

__all__ = [
    "Client", "Job", "Table", "build_spec", "build_study_spec", "pb",
    "Event", "StateEvent", "EpochEvent", "AlarmEvent", "Alarm",
    "GantryError", "NotFound", "InvalidArgument", "FailedPrecondition", "AlreadyExists",
    "ResourceExhausted", "Unavailable", "Unauthenticated", "PermissionDenied",
    "DeadlineExceeded", "Cancelled", "Internal",
]
