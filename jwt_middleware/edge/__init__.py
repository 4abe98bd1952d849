"""The request edge: the parts :class:`~jwt_middleware.middleware.JWTAuthMiddleware` wires.

- :mod:`.credentials`: where a request carries its bearer token (header, query parameter).
- :mod:`.answers`: every refusal's status, challenge and body, built once.
- :mod:`.metadata`: the RFC 9728 Protected Resource Metadata document and its endpoint.
- :mod:`.websockets`: an accepted WebSocket watched until its token stops verifying.
- :mod:`.startup`: the lifespan (remote keys, the app's routes, the audit) and shutdown.
- :mod:`.unconfigured`: the fail-closed app served instead of a middleware that cannot work.
- :mod:`.revocation_check`: the app's revocation check, failing closed, logging outages once.
"""
