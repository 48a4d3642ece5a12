"""The token lookup of every request as a PL/pgSQL function (crm/oauth/authentication.py).

PL/pgSQL keeps the plan of the query inside it for the life of the server session, whichever
client calls it: planned once per server session, as a prepared statement would be, but with
nothing on the client's side, so it works behind pgbouncer in transaction mode, where a
prepared statement does not (the client's next transaction may run on another server session).
A LANGUAGE sql function would be inlined into the caller's query and planned on every call.

It returns the user, organization and profile as whole rows (their tables' row types), so a
column added to those tables later needs no new function: the caller picks the columns it
knows by name. PostgreSQL only; SQLite keeps the ORM query.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION crm_access_token_lookup(token_digest text, at_time timestamptz)
RETURNS TABLE (
    token_id bigint,
    token_scopes jsonb,
    holder crm_user,
    holder_organization crm_organization,
    holder_profile crm_profile
)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    -- A token is good when it is not revoked or expired, its user is active and its refresh
    -- token (if any) is not revoked: revoking a refresh token also marks its access tokens, but
    -- an access token issued by a refresh racing the revocation would miss that UPDATE; the
    -- join catches it.
    RETURN QUERY
    SELECT t.id, t.scopes, u, o, p
    FROM crm_accesstoken t
    JOIN crm_user u ON u.id = t.user_id
    JOIN crm_organization o ON o.id = u.organization_id
    JOIN crm_profile p ON p.id = u.profile_id
    LEFT JOIN crm_refreshtoken r ON r.id = t.refresh_token_id
    WHERE t.token_hash = token_digest AND t.revoked_at IS NULL AND t.expires_at > at_time
      AND u.status = 'active' AND r.revoked_at IS NULL;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS crm_access_token_lookup(text, timestamptz)"


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0008_org_api_limits"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
