"""AWS Lambda events as API Gateway (HTTP API, payload 2.0) and an Application Load Balancer
send them, for an app run through Mangum. Neither carries the raw request path: Mangum
builds ``scope["path"]`` from the event (the ALB's path percent-decoded) and sets
``raw_path`` to ``None``."""

from __future__ import annotations

from typing import Any

HOST = "api.example.com"


def http_api_event(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event for ``GET path``."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": HOST, **{name.lower(): value for name, value in headers.items()}},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": HOST,
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "tests",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def alb_event(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """An Application Load Balancer event for ``GET path``."""
    return {
        "requestContext": {
            "elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1"}
        },
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {},
        "headers": {"host": HOST, **{name.lower(): value for name, value in headers.items()}},
        "body": "",
        "isBase64Encoded": False,
    }


def header_of(response: dict[str, Any], name: str) -> str | None:
    """A header of a Lambda response, in either of its two shapes."""
    for key, value in response.get("headers", {}).items():
        if key.lower() == name:
            return str(value)
    for key, values in response.get("multiValueHeaders", {}).items():
        if key.lower() == name:
            return str(values[0])
    return None
