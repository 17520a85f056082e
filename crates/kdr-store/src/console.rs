//! What `kdr serve` keeps besides alerts and events: users, API tokens, sessions, the audit
//! trail of changes, response actions with their comments, and saved hunting queries.
//!
//! The store only keeps these records. Hashing secrets, deciding permissions and running
//! actions belong to the server; secrets arrive here already hashed.

use serde::Serialize;

use kdr_model::Timestamp;

use crate::db::{Cell, Row, Value};
use crate::error::ResultExt;
use crate::store::{int_at, require_text, text_at, wall_clock_now, Store};
use crate::StoreError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub permissions: Vec<String>,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A change to a user; `None` leaves the field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub password_hash: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// Public part of the token, shown in listings.
    pub id: String,
    pub name: String,
    pub owner: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub permissions: Vec<String>,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session id the browser holds.
    pub id_hash: String,
    pub user_name: String,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
}

/// A response action as recorded: requested, then finished with a status.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub id: String,
    /// isolate, release or terminate.
    pub kind: String,
    /// The kubeconfig context (cluster) it ran against; empty for the default context.
    pub context: String,
    pub namespace: String,
    pub pod: String,
    pub actor: String,
    pub requested_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Requested, Running, Succeeded, Partial or Failed.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The action's outcome as its runner reported it.
    pub details: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionFilter {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedQuery {
    pub owner: String,
    pub name: String,
    pub query: String,
    pub created_at: Timestamp,
}

const USER_COLUMNS: &str = "name, password_hash, permissions, disabled, created_at, updated_at";
const TOKEN_COLUMNS: &str =
    "id, name, owner, secret_hash, permissions, created_at, last_used_at, revoked_at";
const ACTION_COLUMNS: &str = "id, kind, context, namespace, pod, actor, requested_at, \
     finished_at, status, error, details, alert_id, incident_id";
/// Longest name of a user, token, query; longest saved query text.
const MAX_NAME_BYTES: usize = 128;
const MAX_QUERY_BYTES: usize = 64 * 1024;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Users

    pub fn user_count(&mut self) -> Result<u64, StoreError> {
        let rows = self.read("SELECT COUNT(*) FROM users", &[])?;
        Ok(rows.first().map_or(0, |row| int_at(row, 0).max(0) as u64))
    }

    /// Creates a user; [`StoreError::AlreadyExists`] when the name is taken.
    pub fn create_user(
        &mut self,
        name: &str,
        password_hash: &str,
        permissions: &[String],
    ) -> Result<(), StoreError> {
        require_text("user name", name, MAX_NAME_BYTES)?;
        let now = wall_clock_now();
        let changed = self.write(
            "INSERT INTO users (name, password_hash, permissions, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT DO NOTHING",
            &[
                Value::text(name),
                Value::text(password_hash),
                Value::owned(permissions.join(",")),
                Value::Int(now),
            ],
            format_args!("creating user {name:?}"),
        )?;
        if changed == 0 {
            return Err(StoreError::AlreadyExists {
                what: "user",
                id: name.to_owned(),
            });
        }
        Ok(())
    }

    pub fn get_user(&mut self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let rows = self
            .read(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"),
                &[Value::text(name)],
            )
            .during(format_args!("reading user {name:?}"))?;
        Ok(rows.first().map(user_record))
    }

    pub fn list_users(&mut self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = self
            .read(
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"),
                &[],
            )
            .during("listing users")?;
        Ok(rows.iter().map(user_record).collect())
    }

    pub fn update_user(&mut self, name: &str, change: &UserChange) -> Result<(), StoreError> {
        let Some(current) = self.get_user(name)? else {
            return Err(StoreError::NotFound {
                what: "user",
                id: name.to_owned(),
            });
        };
        let permissions = change
            .permissions
            .as_ref()
            .unwrap_or(&current.permissions)
            .join(",");
        self.write(
            "UPDATE users SET password_hash = $1, permissions = $2, disabled = $3, \
             updated_at = $4 WHERE name = $5",
            &[
                Value::text(
                    change
                        .password_hash
                        .as_deref()
                        .unwrap_or(&current.password_hash),
                ),
                Value::owned(permissions),
                Value::Int(i64::from(change.disabled.unwrap_or(current.disabled))),
                Value::Int(wall_clock_now()),
                Value::text(name),
            ],
            format_args!("updating user {name:?}"),
        )?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // API tokens

    pub fn create_token(&mut self, token: &TokenRecord) -> Result<(), StoreError> {
        require_text("token name", &token.name, MAX_NAME_BYTES)?;
        let changed = self.write(
            "INSERT INTO api_tokens (id, name, owner, secret_hash, permissions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                Value::text(&token.id),
                Value::text(&token.name),
                Value::text(&token.owner),
                Value::text(&token.secret_hash),
                Value::owned(token.permissions.join(",")),
                Value::Int(token.created_at.0),
            ],
            format_args!("creating token {:?}", token.name),
        )?;
        if changed == 0 {
            return Err(StoreError::AlreadyExists {
                what: "token",
                id: token.id.clone(),
            });
        }
        Ok(())
    }

    pub fn get_token(&mut self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let rows = self
            .read(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"),
                &[Value::text(id)],
            )
            .during("reading a token")?;
        Ok(rows.first().map(token_record))
    }

    pub fn list_tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = self
            .read(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"),
                &[],
            )
            .during("listing tokens")?;
        Ok(rows.iter().map(token_record).collect())
    }

    pub fn revoke_token(&mut self, id: &str) -> Result<(), StoreError> {
        let changed = self.write(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            &[Value::Int(wall_clock_now()), Value::text(id)],
            format_args!("revoking token {id:?}"),
        )?;
        if changed == 0 && self.get_token(id)?.is_none() {
            return Err(StoreError::NotFound {
                what: "token",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    pub fn touch_token(&mut self, id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.write(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2",
            &[Value::Int(at.0), Value::text(id)],
            "recording a token's use",
        )?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Sessions

    pub fn create_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO sessions (id_hash, user_name, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                Value::text(&session.id_hash),
                Value::text(&session.user_name),
                Value::text(&session.csrf_token),
                Value::Int(session.created_at.0),
                Value::Int(session.expires_at.0),
            ],
            "creating a session",
        )?;
        Ok(())
    }

    /// The session if it exists and has not expired at `now`.
    pub fn get_session(
        &mut self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let rows = self
            .read(
                "SELECT id_hash, user_name, csrf_token, created_at, expires_at FROM sessions \
                 WHERE id_hash = $1 AND expires_at > $2",
                &[Value::text(id_hash), Value::Int(now.0)],
            )
            .during("reading a session")?;
        Ok(rows.first().map(|row| SessionRecord {
            id_hash: text_at(row, 0),
            user_name: text_at(row, 1),
            csrf_token: text_at(row, 2),
            created_at: Timestamp(int_at(row, 3)),
            expires_at: Timestamp(int_at(row, 4)),
        }))
    }

    pub fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.write(
            "DELETE FROM sessions WHERE id_hash = $1",
            &[Value::text(id_hash)],
            "ending a session",
        )?;
        Ok(())
    }

    /// Ends every session of a user (password change, user disabled).
    pub fn delete_user_sessions(&mut self, user_name: &str) -> Result<u64, StoreError> {
        self.write(
            "DELETE FROM sessions WHERE user_name = $1",
            &[Value::text(user_name)],
            format_args!("ending the sessions of {user_name:?}"),
        )
    }

    pub fn delete_expired_sessions(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(
            "DELETE FROM sessions WHERE expires_at <= $1",
            &[Value::Int(now.0)],
            "deleting expired sessions",
        )
    }

    // -----------------------------------------------------------------------------------------
    // Audit trail

    pub fn record_audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO audit_trail (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)",
            &[
                Value::Int(wall_clock_now()),
                Value::text(actor),
                Value::text(action),
                Value::text(target),
                Value::owned(details.to_string()),
            ],
            format_args!("recording {action} in the audit trail"),
        )?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn audit_trail(&mut self, limit: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .read(
                "SELECT at, actor, action, target, details FROM audit_trail \
                 ORDER BY at DESC, id DESC LIMIT $1",
                &[Value::Int(limit.min(10_000) as i64)],
            )
            .during("reading the audit trail")?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                at: Timestamp(int_at(row, 0)),
                actor: text_at(row, 1),
                action: text_at(row, 2),
                target: text_at(row, 3),
                details: json_at(row, 4),
            })
            .collect())
    }

    // -----------------------------------------------------------------------------------------
    // Response actions

    pub fn create_action(&mut self, action: &ActionRecord) -> Result<(), StoreError> {
        self.write(
            &format!(
                "INSERT INTO response_actions ({ACTION_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &[
                Value::text(&action.id),
                Value::text(&action.kind),
                Value::text(&action.context),
                Value::text(&action.namespace),
                Value::text(&action.pod),
                Value::text(&action.actor),
                Value::Int(action.requested_at.0),
                Value::opt_int(action.finished_at.map(|t| t.0)),
                Value::text(&action.status),
                Value::opt_text(action.error.as_deref()),
                Value::owned(action.details.to_string()),
                Value::opt_text(action.alert_id.as_deref()),
                Value::opt_text(action.incident_id.as_deref()),
            ],
            format_args!("recording action {:?}", action.id),
        )?;
        Ok(())
    }

    /// Records how an action ended (or that it started running: `finished_at` None).
    pub fn update_action(
        &mut self,
        id: &str,
        status: &str,
        finished_at: Option<Timestamp>,
        error: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let changed = self.write(
            "UPDATE response_actions SET status = $1, finished_at = $2, error = $3, \
             details = $4 WHERE id = $5",
            &[
                Value::text(status),
                Value::opt_int(finished_at.map(|t| t.0)),
                Value::opt_text(error),
                Value::owned(details.to_string()),
                Value::text(id),
            ],
            format_args!("updating action {id:?}"),
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "action",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    pub fn get_action(&mut self, id: &str) -> Result<Option<ActionRecord>, StoreError> {
        let rows = self
            .read(
                &format!("SELECT {ACTION_COLUMNS} FROM response_actions WHERE id = $1"),
                &[Value::text(id)],
            )
            .during(format_args!("reading action {id:?}"))?;
        Ok(rows.first().map(action_record))
    }

    /// Actions matching the filter, newest first, at most `limit`.
    pub fn list_actions(
        &mut self,
        filter: &ActionFilter,
        limit: u64,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        for (column, value) in [
            ("namespace", &filter.namespace),
            ("pod", &filter.pod),
            ("kind", &filter.kind),
            ("status", &filter.status),
        ] {
            if let Some(value) = value {
                params.push(Value::text(value));
                conditions.push(format!("{column} = ${}", params.len()));
            }
        }
        params.push(Value::Int(limit.min(10_000) as i64));
        let limit_param = params.len();
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let rows = self
            .read(
                &format!(
                    "SELECT {ACTION_COLUMNS} FROM response_actions {condition} \
                     ORDER BY requested_at DESC, id LIMIT ${limit_param}"
                ),
                &params,
            )
            .during("listing actions")?;
        Ok(rows.iter().map(action_record).collect())
    }

    pub fn comment_action(&mut self, id: &str, author: &str, text: &str) -> Result<(), StoreError> {
        require_text("comment", text, 16 * 1024)?;
        if self.get_action(id)?.is_none() {
            return Err(StoreError::NotFound {
                what: "action",
                id: id.to_owned(),
            });
        }
        self.write(
            "INSERT INTO response_action_comments (action_id, author, text, created_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                Value::text(id),
                Value::text(author),
                Value::text(text),
                Value::Int(wall_clock_now()),
            ],
            format_args!("commenting action {id:?}"),
        )?;
        Ok(())
    }

    pub fn action_comments(&mut self, id: &str) -> Result<Vec<crate::Comment>, StoreError> {
        let rows = self
            .read(
                "SELECT author, text, created_at FROM response_action_comments \
                 WHERE action_id = $1 ORDER BY created_at, id",
                &[Value::text(id)],
            )
            .during(format_args!("reading the comments of action {id:?}"))?;
        Ok(rows
            .iter()
            .map(|row| crate::Comment {
                author: text_at(row, 0),
                text: text_at(row, 1),
                created_at: Timestamp(int_at(row, 2)),
            })
            .collect())
    }

    // -----------------------------------------------------------------------------------------
    // Saved queries

    /// Saves (or replaces) a named query of `owner`.
    pub fn save_query(&mut self, owner: &str, name: &str, query: &str) -> Result<(), StoreError> {
        require_text("query name", name, MAX_NAME_BYTES)?;
        require_text("query", query, MAX_QUERY_BYTES)?;
        self.write(
            "INSERT INTO saved_queries (owner, name, query, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner, name) DO UPDATE SET query = excluded.query, \
             created_at = excluded.created_at",
            &[
                Value::text(owner),
                Value::text(name),
                Value::text(query),
                Value::Int(wall_clock_now()),
            ],
            format_args!("saving query {name:?}"),
        )?;
        Ok(())
    }

    pub fn saved_queries(&mut self, owner: &str) -> Result<Vec<SavedQuery>, StoreError> {
        let rows = self
            .read(
                "SELECT owner, name, query, created_at FROM saved_queries WHERE owner = $1 \
                 ORDER BY name",
                &[Value::text(owner)],
            )
            .during("listing saved queries")?;
        Ok(rows
            .iter()
            .map(|row| SavedQuery {
                owner: text_at(row, 0),
                name: text_at(row, 1),
                query: text_at(row, 2),
                created_at: Timestamp(int_at(row, 3)),
            })
            .collect())
    }

    pub fn delete_saved_query(&mut self, owner: &str, name: &str) -> Result<(), StoreError> {
        let changed = self.write(
            "DELETE FROM saved_queries WHERE owner = $1 AND name = $2",
            &[Value::text(owner), Value::text(name)],
            format_args!("deleting query {name:?}"),
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "saved query",
                id: name.to_owned(),
            });
        }
        Ok(())
    }

    /// One statement in its own transaction; returns the rows changed.
    fn write(
        &mut self,
        portable_sql: &str,
        params: &[Value<'_>],
        what: impl std::fmt::Display,
    ) -> Result<u64, StoreError> {
        let sql = self.dialect.sql(portable_sql);
        let mut tx = self.db.transaction().during(&what)?;
        let changed = tx.execute(&sql, params).during(&what)?;
        tx.commit().during(&what)?;
        Ok(changed)
    }
}

