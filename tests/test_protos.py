"""The committed protobuf modules match protos/*.proto and upstream's numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from sfeventlog.wire import database_pb2, database_pb2_grpc, event_pb2
from sfeventlog.wire.objecttypes import UPSTREAM_OBJECT_TYPES, enum_value_name
from tests.backends import in_ci

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "tools" / "gen-protos"


def compiled_descriptors(tmp_path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    grpc_tools = pytest.importorskip("grpc_tools", reason="needs grpcio-tools (test extra)")
    out = tmp_path / "set.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}",
         f"--descriptor_set_out={out}", *sorted(str(p) for p in (ROOT / "protos").glob("*.proto"))],
        check=True,
    )
    assert grpc_tools
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    for f in fds.file:
        # protoc fills in derived json_name values that gencode leaves out.
        for message in f.message_type:
            for field in message.field:
                field.ClearField("json_name")
    return {f.name: f for f in fds.file}


def test_committed_descriptors_match_the_protos(tmp_path: Path) -> None:
    """Version-independent staleness check: the schema embedded in each
    committed _pb2 module equals a fresh compile of the .proto."""
    fresh = compiled_descriptors(tmp_path)
    for module in (database_pb2, event_pb2):
        committed = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert committed == fresh[committed.name], (
            f"sfeventlog/wire/{committed.name} is stale: run tools/gen-protos")
    assert set(fresh) == {"database.proto", "event.proto"}


def test_generated_files_byte_identical() -> None:
    """Full check (imports, headers, .pyi) with the pinned generator versions."""
    grpc_tools = pytest.importorskip("grpc_tools")
    from importlib.metadata import version

    pinned = database_pb2_grpc.GRPC_GENERATED_VERSION
    if version("grpcio-tools") != pinned:
        if in_ci():
            pytest.fail(f"grpcio-tools {version('grpcio-tools')} is not the pinned {pinned}")
        pytest.skip(f"grpcio-tools {version('grpcio-tools')} is not the pinned {pinned};"
                    " the descriptor check above still ran (tox -e protos pins it)")
    assert grpc_tools
    proc = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_upstream_service_and_method_names() -> None:
    db = database_pb2.DESCRIPTOR.services_by_name["DatabaseService"]
    assert db.full_name == "shakenfist.protos.DatabaseService"
    rpc = db.methods_by_name["RecordEventBatch"]
    assert (rpc.input_type.full_name, rpc.output_type.full_name) == (
        "shakenfist.protos.RecordEventBatchRequest", "shakenfist.protos.StatusReply")
    phases = {m: (r.input_type.name, r.output_type.name) for m, r in db.methods_by_name.items()}
    assert phases["PruneEvents"] == ("PruneEventsRequest", "PruneEventsReply")
    assert phases["GetObjectEvents"] == ("GetObjectEventsRequest", "GetObjectEventsReply")
    assert phases["DeleteObjectEvents"] == ("DeleteObjectEventsRequest", "StatusReply")
    assert database_pb2.PruneEventsRequest.DESCRIPTOR.fields == []  # upstream's is empty
    ev = event_pb2.DESCRIPTOR.services_by_name["EventService"]
    assert ev.full_name == "shakenfist.protos.EventService"
    assert {m: (r.input_type.name, r.output_type.name) for m, r in ev.methods_by_name.items()} == {
        "RecordEvent": ("EventRequest", "EventReply"),
        "RecordMultiEvent": ("EventMultiRequest", "EventReply"),
        "RecordMultiEventBatch": ("EventMultiBatchRequest", "EventReply"),
    }


UPSTREAM_FIELDS = {
    database_pb2.StatusReply: {"success": 1, "error": 2},
    database_pb2.EventBatchObject: {"object_type": 1, "object_uuid": 2},
    database_pb2.EventBatchEntry: {
        "event_uuid": 1, "event_type": 2, "timestamp": 3, "fqdn": 4, "duration": 5,
        "message": 6, "extra_json": 7, "request_id": 8, "objects": 9},
    database_pb2.RecordEventBatchRequest: {"events": 1},
    database_pb2.PruneEventsReply: {"success": 1, "error": 2, "rows_pruned": 3},
    database_pb2.GetObjectEventsRequest: {
        "object_type": 1, "object_uuid": 2, "limit": 3, "event_type_filter": 4},
    database_pb2.EventReadRowProto: {
        "event_uuid": 1, "event_type": 2, "timestamp": 3, "fqdn": 4, "duration": 5,
        "message": 6, "extra_json": 7, "request_id": 8},
    database_pb2.GetObjectEventsReply: {"events": 1},
    database_pb2.DeleteObjectEventsRequest: {"object_type": 1, "object_uuid": 2},
    event_pb2.EventRequest: {
        "object_type": 1, "object_uuid": 2, "event_type": 3, "obsolete_timestamp": 4,
        "fqdn": 5, "duration": 6, "message": 7, "extra": 8, "timestamp": 9},
    event_pb2.EventObject: {"object_type": 1, "object_uuid": 2},
    event_pb2.EventMultiRequest: {
        "objects": 1, "event_type": 2, "fqdn": 3, "duration": 4, "message": 5, "extra": 6,
        "timestamp": 7},
    event_pb2.EventMultiBatchRequest: {"events": 1},
    event_pb2.EventReply: {"ack": 1},
}


@pytest.mark.parametrize("cls", list(UPSTREAM_FIELDS), ids=lambda c: c.DESCRIPTOR.name)
def test_upstream_field_numbers(cls: type) -> None:
    fields = cls.DESCRIPTOR.fields_by_name  # type: ignore[attr-defined]
    for name, number in UPSTREAM_FIELDS[cls].items():
        assert fields[name].number == number, name
    # Our extensions only use numbers upstream does not.
    upstream_numbers = set(UPSTREAM_FIELDS[cls].values())
    for name, field in fields.items():
        if name not in UPSTREAM_FIELDS[cls]:
            assert field.number not in upstream_numbers
            assert field.number > max(upstream_numbers)


def test_object_type_enum_numbers() -> None:
    assert database_pb2.ObjectType.Value("OBJECT_TYPE_UNSPECIFIED") == 0
    for number, name in enumerate(UPSTREAM_OBJECT_TYPES, 1):
        assert database_pb2.ObjectType.Value(enum_value_name(name)) == number, name
    assert database_pb2.ObjectType.Value("OBJECT_TYPE_API_REQUESTS") == 26
    assert database_pb2.ObjectType.Value("OBJECT_TYPE_UNKNOWN_MANAGED_EXECUTABLE") == 28
    assert len(database_pb2.ObjectType.keys()) == 29
