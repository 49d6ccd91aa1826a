//! A real browser for the web UI's tests: headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`, installed by `scripts/setup-peers`), with
//! axe-core (npm, unpacked by `scripts/setup-peers` into the venv's `lib/node/axe-core`)
//! injected into pages to check accessibility. chromedriver runs as a [`Process`], killed by
//! PID when the [`Chromedriver`] is dropped; the test holds one for its whole run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tether_tests::peers::{self, Process};

/// Errors of the browser support.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// chromedriver did not start.
    #[error("start chromedriver: {0}")]
    Start(#[source] std::io::Error),
    /// The WebDriver session could not be opened.
    #[error("open a WebDriver session: {0}")]
    Session(String),
    /// axe-core is not installed.
    #[error("read axe-core at {path}: {source} (run scripts/setup-peers)")]
    Axe {
        /// Where it was looked for.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running chromedriver.
pub struct Chromedriver {
    _process: Process,
    /// Its WebDriver URL.
    pub url: String,
}

impl Chromedriver {
    /// Starts chromedriver on a free loopback port, its log in `dir`.
    pub fn start(dir: &Path) -> Result<Self, BrowserError> {
        let port = peers::free_port();
        let mut cmd = Command::new(peers::peer_binary("chromedriver"));
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1");
        let process = Process::spawn("chromedriver", cmd, &dir.join("chromedriver.log"))
            .map_err(BrowserError::Start)?;
        peers::wait_for_port(port, Duration::from_secs(30)).map_err(BrowserError::Start)?;
        Ok(Self {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A new headless Chromium session (as root Chromium needs `--no-sandbox`).
    pub async fn session(&self) -> Result<fantoccini::Client, BrowserError> {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": peers::peer_binary("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--no-first-run", "--no-default-browser-check"],
            }),
        );
        fantoccini::ClientBuilder::rustls()
            .map_err(|e| BrowserError::Session(e.to_string()))?
            .capabilities(caps)
            .connect(&self.url)
            .await
            .map_err(|e| BrowserError::Session(e.to_string()))
    }
}

/// axe-core's script (`axe.min.js`).
pub fn axe_source() -> Result<String, BrowserError> {
    let path = peers::peers_bin_dir()
        .parent()
        .map(|venv| venv.join("lib/node/axe-core/axe.min.js"))
        .unwrap_or_default();
    std::fs::read_to_string(&path).map_err(|source| BrowserError::Axe { path, source })
}

/// Runs axe-core on the current page; returns the serious and critical violations
/// (`rule: N nodes (first target)`).
pub async fn serious_violations(
    client: &fantoccini::Client,
    axe: &str,
) -> Result<Vec<String>, fantoccini::error::CmdError> {
    client
        .execute(&format!("{axe}\nreturn true;"), vec![])
        .await?;
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.nodes.length + ' nodes (' + JSON.stringify(v.nodes[0].target) + ')')
             )).catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await?;
    Ok(found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}
