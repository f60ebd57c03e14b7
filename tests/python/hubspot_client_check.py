"""Drives the official HubSpot Python client against the simulator.

Usage: hubspot_client_check.py BASE_URL PRIVATE_APP_TOKEN

Lists, gets, batch creates/reads/updates and searches contacts and creates a property; every
call must succeed and its answer must parse into the client's models. Exits 1 otherwise.
"""

import sys
import uuid

from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.properties import PropertyCreate


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok  {what}")


def main(base_url, token):
    client = HubSpot(access_token=token, host=base_url)
    contacts = client.crm.contacts
    run = uuid.uuid4().hex[:8]

    page = contacts.basic_api.get_page(limit=10, properties=["email", "firstname"], archived=False)
    check(len(page.results) == 10 and page.paging.next.after, "list a page of seeded contacts")
    second = contacts.basic_api.get_page(limit=10, after=page.paging.next.after)
    check(second.results[0].id != page.results[0].id, "list the next page with after")

    emails = [f"py{n}-{run}@example.com" for n in range(3)]
    created = contacts.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"email": e, "firstname": f"Py{n}"})
                for n, e in enumerate(emails)
            ]
        )
    )
    ids = [r.id for r in created.results]
    check(created.status == "COMPLETE" and len(ids) == 3, "batch create three contacts")

    one = contacts.basic_api.get_by_id(ids[0], properties=["email", "firstname", "phone"])
    check(one.properties["email"] == emails[0] and one.properties["phone"] is None, "get one by id")

    read = contacts.batch_api.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=["email"],
            properties_with_history=[],
        )
    )
    check(sorted(r.id for r in read.results) == sorted(ids), "batch read them")

    updated = contacts.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties={"lastname": "Updated"}) for i in ids]
        )
    )
    check(all(r.properties["lastname"] == "Updated" for r in updated.results), "batch update them")

    upserted = contacts.batch_api.upsert(
        batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(id=emails[0], id_property="email", properties={"phone": "1"}),
                SimplePublicObjectBatchInputUpsert(
                    id=f"new-{run}@example.com", id_property="email", properties={"firstname": "New"}
                ),
            ]
        )
    )
    check([r.new for r in upserted.results] == [False, True], "batch upsert by email")

    found = contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": emails[1]}]}],
            properties=["email", "lastname"],
            limit=10,
        )
    )
    check(found.total == 1 and found.results[0].id == ids[1], "search by email")

    name = f"py_check_{run}"
    prop = client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(
            name=name,
            label="Python check",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    check(prop.name == name and prop.has_unique_value, "create a unique property")
    listed = client.crm.properties.core_api.get_all(object_type="contacts")
    check(any(p.name == name for p in listed.results), "list properties")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as error:  # any failure of the client is a failed check
        print(f"FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    print("the official HubSpot Python client works against the simulator")
