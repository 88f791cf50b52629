"""Generated gRPC/protobuf modules for protos/*.proto (see tools/gen-protos).

``database_pb2`` / ``database_pb2_grpc``: sf-database's DatabaseService.
``event_pb2`` / ``event_pb2_grpc``: the legacy sf-eventlog EventService.
Never edit the generated files; change the .proto and rerun the script.
"""
