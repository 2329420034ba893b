"""The offline demo: ``modelguard demo`` runs lock -> fetch -> verify against a bundled loopback Hub.

* :mod:`modelguard.demo.fakehub`: a fake Hugging Face Hub on 127.0.0.1 that speaks the protocol
  huggingface_hub uses, with fault injection. The test suite uses the same server
  (``tests/fakehub`` re-exports it).
* :mod:`modelguard.demo.artifacts`: tiny model files built byte by byte (never loaded).
* :mod:`modelguard.demo.scenario`: the five demo models and the verdict each must get.
* :mod:`modelguard.demo.runner`: runs the steps through the library calls the CLI makes and
  prints what a user would see; returns non-zero only if a model did not get its verdict.

Needs no network, writes only inside its working folder. Nothing here is imported by the rest
of modelguard.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_demo"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the fake Hub (tests do) must not pull in the library the runner drives.
    if name == "run_demo":
        from modelguard.demo.runner import run_demo

        return run_demo
    raise AttributeError(f"module 'modelguard.demo' has no attribute {name!r}")
