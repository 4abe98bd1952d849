"""Verification: a credential in, a verified identity (or a refusal) out.

- :mod:`.verifier`: :class:`~.verifier.TokenVerifier`, the strict JWS path for bearer JWTs.
- :mod:`.claims`: the named claim checks, assembled once from the settings, and reading
  what verified claims grant (scopes and roles).
- :mod:`.cache`: the verified-token cache, bounded in entries and bytes.
"""
