// Drives the official Zoho CRM Node SDK (@zohocrm/nodejs-sdk-8.0, unmodified) against a live
// server, for tests/clients. Reads one JSON object on stdin:
//   {url, clientId, clientSecret, grantToken | refreshToken, workDir, steps: [{op, ...}]}
// logs in (only the data-center environment is pointed at the server), runs the steps in order
// and prints one JSON line: {"steps": [<the parsed SDK objects of each step, as plain data>]}.
// Parsed objects become {"_class": <SDK class>, <field>: ...}; a Choice becomes its value, a
// BigInt its decimal string (or a number when it is small), a Record its key-values. The assertions live in the pytest side.
import * as fs from "node:fs";
import * as path from "node:path";
import * as ZOHOCRMSDK from "@zohocrm/nodejs-sdk-8.0";

const {
  ChangeOwner,
  DataCenter,
  Fields,
  InitializeBuilder,
  Layouts,
  Levels,
  LogBuilder,
  Modules,
  OAuthBuilder,
  Org,
  ParameterMap,
  Record,
  SDKConfigBuilder,
  FileStore,
  Users,
  MassChangeOwner,
} = ZOHOCRMSDK;

const config = JSON.parse(fs.readFileSync(0, "utf8"));

// The SDK's model classes keep their members in camelCase (companyName); the wire and the Python
// SDK say company_name. Record-like classes (Record, Users) keep API names in keyValues as they are.
function snake(name) {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function plain(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) {
    const out = {};
    for (const [key, item] of value) out[key] = plain(item);
    return out;
  }
  if (typeof value !== "object") return value;
  const name = value.constructor?.name;
  if (name === "Choice") return plain(value.getValue());
  if (name === "Object") {
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = plain(item);
    return out;
  }
  const out = { _class: name };
  if (value.keyValues instanceof Map) {
    Object.assign(out, plain(value.keyValues));
    return out;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === "keyModified") continue;
    out[snake(key)] = plain(item);
  }
  return out;
}

function response(answer) {
  if (answer === null || answer === undefined) return { status_code: null, object: null };
  return { status_code: answer.getStatusCode(), object: plain(answer.getObject()) };
}

// A Record of plain values: `Owner` ({id}) as the SDK's MinifiedUser, `id` as its id.
async function recordOf(values) {
  const entry = new Record.Record();
  for (const [name, value] of Object.entries(values)) {
    if (name === "id") {
      entry.setId(BigInt(value));
    } else if (name === "Owner") {
      const user = new Users.MinifiedUser();
      user.setId(BigInt(value.id));
      await entry.addKeyValue("Owner", user);
    } else {
      await entry.addKeyValue(name, value);
    }
  }
  return entry;
}

async function recordsBody(step) {
  const body = new Record.BodyWrapper();
  body.setData(await Promise.all(step.records.map(recordOf)));
  if (step.duplicate_check_fields) body.setDuplicateCheckFields(step.duplicate_check_fields);
  return body;
}

async function owner(id) {
  const value = new ChangeOwner.Owner();
  value.setId(BigInt(id));
  return value;
}

