//! `recoscope users …`: the dashboard's operators from the shell: the first admin of a
//! tenant (`add`, or `invite` for a link they open themselves), roles, and unlocking.

use crate::config::Config;
use anyhow::Context;
use clap::Subcommand;
use recoscope_accounts::{Accounts, Role};
use std::io::BufRead;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create an operator with a password read from RECOSCOPE_PASSWORD, else from the first
    /// line of standard input, and make them a member of a tenant.
    Add {
        email: String,
        #[arg(long)]
        tenant: String,
        /// viewer (reads the analytics) or admin (also manages keys, catalog and members).
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Print a one-time link that lets EMAIL set a password and join the tenant (valid
    /// INVITATION_TTL_HOURS).
    Invite {
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Give an existing operator a role in a tenant.
    Grant {
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        role: String,
    },
    /// List a tenant's operators and their roles.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Lift the lock that failed sign-ins put on an account.
    Unlock { email: String },
}

fn role(text: &str) -> anyhow::Result<Role> {
    Ok(Role::parse(text)?)
}

/// A password for `users add`: never a command-line argument (other users see those).
fn password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("RECOSCOPE_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn run(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    let store_config = config.stores.clone();
    let stores = tokio::task::spawn_blocking(move || recoscope_stores::Stores::open(&store_config))
        .await??;
    let accounts = Accounts::new(stores, config.accounts.clone());
    let output = match command {
        UsersCommand::Add {
            email,
            tenant,
            role: r,
        } => {
            let role = role(&r)?;
            accounts
                .add_user(&email, &password()?, &tenant, role)
                .await?;
            serde_json::json!({"email": email.trim().to_lowercase(), "tenant_id": tenant, "role": role})
        }
        UsersCommand::Invite {
            email,
            tenant,
            role: r,
        } => {
            let role = role(&r)?;
            let token = accounts
                .create_invitation("recoscope users invite", &tenant, &email, role)
                .await?;
            serde_json::json!({
                "email": email.trim().to_lowercase(),
                "tenant_id": tenant,
                "role": role,
                "expires_in_hours": config.accounts.invitation_ttl_hours,
                // The token rides in the fragment, which browsers never send to a server.
                "invitation_path": format!("/invite#token={token}"),
            })
        }
        UsersCommand::Grant {
            email,
            tenant,
            role: r,
        } => {
            let role = role(&r)?;
            accounts.grant(&email, &tenant, role).await?;
            serde_json::json!({"email": email.trim().to_lowercase(), "tenant_id": tenant, "role": role})
        }
        UsersCommand::List { tenant } => {
            let members: Vec<_> = accounts
                .tenant_members(&tenant)
                .await?
                .into_iter()
                .map(|m| serde_json::json!({"email": m.email, "role": m.role}))
                .collect();
            serde_json::json!(members)
        }
        UsersCommand::Unlock { email } => {
            accounts.unlock(&email).await?;
            serde_json::json!({"unlocked": email.trim().to_lowercase()})
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
