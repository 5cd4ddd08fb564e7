"""The artifact store: versioned, atomically published folders with a manifest.

Layout under the root: `<kind>/<NNNN>-<slug>/` holding the phase's outputs and a
`manifest.json` (command line, parameters, versions, inputs with hashes, outputs with
hashes, metrics). A version is built in a hidden staging folder and renamed into place
only when complete; numbers are reserved with exclusive file creation, so two processes
publishing at once get different numbers and a number is never reused.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .artifact_hints import data_file_error
from .errors import ArtifactError
from .fileio import dumps_json, printable, scan_tree, sha256_file, sha256_text, tree_digest, write_json
from .staging import PREFIX, acquire, sigterm_as_interrupt, sweep_staging

KINDS = ("eda", "splits", "augments", "tapt", "runs", "predictions", "ensembles", "errors", "lrfind")
MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
#: Manifest field holding the SHA-256 of the manifest's own content (every other field).
SELF_HASH = "self_sha256"
#: Manifest fields and the JSON types they must have.
_FIELD_TYPES: dict[str, tuple[type, str]] = {
    "kind": (str, "a string"), "id": (str, "a string"), "outputs": (dict, "an object"), "params": (dict, "an object"),
    "metrics": (dict, "an object"), "inputs": (list, "a list"),
}
_NAME_RE = re.compile(r"^(\d{4,})-([A-Za-z0-9._-]+)$")
_VERSIONED_PACKAGES = ("kre", "torch", "transformers", "datasets", "sentence-transformers", "scikit-learn", "numpy")

_command_line: list[str] | None = None


def set_command_line(argv: list[str]) -> None:
    """Record the command line that manifests store (the CLI calls this)."""
    global _command_line
    _command_line = list(argv)


def command_line() -> str:
    """The recorded command line, shell-quoted."""
    argv = _command_line if _command_line is not None else ["kre", *sys.argv[1:]]
    return " ".join(shlex.quote(a) for a in argv)


def package_versions() -> dict[str, str]:
    """Installed versions of kre and its main dependencies (without importing them)."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def slugify(text: str, max_len: int = 40) -> str:
    """A folder-safe slug: letters, digits, '.', '_' and '-'."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return (slug or "x")[:max_len]


def manifest_self_hash(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of a manifest's content without its own `self_sha256` field (key order and layout do not count)."""
    return sha256_text(dumps_json({k: v for k, v in manifest.items() if k != SELF_HASH}))


@dataclass
class TreeCheck:
    """How an artifact folder differs from its manifest."""

    changed: list[str]  # recorded files whose content differs
    missing: list[str]  # recorded files that are gone
    added: list[str]  # regular files the manifest does not list
    links: dict[str, str]  # symbolic links (or special files) inside: path -> target
    manifest: str  # "ok", "edited", or "unverified" (no self-hash: written by an older kre)

    def problems(self) -> list[str]:
        """One phrase per problem, most serious first."""
        out = []
        if self.manifest == "edited":
            out.append(f"{MANIFEST} was edited (its content no longer matches its self-hash)")
        out += [f"{printable(p)} is a symbolic link{f' (to {printable(t, 80)})' if t else ' or special file'}" for p, t in self.links.items()]
        for what, names in (("changed", self.changed), ("missing", self.missing), ("added (not in the manifest)", self.added)):
            if names:
                out.append(f"{', '.join(printable(n) for n in names[:5])}{' ...' if len(names) > 5 else ''} {what}")
        return out


