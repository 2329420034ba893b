"""Regenerate the real benign files in this folder with the real libraries that write them.

Not part of the test run: it needs torch==2.13.0 (CPU), transformers (+ accelerate), diffusers,
keras, lightning, omegaconf, scikit-learn, joblib, sentencepiece, tokenizers, onnx, gguf, h5py,
Pillow, soundfile, msgpack, pandas, tables and zstandard, which modelguard does not depend on. Run
it from the repository root in a venv that has them::

    HF_HUB_OFFLINE=1 python tests/data/real/make_real.py [STEP ...]

With step names (``torch_functional torch_dcp pandas`` ...) only those steps run and only their
rows of README.md are replaced.

Everything is built offline from code: tiny randomly initialised models, tiny tokenizers trained
on a few lines of text. Nothing is downloaded and nothing here is ever loaded back. Output is
deterministic where the writer allows it (seeds fixed); zip timestamps and pickled random state
may still differ between runs, which the tests do not depend on. Each file stays under 200 KB.
README.md lists every file with the library and version that wrote it (written by this script).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

OUT = Path(__file__).resolve().parent
MAX_SIZE = 200_000
_written: list[tuple[str, str, str]] = []  # (file, writer + version, how)


def _version(module: str) -> str:
    import importlib.metadata as md

    try:
        return f"{module} {md.version(module)}"
    except md.PackageNotFoundError:
        return module


def _record(rel: str, writer: str, how: str) -> None:
    path = OUT / rel
    size = path.stat().st_size
    if size > MAX_SIZE:
        raise SystemExit(f"{rel} is {size} bytes; keep real fixtures under {MAX_SIZE}")
    _written.append((rel, writer, how))


# ---- torch -------------------------------------------------------------------------------------
def make_torch() -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    tv = _version("torch")
    d = OUT / "torch"
    d.mkdir(exist_ok=True)

    model = nn.Sequential(nn.Linear(8, 4), nn.LayerNorm(4), nn.ReLU(), nn.Linear(4, 2))
    sd = model.state_dict()  # OrderedDict with a _metadata attribute
    torch.save(sd, d / "state_dict.pt")
    _record("torch/state_dict.pt", tv, "torch.save(nn.Sequential(...).state_dict()) (zip)")
    torch.save(sd, d / "state_dict_legacy.pt", _use_new_zipfile_serialization=False)
    _record("torch/state_dict_legacy.pt", tv, "same, _use_new_zipfile_serialization=False")

    base = torch.arange(24, dtype=torch.float32)
    mixed: dict[str, Any] = {
        "float32": torch.randn(3, 3),
        "float16": torch.randn(4).half(),
        "bfloat16": torch.randn(4).bfloat16(),
        "float64": torch.randn(2, dtype=torch.float64),
        "int8": torch.randint(-5, 5, (6,), dtype=torch.int8),
        "uint8": torch.randint(0, 5, (6,), dtype=torch.uint8),
        "int64": torch.arange(5),
        "bool": torch.tensor([True, False]),
        "complex64": torch.randn(3, dtype=torch.complex64),
        "float8_e4m3fn": torch.randn(4).to(torch.float8_e4m3fn),
        "sparse_coo": torch.eye(4).to_sparse(),
        "sparse_csr": torch.eye(4).to_sparse_csr(),
        "qint8": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8),
        "quint8_per_channel": torch.quantize_per_channel(
            torch.randn(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 0, torch.quint8),
        # views sharing one storage
        "shared_a": base[:12].view(3, 4),
        "shared_b": base[12:],
        "shared_t": base.view(4, 6).t(),
        "parameter": nn.Parameter(torch.randn(2, 2)),
        "nested": {"layer": {"weight": torch.randn(2), "step": 3, "name": "enc"}, "list": [torch.zeros(1), 1.5]},
        "size": torch.Size([2, 3]),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
    }
    torch.save(mixed, d / "mixed_tensors.pt")
    _record("torch/mixed_tensors.pt", tv, "torch.save of a dict of float/half/bf16/f64/int8/uint8/bool/complex/"
            "float8/sparse COO+CSR/quantized per-tensor+per-channel tensors, shared-storage views, a Parameter, "
            "nested dicts/lists, torch.Size, dtype, device")
    torch.save(mixed, d / "mixed_tensors_legacy.pt", _use_new_zipfile_serialization=False)
    _record("torch/mixed_tensors_legacy.pt", tv, "same, legacy (non-zip) format")

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    model(torch.randn(2, 8)).sum().backward()
    opt.step()
    sched.step()
    torch.save(opt.state_dict(), d / "optimizer.pt")
    _record("torch/optimizer.pt", tv, "torch.save(torch.optim.AdamW(...).state_dict()) after one step")
    torch.save(sched.state_dict(), d / "scheduler.pt")
    _record("torch/scheduler.pt", tv, "torch.save(LambdaLR(...).state_dict()) (HF Trainer scheduler.pt)")

    # HF Trainer checkpoint rng_state.pth: python, numpy and torch RNG states.
    import random

    import numpy as np

    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    torch.save(rng, d / "rng_state.pth")
    _record("torch/rng_state.pth", tv, "torch.save of {python: random.getstate(), numpy: np.random.get_state(), "
            "cpu: torch.random.get_rng_state()} as transformers.Trainer writes rng_state.pth")

    # Lightning-style checkpoint (plain dict; real Lightning adds AttributeDict hyper_parameters).
    ckpt = {
        "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0",
        "state_dict": OrderedDict((f"model.{k}", v) for k, v in sd.items()),
        "optimizer_states": [opt.state_dict()], "lr_schedulers": [sched.state_dict()],
        "hyper_parameters": {"lr": 1e-3, "hidden": 4, "betas": (0.9, 0.999)},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 3}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.5)}},
    }
    torch.save(ckpt, d / "lightning.ckpt")
    _record("torch/lightning.ckpt", tv, "torch.save of a Lightning-layout checkpoint dict")

    # Whole model (torch.save(model)): imports torch.nn.modules classes.
    torch.save(model, d / "whole_model.pt")
    _record("torch/whole_model.pt", tv, "torch.save(nn.Sequential(Linear, LayerNorm, ReLU, Linear)) (whole module)")

    scripted = torch.jit.script(model)
    torch.jit.save(scripted, str(d / "torchscript.pt"))
    _record("torch/torchscript.pt", tv, "torch.jit.save(torch.jit.script(model))")
    traced = torch.jit.trace(model, torch.randn(1, 8))
    torch.jit.save(traced, str(d / "traced.pt"))
    _record("torch/traced.pt", tv, "torch.jit.save(torch.jit.trace(model, example))")

    exported = torch.export.export(model, (torch.randn(1, 8),))
    torch.export.save(exported, str(d / "exported.pt2"))
    _record("torch/exported.pt2", tv, "torch.export.save(torch.export.export(model, example))")


# ---- transformers ------------------------------------------------------------------------------
def make_transformers() -> None:
    import torch
    import transformers
    from transformers import BertConfig, BertForMaskedLM, GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    v = f"{_version('transformers')}, {_version('torch')}, {_version('safetensors')}"
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, do_sample=True, temperature=0.7)
    d = OUT / "hf_llama"
    model.save_pretrained(d, safe_serialization=True)
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        _record(f"hf_llama/{name}", v, "LlamaForCausalLM(tiny LlamaConfig).save_pretrained(safe_serialization=True)")

    d = OUT / "hf_bert"
    bert = BertForMaskedLM(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=32, max_position_embeddings=32))
    # transformers 5 always writes safetensors; 4.x's safe_serialization=False wrote exactly
    # torch.save(state_dict) to pytorch_model.bin, which is what Hub repos still hold.
    bert.save_pretrained(d)
    (d / "model.safetensors").unlink()
    torch.save(bert.state_dict(), d / "pytorch_model.bin")
    _record("hf_bert/config.json", v, "BertForMaskedLM(tiny BertConfig).save_pretrained()")
    _record("hf_bert/pytorch_model.bin", v, "torch.save(model.state_dict()) as transformers 4.x "
            "save_pretrained(safe_serialization=False) wrote it")

    args = transformers.TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=2,
                                          learning_rate=5e-5, report_to=[], use_cpu=True)
    torch.save(args, d / "training_args.bin")
    _record("hf_bert/training_args.bin", v, "torch.save(transformers.TrainingArguments(...)) as Trainer writes it")


# ---- tokenizers --------------------------------------------------------------------------------
_TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "model supply chain security matters for every team",
    "a tokenizer splits text into pieces and ids",
] * 20


def make_tokenizers() -> None:
    import sentencepiece as spm
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    d = OUT / "tokenizer"
    d.mkdir(exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(_TEXT, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"]))
    tok.save(str(d / "tokenizer.json"))
    _record("tokenizer/tokenizer.json", _version("tokenizers"), "Tokenizer(BPE).train_from_iterator(...).save()")
    tok.model.save(str(d))  # vocab.json + merges.txt
    _record("tokenizer/vocab.json", _version("tokenizers"), "BPE model.save(folder)")
    _record("tokenizer/merges.txt", _version("tokenizers"), "BPE model.save(folder)")

    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    wp.train_from_iterator(_TEXT, trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]"]))
    wp.model.save(str(d))  # vocab.txt
    _record("tokenizer/vocab.txt", _version("tokenizers"), "WordPiece model.save(folder)")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(_TEXT))
        for kind in ("unigram", "bpe"):
            spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(Path(tmp) / kind), vocab_size=40,
                                           model_type=kind, minloglevel=2,
                                           normalization_rule_name="identity")  # nmt_nfkc adds a 240 KB charsmap
            (d / f"sentencepiece_{kind}.model").write_bytes((Path(tmp) / f"{kind}.model").read_bytes())
            _record(f"tokenizer/sentencepiece_{kind}.model", _version("sentencepiece"),
                    f"SentencePieceTrainer.train(model_type={kind!r}) (tokenizer.model / spiece.model)")

    (d / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"}, indent=2))
    _record("tokenizer/special_tokens_map.json", "json (layout of transformers)", "special tokens map")
    (d / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "model_max_length": 2048,
        "tokenizer_class": "LlamaTokenizer", "chat_template": CHATML,
        "added_tokens_decoder": {"0": {"content": "<unk>", "special": True, "lstrip": False, "rstrip": False,
                                       "normalized": False, "single_word": False}},
    }, indent=2))
    _record("tokenizer/tokenizer_config.json", "json (layout of transformers)", "with a ChatML chat_template")


# ---- numpy / joblib / sklearn ------------------------------------------------------------------
def make_numpy_sklearn() -> None:
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    nv = _version("numpy")
    d = OUT / "numpy"
    d.mkdir(exist_ok=True)
    rs = np.random.RandomState(0)
    np.save(d / "array.npy", rs.randn(4, 3).astype(np.float32))
    _record("numpy/array.npy", nv, "np.save(float32 array)")
    np.save(d / "structured.npy", np.zeros(3, dtype=[("id", "<i4"), ("score", "<f8"), ("tag", "S4")]))
    _record("numpy/structured.npy", nv, "np.save(structured dtype array)")
    np.save(d / "object.npy", np.array([{"a": 1}, [1, 2], "text", 3.5], dtype=object), allow_pickle=True)
    _record("numpy/object.npy", nv, "np.save(object array of dict/list/str/float, allow_pickle=True)")
    np.savez(d / "arrays.npz", weights=rs.randn(5), bias=np.arange(3))
    _record("numpy/arrays.npz", nv, "np.savez(weights=..., bias=...)")
    np.savez_compressed(d / "arrays_compressed.npz", mel=rs.randn(8, 10).astype(np.float32))
    _record("numpy/arrays_compressed.npz", nv, "np.savez_compressed(mel=...)")

    d = OUT / "sklearn"
    d.mkdir(exist_ok=True)
    X = rs.randn(40, 4)
    y = (X[:, 0] > 0).astype(int)
    sv = f"{_version('scikit-learn')}, {_version('joblib')}, {nv}"
    lr = LogisticRegression().fit(X, y)
    rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    tree = DecisionTreeRegressor(max_depth=3).fit(X, X[:, 1])
    tfidf = TfidfVectorizer().fit(_TEXT)
    for name, est in (("logreg", lr), ("forest", rf), ("pipeline", pipe), ("tree", tree), ("tfidf", tfidf)):
        joblib.dump(est, d / f"{name}.joblib")
        _record(f"sklearn/{name}.joblib", sv, f"joblib.dump({type(est).__name__})")
    for comp in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
        joblib.dump(pipe, d / f"pipeline.{comp}.joblib", compress=(comp, 3))
        _record(f"sklearn/pipeline.{comp}.joblib", sv, f"joblib.dump(Pipeline, compress=({comp!r}, 3))")
    with open(d / "forest.pkl", "wb") as f:
        pickle.dump(rf, f, protocol=pickle.HIGHEST_PROTOCOL)
    _record("sklearn/forest.pkl", sv, "pickle.dump(RandomForestClassifier, protocol=5)")


# ---- ONNX, GGUF, HDF5, msgpack, images ---------------------------------------------------------
def make_onnx() -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d = OUT / "onnx"
    d.mkdir(exist_ok=True)
    w = numpy_helper.from_array(np.random.RandomState(0).randn(8, 4).astype(np.float32), "W")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"]),
         helper.make_node("Relu", ["Y"], ["Z"])],
        "tiny", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 4])], [w, b])
    model = helper.make_model(graph, producer_name="modelguard-fixtures", opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, d / "model.onnx")
    _record("onnx/model.onnx", _version("onnx"), "onnx.helper graph (MatMul, Add, Relu) with initializers")
    ext = d / "external"
    ext.mkdir(exist_ok=True)
    onnx.save_model(model, ext / "model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=0)
    _record("onnx/external/model.onnx", _version("onnx"), "same, save_as_external_data=True")
    _record("onnx/external/model.onnx_data", _version("onnx"), "its external tensor data")


# Chat templates as the model vendors publish them in tokenizer_config.json.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
    " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
QWEN2_TOOLS = (
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are a helpful assistant.' }}\n"
    "    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\n<tools>\" }}\n    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n"
    "    {{- \"\\n</tools><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- endif %}\n"
    "{%- endif %}\n{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)


def make_gguf() -> None:
    import gguf
    import numpy as np

    d = OUT / "gguf"
    d.mkdir(exist_ok=True)
    for name, template in (("llama3", LLAMA3), ("chatml", CHATML), ("mistral", MISTRAL), ("qwen2_tools", QWEN2_TOOLS),
                           ("gemma", GEMMA)):
        path = d / f"{name}.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_name(f"tiny-{name}")
        w.add_context_length(64)
        w.add_embedding_length(8)
        w.add_block_count(1)
        w.add_head_count(2)
        w.add_tokenizer_model("llama")
        w.add_token_list(["<unk>", "<s>", "</s>", "a", "b"])
        w.add_token_scores([0.0] * 5)
        w.add_token_types([2, 3, 3, 1, 1])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_chat_template(template)
        w.add_tensor("token_embd.weight", np.random.RandomState(0).randn(5, 8).astype(np.float32))
        w.add_tensor("output_norm.weight", np.ones(8, np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        _record(f"gguf/{name}.gguf", _version("gguf"), f"gguf.GGUFWriter with a {name} tokenizer.chat_template")


def make_hdf5() -> None:
    import h5py
    import numpy as np

    d = OUT / "keras"
    d.mkdir(exist_ok=True)
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "input_1"}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 4,
                                           "activation": "relu", "use_bias": True,
                                           "kernel_initializer": {"class_name": "GlorotUniform",
                                                                  "config": {"seed": None}},
                                           "bias_initializer": {"class_name": "Zeros", "config": {}}}},
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32", "units": 2,
                                           "activation": "softmax", "use_bias": True}}]}}
    rs = np.random.RandomState(0)
    hv = _version("h5py")
    with h5py.File(d / "model.h5", "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps({"loss": "categorical_crossentropy", "metrics": ["accuracy"],
                                                 "optimizer_config": {"class_name": "Adam",
                                                                      "config": {"learning_rate": 0.001}}})
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [b"input_1", b"dense", b"dense_1"]
        for layer, shape in (("dense", (8, 4)), ("dense_1", (4, 2))):
            g = mw.create_group(layer).create_group(layer)
            g.create_dataset("kernel:0", data=rs.randn(*shape).astype(np.float32))
            g.create_dataset("bias:0", data=np.zeros(shape[1], np.float32))
    _record("keras/model.h5", hv, "h5py file laid out as Keras 2 model.save('model.h5'): model_config JSON "
            "(Sequential of Dense), training_config, model_weights group")
    with h5py.File(d / "tf_model.h5", "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["layer_names"] = [b"bert"]
        g = f.create_group("bert").create_group("tf_bert_model").create_group("bert")
        g.create_dataset("embeddings/word_embeddings/weight:0", data=rs.randn(16, 4).astype(np.float32))
    _record("keras/tf_model.h5", hv,
            "h5py file laid out as transformers' TF save_weights (tf_model.h5): no model_config")


def make_flax_msgpack() -> None:
    import msgpack
    import numpy as np

    # flax.serialization.to_bytes: nested dict of params, ndarrays as msgpack ext type 1 holding
    # msgpack((shape, dtype.name, raw bytes)).
    def encode(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return msgpack.ExtType(1, msgpack.packb((obj.shape, obj.dtype.name, obj.tobytes()), use_bin_type=True))
        return obj

    rs = np.random.RandomState(0)
    params = {"params": {"Dense_0": {"kernel": rs.randn(8, 4).astype(np.float32), "bias": np.zeros(4, np.float32)},
                         "LayerNorm_0": {"scale": np.ones(4, np.float32), "bias": np.zeros(4, np.float32)}}}
    d = OUT / "flax"
    d.mkdir(exist_ok=True)
    (d / "flax_model.msgpack").write_bytes(msgpack.packb(params, default=encode, use_bin_type=True))
    _record("flax/flax_model.msgpack", _version("msgpack"),
            "msgpack.packb of a flax params tree with ndarrays as ext type 1 (flax.serialization.to_bytes layout)")


def make_images_and_text() -> None:
    from PIL import Image

    d = OUT / "repo"
    d.mkdir(exist_ok=True)
    img = Image.new("RGB", (16, 16), (20, 120, 200))
    for ext, fmt in (("png", "PNG"), ("jpg", "JPEG"), ("gif", "GIF"), ("webp", "WEBP"), ("bmp", "BMP"),
                     ("tiff", "TIFF")):
        img.save(d / f"logo.{ext}", fmt)
        _record(f"repo/logo.{ext}", _version("Pillow"), f"Image.new(...).save(format={fmt!r})")
    import numpy as np

    noise = Image.fromarray(np.random.RandomState(0).randint(0, 255, (48, 48, 3), dtype=np.uint8))
    noise.save(d / "photo_progressive.jpg", "JPEG", progressive=True, quality=90)
    _record("repo/photo_progressive.jpg", _version("Pillow"), "noise image, save(format='JPEG', progressive=True)")
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    frames[0].save(d / "animated.gif", "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    _record("repo/animated.gif", _version("Pillow"), "three-frame GIF, save(save_all=True, loop=0)")
    (d / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
                                '<rect width="16" height="16" fill="#1478c8"/></svg>\n')
    _record("repo/logo.svg", "hand-written", "a plain SVG as found in repo assets")
    (d / "README.md").write_text("---\nlicense: apache-2.0\nlanguage:\n- en\nlibrary_name: transformers\n"
                                 "pipeline_tag: text-generation\ntags:\n- llama\n---\n\n# tiny-llama\n\n"
                                 "A tiny randomly initialised model.\n\n```python\nfrom transformers import "
                                 "AutoModel\nmodel = AutoModel.from_pretrained('x/tiny')\n```\n")
    _record("repo/README.md", "hand-written", "model card with YAML front matter and a code block")
    (d / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs "
                                      "merge=lfs -text\n*.gguf filter=lfs diff=lfs merge=lfs -text\n")
    _record("repo/.gitattributes", "hand-written", "the Hub's default LFS patterns")


def make_keras() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    kv = f"{_version('keras')} (torch backend), {_version('h5py')}"
    d = OUT / "keras"
    d.mkdir(exist_ok=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dropout(0.1), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(d / "keras3.keras")
    _record("keras/keras3.keras", kv, "keras.Sequential([Input, Dense, Dropout, Dense]).save('x.keras')")
    model.save(d / "keras3_legacy.h5")
    _record("keras/keras3_legacy.h5", kv, "same model, model.save('x.h5') (legacy HDF5)")
    model.save_weights(d / "keras3.weights.h5")
    _record("keras/keras3.weights.h5", kv, "model.save_weights('x.weights.h5')")


def make_diffusers() -> None:
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    dv = f"{_version('diffusers')}, {_version('torch')}"
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(4, 8),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=2)
    d = OUT / "diffusers"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(d)
    for rel in ("model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors"):
        _record(f"diffusers/{rel}", dv, "DDPMPipeline(tiny UNet2DModel, DDPMScheduler).save_pretrained()")


def make_more_sklearn() -> None:
    import joblib
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, IsolationForest
    from sklearn.linear_model import SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import LabelEncoder, OneHotEncoder
    from sklearn.svm import SVC

    rs = np.random.RandomState(0)
    X = rs.randn(40, 4)
    y = (X[:, 0] > 0).astype(int)
    models = {
        "kmeans": KMeans(n_clusters=2, n_init=1, random_state=0).fit(X),
        "svc": SVC(probability=False).fit(X, y),
        "gboost": GradientBoostingClassifier(n_estimators=3, max_depth=2).fit(X, y),
        "histgb": HistGradientBoostingClassifier(max_iter=3).fit(X, y),
        "isoforest": IsolationForest(n_estimators=3, random_state=0).fit(X),
        "sgd": SGDClassifier(max_iter=5, tol=None).fit(X, y),
        "knn": KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree").fit(X, y),
        "mlp": MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, y),
        "labelencoder": LabelEncoder().fit(["cat", "dog"]),
        "columns": ColumnTransformer([("oh", OneHotEncoder(), [0])]).fit(np.array([["a"], ["b"]], dtype=object)),
    }
    sv = f"{_version('scikit-learn')}, {_version('joblib')}, {_version('numpy')}"
    for name, est in models.items():
        joblib.dump(est, OUT / "sklearn" / f"{name}.joblib", compress=3)
        _record(f"sklearn/{name}.joblib", sv, f"joblib.dump({type(est).__name__}, compress=3)")


def make_media_and_safetensors() -> None:
    import wave

    import numpy as np
    import soundfile
    import torch
    from PIL import Image
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file as save_torch

    d = OUT / "repo"
    with wave.open(str(d / "sample.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(800, np.int16).tobytes())
    _record("repo/sample.wav", f"Python {sys.version.split()[0]} wave", "0.1 s of silence, 16-bit mono")
    tone = np.sin(np.linspace(0, 200, 1600)).astype(np.float32)
    for ext, fmt in (("flac", "FLAC"), ("ogg", "OGG")):
        soundfile.write(d / f"sample.{ext}", tone, 8000, format=fmt)
        _record(f"repo/sample.{ext}", _version("soundfile"), f"soundfile.write(format={fmt!r})")
    Image.new("RGB", (16, 16), (200, 20, 20)).save(d / "paper.pdf", "PDF")
    _record("repo/paper.pdf", _version("Pillow"), "Image.save(format='PDF')")
    d = OUT / "safetensors"
    d.mkdir(exist_ok=True)
    torch.manual_seed(0)
    save_torch({"lora_A.weight": torch.randn(4, 8), "lora_B.weight": torch.zeros(8, 4, dtype=torch.bfloat16),
                "empty": torch.empty(0), "scalar": torch.tensor(1.5)},
               str(d / "adapter_model.safetensors"), metadata={"format": "pt"})
    _record("safetensors/adapter_model.safetensors", _version("safetensors"),
            "safetensors.torch.save_file(bf16/f32/empty/scalar tensors, metadata={'format': 'pt'})")
    save_numpy({"a": np.arange(6, dtype=np.int64).reshape(2, 3), "b": np.ones(3, np.float16)},
               str(d / "numpy.safetensors"))
    _record("safetensors/numpy.safetensors", _version("safetensors"), "safetensors.numpy.save_file(int64/f16)")
    (d / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "meta-llama/Llama-3.2-1B",
        "inference_mode": True, "bias": "none"}, indent=2))
    _record("safetensors/adapter_config.json", "json (layout of peft)", "a LoRA adapter_config.json")


def make_lightning() -> None:
    import lightning as L
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class TinyModule(L.LightningModule):
        def __init__(self, hidden: int = 4, lr: float = 1e-3) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss: torch.Tensor = nn.functional.mse_loss(self.net(x), y)
            return loss

        def configure_optimizers(self) -> Any:
            opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}

    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(8, 8), torch.randn(8, 1)), batch_size=4)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(max_steps=2, logger=False, default_root_dir=tmp, enable_progress_bar=False,
                            enable_model_summary=False, accelerator="cpu")
        trainer.fit(TinyModule(), data)
        trainer.save_checkpoint(OUT / "torch" / "lightning_real.ckpt")
    _record("torch/lightning_real.ckpt", f"{_version('lightning')}, {_version('torch')}",
            "Trainer(max_steps=2).fit(LightningModule with save_hyperparameters, Adam, StepLR).save_checkpoint()")


def make_fairseq_like() -> None:
    """A fairseq/Hydra-style checkpoint: OmegaConf config and argparse args beside the weights."""
    import argparse

    import torch
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    cfg = OmegaConf.create({"model": {"_name": "transformer_lm", "dims": [8, 8]}, "optimization": {"lr": [0.1]},
                            "task": {"data": "/data/bin", "tokens_per_sample": 512, "seed": None}})
    state = {"cfg": cfg, "args": argparse.Namespace(arch="transformer_lm", lr=[0.1]),
             "model": torch.nn.Linear(8, 8).state_dict(),
             "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "num_updates": 3}],
             "extra_state": {"epoch": 1, "train_iterator": {"epoch": 1, "iterations_in_epoch": 3}}}
    torch.save(state, OUT / "torch" / "fairseq_like.pt")
    _record("torch/fairseq_like.pt", f"{_version('omegaconf')}, {_version('torch')}",
            "torch.save({cfg: OmegaConf.create(...), args: argparse.Namespace, model: state_dict, ...})")


def make_hf_tokenizer() -> None:
    """transformers' own save_pretrained of a tokenizer (chat_template.jinja) and processors."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast, ViTImageProcessor, WhisperFeatureExtractor

    tv = f"{_version('transformers')}, {_version('tokenizers')}"
    d = OUT / "hf_tokenizer"
    tok = Tokenizer.from_file(str(OUT / "tokenizer" / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = QWEN2_TOOLS
    fast.save_pretrained(d)
    for name in ("chat_template.jinja", "tokenizer.json", "tokenizer_config.json"):
        _record(f"hf_tokenizer/{name}", tv, "PreTrainedTokenizerFast(tokenizer_object=..., chat_template=Qwen2 "
                "tool template).save_pretrained()")
    ViTImageProcessor().save_pretrained(d)
    _record("hf_tokenizer/preprocessor_config.json", tv, "ViTImageProcessor().save_pretrained()")
    WhisperFeatureExtractor(feature_size=8).save_pretrained(d / "whisper")
    _record("hf_tokenizer/whisper/preprocessor_config.json", tv, "WhisperFeatureExtractor(feature_size=8)"
            ".save_pretrained()")


# ---- issue 17: files written by fx, torch.distributed.checkpoint, pandas (HDF5, zstd) and whole
# modules with functional activations and partials -----------------------------------------------------
def make_torch_functional() -> None:
    import functools

    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    tv = _version("torch")
    d = OUT / "torch"
    d.mkdir(exist_ok=True)
    # nn.Transformer*Layer keep their activation callable as an attribute: F.gelu (torch._C._nn.gelu),
    # torch.tanh (getattr of torch._C._VariableFunctionsClass), a functools.partial of F.leaky_relu.
    model = nn.ModuleDict({
        "gelu": nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu"),
        "tanh": nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, activation=torch.tanh),
        "partial": nn.TransformerEncoderLayer(8, 2, dim_feedforward=16,
                                              activation=functools.partial(F.leaky_relu, negative_slope=0.1)),
        "silu": nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=F.silu),
    })
    torch.save(model, d / "functional_activations.pt")
    _record("torch/functional_activations.pt", tv, "torch.save(nn.ModuleDict of Transformer layers with activation="
            "'gelu', torch.tanh, functools.partial(F.leaky_relu, negative_slope=0.1), F.silu)) (whole module)")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.register_buffer("scale", torch.ones(4))

        def forward(self, x, y):  # type: ignore[no-untyped-def]  # fx writes annotations into the code
            a = F.gelu(self.proj(x)) * self.scale
            b = torch.cat([a, y], dim=-1)
            return torch.tanh(b.view(b.shape[0], -1).sum(1))

    torch.save(torch.fx.symbolic_trace(Net()), d / "fx_graph_module.pt")
    _record("torch/fx_graph_module.pt", tv, "torch.save(torch.fx.symbolic_trace(module using F.gelu, torch.cat, "
            "view, torch.tanh, a buffer)) (reduce_graph_module with generated code)")


