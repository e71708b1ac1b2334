#!/usr/bin/python3
"""Generates docs/api.md, the API reference, from the comments in proto/.

  scripts/gen_api_docs.py            # rewrite docs/api.md
  scripts/gen_api_docs.py --check    # exit 1 if docs/api.md is stale
  scripts/gen_api_docs.py --lint     # exit 1 if anything in proto/ lacks a comment

Runs protoc with --include_source_info and reads the descriptor set with
Debian's python3-protobuf, so the page says exactly what the .proto files say.
"""
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(ROOT, "proto")
OUT = os.path.join(ROOT, "docs", "api.md")

TYPE_NAMES = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
}


def proto_files():
    base = os.path.join(PROTO_DIR, "metad", "v1")
    return sorted("metad/v1/" + f for f in os.listdir(base) if f.endswith(".proto"))


def load():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(
            ["protoc", "-I", PROTO_DIR, "--include_source_info",
             "--descriptor_set_out=" + out] + proto_files(),
            check=True)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
        return fds


def comments(file_proto):
    """Maps a source path (tuple) to its leading comment."""
    found = {}
    for loc in file_proto.source_code_info.location:
        text = loc.leading_comments.strip()
        # `buf:lint:ignore RULE` lines speak to the linter, not the reader.
        lines = [line.strip() for line in text.splitlines()
                 if not line.strip().startswith("buf:lint:ignore")]
        if lines:
            found[tuple(loc.path)] = " ".join(lines)
    return found


def type_name(field):
    if field.type_name:
        name = field.type_name.lstrip(".")
        return name[len("metad.v1."):] if name.startswith("metad.v1.") else name
    return TYPE_NAMES.get(field.type, "?")


def cell(text):
    return text.replace("|", "\\|")


def render(fds):
    lines = ["# metad API reference", "",
             "Generated from `proto/metad/v1/*.proto` by "
             "`scripts/gen_api_docs.py`; do not edit by hand.", ""]
    for fp in fds.file:
        if not fp.name.startswith("metad/"):
            continue
        c = comments(fp)
        lines += ["## " + fp.name, ""]
        for si, svc in enumerate(fp.service):
            lines += ["### service " + svc.name, ""]
            if (6, si) in c:
                lines += [c[(6, si)], ""]
            lines += ["| RPC | request | response | what it does |",
                      "| --- | --- | --- | --- |"]
            for mi, m in enumerate(svc.method):
                stream = "stream " if m.server_streaming else ""
                lines.append("| %s | %s | %s%s | %s |" % (
                    m.name, m.input_type.split(".")[-1], stream,
                    m.output_type.split(".")[-1],
                    cell(c.get((6, si, 2, mi), ""))))
            lines.append("")
        for mi, msg in enumerate(fp.message_type):
            lines += ["### message " + msg.name, ""]
            if (4, mi) in c:
                lines += [c[(4, mi)], ""]
            if msg.field:
                lines += ["| field | type | meaning |", "| --- | --- | --- |"]
                for fi, f in enumerate(msg.field):
                    label = "repeated " if f.label == f.LABEL_REPEATED else ""
                    lines.append("| `%s` | %s%s | %s |" % (
                        f.name, label, type_name(f), cell(c.get((4, mi, 2, fi), ""))))
                lines.append("")
        for ei, enum in enumerate(fp.enum_type):
            lines += ["### enum " + enum.name, ""]
            if (5, ei) in c:
                lines += [c[(5, ei)], ""]
            lines += ["| value | number | meaning |", "| --- | --- | --- |"]
            for vi, v in enumerate(enum.value):
                lines.append("| `%s` | %d | %s |" % (
                    v.name, v.number, cell(c.get((5, ei, 2, vi), ""))))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def undocumented(fds):
    """Every service, RPC, message, field, enum and enum value without a
    comment, nested types included (map entries are generated: skipped)."""
    missing = []

    def enum_missing(fp, c, path, enum, prefix):
        if path not in c:
            missing.append("%s: enum %s%s" % (fp.name, prefix, enum.name))
        for vi, v in enumerate(enum.value):
            if path + (2, vi) not in c:
                missing.append("%s: value %s%s.%s" % (fp.name, prefix, enum.name, v.name))

    def message_missing(fp, c, path, msg, prefix):
        if msg.options.map_entry:
            return
        name = prefix + msg.name
        if path not in c:
            missing.append("%s: message %s" % (fp.name, name))
        for fi, f in enumerate(msg.field):
            if path + (2, fi) not in c:
                missing.append("%s: field %s.%s" % (fp.name, name, f.name))
        for ni, nested in enumerate(msg.nested_type):
            message_missing(fp, c, path + (3, ni), nested, name + ".")
        for ei, enum in enumerate(msg.enum_type):
            enum_missing(fp, c, path + (4, ei), enum, name + ".")

    for fp in fds.file:
        if not fp.name.startswith("metad/"):
            continue
        c = comments(fp)
        for si, svc in enumerate(fp.service):
            if (6, si) not in c:
                missing.append("%s: service %s" % (fp.name, svc.name))
            for mi, m in enumerate(svc.method):
                if (6, si, 2, mi) not in c:
                    missing.append("%s: rpc %s.%s" % (fp.name, svc.name, m.name))
        for mi, msg in enumerate(fp.message_type):
            message_missing(fp, c, (4, mi), msg, "")
        for ei, enum in enumerate(fp.enum_type):
            enum_missing(fp, c, (5, ei), enum, "")
    return missing


def main():
    fds = load()
    text = render(fds)
    if "--lint" in sys.argv:
        missing = undocumented(fds)
        for m in missing:
            print("undocumented: " + m, file=sys.stderr)
        return 1 if missing else 0
    if "--check" in sys.argv:
        current = open(OUT).read() if os.path.exists(OUT) else ""
        if current != text:
            print("docs/api.md is stale: run scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