@dataclass
class Artifact:
    """A published artifact folder and its manifest (`problem`: why the manifest could not be read)."""

    path: Path
    manifest: dict[str, Any]
    problem: str | None = None
    _check: TreeCheck | None = field(default=None, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def id(self) -> str:
        """`<kind>/<NNNN>-<slug>`."""
        return str(self.manifest["id"])

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.manifest.get("params", {}))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics", {}))

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("inputs", []))

    def file(self, name: str) -> Path:
        """Path of an output file, which must exist."""
        path = self.path / name
        if not path.exists():
            raise ArtifactError(f"{self.path}: has no '{name}'", hint=f"is {self.id} the right kind of artifact?")
        return path

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def manifest_state(self) -> str:
        """`ok`, `edited` (the manifest's self-hash differs), `unverified` (no self-hash) or `invalid`."""
        if self.problem is not None:
            return "invalid"
        recorded = self.manifest.get(SELF_HASH)
        if not isinstance(recorded, str):
            return "unverified"
        return "ok" if recorded == manifest_self_hash(self.manifest) else "edited"

    def check(self) -> TreeCheck:
        """Compare the folder with its manifest: every file hashed, links found, not followed (cached)."""
        if self._check is None:
            recorded: dict[str, str] = self.manifest.get("outputs", {})
            hashes, odd = scan_tree(self.path)
            current = {k: v for k, v in hashes.items() if k != MANIFEST}
            links = {p: (os.readlink(self.path / p) if (self.path / p).is_symlink() else "") for p in odd}
            self._check = TreeCheck(
                changed=sorted(k for k, v in recorded.items() if k in current and current[k] != v),
                missing=sorted(k for k in recorded if k not in current and k not in links),
                added=sorted(k for k in current if k not in recorded),
                links=links,
                manifest=self.manifest_state(),
            )
        return self._check

    def changed_files(self) -> list[str]:
        """Files that no longer match the manifest: changed, missing, added, or links."""
        c = self.check()
        return sorted({*c.changed, *c.missing, *c.added, *c.links})

    def problems(self) -> list[str]:
        """Everything that makes this folder differ from what was published (empty when it is intact)."""
        return self.check().problems()

    def verify(self) -> None:
        """Raise ArtifactError when the folder or its manifest changed since publication, or it holds links.

        The one verification every consumer uses (predict, ensemble, training data, show).
        """
        problems = self.problems()
        if problems:
            raise ArtifactError(
                f"{self.path}: changed since {self.id} was written: {'; '.join(problems)}",
                hint=f"artifacts are immutable; `kre show {self.path}` lists what changed; re-run the phase to make a new version",
            )

    def manifest_sha256(self) -> str:
        return sha256_file(self.path / MANIFEST)


