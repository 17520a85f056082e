//! Local administration of `kdr serve`'s users and API tokens, straight on the store (for the
//! machine's administrator), and `kdr audit-webhook-config`.

use std::io::{self, BufRead};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use kdr_server::auth::{self, IssuedToken, Permission};
use kdr_store::{Store, TokenRecord, UserChange};

use crate::store_cmd::StoreArg;

fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn permissions(role: Option<&str>, names: &[String]) -> anyhow::Result<Vec<Permission>> {
    let mut out = match role {
        Some(role) => auth::role_permissions(role).with_context(|| {
            format!("unknown role {role:?}: expected reader, analyst, responder, admin or ingest")
        })?,
        None => Vec::new(),
    };
    for name in names {
        out.push(Permission::parse(name).with_context(|| {
            format!(
                "unknown permission {name:?}: expected one of {}",
                Permission::ALL.map(|p| p.label()).join(", ")
            )
        })?);
    }
    if out.is_empty() {
        bail!("give --role or at least one --permission");
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Reads a new password from standard input (first line), checked for length.
fn read_password() -> anyhow::Result<String> {
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    auth::check_password_strength(&password).map_err(|e| anyhow::anyhow!(e))?;
    Ok(password)
}

#[derive(Args)]
pub struct UsersArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        /// reader, analyst, responder, admin.
        #[arg(long)]
        role: Option<String>,
        /// A permission ("Alerts: read", "Alerts: manage", "Response: manage", "Admin");
        /// repeatable.
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    /// Set a user's password (read from standard input); ends the user's sessions.
    Passwd {
        name: String,
    },
    /// Disable or enable a user.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    List,
}

pub fn users(args: UsersArgs) -> anyhow::Result<ExitCode> {
    let mut store = args.store.open()?;
    let actor = cli_actor();
    match args.command {
        UsersCommand::Add {
            name,
            role,
            permissions: names,
        } => {
            let granted = permissions(role.as_deref(), &names)?;
            let hash = auth::hash_password(&read_password()?)?;
            store.create_user(&name, &hash, &auth::permission_keys(&granted))?;
            audit(&mut store, &actor, "user.create", &name, &granted)?;
            eprintln!("created user {name:?}");
        }
        UsersCommand::Passwd { name } => {
            let hash = auth::hash_password(&read_password()?)?;
            store.update_user(
                &name,
                &UserChange {
                    password_hash: Some(hash),
                    ..UserChange::default()
                },
            )?;
            store.delete_user_sessions(&name)?;
            audit(&mut store, &actor, "user.passwd", &name, &[])?;
            eprintln!("password of {name:?} changed; their sessions ended");
        }
        UsersCommand::Disable { name } => set_disabled(&mut store, &actor, &name, true)?,
        UsersCommand::Enable { name } => set_disabled(&mut store, &actor, &name, false)?,
        UsersCommand::List => {
            let users = store.list_users()?;
            let cells: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.name.clone(),
                        auth::permissions_from_keys(&u.permissions)
                            .iter()
                            .map(|p| p.label())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if u.disabled { "disabled" } else { "" }.to_owned(),
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::table::render(&["NAME", "PERMISSIONS", "STATE"], &cells, 80)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set_disabled(store: &mut Store, actor: &str, name: &str, disabled: bool) -> anyhow::Result<()> {
    store.update_user(
        name,
        &UserChange {
            disabled: Some(disabled),
            ..UserChange::default()
        },
    )?;
    if disabled {
        store.delete_user_sessions(name)?;
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit(store, actor, action, name, &[])
}

fn audit(
    store: &mut Store,
    actor: &str,
    action: &str,
    target: &str,
    granted: &[Permission],
) -> anyhow::Result<()> {
    store.record_audit(
        actor,
        action,
        target,
        &serde_json::json!({ "permissions": granted }),
    )?;
    Ok(())
}

#[derive(Args)]
pub struct TokensArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create an API token and print it (shown once).
    Create {
        name: String,
        /// reader, analyst, responder, admin, ingest (audit webhook and remote sensors).
        #[arg(long)]
        role: Option<String>,
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// The user whose permissions bound the token; none for machine tokens.
        #[arg(long)]
        owner: Option<String>,
    },
    List,
    Revoke {
        id: String,
    },
}

/// Creates a token in the store and returns its text.
fn create_token(
    store: &mut Store,
    name: &str,
    granted: &[Permission],
    owner: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(owner) = owner {
        store
            .get_user(owner)?
            .with_context(|| format!("no user {owner:?} to own the token"))?;
    }
    let issued = IssuedToken::generate();
    store.create_token(&TokenRecord {
        id: issued.id.clone(),
        name: name.to_owned(),
        owner: owner.unwrap_or_default().to_owned(),
        secret_hash: auth::sha256_hex(&issued.secret),
        permissions: auth::permission_keys(granted),
        created_at: kdr_server::now(),
        last_used_at: None,
        revoked_at: None,
    })?;
    audit(store, &cli_actor(), "token.create", &issued.id, granted)?;
    Ok(issued.text())
}

pub fn tokens(args: TokensArgs) -> anyhow::Result<ExitCode> {
    let mut store = args.store.open()?;
    match args.command {
        TokensCommand::Create {
            name,
            role,
            permissions: names,
            owner,
        } => {
            let granted = permissions(role.as_deref(), &names)?;
            println!(
                "{}",
                create_token(&mut store, &name, &granted, owner.as_deref())?
            );
        }
        TokensCommand::List => {
            let cells: Vec<Vec<String>> = store
                .list_tokens()?
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        t.owner.clone(),
                        auth::permissions_from_keys(&t.permissions)
                            .iter()
                            .map(|p| p.label())
                            .collect::<Vec<_>>()
                            .join(", "),
                        t.revoked_at
                            .map_or_else(String::new, |r| format!("revoked {r}")),
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::table::render(&["ID", "NAME", "OWNER", "PERMISSIONS", "STATE"], &cells, 60)
            );
        }
        TokensCommand::Revoke { id } => {
            store.revoke_token(&id)?;
            audit(&mut store, &cli_actor(), "token.revoke", &id, &[])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct WebhookConfigArgs {
    #[command(flatten)]
    store: StoreArg,
    /// kdr serve's base URL as the API server reaches it.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Use this token instead of creating an "Ingest: write" token in the store.
    #[arg(long, env = "KDR_WEBHOOK_TOKEN")]
    token: Option<String>,
}

/// Prints the kubeconfig-format file the API server's `--audit-webhook-config-file` takes.
pub fn webhook_config(args: WebhookConfigArgs) -> anyhow::Result<ExitCode> {
    let token = match args.token {
        Some(token) => token,
        None => {
            let mut store = args.store.open()?;
            create_token(
                &mut store,
                "audit webhook",
                &[Permission::IngestWrite],
                None,
            )?
        }
    };
    let server = format!("{}/api/v1/audit/webhook", args.server.trim_end_matches('/'));
    // JSON strings are valid YAML scalars, and quote anything odd in the URL or token.
    let quote = |text: &str| serde_json::to_string(text).unwrap_or_default();
    println!(
        "# kube-apiserver flags: --audit-webhook-config-file=<this file> \
         --audit-policy-file=<policy> --audit-webhook-mode=batch\n\
         apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: kdr\n\
         \x20 cluster:\n\
         \x20   server: {}\n\
         users:\n\
         - name: kdr\n\
         \x20 user:\n\
         \x20   token: {}\n\
         contexts:\n\
         - name: kdr\n\
         \x20 context:\n\
         \x20   cluster: kdr\n\
         \x20   user: kdr\n\
         current-context: kdr",
        quote(&server),
        quote(&token)
    );
    Ok(ExitCode::SUCCESS)
}
