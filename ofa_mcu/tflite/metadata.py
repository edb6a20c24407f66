"""ofa-mcu metadata inside a ``.tflite``: read, write, and the subnet it names.

Metadata entries (a name and a buffer of bytes) carry the subnet and search space of an
exported model, so the layer IR can be rebuilt from the ``.tflite`` alone
(:func:`model_subnet`, the one reader of that metadata: absent is None, present but unusable is
a one-line ``UserError``). Adding metadata re-packs the flatbuffer
with the schema's object API, exactly as TensorFlow's converter does when it adds its own
``CONVERSION_METADATA`` entry, so the layout (buffer alignment) is the converter's.
"""

from __future__ import annotations

from typing import Any

from ofa_mcu.config import SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.space import SearchSpace
from ofa_mcu.tflite.reader import tflite_schema
from ofa_mcu.userfiles import parse_json

#: Metadata entry holding ``{"format", "ofa_mcu_version", "space", "subnet", ...}`` as JSON.
METADATA_NAME = "ofa_mcu"
_FILE_IDENTIFIER = b"TFL3"


def _model(data: bytes, origin: str) -> Any:
    schema = tflite_schema()
    if len(data) < 8 or not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise UserError(f"{origin}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    return schema.Model.GetRootAsModel(data, 0)


def read_metadata(data: bytes, name: str = METADATA_NAME, origin: str = "model") -> bytes | None:
    """The bytes of metadata entry ``name``, or None when the model has none."""
    model = _model(bytes(data), origin)
    try:  # offsets in a damaged flatbuffer point anywhere: struct.error, IndexError, ...
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            entry_name = entry.Name()
            if entry_name is not None and entry_name.decode("utf-8", "replace") == name:
                buf = model.Buffers(entry.Buffer())
                return bytes(buf.DataAsNumpy().tobytes()) if buf.DataLength() else b""
    except Exception as exc:  # noqa: BLE001 - every way a corrupt flatbuffer fails is one message
        raise UserError(f"{origin}: corrupt TFLite model metadata ({type(exc).__name__})") from None
    return None


def read_json_metadata(data: bytes, name: str = METADATA_NAME, origin: str = "model") -> dict | None:
    raw = read_metadata(data, name, origin)
    if raw is None:
        return None
    try:
        obj = parse_json(raw.decode("utf-8"), f"{origin}: metadata '{name}'")
    except UnicodeDecodeError:
        raise UserError(f"{origin}: metadata '{name}' is not valid JSON") from None
    if not isinstance(obj, dict):
        raise UserError(f"{origin}: metadata '{name}' is not a JSON object")
    return obj


def add_metadata(data: bytes, name: str, payload: bytes) -> bytes:
    """The model with metadata entry ``name`` set to ``payload`` (replaced if present)."""
    import flatbuffers
    import numpy as np

    schema = tflite_schema()
    model = schema.ModelT.InitFromObj(_model(bytes(data), "model"))
    buf = schema.BufferT()
    buf.data = np.frombuffer(payload, dtype=np.uint8).copy()
    model.buffers = model.buffers or []
    model.metadata = model.metadata or []
    for entry in model.metadata:
        if (entry.name.decode() if isinstance(entry.name, bytes) else entry.name) == name:
            model.buffers[entry.buffer] = buf
            break
    else:
        model.buffers.append(buf)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


def subnet_from_metadata(meta: Any, source: str) -> tuple[SearchSpace, SubnetConfig]:
    """(space, subnet) of ofa-mcu metadata ``{"space": {...}, "subnet": {...}}``; ``UserError``
    (one line naming ``source``) when a part is missing or invalid."""
    if not isinstance(meta, dict) or not isinstance(meta.get("space"), dict) or not isinstance(meta.get("subnet"), dict):
        have = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise UserError(f"{source}: incomplete ofa-mcu metadata (expected objects 'space' and 'subnet', found {have})")
    space = SearchSpace.from_dict(meta["space"], source=source)
    cfg = SubnetConfig.from_dict(meta["subnet"], source=source).validate(space, source=source)
    return space, cfg


def model_subnet(data: bytes, origin: str = "model") -> tuple[SearchSpace, SubnetConfig] | None:
    """(space, subnet) of an exported model from its ofa-mcu metadata; None when it has none."""
    meta = read_json_metadata(data, origin=origin)
    if meta is None:
        return None
    return subnet_from_metadata(meta, f"{origin} metadata")
