"""The pickle analyser: an opcode-level model of the unpickler that never executes anything.

* :mod:`~modelguard.scan.pickle.scanner` — engine entry points (``scan``, ``probe``) for pickle files.
* :mod:`~modelguard.scan.pickle.reader` — opcode decoding with bounds on every length.
* :mod:`~modelguard.scan.pickle.vm`, :mod:`~modelguard.scan.pickle.loop`,
  :mod:`~modelguard.scan.pickle.stack` — the abstract machine: stack and memo modelled by value.
* :mod:`~modelguard.scan.pickle.calls` — what a call does: partials, guarded ``getattr``, nested
  unpicklers, copyreg extensions; :mod:`~modelguard.scan.pickle.fxgraph` — ``torch.fx`` graph code.
* :mod:`~modelguard.scan.pickle.values` — the values the machine tracks (globals, calls, constants).
* :mod:`~modelguard.scan.pickle.collector` — turns what the machine saw into findings.
* :mod:`~modelguard.scan.pickle.allowlist` — the globals real model files import, and the denylist;
  :mod:`~modelguard.scan.pickle.torch_ops` — torch's tensor functions allowed by name.
* :mod:`~modelguard.scan.pickle.reach`, :mod:`~modelguard.scan.pickle.reach_source` — how the
  denylist is derived from what standard-library callables can reach (run by hand);
  :mod:`~modelguard.scan.pickle.reach_table` and :mod:`~modelguard.scan.pickle.reach_libs` — the
  derived tables the scan reads (standard library; torch, numpy and joblib).
* :mod:`~modelguard.scan.pickle.joblib_arrays` — joblib's inline arrays, skipped as joblib skips them.
"""
