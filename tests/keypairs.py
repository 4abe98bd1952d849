"""Asymmetric key pairs for the tests, made once per run, and their PEM forms.

Each constant is a different key, so a test that needs "the right key" and "another key"
takes two names. Tokens are signed with these through PyJWT directly
(:func:`tests.helpers.mint_token`); the library only ever sees the PEM text or the public key.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
#: A key nobody publishes or configures: what an attacker signs with.
RSA_ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
#: Too short for any RS* algorithm the library accepts.
RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
EC_P256 = ec.generate_private_key(ec.SECP256R1())
EC_P384 = ec.generate_private_key(ec.SECP384R1())
ED25519 = ed25519.Ed25519PrivateKey.generate()


def private_pem(key: PrivateKey, *, password: bytes | None = None) -> str:
    """``key`` as PKCS#8 PEM, encrypted with ``password`` if one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def public_pem(key: PrivateKey) -> str:
    """The public half of ``key`` as SubjectPublicKeyInfo PEM."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
