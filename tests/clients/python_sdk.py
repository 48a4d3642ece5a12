"""Drives the official Zoho CRM Python SDK (`zohocrmsdk8-0`, unmodified) against a live server.

`run(config)` takes what tests/clients/node/run.mjs reads on stdin and answers what it prints:
it logs in with only the data-center environment pointed at the server, runs the steps and turns
each step's parsed SDK objects into plain data (`{"_class": <SDK class>, <field>: ...}`, a Choice
as its value, a Record as its key-values), so one set of assertions checks both SDKs.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api import (
    change_owner,
    fields,
    layouts,
    mass_change_owner,
    modules,
    org,
    record,
)
from zohocrmsdk.src.com.zoho.crm.api import users as sdk_users
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.users import MinifiedUser
from zohocrmsdk.src.com.zoho.crm.api.util import Choice

# Integers beyond JavaScript's safe range are ids: both runners answer them as strings.
_SAFE_INTEGER = 2**53


def plain(value):
    if value is None or isinstance(value, (bool, float, str)):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) >= _SAFE_INTEGER else value
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, Choice):
        return plain(value.get_value())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    cls = type(value).__name__
    out = {"_class": cls}
    for key, item in vars(value).items():
        name = key.rpartition("__")[2]
        if name == "key_modified":
            continue
        if name == "key_values":
            out.update(plain(item))
        else:
            out[name] = plain(item)
    return out


def _response(answer) -> dict:
    if answer is None:
        return {"status_code": None, "object": None}
    return {"status_code": answer.get_status_code(), "object": plain(answer.get_object())}


def _owner(owner_id) -> change_owner.Owner:
    owner = change_owner.Owner()
    owner.set_id(int(owner_id))
    return owner


def _params(**values) -> ParameterMap:
    params = ParameterMap()
    for param, value in values.values():
        if value is not None:
            params.add(param, value)
    return params


def _users(step):
    params = _params(type=(sdk_users.GetUsersParam.type, step.get("type")))
    return sdk_users.UsersOperations().get_users(params)


def _user(step):
    return sdk_users.UsersOperations().get_user(int(step["id"]))


def _org(step):
    return org.OrgOperations().get_organization()


def _modules(step):
    return modules.ModulesOperations().get_modules(ParameterMap())


def _fields(step):
    params = _params(module=(fields.GetFieldsParam.module, step["module"]))
    return fields.FieldsOperations().get_fields(params)


def _layouts(step):
    params = _params(module=(layouts.GetLayoutsParam.module, step["module"]))
    return layouts.LayoutsOperations().get_layouts(params)


def _records(step):
    params = _params(fields=(record.GetRecordsParam.fields, step.get("fields")))
    return record.RecordOperations(step["module"]).get_records(params)


def _record(step):
    return record.RecordOperations(step["module"]).get_record(int(step["id"]))


def _change_owner_bulk(step):
    body = change_owner.MassWrapper()
    body.set_ids([int(record_id) for record_id in step["ids"]])
    body.set_owner(_owner(step["owner"]))
    if "notify" in step:
        body.set_notify(step["notify"])
    return change_owner.ChangeOwnerOperations(step["module"]).mass_update(body)


def _change_owner_single(step):
    body = change_owner.BodyWrapper()
    body.set_owner(_owner(step["owner"]))
    if "notify" in step:
        body.set_notify(step["notify"])
    operations = change_owner.ChangeOwnerOperations(step["module"])
    return operations.single_update(int(step["id"]), body)


def _mass_change_owner(step):
    """Schedule a mass change of the records `step["from"]` owns to `step["owner"]`."""
    owner = mass_change_owner.Owner()
    owner.set_id(int(step["owner"]))
    field = mass_change_owner.Field()
    field.set_api_name("Owner")
    criteria = mass_change_owner.Criteria()
    criteria.set_field(field)
    criteria.set_comparator("equal")
    criteria.set_value({"id": step["from"]})
    body = mass_change_owner.BodyWrapper()
    body.set_owner(owner)
    body.set_criteria(criteria)
    return mass_change_owner.MassChangeOwnerOperations(step["module"]).change_owner(body)


def _mass_change_owner_status(step):
    params = _params(job_id=(mass_change_owner.CheckStatusParam.job_id, int(step["job_id"])))
    return mass_change_owner.MassChangeOwnerOperations(step["module"]).check_status(params)


def _record_of(values: dict) -> record.Record:
    """A Record of plain values; `Owner` ({"id"}) as the SDK's MinifiedUser, `id` as its id."""
    entry = record.Record()
    for name, value in values.items():
        if name == "id":
            entry.set_id(int(value))
        elif name == "Owner":
            user = MinifiedUser()
            user.set_id(int(value["id"]))
            entry.add_key_value("Owner", user)
        else:
            entry.add_key_value(name, value)
    return entry


