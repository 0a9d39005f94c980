//! Sync inside the store: reading a changed row for its event, applying an inbound Attio
//! record, and reporting, each in the transaction that changes the row.

use super::*;

/// The row id an Attio record carries in its id attribute, when it is a plain id.
pub(super) fn adopted_id(event: &RecordEvent, adapter: &ModelAdapter) -> Option<String> {
    let values = event.values.as_ref()?;
    let plain = adapter.plain_values(values);
    let id = plain.get(&adapter.id_attribute)?.as_str()?.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| id.to_owned())
}

/// The transaction as the outbox's connection type.
pub(super) fn tx_conn(tx: &mut Tx) -> crate::sync::OutboxConn<'_> {
    match tx {
        Tx::Sqlite(t, _) => crate::sync::OutboxConn::Sqlite(t),
        Tx::Postgres(t) => crate::sync::OutboxConn::Postgres(t),
        Tx::MySql(t) => crate::sync::OutboxConn::MySql(t),
    }
}

/// Wakes the delivery worker after a commit that reported something.
pub(super) fn notify(report: Option<Report<'_>>) {
    if let Some(r) = report {
        r.reporter.notify();
    }
}

/// `email_verified` -> `emailVerified`.
pub(super) fn camel(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len());
    let mut upper = false;
    for c in ident.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as a bound parameter.
pub(super) fn json_param(v: &Value) -> P {
    match v {
        Value::Null => P::OS(None),
        Value::Bool(b) => P::B(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => P::I(i),
            None => P::S(n.to_string()),
        },
        Value::String(s) => P::S(s.clone()),
        other => P::S(other.to_string()),
    }
}

/// Only plain identifiers reach SQL text (model and field names come from adapters).
pub(super) fn plain_ident(s: &str) -> Result<&str, StoreError> {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(s)
    } else {
        Err(StoreError::Rejected(format!(
            "not a plain identifier: {s:?}"
        )))
    }
}

impl SqlxStore {
    /// The columns of a table (camelCase names whatever the naming).
    pub(super) async fn columns_in(
        &self,
        tx: &mut Tx,
        table: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let name = self.dialect.ident(table);
        let sql = match self.dialect.backend {
            Backend::Sqlite => "select name from pragma_table_info($1)",
            Backend::Postgres => {
                "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name::text = $1"
            }
            Backend::MySql => {
                "select column_name from information_schema.columns where table_schema = database() and table_name = $1 order by ordinal_position"
            }
        };
        let rows = tx.all(sql, params![name]).await?;
        rows.iter()
            .map(|r| {
                r.s(0).map(|c| match self.dialect.naming {
                    ColumnNaming::CamelCase => c,
                    ColumnNaming::SnakeCase => camel(&c),
                })
            })
            .collect()
    }

    /// The date and time columns of a MySQL table (camelCase names), read back as ISO text.
    async fn date_columns_in(&self, tx: &mut Tx, table: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows = tx
            .all(
                "select column_name from information_schema.columns where table_schema = database() and table_name = $1 and data_type in ('datetime', 'timestamp', 'date')",
                params![self.dialect.ident(table)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                r.s(0).map(|c| match self.dialect.naming {
                    ColumnNaming::CamelCase => c,
                    ColumnNaming::SnakeCase => camel(&c),
                })
            })
            .collect()
    }

