//! `cjaas-local`: CJaaS on its embedded default, plus the operator commands for it.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::watch;

use cjaas_app::jobs::{Operation, Trigger};
use cjaas_core::auth::Scope;
use cjaas_core::target::TargetPolicy;
use cjaas_local::server::{bind, LocalApp};
use cjaas_local::{EmbeddedStore, DEFAULT_CACHE_MIB};

#[derive(Parser)]
#[command(
    version,
    about = "CJaaS on its embedded default: no cloud, data kept on disk"
)]
struct Cli {
    /// Where the embedded store keeps its data.
    #[arg(long, env = "CJAAS_DATA_DIR", default_value = ".cjaas", global = true)]
    data_dir: PathBuf,
    /// Where `serve` listens.
    #[arg(
        long,
        env = "CJAAS_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    addr: SocketAddr,
    /// How often `serve` recomputes every tenant's journey analytics.
    #[arg(
        long,
        env = "CJAAS_ANALYTICS_EVERY_SECONDS",
        default_value_t = 300,
        global = true
    )]
    analytics_every_seconds: u64,
    /// Let rules call loopback, `localhost` and private-network URLs (development
    /// receivers). Off by default: CJaaS then calls public addresses only.
    #[arg(
        long,
        env = "CJAAS_ALLOW_PRIVATE_TARGETS",
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    allow_private_targets: bool,
    /// An origin whose pages may call every route with a credential (CORS), for the
    /// web components in a dashboard, e.g. `https://crm.example.com`. Repeatable;
    /// none by default (the console at `/` is same-origin).
    #[arg(
        long = "dashboard-origin",
        env = "CJAAS_DASHBOARD_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    dashboard_origins: Vec<String>,
    /// The embedded store's page cache, in MiB: most of the server's memory. Smaller
    /// holds less and reads pages from disk more often.
    #[arg(
        long,
        env = "CJAAS_CACHE_MIB",
        default_value_t = DEFAULT_CACHE_MIB as u64,
        value_parser = clap::value_parser!(u64).range(1..=65_536),
        global = true
    )]
    cache_mib: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (the default).
    Serve,
    /// Create a tenant and print its first (all-scope) API key.
    CreateTenant { tenant: String },
    /// Create an API key for a tenant and print it once.
    CreateKey {
        #[arg(long)]
        tenant: String,
        /// Comma-separated: events:write, tape:read, admin.
        #[arg(long)]
        scopes: String,
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List a tenant's API keys (never their secrets).
    ListKeys {
        #[arg(long)]
        tenant: String,
    },
    /// Print a new random signing key (`kid:base64`) for a deployment's keyset.
    NewSigningKey {
        /// The key's name, e.g. the month it was made.
        #[arg(long, default_value = "k1")]
        kid: String,
    },
    /// Revoke an API key.
    RevokeKey {
        #[arg(long)]
        tenant: String,
        key_id: String,
    },
    /// Set how many days of events (by event time) a tenant keeps; omit --days to keep
    /// them forever.
    SetRetention {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        days: Option<u32>,
    },
    /// Write the analytics projection of every Tape entry that has none (entries
    /// written before it existed), then let analytics read the projection. Idempotent.
    BackfillProjection,
    /// Put a tenant's archived events of [from, to) back on the local stream; `serve`
    /// writes them to the Tape, where events already there are ignored.
    Replay {
        #[arg(long)]
        tenant: String,
        /// RFC 3339, inclusive.
        #[arg(long)]
        from: chrono::DateTime<chrono::Utc>,
        /// RFC 3339, exclusive.
        #[arg(long)]
        to: chrono::DateTime<chrono::Utc>,
    },
}

fn parse_scopes(raw: &str) -> Result<Vec<Scope>, String> {
    Scope::parse_list(raw).ok_or_else(|| format!("unknown scope in {raw:?}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if let Some(Command::NewSigningKey { kid }) = &cli.command {
        let config = cjaas_core::auth::SigningKeys::generate(kid).to_config();
        cjaas_core::auth::SigningKeys::parse(&config)?; // refuses a bad kid
        println!("{config}");
        return Ok(());
    }
    let store = EmbeddedStore::open_with_cache(&cli.data_dir, (cli.cache_mib as usize) << 20)
        .map_err(|e| format!("cannot open the store in {}: {e}", cli.data_dir.display()))?;
    let targets = if cli.allow_private_targets {
        tracing::warn!("private targets allowed: rules may call loopback and private networks");
        TargetPolicy::allowing_private()
    } else {
        TargetPolicy::public_only()
    };
    let dashboards = cjaas_app::http::DashboardOrigins::parse(&cli.dashboard_origins)?;
    let mut app = LocalApp::with_targets(store, targets)?;
    app.router = cjaas_app::http::with_dashboard_origins(app.router, dashboards);
    app.analytics_every = std::time::Duration::from_secs(cli.analytics_every_seconds.max(1));
    let operation = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return serve(app, cli.addr, &cli.data_dir).await,
        Command::NewSigningKey { .. } => unreachable!("handled before the store opens"),
        Command::BackfillProjection => Operation::BackfillProjection {
            budget_seconds: None,
        },
        Command::CreateTenant { tenant } => Operation::CreateTenant { tenant },
        Command::CreateKey {
            tenant,
            scopes,
            label,
            expires_in_days,
        } => Operation::CreateKey {
            tenant,
            scopes: parse_scopes(&scopes)?,
            label,
            expires_in_days,
        },
        Command::ListKeys { tenant } => Operation::ListKeys { tenant },
        Command::RevokeKey { tenant, key_id } => Operation::RevokeKey { tenant, key_id },
        Command::SetRetention { tenant, days } => Operation::SetRetention { tenant, days },
        Command::Replay { tenant, from, to } => Operation::Replay { tenant, from, to },
    };
    let output = app.jobs.run(Trigger::Operation(operation)).await?;
    // `list-keys` prints each key, as the other commands print theirs.
    match output.get("keys").and_then(serde_json::Value::as_array) {
        Some(keys) => keys.iter().try_for_each(print_json)?,
        None => print_json(&output)?,
    }
    Ok(())
}

fn print_json(value: &serde_json::Value) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn serve(
    app: LocalApp,
    addr: SocketAddr,
    data_dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = bind(addr).await?;
    let first_key = app.ensure_dev_tenant().await?;
    println!(
        "CJaaS (embedded default) listening on http://{}",
        listener.local_addr()?
    );
    println!("data: {}", data_dir.display());
    if let Some(key) = first_key {
        println!("created tenant `dev`; its admin API key (shown once, keep it):");
        println!("  {}", key.token.unwrap_or_default());
    } else {
        println!("tenant `dev` exists; its admin API key was shown at the first start");
        println!("  (another one: cjaas-local create-key --tenant dev --scopes admin,events:write,tape:read)");
    }
    println!("development token for tenant `dev` (all scopes, valid 24h):");
    println!("  export CJAAS_TOKEN={}", app.dev_token());
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    app.serve(listener, shutdown).await?;
    Ok(())
}