fn permissions_at(row: &Row, index: usize) -> Vec<String> {
    text_at(row, index)
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn opt_time_at(row: &Row, index: usize) -> Option<Timestamp> {
    row.get(index).and_then(Cell::int).map(Timestamp)
}

fn json_at(row: &Row, index: usize) -> serde_json::Value {
    serde_json::from_str(&text_at(row, index)).unwrap_or(serde_json::Value::Null)
}

fn user_record(row: &Row) -> UserRecord {
    UserRecord {
        name: text_at(row, 0),
        password_hash: text_at(row, 1),
        permissions: permissions_at(row, 2),
        disabled: int_at(row, 3) != 0,
        created_at: Timestamp(int_at(row, 4)),
        updated_at: Timestamp(int_at(row, 5)),
    }
}

fn token_record(row: &Row) -> TokenRecord {
    TokenRecord {
        id: text_at(row, 0),
        name: text_at(row, 1),
        owner: text_at(row, 2),
        secret_hash: text_at(row, 3),
        permissions: permissions_at(row, 4),
        created_at: Timestamp(int_at(row, 5)),
        last_used_at: opt_time_at(row, 6),
        revoked_at: opt_time_at(row, 7),
    }
}

fn action_record(row: &Row) -> ActionRecord {
    let opt_text = |index: usize| row.get(index).and_then(Cell::text).map(str::to_owned);
    ActionRecord {
        id: text_at(row, 0),
        kind: text_at(row, 1),
        context: text_at(row, 2),
        namespace: text_at(row, 3),
        pod: text_at(row, 4),
        actor: text_at(row, 5),
        requested_at: Timestamp(int_at(row, 6)),
        finished_at: opt_time_at(row, 7),
        status: text_at(row, 8),
        error: opt_text(9),
        details: json_at(row, 10),
        alert_id: opt_text(11),
        incident_id: opt_text(12),
    }
}