    /// One row of any table as a JSON object with Better Auth (camelCase) field names:
    /// what adapters read. Emails are matched case-insensitively.
    pub(super) async fn row_json_in(
        &self,
        tx: &mut Tx,
        table: &str,
        key: &str,
        value: &Value,
    ) -> StoreResult<Option<Map<String, Value>>> {
        let table = plain_ident(table)?;
        let key = plain_ident(key)?;
        let cond = if key == "email" {
            r#"lower("email") = lower($1)"#.to_owned()
        } else {
            format!(r#""{key}" = $1"#)
        };
        let sql = match self.dialect.backend {
            Backend::Postgres => self.q(&format!(
                r#"select row_to_json(t)::text from "{table}" t where {cond} limit 1"#
            )),
            Backend::Sqlite | Backend::MySql => {
                let cols = self.columns_in(tx, table).await?;
                if cols.is_empty() {
                    return Ok(None);
                }
                // Dates read back as ISO text: MySQL's native ones, and integer ones.
                let dates = match self.dialect.backend {
                    Backend::MySql => self.date_columns_in(tx, table).await?,
                    _ => self.integer_date_columns(table),
                };
                let pairs: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        if dates.contains(c) {
                            format!(r#"'{c}', @rts({table}.{c}, "{c}")"#)
                        } else {
                            format!(r#"'{c}', "{c}""#)
                        }
                    })
                    .collect();
                // json_object's keys are string literals, left alone by the identifier
                // rewrite: they stay camelCase whatever the naming.
                // MySQL 8 answers json_object as its JSON type: cast to text.
                let object = match self.dialect.backend {
                    Backend::MySql => format!("cast(json_object({}) as char)", pairs.join(", ")),
                    _ => format!("json_object({})", pairs.join(", ")),
                };
                self.q(&format!(
                    r#"select {object} from "{table}" where {cond} limit 1"#
                ))
            }
        };
        let Some(row) = tx.opt(&sql, vec![json_param(value)]).await? else {
            return Ok(None);
        };
        let text = row.s(0)?;
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            return Ok(None);
        };
        Ok(Some(match self.dialect.naming {
            ColumnNaming::CamelCase => map,
            ColumnNaming::SnakeCase => map.into_iter().map(|(k, v)| (camel(&k), v)).collect(),
        }))
    }

