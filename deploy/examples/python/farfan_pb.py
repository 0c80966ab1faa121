"""Protobuf bindings for farfan's control plane, generated on demand.

The message classes come from proto/*.proto compiled by Debian's `protoc
--python_out` (package protobuf-compiler) and run by Debian's
python3-protobuf. Nothing generated is kept in the source tree: `load()`
compiles the .proto files into a directory of your choice, or into a fresh
temporary one that is removed when the process exits.

    import farfan_pb
    pb = farfan_pb.load()            # finds ../../../proto from this file
    env = pb.envelope.Envelope(version=1, type=pb.envelope.PING, ...)

Environment: FARFAN_PROTO_DIR (the .proto files), FARFAN_PY_GEN_DIR (put
or reuse the generated modules there instead of a temporary directory).
"""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import types

PROTO_FILES = ("envelope", "factory", "orchestrator", "sisas")
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))


class SetupError(Exception):
    """protoc, python3-protobuf or the .proto files are missing or unusable."""


def _generate(proto_dir, out_dir):
    protoc = shutil.which("protoc")
    if protoc is None:
        raise SetupError("protoc not found: apt-get install protobuf-compiler")
    sources = [os.path.join(proto_dir, name + ".proto") for name in PROTO_FILES]
    for source in sources:
        if not os.path.isfile(source):
            raise SetupError(f"{source}: no such file (set FARFAN_PROTO_DIR or --proto-dir)")
    result = subprocess.run([protoc, "--proto_path=" + proto_dir, "--python_out=" + out_dir]
                            + sources, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SetupError(f"protoc failed: {result.stderr.strip()}")


def load(proto_dir=None, out_dir=None):
    """Compile proto/*.proto and return a namespace with one module per file
    (envelope, factory, orchestrator, sisas). Raises SetupError."""
    try:
        import google.protobuf  # noqa: F401  (python3-protobuf)
    except ImportError as error:
        raise SetupError(f"python3-protobuf is missing ({error}): "
                         "apt-get install python3-protobuf") from error
    proto_dir = proto_dir or os.environ.get("FARFAN_PROTO_DIR") or DEFAULT_PROTO_DIR
    out_dir = out_dir or os.environ.get("FARFAN_PY_GEN_DIR")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    else:
        out_dir = tempfile.mkdtemp(prefix="farfan-pb-")
        atexit.register(shutil.rmtree, out_dir, True)
    _generate(proto_dir, out_dir)
    # orchestrator_pb2 imports factory_pb2 by its bare name: the generated
    # directory has to be on sys.path.
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    modules = {}
    try:
        for name in PROTO_FILES:
            modules[name] = importlib.import_module(name + "_pb2")
    except Exception as error:  # an incompatible runtime fails here
        raise SetupError(f"the generated code does not load with this python3-protobuf: "
                         f"{error}") from error
    return types.SimpleNamespace(**modules)
