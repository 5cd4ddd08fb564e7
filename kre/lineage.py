"""Lineage: follow an artifact's manifest inputs back to the raw files, checking hashes.

Artifact inputs are followed recursively; file inputs are leaves whose sha256 is
compared with the one recorded; references (e.g. a model hub id) are leaves that cannot
be checked. Each node is marked `ok`, `changed`, `missing` or `unchecked`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import MANIFEST, SELF_HASH, Artifact, ArtifactStore, load_artifact
from .errors import ArtifactError
from .fileio import sha256_file

OK, CHANGED, MISSING, UNCHECKED = "ok", "changed", "missing", "unchecked"


@dataclass
class Node:
    """One node of a lineage tree."""

    type: str  # "artifact", "file" or "ref"
    label: str  # artifact id, file path or reference
    role: str | None
    status: str
    path: str | None = None
    detail: str | None = None
    repeated: bool = False  # an artifact already shown higher up the tree
    children: list["Node"] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "label": self.label,
            "role": self.role,
            "status": self.status,
            "path": self.path,
            "detail": self.detail,
            "repeated": self.repeated,
            "inputs": [c.to_dict() for c in self.children],
        }

    def walk(self) -> list["Node"]:
        """This node and every node below it."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    @property
    def all_ok(self) -> bool:
        """True when no node of the tree is changed or missing."""
        return all(n.status in (OK, UNCHECKED) for n in self.walk())


def artifact_status(artifact: Artifact, recorded_manifest_sha: str | None = None) -> tuple[str, str | None]:
    """`ok`, `changed` with what changed (files, links, an edited manifest, or a manifest that differs
    from the one the consumer recorded), or `unchecked` when its files are intact but its manifest
    has no self-hash (written by an older kre)."""
    problems = artifact.problems()
    if problems:
        return CHANGED, "; ".join(problems)
    if recorded_manifest_sha and artifact.manifest_sha256() != recorded_manifest_sha:
        return CHANGED, "manifest differs from the one recorded by the consumer"
    if artifact.manifest_state() == "unverified":
        return UNCHECKED, "files ok; the manifest has no self-hash (written by an older kre), so it is not verified"
    return OK, None


def _candidates(recorded: str, store: ArtifactStore) -> list[Path]:
    path = Path(recorded)
    out = [path]
    if not path.is_absolute():
        out.append(store.root / path)
    return out


def _find_artifact(entry: dict[str, Any], store: ArtifactStore) -> Artifact | None:
    for path in _candidates(str(entry.get("path", "")), store) if entry.get("path") else []:
        if (path / MANIFEST).is_file():
            try:
                art = load_artifact(path, verify=False)
            except ArtifactError:
                continue
            if not entry.get("artifact") or art.id == entry["artifact"]:
                return art
    if entry.get("artifact"):
        try:
            return store.resolve(str(entry["artifact"]), verify=False)
        except ArtifactError:
            return None
    return None


def _file_node(entry: dict[str, Any], store: ArtifactStore, check: bool = True) -> Node:
    recorded = str(entry.get("path", ""))
    role = entry.get("role")
    for path in _candidates(recorded, store):
        if path.is_file():
            if not check:
                return Node("file", recorded, role, UNCHECKED, str(path))
            digest = sha256_file(path)
            if entry.get("sha256") and digest != entry["sha256"]:
                return Node("file", recorded, role, CHANGED, str(path), "sha256 differs from the recorded one")
            return Node("file", recorded, role, OK if entry.get("sha256") else UNCHECKED, str(path))
        if path.is_dir():
            return Node("file", recorded, role, UNCHECKED, str(path), "folder (not hashed)")
    return Node("file", recorded, role, MISSING, None, "file not found")


def lineage(artifact: Artifact, root: str | Path = ".", *, check: bool = True, max_depth: int = 32) -> Node:
    """The lineage tree of an artifact, with hash checks at every node (`check=False`: none)."""
    store = ArtifactStore(root)
    seen: set[str] = set()

    def visit(art: Artifact, role: str | None, recorded_sha: str | None, depth: int) -> Node:
        status, detail = artifact_status(art, recorded_sha) if check else (UNCHECKED, None)
        node = Node("artifact", art.id, role, status, str(art.path), detail)
        key = str(art.path.resolve())
        if key in seen:
            node.repeated = True
            return node
        seen.add(key)
        if depth >= max_depth:
            node.detail = (node.detail + "; " if node.detail else "") + "lineage too deep, not followed"
            return node
        for entry in art.inputs:
            node.children.append(entry_node(entry, depth + 1))
        return node

    def entry_node(entry: dict[str, Any], depth: int) -> Node:
        role = entry.get("role")
        if entry.get("artifact") is not None:
            found = _find_artifact(entry, store)
            if found is None:
                return Node("artifact", str(entry["artifact"]), role, MISSING, entry.get("path"), "artifact folder not found")
            return visit(found, role, entry.get("manifest_sha256"), depth)
        if entry.get("ref") is not None:
            return Node("ref", str(entry["ref"]), role, UNCHECKED, None, "reference (not a local file)")
        if entry.get("path"):
            return _file_node(entry, store, check)
        return Node("ref", str(entry), role, UNCHECKED)

    return visit(artifact, None, None, 0)


def summarize(artifact: Artifact) -> dict[str, Any]:
    """The manifest's main facts, with the current state of every output file."""
    m = artifact.manifest
    check = artifact.check()
    recorded: dict[str, str] = m.get("outputs", {})
    states = {**{n: CHANGED for n in check.changed}, **{n: MISSING for n in check.missing},
              **{n: "new" for n in check.added}, **{n: "link" for n in check.links}}
    outputs = []
    for name in sorted(set(recorded) | set(states)):
        path = artifact.path / name
        size = path.lstat().st_size if path.exists() and not path.is_symlink() else None
        outputs.append({"file": name, "sha256": recorded.get(name), "size": size, "status": states.get(name, OK)})
    extra = {
        k: v
        for k, v in m.items()
        if k not in {"schema", "kind", "id", "created", "command", "params", "seed", "versions", "platform", "inputs",
                     "outputs", "outputs_digest", "fingerprint", "metrics", SELF_HASH}
    }
    return {
        "kind": artifact.kind,
        "id": artifact.id,
        "path": str(artifact.path),
        "created": m.get("created"),
        "command": m.get("command"),
        "seed": m.get("seed"),
        "params": m.get("params", {}),
        "metrics": m.get("metrics", {}),
        "info": extra,
        "versions": m.get("versions", {}),
        "outputs": outputs,
        "manifest": artifact.manifest_state(),
        "problems": check.problems(),
    }
