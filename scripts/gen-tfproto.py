"""Writes runtime/tensorflow/internal/tfproto/tf.proto: the few TensorFlow
protobuf messages the TensorFlow backend reads and writes, with the fields it
uses, copied from the schemas the tensorflow-cpu wheel ships.

The wheel ships no .proto text, but every *_pb2.py module in it embeds its
.proto file as a serialized FileDescriptorProto (the argument of
AddSerializedFile). This script reads those bytes without importing
TensorFlow, keeps the messages and fields listed in KEEP (names, numbers and
types all come from the wheel), renames the package so the generated Go types
cannot clash with other TensorFlow bindings in one binary (the wire format does
not depend on it), and prints the result as proto3 text. Fields left out are
kept by the Go decoder as unknown fields, so a decoded and re-encoded message
loses nothing. scripts/gen-tfproto.sh runs it and then protoc.

Usage: python gen-tfproto.py SITE_PACKAGES > tf.proto
"""

import ast
import os
import re
import sys

from google.protobuf import descriptor_pb2

# The wheel's schema files, and which of their messages and fields we use.
SOURCES = [
    "tensorflow/core/protobuf/saved_model.proto",
    "tensorflow/core/protobuf/meta_graph.proto",
    "tensorflow/core/protobuf/config.proto",
    "tensorflow/core/framework/tensor_shape.proto",
    "tensorflow/core/framework/types.proto",
]
KEEP = {
    "tensorflow.SavedModel": ["saved_model_schema_version", "meta_graphs"],
    "tensorflow.MetaGraphDef": ["meta_info_def", "signature_def"],
    "tensorflow.MetaGraphDef.MetaInfoDef": ["tags"],
    "tensorflow.SignatureDef": ["inputs", "outputs", "method_name"],
    "tensorflow.TensorInfo": ["name", "coo_sparse", "composite_tensor", "dtype", "tensor_shape"],
    "tensorflow.TensorInfo.CooSparse": [],
    "tensorflow.TensorInfo.CompositeTensor": [],
    "tensorflow.TensorShapeProto": ["dim", "unknown_rank"],
    "tensorflow.TensorShapeProto.Dim": ["size"],
    "tensorflow.ConfigProto": ["intra_op_parallelism_threads", "inter_op_parallelism_threads", "use_per_session_threads"],
    "tensorflow.RunOptions": ["timeout_in_ms"],
}
ENUMS = ["tensorflow.DataType"]
PACKAGE = "rnnrun.tfproto"
GO_PACKAGE = "github.com/rnnrun/rnnrun/runtime/tensorflow/internal/tfproto"

F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64", F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64", F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64",
}


def load(site, source):
    """The FileDescriptorProto embedded in the wheel's module for source."""
    path = os.path.join(site, source[: -len(".proto")] + "_pb2.py")
    text = open(path, encoding="utf-8").read()
    m = re.search(r"AddSerializedFile\((b'(?:[^'\\]|\\.)*')\)", text)
    if not m:
        sys.exit(f"gen-tfproto: {path} embeds no serialized descriptor")
    fd = descriptor_pb2.FileDescriptorProto()
    fd.ParseFromString(ast.literal_eval(m.group(1)))
    if fd.name != source:
        sys.exit(f"gen-tfproto: {path} describes {fd.name}, want {source}")
    return fd


def index(files):
    """Every message and enum of files by full name."""
    msgs, enums = {}, {}

    def walk(prefix, messages, enum_list):
        for e in enum_list:
            enums[prefix + e.name] = e
        for m in messages:
            msgs[prefix + m.name] = m
            walk(prefix + m.name + ".", m.nested_type, m.enum_type)

    for fd in files:
        walk(fd.package + ".", fd.message_type, fd.enum_type)
    return msgs, enums


def local(type_name):
    """A wheel type name (".tensorflow.X.Y") as seen from package PACKAGE."""
    return type_name.lstrip(".").removeprefix("tensorflow.")


def field_type(f, msgs):
    if f.type in SCALARS:
        return SCALARS[f.type]
    entry = msgs.get(f.type_name.lstrip("."))
    if entry is not None and entry.options.map_entry:
        k, v = entry.field
        return f"map<{field_type(k, msgs)}, {field_type(v, msgs)}>"
    return local(f.type_name)


def field_line(f, msgs, indent):
    t = field_type(f, msgs)
    rep = "repeated " if f.label == F.LABEL_REPEATED and not t.startswith("map<") else ""
    return f"{indent}{rep}{t} {f.name} = {f.number};"


def message(name, msgs, indent=""):
    m = msgs[name]
    wanted = KEEP[name]
    have = {f.name: f for f in m.field}
    missing = [n for n in wanted if n not in have]
    if missing:
        sys.exit(f"gen-tfproto: {name} has no field {', '.join(missing)} in this wheel")
    lines = [f"{indent}message {m.name} {{"]
    for child in sorted(k for k in KEEP if k.rsplit(".", 1)[0] == name):
        lines += message(child, msgs, indent + "  ")
    oneofs = {}
    for f in m.field:
        if f.name not in wanted:
            continue
        if f.HasField("oneof_index") and not f.proto3_optional:
            oneofs.setdefault(m.oneof_decl[f.oneof_index].name, []).append(f)
            continue
        lines.append(field_line(f, msgs, indent + "  "))
    for oneof, fields in oneofs.items():
        lines.append(f"{indent}  oneof {oneof} {{")
        lines += [field_line(f, msgs, indent + "    ") for f in fields]
        lines.append(f"{indent}  }}")
    lines.append(f"{indent}}}")
    return lines


def enum(name, enums):
    e = enums[name]
    lines = [f"enum {e.name} {{"]
    if e.options.allow_alias:
        lines.append("  option allow_alias = true;")
    lines += [f"  {v.name} = {v.number};" for v in e.value]
    return lines + ["}"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = [load(sys.argv[1], s) for s in SOURCES]
    msgs, enums = index(files)
    out = [
        "// Code generated by scripts/gen-tfproto.py from the tensorflow-cpu wheel's",
        "// schemas (" + ", ".join(s.rsplit("/", 1)[1] for s in SOURCES) + "). DO NOT EDIT.",
        "// Only the messages and fields rnnrun uses; field numbers are TensorFlow's.",
        "",
        'syntax = "proto3";',
        "",
        f"package {PACKAGE};",
        "",
        f'option go_package = "{GO_PACKAGE}";',
    ]
    for name in ENUMS:
        out += [""] + enum(name, enums)
    for name in KEEP:
        if name.count(".") == 1:  # top-level messages; nested ones print inside
            out += [""] + message(name, msgs)
    print("\n".join(out))


if __name__ == "__main__":
    main()