def _records_body(step) -> record.BodyWrapper:
    body = record.BodyWrapper()
    body.set_data([_record_of(values) for values in step["records"]])
    if "duplicate_check_fields" in step:
        body.set_duplicate_check_fields(step["duplicate_check_fields"])
    return body


def _create_records(step):
    return record.RecordOperations(step["module"]).create_records(_records_body(step))


def _update_records(step):
    return record.RecordOperations(step["module"]).update_records(_records_body(step))


def _update_record(step):
    operations = record.RecordOperations(step["module"])
    return operations.update_record(int(step["id"]), _records_body(step))


def _upsert_records(step):
    return record.RecordOperations(step["module"]).upsert_records(_records_body(step))


def _search_records(step):
    search = record.SearchRecordsParam
    params = _params(
        criteria=(search.criteria, step.get("criteria")),
        email=(search.email, step.get("email")),
        phone=(search.phone, step.get("phone")),
        word=(search.word, step.get("word")),
    )
    return record.RecordOperations(step["module"]).search_records(params)


def _delete_records(step):
    params = ParameterMap()
    for record_id in step["ids"]:
        params.add(record.DeleteRecordsParam.ids, str(record_id))
    return record.RecordOperations(step["module"]).delete_records(params)


def _delete_record(step):
    return record.RecordOperations(step["module"]).delete_record(int(step["id"]), ParameterMap())


OPERATIONS = {
    "users": _users,
    "user": _user,
    "org": _org,
    "modules": _modules,
    "fields": _fields,
    "layouts": _layouts,
    "records": _records,
    "record": _record,
    "change_owner_bulk": _change_owner_bulk,
    "change_owner_single": _change_owner_single,
    "mass_change_owner": _mass_change_owner,
    "mass_change_owner_status": _mass_change_owner_status,
    "create_records": _create_records,
    "update_records": _update_records,
    "update_record": _update_record,
    "upsert_records": _upsert_records,
    "search_records": _search_records,
    "delete_records": _delete_records,
    "delete_record": _delete_record,
}


def run(config: dict) -> dict:
    work = Path(config["workDir"])
    sdk_logger = logging.getLogger("SDKLogger")
    for handler in list(sdk_logger.handlers):  # one log file per run, not every earlier one too
        sdk_logger.removeHandler(handler)
        handler.close()
    # The one thing pointed at the service: the data-center environment (API url, accounts url).
    environment = DataCenter.Environment(
        config["url"], f"{config['url']}/oauth/v2/token", config["url"]
    )
    if config.get("refreshToken"):
        token = OAuthToken(
            client_id=config["clientId"],
            client_secret=config["clientSecret"],
            refresh_token=config["refreshToken"],
        )
    else:
        token = OAuthToken(
            client_id=config["clientId"],
            client_secret=config["clientSecret"],
            grant_token=config["grantToken"],
            redirect_url="http://localhost/callback",
        )
    store = FileStore(str(work / "tokens.csv"))
    Initializer.initialize(
        environment=environment,
        token=token,
        store=store,
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=str(work),
        logger=Logger.get_instance(Logger.Levels.INFO, str(work / "sdk.log")),
    )
    steps = []
    for step in config["steps"]:
        try:
            steps.append(_response(OPERATIONS[step["op"]](step)))
        except SDKException as error:
            steps.append({"sdk_exception": plain(error), "text": str(error)})
    tokens = [
        {
            "access": saved.get_access_token(),
            "refresh": saved.get_refresh_token(),
            "user": saved.get_user_signature().get_name() if saved.get_user_signature() else None,
        }
        for saved in store.get_tokens()
    ]
    return {"steps": steps, "tokens": tokens}
