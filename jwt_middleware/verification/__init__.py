"""Verification: a credential in, a verified identity (or a refusal) out.

- :mod:`.authenticator`: the :class:`~.authenticator.Authenticator` protocol, the middleware's
  one seam for a kind of credential.
- :mod:`.bearer`: :class:`~.bearer.BearerAuthenticator`, a bearer JWT, its first implementation.
- :mod:`.verifier`: :class:`~.verifier.TokenVerifier`, the strict JWS path for bearer JWTs.
- :mod:`.candidates`: the keys a token's header selects, and the refusals decided before
  any of them verified it.
- :mod:`.acceptance`: after the signature: the payload parsed, its claims checked against
  its issuer's policy, made read-only and into the verified identity.
- :mod:`.tenants`: issuers accepted at request time (issuer templates, ``resolve_issuer``).
- :mod:`.claims`: the named claim checks, assembled once from the settings.
- :mod:`.scopes`: reading what verified claims grant (scopes and roles).
- :mod:`.cache`: the verified-token cache, bounded in entries and bytes.
"""
