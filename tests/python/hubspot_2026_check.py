"""Checks the HubSpot simulator's 2026-09 API with plain HTTP (standard library only).

Usage: hubspot_2026_check.py BASE_URL STATIC_APP_TOKEN CLIENT_ID CLIENT_SECRET PORTAL_ID

Every request is shaped as reference/hubspot-2026.md describes HubSpot's 2026-09 API, and every
answer's status and shape is asserted; at the end the simulator's request stats must show no
numbered (/v1/ ... /v4/) path. Exits 1 on the first difference.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

V = "2026-09"
OBJECTS = f"/crm/objects/{V}/contacts"


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok  {what}")


class Api:
    def __init__(self, base_url, token):
        self.base = base_url.rstrip("/")
        self.token = token

    def request(self, method, path, body=None, token=None, form=None, url=None):
        headers = {}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url or self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, (json.loads(raw) if raw else None)

    def crm(self, method, path, body=None):
        return self.request(method, path, body, token=self.token)


def is_record(record):
    return (
        isinstance(record, dict)
        and isinstance(record.get("id"), str)
        and isinstance(record.get("properties"), dict)
        and isinstance(record.get("createdAt"), str)
        and isinstance(record.get("updatedAt"), str)
        and isinstance(record.get("archived"), bool)
    )


def is_validation_error(body, code, prop):
    return (
        isinstance(body, dict)
        and body.get("status") == "error"
        and body.get("category") == "VALIDATION_ERROR"
        and isinstance(body.get("correlationId"), str)
        and isinstance(body.get("message"), str)
        and any(
            e.get("code") == code and e.get("context", {}).get("propertyName") == [prop]
            for e in body.get("errors", [])
        )
    )


def main(base_url, token, client_id, client_secret, portal_id):
    api = Api(base_url, token)
    run = uuid.uuid4().hex[:8]
    portal_id = int(portal_id)
    api.request("POST", "/_sim/stats/reset")

    # OAuth client credentials (the Webhooks Journal's token), form body only.
    status, tok = api.request(
        "POST",
        f"/oauth/{V}/token",
        form={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "developer.webhooks_journal.read developer.webhooks_journal.subscriptions.write "
            "developer.webhooks_journal.subscriptions.read",
        },
    )
    check(
        status == 200
        and isinstance(tok.get("access_token"), str)
        and tok.get("token_use") == "client_credentials"
        and tok.get("expires_in") == 1800
        and tok.get("token_type") == "bearer"
        and "refresh_token" not in tok,
        "client credentials token: access_token, expires_in 1800, token_use, no refresh token",
    )
    journal_token = tok["access_token"]

    status, sub = api.request(
        "POST",
        f"/webhooks-journal/subscriptions/{V}",
        {
            "subscriptionType": "OBJECT",
            "portalId": portal_id,
            "objectTypeId": "0-1",
            "actions": ["CREATE", "UPDATE", "DELETE", "MERGE", "RESTORE"],
            "properties": ["email", "firstname", "lastname", "company"],
        },
        token=journal_token,
    )
    check(
        status == 201 and isinstance(sub.get("id"), int) and sub.get("portalId") == portal_id
        and sub.get("objectTypeId") == "0-1" and "CREATE" in sub.get("actions", []),
        "journal subscription created (201, integer id)",
    )
    status, subs = api.request("GET", f"/webhooks-journal/subscriptions/{V}", token=journal_token)
    check(status == 200 and any(s["id"] == sub["id"] for s in subs["results"]), "journal subscriptions listed")

    # Properties.
    status, props = api.crm("GET", f"/crm/properties/{V}/contacts")
    check(
        status == 200
        and "paging" not in props
        and all({"name", "type", "fieldType", "groupName"} <= set(p) for p in props["results"])
        and any(p["name"] == "email" for p in props["results"]),
        "properties listed (no paging)",
    )
    status, prop = api.crm("GET", f"/crm/properties/{V}/contacts/email")
    check(status == 200 and prop["name"] == "email", "one property read")
    status, groups = api.crm("GET", f"/crm/properties/{V}/contacts/groups")
    check(status == 200 and any(g["name"] == "contactinformation" for g in groups["results"]), "property groups")

    # Create, read, list, search.
    email = f"plain-{run}@example.com"
    status, created = api.crm("POST", OBJECTS, {"properties": {"email": email, "firstname": "Plain", "company": "Acme"}})
    check(status == 201 and is_record(created) and created["properties"]["email"] == email, "create (201 SimplePublicObject)")
    cid = created["id"]
    status, one = api.crm("GET", f"{OBJECTS}/{cid}?properties=email,company")
    check(status == 200 and is_record(one) and one["properties"]["company"] == "Acme", "read one by id")
    status, by_email = api.crm("GET", f"{OBJECTS}/{urllib.parse.quote(email)}?idProperty=email")
    check(status == 200 and by_email["id"] == cid, "read one by email (idProperty)")
    status, page = api.crm("GET", f"{OBJECTS}?limit=2&archived=false")
    check(
        status == 200 and len(page["results"]) == 2 and all(is_record(r) for r in page["results"])
        and isinstance(page["paging"]["next"]["after"], str)
        and f"/crm/objects/{V}/" in page["paging"]["next"]["link"],
        "list a page with paging.next",
    )
    status, found = api.crm(
        "POST",
        f"{OBJECTS}/search",
        {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "properties": ["email"],
            "limit": 10,
            "after": "0",
        },
    )
    check(status == 200 and found["total"] == 1 and found["results"][0]["id"] == cid, "search by email")

    # Validation rules (2026-09 enforces them).
    status, _ = api.request(
        "PUT",
        "/_sim/validation-rules",
        {
            "required_on_create": ["company"],
            "conditional": [{"property": "jobtitle", "when": {"property": "lifecyclestage", "equals": "customer"}}],
        },
    )
    check(status == 200, "portal validation rules set")
    status, refused = api.crm("POST", OBJECTS, {"properties": {"email": f"nocompany-{run}@example.com"}})
    check(
        status == 400 and is_validation_error(refused, "MISSING_REQUIRED_PROPERTY", "company")
        and refused["message"] == "A value for company must be provided",
        "create without a required property: 400 MISSING_REQUIRED_PROPERTY",
    )

    # Batch upsert with trace ids.
    inputs = [
        {"id": email, "idProperty": "email", "properties": {"lastname": "Upserted"}, "objectWriteTraceId": f"{run}-u0"},
        {
            "id": f"new-{run}@example.com",
            "idProperty": "email",
            "properties": {"firstname": "New", "company": "Beta"},
            "objectWriteTraceId": f"{run}-u1",
        },
    ]
    status, ups = api.crm("POST", f"{OBJECTS}/batch/upsert", {"inputs": inputs})
    check(
        status == 200 and ups["status"] == "COMPLETE" and len(ups["results"]) == 2
        and sorted(r["new"] for r in ups["results"]) == [False, True]
        and sorted(r["objectWriteTraceId"] for r in ups["results"]) == [f"{run}-u0", f"{run}-u1"]
        and all(is_record(r) for r in ups["results"])
        and isinstance(ups["startedAt"], str) and isinstance(ups["completedAt"], str),
        "batch upsert by email: 200, new flags, trace ids echoed",
    )
    new_id = next(r["id"] for r in ups["results"] if r["new"])

    # Batch update with trace ids, one input breaking a conditional rule: 207.
    status, multi = api.crm(
        "POST",
        f"{OBJECTS}/batch/update",
        {
            "inputs": [
                {"id": cid, "properties": {"lifecyclestage": "customer", "jobtitle": "CEO"}, "objectWriteTraceId": f"{run}-a"},
                {"id": new_id, "properties": {"lifecyclestage": "customer"}, "objectWriteTraceId": f"{run}-b"},
            ]
        },
    )
    check(
        status == 207 and multi["numErrors"] == 1 and len(multi["results"]) == 1
        and multi["results"][0]["objectWriteTraceId"] == f"{run}-a"
        and multi["errors"][0]["context"]["objectWriteTraceId"] == [f"{run}-b"]
        and multi["errors"][0]["category"] == "VALIDATION_ERROR"
        and multi["errors"][0]["errors"][0]["code"] == "MISSING_CONDITIONAL_REQUIRED_PROPERTY",
        "batch update with trace ids: 207, the failing input named by its trace id",
    )
    status, whole = api.crm(
        "POST",
        f"{OBJECTS}/batch/update",
        {"inputs": [{"id": new_id, "properties": {"lifecyclestage": "customer"}}]},
    )
    check(
        status == 400 and is_validation_error(whole, "MISSING_CONDITIONAL_REQUIRED_PROPERTY", "jobtitle"),
        "batch update without trace ids: 400 for the whole batch",
    )
    api.request("PUT", "/_sim/validation-rules", {})

    # The journal: a batch read from the earliest entry and its pre-signed file.
    status, batch = api.request("GET", f"/webhooks-journal/journal/{V}/batch/earliest/10", token=journal_token)
    check(
        status == 200 and batch["status"] == "COMPLETE" and len(batch["results"]) >= 2
        and all({"currentOffset", "expiresAt", "url"} <= set(r) for r in batch["results"]),
        "journal batch read: currentOffset, expiresAt, url per entry",
    )
    first = batch["results"][0]
    status, file = api.request("GET", "", url=first["url"])
    events = file["journalEvents"] if status == 200 else []
    check(
        status == 200 and file["offset"] == first["currentOffset"] and "publishedAt" in file
        and all(
            {"portalId", "objectTypeId", "objectId", "action", "occurredAt", "changeSource"} <= set(e)
            for e in events
        )
        and any(e["action"] == "CREATE" and str(e["objectId"]) == cid for e in events),
        "journal file fetched without Authorization: offset, journalEvents, publishedAt",
    )
    last = batch["results"][-1]["currentOffset"]
    status, _ = api.request("GET", f"/webhooks-journal/journal/{V}/batch/{last}/next/10", token=journal_token)
    check(status == 204, "caught up: 204")
    status, _ = api.request("GET", f"/webhooks-journal/journal/{V}/earliest", token=token)
    check(status == 403, "the journal refuses a static app token")

    # No numbered path was used.
    status, stats = api.request("GET", "/_sim/stats")
    routes = [r["route"] for r in stats["requests"]]
    numbered = [r for r in routes if any(f"/v{n}/" in r for n in range(1, 5))]
    check(
        status == 200 and not numbered and f"POST /crm/objects/{V}/{{object_type}}/batch/upsert" in routes
        and f"POST /oauth/{V}/token" in routes,
        "request stats show 2026-09 paths only",
    )


if __name__ == "__main__":
    try:
        main(*sys.argv[1:6])
    except AssertionError as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        sys.exit(1)
