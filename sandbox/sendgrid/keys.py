"""The Event Webhook's ECDSA P-256 key pair, encoded the way SendGrid hands it out.

SendGrid shows the *public* half ("verification key") as base64 of its DER SubjectPublicKeyInfo
— exactly what `sendgrid.helpers.eventwebhook.EventWebhook` wraps in PEM armour. The sandbox
keeps the private half (base64 of DER PKCS#8) and signs every event batch with it.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def new_signing_key() -> tuple[str, str]:
    """A fresh (private, public) pair: the sandbox signs with the first, the app verifies
    with the second."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(private).decode(), public_key_of(base64.b64encode(private).decode())


def load_private_key(signing_key: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(base64.b64decode(signing_key), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the SendGrid signing key must be an ECDSA (P-256) key")
    return key


def public_key_of(signing_key: str) -> str:
    public = (
        load_private_key(signing_key)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(public).decode()


def sign(signing_key: str, timestamp: str, payload: str) -> str:
    """`X-Twilio-Email-Event-Webhook-Signature`: base64 of the DER ECDSA signature of
    SHA-256(timestamp + payload)."""
    signature = load_private_key(signing_key).sign(
        (timestamp + payload).encode(), ec.ECDSA(hashes.SHA256())
    )
    return base64.b64encode(signature).decode()
