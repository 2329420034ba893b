"""Files written by the real libraries (tests/data/real, see its README and make_real.py) scan clean.

Each file is checked for its format too, so a file that is clean only because it fell through
to "text" or was misrouted fails here. The folder listing and the table must agree, so a file
added by make_real.py without a row here, or a row whose file is gone, fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.models import Severity, Verdict
from modelguard.scan import scan_file
from tests.scan.realdata import REAL

NOT_SAMPLES = {"make_real.py", "README.md"}

# relative path -> the format modelguard must report
EXPECTED: dict[str, str] = {
    "diffusers/model_index.json": "json",
    "diffusers/scheduler/scheduler_config.json": "json",
    "diffusers/unet/config.json": "json",
    "diffusers/unet/diffusion_pytorch_model.safetensors": "safetensors",
    "flax/flax_model.msgpack": "msgpack",
    "gguf/chatml.gguf": "gguf",
    "gguf/gemma.gguf": "gguf",
    "gguf/llama3.gguf": "gguf",
    "gguf/mistral.gguf": "gguf",
    "gguf/qwen2_tools.gguf": "gguf",
    "hf_bert/config.json": "json",
    "hf_bert/pytorch_model.bin": "pytorch-zip",
    "hf_bert/training_args.bin": "pytorch-zip",
    "hf_llama/config.json": "json",
    "hf_tokenizer/chat_template.jinja": "jinja",
    "hf_tokenizer/preprocessor_config.json": "json",
    "hf_tokenizer/tokenizer.json": "json",
    "hf_tokenizer/tokenizer_config.json": "json",
    "hf_tokenizer/whisper/preprocessor_config.json": "json",
    "hf_llama/generation_config.json": "json",
    "hf_llama/model.safetensors": "safetensors",
    "keras/keras3.keras": "keras",
    "keras/keras3.weights.h5": "hdf5",
    "keras/keras3_legacy.h5": "keras-h5",
    "keras/model.h5": "keras-h5",
    "keras/tf_model.h5": "hdf5",
    "pandas/frame.pkl.zst": "zstd",
    "pandas/frame_fixed.h5": "hdf5-pytables",
    "pandas/frame_table.h5": "hdf5-pytables",
    "pandas/series.h5": "hdf5-pytables",
    "torch/dcp/.metadata": "pickle",
    "torch/dcp/__0_0.distcp": "pytorch-dcp-shard",
    "torch/functional_activations.pt": "pytorch-zip",
    "torch/fx_graph_module.pt": "pytorch-zip",
    "numpy/array.npy": "numpy",
    "numpy/arrays.npz": "npz",
    "numpy/arrays_compressed.npz": "npz",
    "numpy/object.npy": "numpy",
    "numpy/structured.npy": "numpy",
    "onnx/external/model.onnx": "onnx",
    "onnx/external/model.onnx_data": "onnx-external-data",
    "onnx/model.onnx": "onnx",
    "repo/.gitattributes": "text",
    "repo/README.md": "text",
    "repo/animated.gif": "image",
    "repo/logo.bmp": "image",
    "repo/logo.gif": "image",
    "repo/logo.jpg": "image",
    "repo/logo.png": "image",
    "repo/logo.svg": "text",
    "repo/logo.tiff": "image",
    "repo/logo.webp": "image",
    "repo/paper.pdf": "pdf",
    "repo/photo_progressive.jpg": "image",
    "repo/sample.flac": "audio",
    "repo/sample.ogg": "audio",
    "repo/sample.wav": "audio",
    "safetensors/adapter_config.json": "json",
    "safetensors/adapter_model.safetensors": "safetensors",
    "safetensors/numpy.safetensors": "safetensors",
    "sklearn/columns.joblib": "zlib",
    "sklearn/forest.joblib": "joblib",
    "sklearn/forest.pkl": "pickle",
    "sklearn/gboost.joblib": "zlib",
    "sklearn/histgb.joblib": "zlib",
    "sklearn/isoforest.joblib": "zlib",
    "sklearn/kmeans.joblib": "zlib",
    "sklearn/knn.joblib": "zlib",
    "sklearn/labelencoder.joblib": "zlib",
    "sklearn/logreg.joblib": "joblib",
    "sklearn/mlp.joblib": "zlib",
    "sklearn/pipeline.bz2.joblib": "bzip2",
    "sklearn/pipeline.gzip.joblib": "gzip",
    "sklearn/pipeline.joblib": "joblib",
    "sklearn/pipeline.lz4.joblib": "lz4",
    "sklearn/pipeline.lzma.joblib": "xz",
    "sklearn/pipeline.xz.joblib": "xz",
    "sklearn/pipeline.zlib.joblib": "zlib",
    "sklearn/sgd.joblib": "zlib",
    "sklearn/svc.joblib": "zlib",
    "sklearn/tfidf.joblib": "joblib",
    "sklearn/tree.joblib": "joblib",
    "tokenizer/merges.txt": "text",
    "tokenizer/sentencepiece_bpe.model": "sentencepiece",
    "tokenizer/sentencepiece_unigram.model": "sentencepiece",
    "tokenizer/special_tokens_map.json": "json",
    "tokenizer/tokenizer.json": "json",
    "tokenizer/tokenizer_config.json": "json",
    "tokenizer/vocab.json": "json",
    "tokenizer/vocab.txt": "text",
    "torch/exported.pt2": "pytorch-export",
    "torch/fairseq_like.pt": "pytorch-zip",
    "torch/lightning.ckpt": "pytorch-zip",
    "torch/lightning_real.ckpt": "pytorch-zip",
    "torch/mixed_tensors.pt": "pytorch-zip",
    "torch/mixed_tensors_legacy.pt": "pytorch-legacy",
    "torch/optimizer.pt": "pytorch-zip",
    "torch/rng_state.pth": "pytorch-zip",
    "torch/scheduler.pt": "pytorch-zip",
    "torch/state_dict.pt": "pytorch-zip",
    "torch/state_dict_legacy.pt": "pytorch-legacy",
    "torch/torchscript.pt": "torchscript",
    "torch/traced.pt": "torchscript",
    "torch/whole_model.pt": "pytorch-zip",
    # published/: copied unmodified from released packages (tests/data/README.md, issue 20)
    "published/coreml/model.mlmodel": "coreml",
    "published/coreml/weight.bin": "coreml-weights",
    "published/gensim/high_precision.kv.bin": "word2vec",
    "published/gensim/ldamodel_python_3_5": "pickle",
    "published/gensim/lee_fasttext.bin": "fasttext",
    "published/gensim/phrases-3.6.0.model": "pickle",
    "published/gensim/toy-model.bin": "fasttext",
    "published/gensim/word2vec_old": "pickle",
    "published/joblib/joblib_0.10.0_pickle_py27_np17.pkl.lzma": "xz",
    "published/joblib/joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz_01.npy.z": "zlib",
    "published/matlab/testdouble_4.2c_SOL2.mat": "matlab",
    "published/matlab/testdouble_7.1_GLNX86.mat": "matlab",
    "published/matlab/testemptycell_5.3_SOL2.mat": "matlab",
    "published/matlab/testvec_4_GLNX86.mat": "matlab",
    "published/mediapipe/face_detection_short_range_cpu.binarypb": "mediapipe-graph",
    "published/mediapipe/selfie_segmentation.tflite": "tflite",
    "published/numpy/py2-np0-objarr.npy": "numpy",
    "published/numpy/win64python2.npy": "numpy",
    "published/numpy/numpy_2_0_array.pkl": "pickle",
    "published/onnx-tensor/batchnorm_input_0.pb": "onnx-tensor",
    "published/onnx-tensor/gradient_of_add_input_0.pb": "onnx-tensor",
    "published/onnx-tensor/sequence_output_0.pb": "onnx-tensor",
    "published/sentencepiece/nfkc.bin": "sentencepiece-normalizer",
    "published/templates/tencent-Hy3.jinja": "jinja",
    "published/music21/03.md": "unknown",
    "published/lingua/pa-quadrigrams.json.br": "unknown",
    "published/lingua/gu-fivegrams.json.br": "unknown",
    "published/obspy/v1.0.2-py3.08.pkl": "pickle",
    "published/obspy/v1.4.2-py3.12.pkl": "pickle",
    "published/mne/bem.html.jinja": "jinja",
    "published/natasha/slovnet_syntax_news_v1-arrays-21.bin": "unknown",
    "published/pydicom/zipMR.gz": "gzip",
    "published/pytables/nested-type-with-gaps.h5": "hdf5",
    "published/pytables/time-table-vlarray-1_x.h5": "hdf5-pytables",
    "published/pytables/zerodim-attrs-1.4.h5": "hdf5-pytables",
    "published/tf-checkpoint/variables.index": "tf-checkpoint-index",
}


def _samples() -> list[str]:
    return sorted(p.relative_to(REAL).as_posix() for p in REAL.rglob("*")
                  if p.is_file() and p.relative_to(REAL).as_posix() not in NOT_SAMPLES)


def test_every_real_file_has_an_expected_format() -> None:
    assert _samples() == sorted(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_real_file_is_clean(rel: str) -> None:
    result = scan_file(REAL / rel)
    assert result.format == EXPECTED[rel]
    assert result.verdict is Verdict.CLEAN, [(f.rule, f.message, f.location) for f in result.findings]
    assert [f for f in result.findings if f.severity is not Severity.INFO] == []


def test_real_repo_scans_clean_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole set as one folder, the way a user scans a downloaded snapshot."""
    repo = tmp_path / "snapshot"
    shutil.copytree(REAL, repo, ignore=lambda folder, names: NOT_SAMPLES & set(names) if Path(folder) == REAL else [])
    assert run(["scan", str(repo)]) == 0
    out = capsys.readouterr().out
    assert f"{len(EXPECTED)} files — {len(EXPECTED)} clean" in out
