"""gantry's errors: every failed call raises a GantryError (or a subclass
chosen by its gRPC status code) carrying gantry's own message."""
from typing import Dict, Optional, Type

import grpc


class GantryError(Exception):
    """A call gantryd refused or that could not be made.

    ``code`` is the gRPC status code's name (``"NOT_FOUND"``,
    ``"INVALID_ARGUMENT"``, ...), ``message`` gantryd's message (for example
    ``"job j-abc not found"``)."""

    code: str = "UNKNOWN"

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFound(GantryError, LookupError):
    """An unknown job or table, or an epoch whose snapshot is not kept."""
    code = "NOT_FOUND"


class InvalidArgument(GantryError, ValueError):
    """A bad spec or request, refused by gantryd or already by this client
    (an unknown field, a value of the wrong type)."""
    code = "INVALID_ARGUMENT"


class FailedPrecondition(GantryError):
    """The job is not in a state for this (sampling before the first epoch,
    deleting a running job, cancelling an ended one)."""
    code = "FAILED_PRECONDITION"


class AlreadyExists(GantryError):
    """A request_id reused with a different spec, name or labels."""
    code = "ALREADY_EXISTS"


class ResourceExhausted(GantryError):
    """The queue is full, or a request asks for too much."""
    code = "RESOURCE_EXHAUSTED"


class Unavailable(GantryError, ConnectionError):
    """gantryd cannot be reached, or it is shutting down."""
    code = "UNAVAILABLE"


class Unauthenticated(GantryError, PermissionError):
    """gantryd wants a token (``token=`` or GANTRY_TOKEN) and got none or a wrong one."""
    code = "UNAUTHENTICATED"


class PermissionDenied(GantryError, PermissionError):
    code = "PERMISSION_DENIED"


class DeadlineExceeded(GantryError, TimeoutError):
    """The call took longer than its timeout."""
    code = "DEADLINE_EXCEEDED"


class Cancelled(GantryError):
    code = "CANCELLED"


class Internal(GantryError):
    code = "INTERNAL"


_BY_CODE: Dict[str, Type[GantryError]] = {
    cls.code: cls for cls in (NotFound, InvalidArgument, FailedPrecondition, AlreadyExists,
                              ResourceExhausted, Unavailable, Unauthenticated, PermissionDenied,
                              DeadlineExceeded, Cancelled, Internal)
}


def from_rpc_error(err: grpc.RpcError) -> GantryError:
    """The GantryError for a failed gRPC call: the one place where grpc's
    errors become gantry's."""
    code = err.code() if hasattr(err, "code") else None
    name = code.name if code is not None else "UNKNOWN"
    message = (err.details() if hasattr(err, "details") else None) or str(err)
    return _BY_CODE.get(name, GantryError)(message, name)
