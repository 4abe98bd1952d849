"""A small to-do service that uses ``jwt_middleware`` exactly as an application would.

Run it with ``python -m demo_app``; import the ASGI app as ``demo_app.main:app``, or build
one with :func:`demo_app.app.create_app`.
"""
