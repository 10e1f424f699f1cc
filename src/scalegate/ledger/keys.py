"""Ed25519 identities. A key's id is derived from its public key, so a registry entry cannot
claim one id for another key."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scalegate.errors import InputError
from scalegate.ledger.records import sha256_hex


def key_id_of(public_hex: str) -> str:
    return sha256_hex(bytes.fromhex(public_hex))[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_hex(self) -> str:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return raw.hex()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_hex)

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()


def generate() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


def save(key: SigningKey, path: Path) -> None:
    """Private key as PEM, readable by its owner only; the public key beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # written whole under a temporary name, then linked into place: a reader never sees half a
    # key, and if `path` exists the link fails (FileExistsError) and nothing is replaced
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    path.with_suffix(path.suffix + ".pub").write_text(key.public_hex + "\n")


def load(path: Path) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise InputError(f"{path}: cannot read an Ed25519 private key: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InputError(
            f"{path}: not a PEM private key (scalegate keys are written by `scalegate keys create`)"
        ) from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 private key")
    return SigningKey(private)


def verify(public_hex: str, message: bytes, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True
