"""The project's views: Django hands the ASGI scope to a view as ``request.scope``, so the
middleware's ``scope["state"]`` is where the user id is read."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path


def me(request: HttpRequest) -> JsonResponse:
    state = request.scope.get("state", {})  # type: ignore[attr-defined]
    return JsonResponse({"user_id": state.get("user_id")})


urlpatterns = [path("health", me), path("private", me)]
