"""Access policy: what a request needs, decided from its method and path.

- :mod:`.rules`: path rules parsed once and indexed (the public allowlist's syntax, and
  the canonical-path check).
- :mod:`.policy`: public, optional, scopes and step-up rules, and the decision for a
  request.
- :mod:`.routes`: the app's routes, the requirements declared on them, and the start-up
  audit of the rules against them.

Nothing here verifies a token or imports the middleware.
"""
