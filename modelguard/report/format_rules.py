"""Rules of unknown binaries and the data-format recognisers (MG-S005, MG-S710..S739), as plain data.

:mod:`modelguard.report.rules` splices these into the scan section of its one table, so every rule
still comes from there (:func:`modelguard.report.rules.finding`); they live here only to keep that
module within the size limit. Plain tuples (id, severity, verdict, title, help), so this module
imports nothing. Pure data; no I/O.

Which unknowns fail by default (decided in :mod:`modelguard.scan.unknown`): MG-S001, a file that
claims a format and breaks it (a truncated pickle, a PROTO of an unknown protocol); MG-S002, no
known format but it holds a complete pickle that imports, an archive that cannot be delimited or
a TensorFlow code/file op. Informational by default: MG-S005, no known format and nothing a loader
could run; ``unknown-formats = "fail"`` in the policy, or ``--fail-on info``, makes it fail.
"""

from __future__ import annotations

FORMAT_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    ("MG-S005", "info", "unscannable", "Unrecognised binary format, nothing loadable inside",
     "No recogniser claims the file, but it holds no pickle, archive or TensorFlow code/file op, so no loader "
     "modelguard knows runs code from it (dictionaries, scientific data, raw tensors). Informational by default; "
     "set unknown-formats = \"fail\" in the policy (or scan --fail-on info) to refuse every file modelguard "
     "cannot read."),
    # TensorFlow, CoreML, TFLite and other data formats (modelguard.scan.tensorflow, coreml, protovalues,
    # recognise). Tensors, vocabularies and matrices are data, never a finding.
    ("MG-S710", "high", "suspicious", "TensorFlow graph calls Python",
     "A node runs PyFunc, PyFuncStateless or EagerPyFunc, which call a Python function registered in the "
     "process that loads the graph. Portable models never need one; find out what the publisher expects to "
     "be registered before loading it."),
    ("MG-S711", "high", "suspicious", "TensorFlow graph reads, writes or lists files",
     "A node runs ReadFile, WriteFile or MatchingFiles, so running the graph touches files named by a "
     "tensor. Check which paths reach those ops before serving the model."),
    ("MG-S712", "low", "suspicious", "CoreML model needs native code outside the file",
     "A custom model, custom layer or serialized model names a class or framework the app must link; that "
     "code runs natively. Check where it comes from."),
    ("MG-S713", "high", "suspicious", "CoreML linked model path leaves the package",
     "A linked model's file name or search path is absolute, uses '..', or names a drive, home folder or "
     "URL, so Core ML would load a model from outside the package. Do not load it."),
)