def make_torch_dcp() -> None:
    import warnings

    import torch
    import torch.distributed.checkpoint as dcp
    from torch import nn

    torch.manual_seed(0)
    out = OUT / "torch" / "dcp"
    out.mkdir(parents=True, exist_ok=True)
    state = {"model": nn.Linear(4, 2).state_dict(), "step": 3, "extra": {"lr": 0.1, "name": "run-1"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torch.distributed is disabled": single process, as documented
        dcp.save(state, checkpoint_id=str(out))
    for name in (".metadata", "__0_0.distcp"):
        _record(f"torch/dcp/{name}", _version("torch"), "torch.distributed.checkpoint.save({model: Linear "
                "state_dict, step: 3, extra: {lr, name}}) in one process (.metadata pickle, one shard of "
                "torch.save records back to back)")


def make_pandas() -> None:
    import warnings

    import numpy as np
    import pandas as pd

    d = OUT / "pandas"
    d.mkdir(exist_ok=True)
    writer = f"{_version('pandas')}, {_version('tables')}, {_version('zstandard')}"
    frame = pd.DataFrame({"name": ["a", "bb", "ccc"], "x": [1, 2, 3], "y": [0.5, 1.5, 2.5],
                          "t": pd.date_range("2024-01-01", periods=3)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PerformanceWarning: object columns are pickled, which is the point
        frame.to_hdf(d / "frame_fixed.h5", key="df", format="fixed", complevel=9, complib="zlib")
        frame.to_hdf(d / "frame_table.h5", key="df", format="table", data_columns=["x"], complevel=9,
                     complib="zlib")
        pd.Series(np.arange(3.0), index=["a", "b", "c"], name="s").to_hdf(d / "series.h5", key="s")
    frame.to_pickle(d / "frame.pkl.zst", compression="zstd")
    _record("pandas/frame_fixed.h5", writer, "DataFrame(str, int, float, datetime).to_hdf(format='fixed', "
            "complevel=9, complib='zlib'): string block as a pickled ObjectAtom VLArray, pickled attributes")
    _record("pandas/frame_table.h5", writer, "same, to_hdf(format='table', data_columns=['x']): protocol-0 "
            "pickles in node attributes (non_index_axes, info, values_cols ...)")
    _record("pandas/series.h5", writer, "Series(float, str index).to_hdf(key='s')")
    _record("pandas/frame.pkl.zst", writer, "same DataFrame .to_pickle(compression='zstd')")


STEPS: dict[str, Callable[[], None]] = {
    "torch": make_torch, "transformers": make_transformers, "tokenizers": make_tokenizers,
    "numpy": make_numpy_sklearn, "onnx": make_onnx, "gguf": make_gguf, "hdf5": make_hdf5,
    "flax": make_flax_msgpack, "repo": make_images_and_text, "keras": make_keras, "diffusers": make_diffusers,
    "sklearn": make_more_sklearn, "media": make_media_and_safetensors, "lightning": make_lightning,
    "hf_tokenizer": make_hf_tokenizer, "fairseq": make_fairseq_like,
    "torch_functional": make_torch_functional, "torch_dcp": make_torch_dcp, "pandas": make_pandas,
}


def write_readme() -> None:
    lines = ["# Real benign files", "",
             "Written by the real libraries from tiny, randomly initialised models by `make_real.py` (run it to",
             "regenerate; it needs the writers installed, see its docstring). Python "
             f"{sys.version.split()[0]}. Every file here must scan clean (`tests/scan/test_real_benign.py`);",
             "`tests/scan/test_real_attacks.py` injects attacks into copies of them.", "",
             "| file | writer | how |", "| --- | --- | --- |"]
    lines += [f"| `{f}` | {w} | {h} |" for f, w, h in sorted(_written)]
    lines += ["", "## Decisions and gaps", "",
              "- `pytorch_model.bin`: transformers 5 no longer writes it; 4.x's `save_pretrained(safe_serialization="
              "False)` was exactly `torch.save(state_dict)`, which is what is done here.",
              "- `keras/model.h5` and `keras/tf_model.h5` are laid out with h5py the way Keras 2 / transformers' TF "
              "`save_weights` write them (TensorFlow is not installed); `keras3*` are written by Keras 3 itself.",
              "- SentencePiece models use `normalization_rule_name=\"identity\"`: the default nmt_nfkc charsmap "
              "alone is 240 KB.",
              "- Not here, no writer installed: TFLite (tested with hand-built FlatBuffers in "
              "`test_real_dataformats.py`), TF SavedModel `.pb` (deliberately unscannable: its graph can hold "
              "file-I/O ops and modelguard does not analyse TF graphs), ICO, OpenVINO `.bin` (raw weights without "
              "framing stay MG-S002), fastText `.bin`, CoreML.",
              "- A whole-model `torch.save(model)` of a class defined in the user's own module imports that class and "
              "is suspicious (MG-S102) by design; so is a quantized whole model (`torch.ScriptObject`)."]
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


def update_readme() -> None:
    """Replace or add the README rows of the files just written, keeping every other row."""
    path = OUT / "README.md"
    lines = path.read_text().splitlines()
    new = {f"`{f}`": f"| `{f}` | {w} | {h} |" for f, w, h in _written}
    rows = [i for i, ln in enumerate(lines) if ln.startswith("| `")]
    kept = {ln.split(" | ")[0][2:]: ln for ln in (lines[i] for i in rows) if ln.split(" | ")[0][2:] not in new}
    table = [kept[k] if k in kept else new[k] for k in sorted({**kept, **new}, key=lambda k: k.strip("`"))]
    start, end = rows[0], rows[-1] + 1
    path.write_text("\n".join([*lines[:start], *table, *lines[end:]]) + "\n")


def main(argv: list[str]) -> None:
    for name in argv or list(STEPS):
        STEPS[name]()
    if argv:
        update_readme()
    else:
        write_readme()


if __name__ == "__main__":
    main(sys.argv[1:])
