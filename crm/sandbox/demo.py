"""The bundled demo sandbox: two organizations, eight users of mixed status and profile, and a
few hundred records across the seven modules, with activities related to contacts and pipelines.

Built deterministically (fixed ids and a seeded generator), so `seed_demo` is idempotent and the
README's curl lines name ids that exist.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any

ZYLKER_ID = 4876876000000010001
NIMBUS_ID = 4876876000000010002
ADMIN_EMAIL = "ann.lee@zylker.test"
EXAMPLE_NEW_OWNER = "Chen Wei"
EXAMPLE_LEAVING_USER = "Ben Ortiz"

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Mateo",
    "Sofia",
    "Kenji",
    "Priya",
    "Lucas",
    "Amara",
    "Diego",
    "Hana",
    "Omar",
    "Chloe",
    "Ravi",
    "Ingrid",
    "Tomas",
    "Yara",
    "Felix",
]
LAST = [
    "Smith",
    "Garcia",
    "Tanaka",
    "Okafor",
    "Müller",
    "Rossi",
    "Nguyen",
    "Kowalski",
    "Silva",
    "Haddad",
    "Larsen",
    "Moreau",
    "Patel",
    "Kim",
    "Novak",
    "Fischer",
    "Ibrahim",
    "Lopez",
]
COMPANIES = [
    "Acme Tools",
    "Blue Harbor",
    "Cedar Labs",
    "Delta Foods",
    "Evergreen Energy",
    "Fjord Logistics",
    "Granite Health",
    "Helix Bio",
    "Iris Media",
    "Juniper Farms",
]
PRODUCTS = [
    "Starter plan",
    "Growth plan",
    "Enterprise plan",
    "Onboarding pack",
    "Support add-on",
    "Training day",
    "API add-on",
    "Data migration",
]
STAGES = ["Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
TASKS = ["Send proposal", "Follow up on quote", "Prepare demo", "Check contract", "Call back"]
EVENTS = ["Product demo", "Quarterly review", "Kick-off meeting", "Site visit"]
CALLS = ["Discovery call", "Renewal call", "Pricing call", "Check-in call"]

ORGANIZATIONS = (
    (
        ZYLKER_ID,
        "Zylker",
        "zylker.test",
        [
            ("Ann Lee", "Administrator", "CEO", "active"),
            ("Ben Ortiz", "Standard", "Sales Manager", "active"),
            ("Chen Wei", "Standard", "Sales Rep", "active"),
            ("Dana Kruger", "Read Only", "Analyst", "active"),
            ("Eli Novak", "Standard", "Sales Rep", "disabled"),
            ("Farah Aziz", "Standard", "Sales Rep", "deleted"),
        ],
        1,
    ),
    (
        NIMBUS_ID,
        "Nimbus Retail",
        "nimbus.test",
        [
            ("Gus Harper", "Administrator", "CEO", "active"),
            ("Hiro Sato", "Standard", "Sales Rep", "active"),
        ],
        2,
    ),
)


def build() -> dict[str, Any]:
    rng = random.Random(20261122)
    organizations = []
    for org_id, org_name, domain, people, series in ORGANIZATIONS:
        prefix = 4876876000000000000 + series * 100_000_000
        users = [
            {
                "id": str(prefix + 1_000 + n),
                "full_name": full_name,
                "email": f"{full_name.split()[0].lower()}.{full_name.split()[1].lower()}@{domain}",
                "status": status,
                "profile": profile,
                "role": role,
            }
            for n, (full_name, profile, role, status) in enumerate(people, start=1)
        ]
        owners = [u["id"] for u in users if u["status"] == "active"]
        records: list[dict[str, Any]] = []
        next_id = iter(range(prefix + 100_000, prefix + 200_000))

        def add(
            module: str, name: str, fields: dict[str, Any], related_to: str | None = None
        ) -> str:
            record_id = str(next(next_id))  # noqa: B023 - add() runs inside this iteration
            entry = {
                "module": module,
                "id": record_id,
                "owner": rng.choice(owners),  # noqa: B023
                "name": name,
                "fields": fields,
            }
            if related_to:
                entry["related_to"] = related_to
            records.append(entry)  # noqa: B023
            return record_id

        accounts = [
            add(
                "Accounts",
                c,
                {"Account_Name": c, "Industry": rng.choice(["Retail", "Tech", "Health"])},
            )
            for c in COMPANIES
        ]
        for p in PRODUCTS:
            add("Products", p, {"Product_Name": p, "Unit_Price": rng.choice([49, 99, 499, 1500])})
        contacts = []
        for n in range(60 if series == 1 else 30):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contacts.append(
                add(
                    "Contacts",
                    f"{first} {last}",
                    {
                        "First_Name": first,
                        "Last_Name": last,
                        "Email": f"{first.lower()}.{last.lower()}{n}@example.test",
                        "Account_Name": {"id": rng.choice(accounts)},
                    },
                )
            )
        pipelines = [
            add(
                "Pipelines",
                f"{rng.choice(COMPANIES)} - {rng.choice(PRODUCTS)}",
                {
                    "Deal_Name": "deal",
                    "Stage": rng.choice(STAGES),
                    "Amount": rng.randrange(1_000, 90_000, 500),
                },
            )
            for _ in range(25 if series == 1 else 12)
        ]
        for parent in contacts + pipelines:
            for module, names, key in (
                ("Tasks", TASKS, "Subject"),
                ("Events", EVENTS, "Event_Title"),
                ("Calls", CALLS, "Subject"),
            ):
                if rng.random() < 0.6:
                    name = rng.choice(names)
                    add(module, name, {key: name}, related_to=parent)
        organizations.append(
            {"id": str(org_id), "name": org_name, "users": users, "records": records}
        )
    return {"organizations": organizations}


@dataclass(frozen=True)
class ApiExamples:
    """Ids of the demo sandbox that the API docs' examples send, so Swagger UI's "Try it out"
    works as shown after `make run`."""

    contact_ids: tuple[str, str]  # Zylker's first two contacts
    contact_email: str  # the first one's: the record search examples
    admin_id: str  # ADMIN_EMAIL's, whom `make run`'s token belongs to
    new_owner_id: str  # Chen Wei, active, Standard profile
    new_owner_name: str
    leaving_user_id: str  # Ben Ortiz, active, Standard profile, owns records: offboarding examples


@functools.cache
def api_examples() -> ApiExamples:
    zylker = next(org for org in build()["organizations"] if org["id"] == str(ZYLKER_ID))
    contact_records = [record for record in zylker["records"] if record["module"] == "Contacts"]
    contacts = [record["id"] for record in contact_records]
    return ApiExamples(
        contact_ids=(contacts[0], contacts[1]),
        contact_email=contact_records[0]["fields"]["Email"],
        admin_id=next(user["id"] for user in zylker["users"] if user["email"] == ADMIN_EMAIL),
        new_owner_id=next(
            user["id"] for user in zylker["users"] if user["full_name"] == EXAMPLE_NEW_OWNER
        ),
        new_owner_name=EXAMPLE_NEW_OWNER,
        leaving_user_id=next(
            user["id"] for user in zylker["users"] if user["full_name"] == EXAMPLE_LEAVING_USER
        ),
    )
