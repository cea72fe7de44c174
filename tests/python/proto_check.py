"""Our proto/qdrant/*.proto (compiled to a descriptor set) against the qdrant-client package's
own descriptors of Qdrant's gRPC API: every message, field (name, number, type, label,
oneof, optional scalar), enum value and RPC must be the same, or clients break.

    python proto_check.py OURS.desc
"""

import importlib
import sys

from google.protobuf import descriptor_pb2

MODULES = ["json_with_int_pb2", "qdrant_common_pb2", "collections_pb2", "collections_service_pb2",
           "points_pb2", "points_service_pb2", "snapshots_service_pb2", "qdrant_pb2"]


def walk(prefix, msgs, enums, out):
    for e in enums:
        out[prefix + e.name] = ("enum", sorted((v.name, v.number) for v in e.value))
    for m in msgs:
        full = prefix + m.name
        fields = []
        for f in m.field:
            oneof = m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
            if oneof and oneof.startswith("_"):
                oneof = None  # the synthetic oneof of a proto3 `optional`
            # `optional` on a message field changes nothing on the wire; on a scalar it does.
            optional = f.proto3_optional and f.type != descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
            fields.append((f.name, f.number, f.type, f.label, f.type_name.lstrip("."), oneof, optional))
        out[full] = ("msg", sorted(fields))
        walk(full + ".", m.nested_type, m.enum_type, out)


def services(fdp, out):
    for s in fdp.service:
        for m in s.method:
            out[f"{s.name}.{m.name}"] = (m.input_type.lstrip("."), m.output_type.lstrip("."),
                                         m.client_streaming, m.server_streaming)


def main():
    ours, our_rpcs = {}, {}
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(open(sys.argv[1], "rb").read())
    for f in fds.file:
        if f.package == "qdrant":
            walk("qdrant.", f.message_type, f.enum_type, ours)
            services(f, our_rpcs)
    theirs, their_rpcs = {}, {}
    for name in MODULES:
        fdp = descriptor_pb2.FileDescriptorProto()
        importlib.import_module("qdrant_client.grpc." + name).DESCRIPTOR.CopyToProto(fdp)
        walk("qdrant.", fdp.message_type, fdp.enum_type, theirs)
        services(fdp, their_rpcs)
    bad = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    bad += [k for k in sorted(set(our_rpcs) | set(their_rpcs)) if our_rpcs.get(k) != their_rpcs.get(k)]
    for k in bad:
        print("differs:", k, "\n  ours:  ", ours.get(k, our_rpcs.get(k)), "\n  client:", theirs.get(k, their_rpcs.get(k)))
    print(f"{len(ours)} types and {len(our_rpcs)} rpcs compared, {len(bad)} differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
