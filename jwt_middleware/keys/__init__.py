"""Key sources: where the verifier gets the keys that may have signed a token.

- :mod:`.source`: the :class:`~.source.KeySource` protocol every source follows.
- :mod:`.static`: the keys of the configuration, what created tokens are signed with,
  and the JWK Set we publish.
- :mod:`.jwk`: JWK Set documents parsed into keys (no I/O).
- :mod:`.jwks`: a JWKS URL fetched, cached and refetched, with its options.
- :mod:`.local`: a JWK Set read from a file or given inline.
- :mod:`.kid_urls`: keys fetched one PEM per ``kid`` from a URL template (AWS ALB's).
- :mod:`.pool`: one key set per URL and one HTTP client, shared by a verifier's issuers.
- :mod:`.discovery`: an issuer's keys found from its metadata (OpenID Connect, RFC 8414).
- :mod:`.issuers`: several issuers, each with its own source, audiences and algorithms.
- :mod:`.refetch`: single flight, the least time between two fetches, a token bucket.
- :mod:`.http`: the one capped HTTP GET the fetching sources share.

Nothing here imports the verifier, the access policy or the middleware.
"""