    /// Attio record ids of an organization's members (those linked to Attio).
    pub(super) async fn member_attio_ids_in(
        &self,
        tx: &mut Tx,
        org_id: &str,
    ) -> StoreResult<Vec<String>> {
        let rows = tx
            .all(
                &self.q(r#"select u."attioId" from "member" m join "user" u on u."id" = m."userId" where m."organizationId" = $1 and u."attioId" is not null order by u."attioId""#),
                params![org_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.s(0)).collect::<Result<_, _>>()?)
    }

    /// Writes the outbox event about row `id` of `model`, as stored now, on `tx`.
    pub(super) async fn report_in(
        &self,
        tx: &mut Tx,
        report: Option<Report<'_>>,
        model: &str,
        id: &str,
        kind: EventKind,
    ) -> StoreResult<Option<String>> {
        let Some(r) = report else {
            return Ok(None);
        };
        if r.reporter.adapters().for_model(model).is_none() {
            return Ok(None);
        }
        let row = match self
            .row_json_in(tx, model, "id", &Value::String(id.to_owned()))
            .await?
        {
            Some(row) => row,
            None if kind == EventKind::Delete => {
                let mut m = Map::new();
                m.insert("id".to_owned(), Value::String(id.to_owned()));
                m
            }
            None => return Ok(None),
        };
        Ok(r.reporter
            .report(tx_conn(tx), model, kind, &row, r.origin)
            .await?)
    }

    /// Inserts a row made from Attio: the plan's fields, the id, timestamps and the Better
    /// Auth defaults the table needs (a user gets the default role and is not banned).
    pub(super) async fn insert_row_in(
        &self,
        tx: &mut Tx,
        table: &str,
        id: &str,
        mut fields: Map<String, Value>,
    ) -> StoreResult<()> {
        let table = plain_ident(table)?;
        let cols = self.columns_in(tx, table).await?;
        let has = |c: &str| cols.iter().any(|x| x == c);
        fields.insert("id".to_owned(), Value::String(id.to_owned()));
        if table == "user" {
            fields.entry("emailVerified").or_insert(Value::Bool(false));
            if has("role") {
                fields
                    .entry("role")
                    .or_insert(Value::String("user".to_owned()));
            }
            if has("banned") {
                fields.entry("banned").or_insert(Value::Bool(false));
            }
            if let Some(Value::String(e)) = fields.get_mut("email") {
                *e = e.trim().to_lowercase();
            }
        }
        if table == "organization"
            && !fields.contains_key("slug")
            && let Some(name) = fields.get("name").and_then(Value::as_str)
        {
            let slug = crate::sync::inbound::slugify(name);
            fields.insert("slug".to_owned(), Value::String(slug));
        }
        let now = crate::time::now_iso();
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut params = Vec::new();
        for (k, v) in &fields {
            let k = plain_ident(k)?;
            if !has(k) || k == "createdAt" || k == "updatedAt" {
                continue;
            }
            names.push(format!(r#""{k}""#));
            params.push(json_param(v));
            values.push(format!("${}", params.len()));
        }
        for ts in ["createdAt", "updatedAt"] {
            if has(ts) {
                names.push(format!(r#""{ts}""#));
                params.push(P::S(now.clone()));
                values.push(format!("@ts({table}.{ts}, ${})", params.len()));
            }
        }
        let sql = self.q(&format!(
            r#"insert into "{table}" ({}) values ({})"#,
            names.join(", "),
            values.join(", ")
        ));
        tx.exec(&sql, params)
            .await
            .map_err(conflict("the record conflicts with an existing row"))?;
        Ok(())
    }

    /// Updates the plan's fields of row `id` (and `updatedAt` where the table has it).
    pub(super) async fn update_row_in(
        &self,
        tx: &mut Tx,
        table: &str,
        id: &str,
        fields: Map<String, Value>,
    ) -> StoreResult<()> {
        let table = plain_ident(table)?;
        let cols = self.columns_in(tx, table).await?;
        let has = |c: &str| cols.iter().any(|x| x == c);
        let mut sets = Vec::new();
        let mut params = Vec::new();
        for (k, v) in &fields {
            let k = plain_ident(k)?;
            if !has(k) || k == "id" || k == "updatedAt" || k == "createdAt" {
                continue;
            }
            let v = if k == "email" {
                v.as_str()
                    .map(|e| Value::String(e.trim().to_lowercase()))
                    .unwrap_or_else(|| v.clone())
            } else {
                v.clone()
            };
            params.push(json_param(&v));
            sets.push(format!(r#""{k}" = ${}"#, params.len()));
        }
        if sets.is_empty() {
            return Ok(());
        }
        if has("updatedAt") {
            params.push(P::S(crate::time::now_iso()));
            sets.push(format!(
                r#""updatedAt" = @ts({table}.updatedAt, ${})"#,
                params.len()
            ));
        }
        params.push(P::S(id.to_owned()));
        let sql = self.q(&format!(
            r#"update "{table}" set {} where "id" = ${}"#,
            sets.join(", "),
            params.len()
        ));
        tx.exec(&sql, params)
            .await
            .map_err(conflict("the record conflicts with an existing row"))?;
        Ok(())
    }

    /// Makes an organization's members the users linked to the Attio records in
    /// `references[memberAttioIds]` (unknown records are skipped; owners are never removed,
    /// so an organization cannot lose its last owner from a CRM edit).
    pub(super) async fn reconcile_members_in(
        &self,
        tx: &mut Tx,
        table: &str,
        org_id: &str,
        references: &Map<String, Value>,
    ) -> StoreResult<()> {
        let Some(wanted) = references.get(MEMBER_ATTIO_IDS).and_then(Value::as_array) else {
            return Ok(());
        };
        if table != "organization" {
            return Ok(());
        }
        let wanted: Vec<String> = wanted
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let current = self.member_attio_ids_in(tx, org_id).await?;
        let (add, remove) = crate::sync::inbound::reconcile(&current, &wanted);
        let now = crate::time::now_iso();
        for attio_id in add {
            let user = tx
                .opt(
                    &self.q(r#"select "id" from "user" where "attioId" = $1"#),
                    params![attio_id],
                )
                .await?;
            let Some(user) = user else { continue };
            let (col, val) = self.updated_at_column("member", 4);
            tx.exec(
                &self.q(&format!(r#"insert into "member" ("id", "organizationId", "userId", "role", "createdAt"{col}) values ($1, $2, $3, 'member', @ts(member.createdAt, $4){val})"#)),
                params![crate::ids::new_id(), org_id, user.s(0)?, &now],
            )
            .await?;
        }
        for attio_id in remove {
            tx.exec(
                &self.q(r#"delete from "member" where "organizationId" = $1 and "role" not like '%owner%' and "userId" in (select "id" from "user" where "attioId" = $2)"#),
                params![org_id, attio_id],
            )
            .await?;
        }
        Ok(())
    }
}