def load_artifact(path: str | Path, *, verify: bool = True, kind: str | None = None) -> Artifact:
    """Open an artifact folder, refusing one without a valid manifest or with changed files."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such artifact folder")
    mpath = path / MANIFEST
    if mpath.is_symlink():
        raise ArtifactError(f"{mpath}: is a symbolic link; a manifest must be a file of the artifact")
    if not mpath.is_file():
        raise ArtifactError(f"{path}: not an artifact (no {MANIFEST})", hint="pass a folder written by kre")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{mpath}: not a valid manifest ({printable(str(exc), 80)})") from None
    check_manifest(mpath, manifest)
    artifact = Artifact(path, manifest)
    if kind is not None and artifact.kind != kind:
        raise ArtifactError(f"{path}: is a '{artifact.kind}' artifact, expected '{kind}'")
    if verify:
        artifact.verify()
    return artifact


def check_manifest(mpath: Path, manifest: Any) -> None:
    """Refuse a manifest that lacks kind, id or outputs, or whose fields have the wrong JSON types."""
    if not isinstance(manifest, dict) or not {"kind", "id", "outputs"} <= manifest.keys():
        raise ArtifactError(f"{mpath}: not a valid manifest (kind, id or outputs missing)")
    for key, (typ, name) in _FIELD_TYPES.items():
        if key in manifest and not isinstance(manifest[key], typ):
            raise ArtifactError(f"{mpath}: not a valid manifest ('{key}' is {_json_type(manifest[key])}, expected {name})")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest["outputs"].items()):
        raise ArtifactError(f"{mpath}: not a valid manifest ('outputs' must map file names to hashes)")
    if not all(isinstance(i, dict) for i in manifest.get("inputs", [])):
        raise ArtifactError(f"{mpath}: not a valid manifest ('inputs' must be a list of objects)")


def _json_type(value: Any) -> str:
    names = {str: "a string", dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def enclosing_artifact(path: Path, *, levels: int = 4) -> Path | None:
    """The artifact folder (`<kind>/<NNNN>-<slug>/` with a manifest) that contains `path`, if any."""
    for parent in list(Path(os.path.abspath(path)).parents)[:levels]:
        if (parent / MANIFEST).exists() and _NAME_RE.match(parent.name) and parent.parent.name in KINDS:
            return parent
    return None


class ArtifactStore:
    """Creates, lists and resolves artifacts under a root folder."""

    def __init__(self, root: str | Path = ".") -> None:
        self.root = Path(root)

    def kind_dir(self, kind: str) -> Path:
        if kind not in KINDS:
            raise ArtifactError(f"unknown artifact kind '{kind}'", hint=f"kinds: {', '.join(KINDS)}")
        return self.root / kind

    # -- listing and resolution -------------------------------------------------
    def list(self, kind: str) -> list[Path]:
        """Published version folders of a kind, oldest first."""
        folder = self.kind_dir(kind)
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _NAME_RE.match(p.name))]
        return [p for _, p in sorted(found)]

    def load_all(self, kind: str, *, verify: bool = False, broken: bool = False) -> list[Artifact]:
        """Every valid artifact of a kind; folders without a valid manifest are skipped, or with
        `broken=True` kept as placeholders whose `problem` says what is wrong."""
        out = []
        for path in self.list(kind):
            try:
                out.append(load_artifact(path, verify=verify))
            except ArtifactError as exc:
                if broken:
                    out.append(Artifact(path, {"kind": kind, "id": f"{kind}/{path.name}"}, problem=exc.message))
        return out

    def resolve(self, ref: str | Path, kind: str | None = None, *, verify: bool = True) -> Artifact:
        """Find an artifact by folder path, `kind/latest`, `kind/NNNN` or `kind/NNNN-slug`.

        A bare `latest` or `NNNN` works when `kind` is given.
        """
        text = str(ref).rstrip("/")
        path = Path(text)
        for candidate in (path, self.root / path):
            if candidate.is_dir() and (candidate / MANIFEST).exists():
                return load_artifact(candidate, verify=verify, kind=kind)
        parts = text.split("/")
        if len(parts) >= 2 and parts[-2] in KINDS:
            ref_kind, name = parts[-2], parts[-1]
            base = Path("/".join(parts[:-2])) if len(parts) > 2 else None
            store = ArtifactStore(base if base is not None else self.root)
        elif len(parts) == 1 and kind is not None:
            ref_kind, name, store = kind, parts[0], self
        else:
            raise data_file_error(path) or ArtifactError(
                f"{text}: no such artifact",
                hint="give an artifact folder, or KIND/latest, KIND/NNNN (kinds: " + ", ".join(KINDS) + ")",
            )
        if kind is not None and ref_kind != kind:
            raise ArtifactError(f"{text}: expected a '{kind}' artifact, got '{ref_kind}'")
        versions = store.list(ref_kind)
        if name == "latest":
            if not versions:
                raise ArtifactError(
                    f"{text}: there is no {ref_kind} artifact under {store.root.resolve()}",
                    hint="run the phase that makes it first, or pass --root",
                )
            return load_artifact(versions[-1], verify=verify, kind=kind)
        for p in versions:
            number = _NAME_RE.match(p.name).group(1)  # type: ignore[union-attr]
            if name in (p.name, number) or (name.isdigit() and int(name) == int(number)):
                return load_artifact(p, verify=verify, kind=kind)
        raise ArtifactError(f"{text}: no such artifact under {store.root.resolve()}")

    # -- creation ---------------------------------------------------------------
    @contextmanager
    def create(
        self,
        kind: str,
        slug: str,
        *,
        params: Mapping[str, Any],
        seed: int | None = None,
        staging_key: str | None = None,
    ) -> Iterator["ArtifactBuilder"]:
        """Build a new version in a staging folder; publish it only if the block succeeds.

        With `staging_key` the staging folder is `.staging-<key>`: it is reused when it
        exists (so a stopped run can resume from what it left) and kept on failure.
        Without it, the staging folder is unique and removed on failure.
        """
        folder = self.kind_dir(kind)
        folder.mkdir(parents=True, exist_ok=True)
        sweep_staging(self.root, KINDS)
        key = slugify(staging_key, 80) if staging_key else uuid.uuid4().hex
        staging = folder / f"{PREFIX}{key}"
        lock = acquire(staging, resumable=bool(staging_key), command=command_line())
        try:
            resumed = staging.exists()
            staging.mkdir(exist_ok=bool(staging_key))
            builder = ArtifactBuilder(self, kind, slugify(slug), staging, dict(params), seed, resumed)
            with sigterm_as_interrupt():
                try:
                    yield builder
                    builder.publish()
                except BaseException:
                    if not staging_key:
                        shutil.rmtree(staging, ignore_errors=True)
                    raise
        finally:
            lock.release()

    def _reserve_number(self, kind: str) -> int:
        folder = self.kind_dir(kind)
        ids = folder / ".ids"
        ids.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in folder.iterdir() if (m := _NAME_RE.match(p.name))]
        taken += [int(p.name) for p in ids.iterdir() if p.name.isdigit()]
        number = max(taken, default=0) + 1
        while True:
            try:
                fd = os.open(ids / f"{number:04d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                number += 1
                continue
            os.close(fd)
            return number


@dataclass
class ArtifactBuilder:
    """An artifact being written: outputs go into `path`; inputs, params and metrics are recorded."""

    store: ArtifactStore
    kind: str
    slug: str
    path: Path
    params: dict[str, Any]
    seed: int | None
    resumed: bool = False
    inputs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    published: Artifact | None = None

    def add_input_file(self, path: str | Path, role: str = "data") -> str:
        """Record an input file with its content hash; returns the hash. A `hub:` data source is recorded by its
        dataset, config, split, fingerprint and content hash (kre.data.hub)."""
        if str(path).startswith("hub:"):
            from .data.hub import hub_input_record

            record = hub_input_record(path, role)
            self.inputs.append(record)
            return str(record["sha256"])
        path = Path(path)
        digest = sha256_file(path)
        self.inputs.append({"role": role, "path": str(path), "sha256": digest})
        return digest

    def add_input_artifact(self, artifact: Artifact, role: str) -> None:
        """Record an input artifact by id, folder and manifest hash."""
        self.inputs.append(
            {"role": role, "artifact": artifact.id, "path": str(artifact.path), "manifest_sha256": artifact.manifest_sha256()}
        )

    def add_input_ref(self, ref: str, role: str) -> None:
        """Record a non-file input such as a model hub id."""
        self.inputs.append({"role": role, "ref": ref})

    def fingerprint(self) -> str:
        """Hash of kind, params and input hashes: equal fingerprints mean the same work."""
        keyed = [
            {k: v for k, v in i.items() if k in ("role", "sha256", "manifest_sha256", "ref", "artifact")}
            for i in self.inputs
        ]
        return sha256_text(dumps_json({"kind": self.kind, "params": self.params, "inputs": keyed}))

    def publish(self) -> Artifact:
        """Hash the outputs, write the manifest and move the folder into place."""
        if self.published is not None:
            return self.published
        hashes, odd = scan_tree(self.path)
        if odd:
            raise ArtifactError(
                f"{self.path}: holds {', '.join(odd[:3])}, a symbolic link or special file; artifacts hold regular files only",
                hint="copy the file into the artifact instead of linking it",
            )
        outputs = {k: v for k, v in hashes.items() if k != MANIFEST}
        number = self.store._reserve_number(self.kind)
        name = f"{number:04d}-{self.slug}"
        manifest = {
            "schema": SCHEMA_VERSION,
            "kind": self.kind,
            "id": f"{self.kind}/{name}",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command_line(),
            "params": self.params,
            "seed": self.seed,
            "versions": package_versions(),
            "platform": f"{platform.system()} {platform.machine()}",
            "inputs": self.inputs,
            "outputs": outputs,
            "outputs_digest": tree_digest(outputs),
            "fingerprint": self.fingerprint(),
            "metrics": self.metrics,
            **self.info,
        }
        manifest = json.loads(dumps_json(manifest))  # the content as it will be read back
        manifest[SELF_HASH] = manifest_self_hash(manifest)
        write_json(self.path / MANIFEST, manifest)
        final = self.store.kind_dir(self.kind) / name
        os.rename(self.path, final)
        self.published = Artifact(final, manifest)
        return self.published

