"""JobSpec from a message, a dict or keyword arguments, with short enum
spellings (dataset="ring8", state="running") and clear errors."""
import difflib
from typing import Any, Dict, Mapping, Optional, Union

from google.protobuf import json_format

from ._errors import InvalidArgument
from .v1 import gantry_pb2 as pb

# String fields whose values are names the server knows in lower case.
_NAME_FIELDS = ("loss", "select_by", "trainer_path", "on_non_finite")
_LAYER_FIELDS = ("generator_hidden", "discriminator_hidden")


def _suggest(word: str, names) -> str:
    close = difflib.get_close_matches(word, list(names), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def enum_value(enum, prefix: str, value: Any, what: str) -> int:
    """An enum's number from its full name (DATASET_KIND_RING8), its short
    name in any case and with - or _ (ring8, two-moons) or its number."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{what}: {value!r} is not a name")
    if isinstance(value, int):
        if value not in enum.values():
            raise InvalidArgument(f"{what}: {value} is not a {enum.DESCRIPTOR.name} number")
        return value
    if not isinstance(value, str):
        raise InvalidArgument(f"{what}: {value!r} is not a name")
    key = value.strip().upper().replace("-", "_")
    full = key if key.startswith(prefix) else prefix + key
    if full in enum.keys():
        return enum.Value(full)
    short = [k[len(prefix):].lower() for k in enum.keys() if not k.endswith("UNSPECIFIED")]
    raise InvalidArgument(f"{what}: unknown name '{value}'; one of {', '.join(short)}"
                          + _suggest(value.lower(), short))


def _field_names(descriptor) -> Dict[str, str]:
    """Both spellings of every field (name and JSON name) -> field name."""
    names = {}
    for f in descriptor.fields:
        names[f.name] = f.name
        names[f.json_name] = f.name
    return names


def _check_keys(d: Mapping[str, Any], descriptor, where: str,
                names: Optional[Dict[str, str]] = None) -> None:
    if names is None:
        names = _field_names(descriptor)
    for key in d:
        if not isinstance(key, str) or key not in names:
            raise InvalidArgument(f"{where}: unknown field '{key}'" + _suggest(str(key), names)
                                  + f" (the fields of {descriptor.full_name} are in gantry.proto)")


def _dataset(value: Any) -> Dict[str, Any]:
    """dataset="ring8", a Dataset message, a dict (kind short names too), or
    user points (a 2-D array or list of rows)."""
    if isinstance(value, pb.Dataset):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, str):
        return {"kind": pb.DatasetKind.Name(enum_value(pb.DatasetKind, "DATASET_KIND_", value,
                                                       "dataset.kind"))}
    if isinstance(value, Mapping):
        _check_keys(value, pb.Dataset.DESCRIPTOR, "dataset")
        d = dict(value)
        if "kind" in d:
            d["kind"] = pb.DatasetKind.Name(enum_value(pb.DatasetKind, "DATASET_KIND_", d["kind"],
                                                       "dataset.kind"))
        return d
    rows = _rows(value)
    if rows is not None:
        dim = len(rows[0])
        return {"kind": "DATASET_KIND_USER",
                "points": {"dim": dim, "values": [float(x) for r in rows for x in r]}}
    raise InvalidArgument(f"dataset: {type(value).__name__} is not a kind name, a Dataset, "
                          "a dict or a 2-D array of points")


def _rows(value: Any):
    try:
        rows = [list(r) for r in value]
    except TypeError:
        return None
    if not rows or not rows[0]:
        raise InvalidArgument("dataset: the points are empty")
    dim = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != dim:
            raise InvalidArgument(f"dataset: row {i} has {len(r)} values, row 0 has {dim}")
    return rows


def _field_value(name: str, value: Any) -> Any:
    if name == "dataset":
        return _dataset(value)
    if name in _LAYER_FIELDS:
        if isinstance(value, pb.LayerSizes):
            return {"sizes": list(value.sizes)}
        if isinstance(value, Mapping):
            return dict(value)
        try:
            return {"sizes": [int(x) for x in value]}
        except (TypeError, ValueError):
            raise InvalidArgument(f"{name}: {value!r} is not a list of layer sizes") from None
    if name in _NAME_FIELDS and isinstance(value, str):
        return value.strip().lower().replace("-", "_")
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return value.item()
    return value


def _merge(spec: "pb.JobSpec", fields: Mapping[str, Any], where: str) -> None:
    names = _field_names(pb.JobSpec.DESCRIPTOR)
    _check_keys(fields, pb.JobSpec.DESCRIPTOR, where, names)
    for key, value in fields.items():
        name = names[key]
        spec.ClearField(name)
        if value is None:
            continue
        try:
            json_format.ParseDict({name: _field_value(name, value)}, spec)
        except json_format.ParseError as e:
            raise InvalidArgument(f"{where}: {name}: {e}") from None


def build_spec(spec: Union[None, "pb.JobSpec", Mapping[str, Any]] = None,
               fields: Optional[Mapping[str, Any]] = None) -> "pb.JobSpec":
    """A JobSpec: `spec` (a message or a dict in protobuf's JSON form or with
    field names) and then `fields` over it (keyword arguments: JobSpec's
    fields, short enum names allowed; None leaves a field unset)."""
    out = pb.JobSpec()
    if isinstance(spec, pb.JobSpec):
        out.CopyFrom(spec)
    elif isinstance(spec, Mapping):
        _merge(out, spec, "spec")
    elif spec is not None:
        raise InvalidArgument(f"spec: {type(spec).__name__} is not a JobSpec or a dict")
    if fields:
        _merge(out, fields, "submit")
    return out


_PARAM_KINDS = ("choice", "int", "uniform", "log_uniform")


def _param_text(value: Any) -> str:
    """A choice's value as the server reads it: a layer list [16, 32] as
    "16,32", a bool as "true"/"false", anything else as str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(int(x)) for x in value)
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        value = value.item()
    return str(value)


