"""The althub's content: repos, commits, refs and files, with the hashes the real Hub derives from them.

Written independently of ``modelguard.demo.fakehub`` (a second opinion on the protocol): nothing here
is imported from, or copied out of, that package. Pure data, no HTTP.

Facts modelled (huggingface_hub 2.4 ``hf_api.RepoFile``/``RepoSibling``/``BlobLfsInfo`` and the Hub's
public API answers):

* a git file's id is the git blob SHA-1 ``sha1(b"blob <len>\\0" + content)``;
* an LFS file is stored in git as a pointer (``version …/oid sha256:…/size …``); the tree's ``oid``
  is the blob SHA-1 of that pointer, its ``lfs.oid`` (tree) / ``lfs.sha256`` (model info) the
  content SHA-256, and ``pointerSize`` the pointer's length;
* Xet-backed LFS files carry a ``xetHash`` besides (a hash of another scheme, not the SHA-256);
* commit ids are 40 lowercase hex and unrelated to file content as far as a client can tell;
* refs are branches or tags whose names may contain ``/`` (``v1.0/rc1``, ``refs/pr/3``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".onnx", ".pt", ".h5", ".msgpack", ".model")


def blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(data)}\nsize {len(data)}\n").encode()


@dataclass(frozen=True)
class AltFile:
    path: str
    content: bytes
    lfs: bool
    xet: bool

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return sha256(self.content)

    @property
    def oid(self) -> str:
        """The tree's ``oid``: the blob id of what git stores (the pointer, for LFS)."""
        return blob_sha1(lfs_pointer(self.content) if self.lfs else self.content)

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.content))

    @property
    def xet_hash(self) -> str:
        return hashlib.blake2b(self.content, digest_size=32, person=b"althub-xet").hexdigest()

    @property
    def etag(self) -> str:
        """What the Hub announces for the bytes: the SHA-256 for LFS, the git blob SHA-1 otherwise."""
        return self.sha256 if self.lfs else blob_sha1(self.content)


@dataclass
class AltRepo:
    repo_id: str
    gated: bool = False
    private: bool = False
    commits: dict[str, dict[str, AltFile]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    readers: set[str] = field(default_factory=set)
    """tokens granted access (for gated or private repos)"""

    def push(self, files: dict[str, bytes], *, branch: str = "main", lfs_min: int = 10 * 1024,
             xet: bool = True) -> str:
        commit = secrets.token_hex(20)
        self.commits[commit] = {
            path: AltFile(path, data, lfs := (len(data) >= lfs_min or path.endswith(LFS_SUFFIXES)), xet and lfs)
            for path, data in files.items()
        }
        self.branches[branch] = commit
        return commit

    def resolve(self, revision: str) -> str | None:
        """A branch, then a tag, then a full commit id (the Hub accepts all three)."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        return revision if revision in self.commits else None
