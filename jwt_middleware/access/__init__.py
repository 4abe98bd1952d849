"""Access policy: what a request needs, decided from its method and path.

- :mod:`.rules`: path rules parsed once (the public allowlist's syntax).
- :mod:`.index`: rules indexed by path segment, so matching costs the path's length.
- :mod:`.paths`: the canonical-path check (a path that is not canonical is never public).
- :mod:`.policy`: public, optional, scopes and step-up rules, and the decision for a
  request.
- :mod:`.routes`: the app's routes, the requirements declared on them, and the start-up
  audit of the rules against them.

Nothing here verifies a token or imports the middleware.
"""
