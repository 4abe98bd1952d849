"""The request edge: the parts :class:`~jwt_middleware.middleware.JWTAuthMiddleware` wires.

- :mod:`.answers`: every refusal's status, challenge and body, built once.
- :mod:`.metadata`: the RFC 9728 Protected Resource Metadata document and its endpoint.
- :mod:`.websockets`: an accepted WebSocket watched until its token stops verifying.
"""
