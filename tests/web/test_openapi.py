"""/openapi.json is generated from ROUTES: every route, its body schema, responses and security."""

from __future__ import annotations

from classroom_box.app import ROUTES
from classroom_box.domain.validation import json_schema
from classroom_box.web.openapi import openapi_path
from tests.helpers import RunningBox


async def test_every_route_is_documented(box: RunningBox) -> None:
    r = await box.http.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.1")
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["cookie"]["in"] == "cookie"
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == {(rt.method, openapi_path(rt.path)) for rt in ROUTES}
    for route in ROUTES:
        op = spec["paths"][openapi_path(route.path)][route.method.lower()]
        assert op["responses"] and any(code.startswith("2") for code in op["responses"])
        if route.who == "public":
            assert {} in op["security"]
        else:
            assert op["security"] == [{"bearer": []}, {"cookie": []}]
            assert {"401", "403"} <= set(op["responses"])
        if route.body is not None:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body == json_schema(route.body)
        for name in ("section_id", "code"):
            if f"{name}>" in route.path:
                assert [p["name"] for p in op["parameters"] if p["in"] == "path"] == [name]
    assert "GET /openapi.json" in {f"{rt.method} {rt.path}" for rt in ROUTES}