const operations = {
  async users(step) {
    const params = new ParameterMap();
    if (step.type) await params.add(Users.GetUsersParam.TYPE, step.type);
    return response(await new Users.UsersOperations().getUsers(params));
  },
  async user(step) {
    return response(await new Users.UsersOperations().getUser(BigInt(step.id)));
  },
  async org() {
    return response(await new Org.OrgOperations().getOrganization());
  },
  async modules() {
    return response(await new Modules.ModulesOperations().getModules(new ParameterMap()));
  },
  async fields(step) {
    const params = new ParameterMap();
    await params.add(Fields.GetFieldsParam.MODULE, step.module);
    return response(await new Fields.FieldsOperations().getFields(params));
  },
  async layouts(step) {
    const params = new ParameterMap();
    await params.add(Layouts.GetLayoutsParam.MODULE, step.module);
    return response(await new Layouts.LayoutsOperations().getLayouts(params));
  },
  async records(step) {
    const params = new ParameterMap();
    if (step.fields) await params.add(Record.GetRecordsParam.FIELDS, step.fields);
    return response(await new Record.RecordOperations(step.module).getRecords(params));
  },
  async record(step) {
    return response(await new Record.RecordOperations(step.module).getRecord(BigInt(step.id)));
  },
  async change_owner_bulk(step) {
    const body = new ChangeOwner.MassWrapper();
    body.setIds(step.ids.map((id) => BigInt(id)));
    await body.setOwner(await owner(step.owner));
    if (step.notify !== undefined) body.setNotify(step.notify);
    return response(await new ChangeOwner.ChangeOwnerOperations(step.module).massUpdate(body));
  },
  async change_owner_single(step) {
    const body = new ChangeOwner.BodyWrapper();
    await body.setOwner(await owner(step.owner));
    if (step.notify !== undefined) body.setNotify(step.notify);
    const operation = new ChangeOwner.ChangeOwnerOperations(step.module);
    return response(await operation.singleUpdate(BigInt(step.id), body));
  },
  async mass_change_owner(step) {
    const owner = new MassChangeOwner.Owner();
    owner.setId(BigInt(step.owner));
    const field = new MassChangeOwner.Field();
    field.setAPIName("Owner");
    const criteria = new MassChangeOwner.Criteria();
    await criteria.setField(field);
    criteria.setComparator("equal");
    criteria.setValue({ id: step.from });
    const body = new MassChangeOwner.BodyWrapper();
    await body.setOwner(owner);
    await body.setCriteria(criteria);
    const operation = new MassChangeOwner.MassChangeOwnerOperations(step.module);
    return response(await operation.changeOwner(body));
  },
  async create_records(step) {
    const operation = new Record.RecordOperations(step.module);
    return response(await operation.createRecords(await recordsBody(step)));
  },
  async update_records(step) {
    const operation = new Record.RecordOperations(step.module);
    return response(await operation.updateRecords(await recordsBody(step)));
  },
  async update_record(step) {
    const operation = new Record.RecordOperations(step.module);
    return response(await operation.updateRecord(BigInt(step.id), await recordsBody(step)));
  },
  async upsert_records(step) {
    const operation = new Record.RecordOperations(step.module);
    return response(await operation.upsertRecords(await recordsBody(step)));
  },
  async search_records(step) {
    const params = new ParameterMap();
    for (const [key, param] of [
      ["criteria", Record.SearchRecordsParam.CRITERIA],
      ["email", Record.SearchRecordsParam.EMAIL],
      ["phone", Record.SearchRecordsParam.PHONE],
      ["word", Record.SearchRecordsParam.WORD],
    ]) {
      if (step[key]) await params.add(param, step[key]);
    }
    return response(await new Record.RecordOperations(step.module).searchRecords(params));
  },
  async delete_records(step) {
    const params = new ParameterMap();
    for (const id of step.ids) await params.add(Record.DeleteRecordsParam.IDS, String(id));
    return response(await new Record.RecordOperations(step.module).deleteRecords(params));
  },
  async delete_record(step) {
    const operation = new Record.RecordOperations(step.module);
    return response(await operation.deleteRecord(BigInt(step.id), new ParameterMap()));
  },
  async mass_change_owner_status(step) {
    const params = new ParameterMap();
    await params.add(MassChangeOwner.CheckStatusParam.JOB_ID, BigInt(step.job_id));
    const operation = new MassChangeOwner.MassChangeOwnerOperations(step.module);
    return response(await operation.checkStatus(params));
  },
};

async function main() {
  const work = config.workDir;
  const logger = new LogBuilder().level(Levels.INFO).filePath(path.join(work, "sdk.log")).build();
  // The one thing pointed at the service: the data-center environment (API url, accounts url).
  const environment = DataCenter.setEnvironment(
    config.url,
    `${config.url}/oauth/v2/token`,
    config.url,
  );
  let token = new OAuthBuilder().clientId(config.clientId).clientSecret(config.clientSecret);
  token = config.refreshToken
    ? token.refreshToken(config.refreshToken)
    : token.grantToken(config.grantToken).redirectURL("http://localhost/callback");
  const store = new FileStore(path.join(work, "tokens.txt"));
  const sdkConfig = new SDKConfigBuilder().autoRefreshFields(false).pickListValidation(false).build();
  await (await new InitializeBuilder())
    .environment(environment)
    .token(token.build())
    .store(store)
    .SDKConfig(sdkConfig)
    .resourcePath(work)
    .logger(logger)
    .initialize();
  const steps = [];
  for (const step of config.steps) {
    try {
      steps.push(await operations[step.op](step));
    } catch (error) {
      steps.push({ sdk_exception: plain(error), text: String(error?.message ?? error) });
    }
  }
  const tokens = await store.getTokens();
  process.stdout.write(
    `${JSON.stringify({ steps, tokens: tokens.map((t) => plain({ access: t.getAccessToken(), refresh: t.getRefreshToken(), user: t.getUserSignature()?.getName() })) })}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n${JSON.stringify(plain(error))}\n`);
  process.exit(1);
});
