//! The `nextal-sms` subcommands.

use std::io::BufRead;

use anyhow::Context;
use nextal_domain::{EmailAddress, NewPassword, OrganizationName};
use nextal_persistence::{DatabaseUrl, Db};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Cli, Command, Settings};
use crate::keys::load_keyring;
use crate::passwords::Passwords;
use crate::services::{bootstrap, integrations};
use crate::startup::Application;

/// Runs the command the command line names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.settings).await,
        Command::Migrate => migrate(&cli.settings).await,
        Command::CreateOrg {
            name,
            admin_email,
            admin_password,
        } => create_org(&cli.settings, &name, &admin_email, admin_password).await,
        Command::RotateMasterKey => rotate_master_key(&cli.settings).await,
        Command::Openapi { output } => openapi(output.as_deref()),
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the operator reads these lines once, at first start"
)]
async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    let base = settings.public_url.trim_end_matches('/');
    if let Some(admin) = application.bootstrap_admin() {
        println!("Created the first organization and its admin.");
        println!("  Sign in:  POST {base}/auth/login");
        println!("  Email:    {}", admin.email);
        match &admin.generated_password {
            Some(password) => println!("  Password: {password}   (shown only this once)"),
            None => println!("  Password: the value of NEXTAL_BOOTSTRAP_ADMIN_PASSWORD"),
        }
    }
    println!(
        "Nextal SMS listening on {} — API docs at {base}/docs/",
        settings.bind
    );
    tracing::info!(bind = %settings.bind, port = application.port(), "serving");
    application.run_until_stopped().await?;
    Ok(())
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(&settings.database_url)?;
    let applied = Db::migrate(&url).await?;
    tracing::info!(count = applied.len(), versions = ?applied, "migrations applied");
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's result for the operator")]
async fn create_org(
    settings: &Settings,
    name: &str,
    admin_email: &str,
    admin_password: Option<SecretString>,
) -> anyhow::Result<()> {
    let name =
        OrganizationName::parse(name).map_err(|invalid| anyhow::anyhow!("--name {invalid}"))?;
    let email = EmailAddress::parse(admin_email)
        .map_err(|invalid| anyhow::anyhow!("--admin-email {invalid}"))?;
    let password = match admin_password {
        Some(secret) => secret.expose_secret().to_owned(),
        None => read_password_from_stdin()?,
    };
    let password = NewPassword::parse(password)
        .map_err(|invalid| anyhow::anyhow!("the admin password {invalid}"))?;
    let url = DatabaseUrl::parse(&settings.database_url)?;
    Db::migrate(&url).await?;
    let db = Db::open(&url, Default::default())?;
    let organization =
        bootstrap::create_organization(&db, &Passwords::new()?, &name, &email, &password).await?;
    println!(
        "Created organization {} ({}) with admin {email}",
        organization.name, organization.id
    );
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's result for the operator")]
async fn rotate_master_key(settings: &Settings) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(&settings.database_url)?;
    Db::migrate(&url).await?;
    let keyring = load_keyring(settings, &url)?;
    let db = Db::open(&url, Default::default())?;
    let changed = integrations::reseal_all(&db, &keyring).await?;
    println!(
        "Re-sealed {changed} integration(s) under the current master key; \
         NEXTAL_PREVIOUS_MASTER_KEYS can now be emptied."
    );
    Ok(())
}

fn read_password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the admin password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[allow(
    clippy::print_stdout,
    reason = "printing the document is the command's purpose"
)]
fn openapi(output: Option<&std::path::Path>) -> anyhow::Result<()> {
    let document = nextal_openapi::render(&crate::routes::openapi_document())?;
    match output {
        Some(path) => {
            std::fs::write(path, document).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{document}"),
    }
    Ok(())
}
