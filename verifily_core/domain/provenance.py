"""Signed runs: an in-toto Statement about a run, in a DSSE envelope signed with an Ed25519 key.

Why a signature on top of the hash chain: ``hashes.json`` lives in the run folder, so whoever can
change the run's files can also rewrite ``hashes.json`` consistently, and an unsigned check then
passes. A signature made with a private key that the forger does not hold binds the exact bytes of
``hashes.json`` (and through it every file of the folder, the data, the config and the base model).

The statement is an in-toto Statement v1 whose predicate follows SLSA provenance v1: the config,
data and base-model digests as the build's parameters and dependencies, the environment facts, and
every sealed file (plus ``hashes.json`` itself) as subjects. It is wrapped in a DSSE envelope
(signature over ``PAE(payloadType, payload)``) and written as one JSON line to
``provenance.intoto.jsonl`` beside the run's files (the form SLSA tools read). Keys are PEM files:
PKCS#8 private, SubjectPublicKeyInfo public (``verifily keygen`` writes both); a key's id is the
SHA-256 of its raw 32 public bytes. Only ``cryptography`` is used; nothing leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

from verifily_core.domain.hashchain import HashChain
from verifily_core.domain.runs import HASHES
from verifily_core.errors import ConfigError, DependencyMissingError, StoreError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://verifily.dev/train/v1"
KEY_ENV = "VERIFILY_SIGNING_KEY"


def _hex(digest: str) -> Dict[str, str]:
    """``sha256:<hex>`` as in-toto's ``{"sha256": "<hex>"}``."""
    return {"sha256": digest.split(":", 1)[-1]}


def statement(
    run_id: str, chain: HashChain, hashes_bytes: bytes, environment: Mapping[str, str]
) -> Dict[str, Any]:
    """The in-toto Statement of a sealed run (deterministic: same run folder, same bytes)."""
    subjects = [{"name": HASHES, "digest": {"sha256": hashlib.sha256(hashes_bytes).hexdigest()}}]
    subjects += [{"name": rel, "digest": _hex(d)} for rel, d in sorted(chain.artifacts.items())]
    dependencies: List[Dict[str, Any]] = [
        {"name": f"data/{r.role}", "uri": r.path, "digest": _hex(r.sha256 or "")} for r in chain.data_files
    ]
    model = chain.base_model
    if model is not None:
        dependencies.append(
            {
                "name": "base_model",
                "uri": model.reference,
                "digest": _hex(model.digest) if model.digest else {},
                "annotations": {"revision": model.revision, "files": len(model.files)},
            }
        )
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"config": _hex(chain.config_hash), "seed": chain.seed},
                "internalParameters": {
                    "environment": dict(environment),
                    "environment_hash": chain.environment_hash,
                    "data_hash": chain.data_hash,
                    "reproducibility_hash": chain.reproducibility_hash,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {"builder": {"id": "verifily-train"}, "metadata": {"invocationId": run_id}},
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


# ---------------------------------------------------------------------- keys (cryptography)


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise DependencyMissingError(
            f"Signing runs needs the cryptography package: {exc}", hint="pip install cryptography"
        ) from exc
    return serialization, ed25519


def generate_key_pair() -> Tuple[bytes, bytes]:
    """``(private PEM, public PEM)`` of a fresh Ed25519 key."""
    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _load(path: Path, private: bool) -> Any:
    serialization, ed25519 = _crypto()
    kind = "private" if private else "public"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read the {kind} key {path}: {exc.strerror or exc}") from None
    try:
        key = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not an unencrypted PEM {kind} key: {exc}",
            hint="Create a key pair with `verifily keygen --out DIR`.",
        ) from None
    wanted = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, wanted):
        raise ConfigError(f"{path} is not an Ed25519 {kind} key.", hint="Create one with `verifily keygen`.")
    return key


def check_private_key(path: Path) -> None:
    """ConfigError naming the file unless it holds an unencrypted Ed25519 private key (PEM)."""
    _load(path, private=True)


def key_id(public_key: Any) -> str:
    """``sha256:<hex>`` of the raw public key bytes: names the key in the envelope and in reports."""
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def sign_statement(body: Mapping[str, Any], private_key_path: Path) -> Dict[str, Any]:
    """The DSSE envelope of ``body`` signed with the Ed25519 key at ``private_key_path``."""
    key = _load(private_key_path, private=True)
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {"keyid": key_id(key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}
        ],
    }


def parse_envelope(text: str) -> Tuple[bytes, List[Tuple[str, bytes]], Dict[str, Any]]:
    """``(payload, [(keyid, signature)], statement)`` of an envelope line; StoreError when malformed."""
    try:
        envelope = json.loads(text.strip().splitlines()[0])
        if envelope.get("payloadType") != PAYLOAD_TYPE:
            raise ValueError(f"payloadType is {envelope.get('payloadType')!r}")
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = [
            (str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
            for s in envelope["signatures"]
        ]
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE:
            raise ValueError("the payload is not an in-toto Statement v1")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise StoreError(
            f"provenance.intoto.jsonl is not a DSSE envelope of an in-toto statement ({exc})"
        ) from None
    return payload, signatures, body


def signature_valid(payload: bytes, signatures: List[Tuple[str, bytes]], public_key_path: Path) -> bool:
    """Whether one of the envelope's signatures verifies with the public key at the path."""
    key = _load(public_key_path, private=False)  # DependencyMissingError first, if need be
    from cryptography.exceptions import InvalidSignature

    message = pae(PAYLOAD_TYPE, payload)
    for _keyid, sig in signatures:
        try:
            key.verify(sig, message)
            return True
        except InvalidSignature:
            continue
    return False


def public_key_id(public_key_path: Path) -> str:
    """The id of the public key at the path (for reports)."""
    return key_id(_load(public_key_path, private=False))


def subject_digests(body: Mapping[str, Any]) -> Dict[str, str]:
    """``name -> sha256:<hex>`` of a statement's subjects."""
    out: Dict[str, str] = {}
    for subject in body.get("subject") or []:
        if isinstance(subject, Mapping) and isinstance(subject.get("digest"), Mapping):
            out[str(subject.get("name"))] = "sha256:" + str(subject["digest"].get("sha256"))
    return out


__all__ = [
    "KEY_ENV",
    "check_private_key",
    "generate_key_pair",
    "parse_envelope",
    "pae",
    "public_key_id",
    "sign_statement",
    "signature_valid",
    "statement",
    "subject_digests",
]
