//! `tether-test-apiserver`: serves the Kubernetes API emulation on 127.0.0.1 until killed.
//! Prints its URL on stdout once it listens, and with `--kubeconfig PATH` first writes a
//! kubeconfig for itself (plain HTTP, no authentication).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tether_tests::apiserver::{ApiServer, ApiServerOptions};

/// Serves an emulation of the Kubernetes API server on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1 (0: chosen by the system).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig for this server to PATH once it listens.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Milliseconds a new CRD stays not Established.
    #[arg(long, default_value_t = 0)]
    crd_establish_delay_ms: u64,
    /// Changes kept for watches to resume from.
    #[arg(long, default_value_t = 1000)]
    watch_history: usize,
    /// Milliseconds between watch bookmarks.
    #[arg(long, default_value_t = 1000)]
    bookmark_interval_ms: u64,
    /// A user token for TokenReviews: `TOKEN=USER` or `TOKEN=USER:GROUP,GROUP` (repeatable).
    #[arg(long = "user-token", value_name = "TOKEN=USER[:GROUPS]")]
    user_tokens: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let addr = format!("127.0.0.1:{}", args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    let options = ApiServerOptions {
        bookmark_interval: Duration::from_millis(args.bookmark_interval_ms),
        watch_history: args.watch_history,
        crd_establish_delay: Duration::from_millis(args.crd_establish_delay_ms),
    };
    let server = ApiServer::serve(listener, options)?;
    for entry in &args.user_tokens {
        let (token, who) = entry
            .split_once('=')
            .with_context(|| "--user-token: expected TOKEN=USER[:GROUPS]".to_owned())?;
        let (user, groups) = who.split_once(':').unwrap_or((who, ""));
        let groups: Vec<&str> = groups.split(',').filter(|g| !g.is_empty()).collect();
        server.add_user_token(token, user, &groups);
    }
    if let Some(path) = &args.kubeconfig {
        server.write_kubeconfig(path)?;
    }
    println!("{}", server.url());
    wait_for_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