def search_param(p: Any, where: str = "space") -> "pb.SearchParam":
    """A SearchParam from a message, a dict ({"name": "learning_rate",
    "kind": "log_uniform", "min": 1e-4, "max": 1e-2}; a choice's "values"
    may hold layer lists [16, 32]) or the CLI's text
    ("learning_rate=log_uniform:1e-4:1e-2", "loss=choice:bce|hinge")."""
    if isinstance(p, pb.SearchParam):
        out = pb.SearchParam()
        out.CopyFrom(p)
        return out
    if isinstance(p, str):
        name, eq, rest = p.partition("=")
        kind, colon, args = rest.partition(":")
        if not name or not eq or not colon:
            raise InvalidArgument(f"{where}: {p!r} is not NAME=KIND:ARGS "
                                  "(e.g. learning_rate=log_uniform:1e-4:1e-2, loss=choice:bce|hinge)")
        if kind not in _PARAM_KINDS:
            raise InvalidArgument(f"{where}: {p!r}: kind '{kind}' is not one of "
                                  f"{', '.join(_PARAM_KINDS)}" + _suggest(kind, _PARAM_KINDS))
        if kind == "choice":
            if not args:
                raise InvalidArgument(f"{where}: {p!r}: a choice needs its values, separated by '|'")
            return pb.SearchParam(name=name, kind=kind, values=args.split("|"))
        bounds = args.split(":")
        try:
            if len(bounds) != 2:
                raise ValueError
            lo, hi = (int(b) if kind == "int" else float(b) for b in bounds)
        except ValueError:
            raise InvalidArgument(f"{where}: {p!r}: {kind} takes MIN:MAX "
                                  + ("(whole numbers)" if kind == "int" else "(numbers)")) from None
        return pb.SearchParam(name=name, kind=kind, min=lo, max=hi)
    if isinstance(p, Mapping):
        _check_keys(p, pb.SearchParam.DESCRIPTOR, where)
        d = dict(p)
        if d.get("values") is not None:
            if isinstance(d["values"], (str, bytes)):
                raise InvalidArgument(f"{where}: values: {d['values']!r} is not a list")
            d["values"] = [_param_text(v) for v in d["values"]]
        out = pb.SearchParam()
        try:
            json_format.ParseDict({k: v for k, v in d.items() if v is not None}, out)
        except json_format.ParseError as e:
            raise InvalidArgument(f"{where}: {e}") from None
        return out
    raise InvalidArgument(f"{where}: {type(p).__name__} is not a SearchParam, a dict or "
                          "'NAME=KIND:ARGS'")


def build_study_spec(spec: Union["pb.StudySpec", Mapping[str, Any]]) -> "pb.StudySpec":
    """A StudySpec from a message or a dict (protobuf's JSON names or the
    field names): "base" is a job spec as ``build_spec`` takes it (short enum
    names: ``{"dataset": "ring8", "epochs": 81}``), "space" a list of what
    ``search_param`` takes; the other fields as they are."""
    if isinstance(spec, pb.StudySpec):
        out = pb.StudySpec()
        out.CopyFrom(spec)
        return out
    if not isinstance(spec, Mapping):
        raise InvalidArgument(f"spec: {type(spec).__name__} is not a StudySpec or a dict")
    names = _field_names(pb.StudySpec.DESCRIPTOR)
    _check_keys(spec, pb.StudySpec.DESCRIPTOR, "spec", names)
    out = pb.StudySpec()
    rest = {}
    for key, value in spec.items():
        name = names[key]
        if value is None:
            continue
        if name == "base":
            out.base.CopyFrom(build_spec(value))
        elif name == "space":
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
                value = [value]
            for i, p in enumerate(value):
                out.space.append(search_param(p, f"space[{i}]"))
        else:
            if hasattr(value, "item") and callable(value.item):  # a numpy scalar
                value = value.item()
            rest[name] = value
    try:
        json_format.ParseDict(rest, out)
    except json_format.ParseError as e:
        raise InvalidArgument(f"spec: {e}") from None
    return out


def state_value(state: Any) -> int:
    """A JobState number from RUNNING, running, JOB_STATE_RUNNING or a number."""
    return enum_value(pb.JobState, "JOB_STATE_", state, "state")


# The states a job ends in (it never leaves them).
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def state_name(value: int) -> str:
    """A JobState number's short name: SUCCEEDED, RUNNING, ..."""
    return pb.JobState.Name(value)[len("JOB_STATE_"):]


def label_selector(labels: Union[None, str, Mapping[str, str]]) -> str:
    if labels is None:
        return ""
    if isinstance(labels, str):
        return labels
    if isinstance(labels, Mapping):
        return ",".join(f"{k}={v}" for k, v in labels.items())
    raise InvalidArgument(f"labels: {type(labels).__name__} is not a dict or a 'k=v,...' string")
