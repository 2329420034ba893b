"""Rules of the pickle call model, padded compression, TorchScript file operators and HDF5 structure.

MG-S109/S110 (torch.fx graph code in a pickle), MG-S207 (a compressed stream padded past the ratio
limit), MG-S316/S317 (TorchScript that writes or maps files, when loaded or when run) and
MG-S510..S514 (HDF5 read by structure), as plain data: :mod:`modelguard.report.rules` splices them into
the scan section of its one table, so every rule still comes from there
(:func:`modelguard.report.rules.finding`); they live here only to keep that module within the size
limit. Plain tuples (id, severity, verdict, title, help), so this module imports nothing. Pure data.
The help texts of MG-S101 (the derived denylist) and MG-S301 (custom code is information) are here
for the same reason.
"""

from __future__ import annotations

S101_HELP = (
    "Loading this pickle imports something that runs commands, evaluates code, imports by name, writes "
    "files, opens connections, loads native code or unpickles more data: a primitive that does so, or a "
    "standard-library callable whose source can reach one (derived, see modelguard.scan.pickle.reach). "
    "Do not load it; report it to the publisher.")
S301_HELP = (
    "A loader with trust_remote_code runs this file. Its presence is information: whether custom code "
    "may run is the policy's decision at fetch and verify (trust-remote-code, MG-P011/P012), and only "
    "dangerous constructs in it raise a verdict. Review it and pin it by hash ([[policy.remote-code]]).")

DETECTION_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    ("MG-S109", "critical", "malicious", "Pickled graph code does more than generated graph code",
         "A torch.fx GraphModule pickle stores Python source that torch executes and re-traces on load. "
         "This code runs module-level statements, unusual builtins, file, process, network or dynamic-code "
         "constructs that torch's code generator never writes. Do not load it."),
    ("MG-S110", "high", "unscannable", "Pickled graph code cannot be reviewed",
         "A torch.fx GraphModule pickle stores Python source that does not parse for this interpreter, so "
         "what it runs on load cannot be checked. Re-export the graph module, or save its state_dict."),
    ("MG-S207", "medium", "suspicious", "Compressed stream padded past the decompression limit",
         "The stream expands to more than the ratio limit allows, and everything past the part that was "
         "scanned is one repeated byte: padding that makes a size- or ratio-based scanner give up while a "
         "loader reads the pickle in front of it. The content was scanned; real writers do not pad. "
         "Re-export the file."),
    ("MG-S316", "critical", "malicious", "TorchScript writes or maps files when loaded",
         "The archive's __setstate__ (or code it calls) uses aten::save or aten::from_file, which torch.jit.load "
         "runs while it restores the module: loading the file writes or maps files. Do not load it."),
    ("MG-S317", "high", "suspicious", "TorchScript writes or maps files when run",
         "The archive's code calls aten::save or aten::from_file, so running the model reads, maps or writes "
         "files. Models never need this; check the paths before using it."),
    ("MG-S510", "high", "unscannable", "HDF5 structure does not parse",
         "The file claims to be HDF5 but its superblock, object headers, heaps or B-trees are truncated or "
         "inconsistent, so what its attributes and links make a loader do cannot be checked. Re-export it."),
    ("MG-S511", "high", "malicious", "HDF5 dataset reads its data from an external file",
         "The dataset's bytes come from files outside this one (HDF5 external storage), which the library "
         "opens on the loading machine, relative to the working directory: a model file that reads arbitrary "
         "local files into its weights. Real model writers never use it; do not load the file."),
    ("MG-S512", "high", "suspicious", "HDF5 external or user-defined link",
         "A link points into another HDF5 file (opened when the link is followed) or is resolved by a plugin "
         "the loading process registers. The target was not scanned; model files are self-contained. "
         "Re-export the file with the data copied in."),
    ("MG-S513", "high", "suspicious", "HDF5 virtual dataset maps data from another file",
         "A virtual dataset reads its values from datasets in other files when it is read, files that were "
         "not scanned and may not be what the publisher had. Re-export the file with the data copied in."),
    ("MG-S514", "high", "unscannable", "HDF5 feature modelguard does not read",
         "The file keeps attributes or pickled data in a structure modelguard does not decode (compressed "
         "dense storage, the shared message heap, an unsupported filter or chunk index), so what a loader "
         "would unpickle from it cannot be checked. Re-export it with default settings."),
)
