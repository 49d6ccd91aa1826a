//! The real Prometheus (Debian's `prometheus`) on a loopback port, scraping every second a
//! small exporter served by the test process, whose values the test sets: analyses query
//! Prometheus for real and pass or fail on what the test made the metric say.
//!
//! [`shared`] starts both once per test binary. Prometheus runs under the peers' shell guard
//! ([`Process::spawn_guarded`]), so nothing outlives the run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::peers::{self, Process};

/// The exporter's metric: `tether_test_error_ratio{app="..."}`.
pub const METRIC: &str = "tether_test_error_ratio";

/// A Prometheus and the exporter it scrapes.
pub struct Prometheus {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    values: Arc<Mutex<BTreeMap<String, f64>>>,
    _guard: Mutex<Process>,
    _dir: tempfile::TempDir,
}

/// The Prometheus of this test binary (started on first use).
pub fn shared() -> &'static Prometheus {
    static SHARED: OnceLock<Prometheus> = OnceLock::new();
    SHARED.get_or_init(|| Prometheus::start().expect("start Prometheus"))
}

fn serve_exporter(listener: TcpListener, values: Arc<Mutex<BTreeMap<String, f64>>>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => continue,
        });
        // Read the request head; the path does not matter.
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line == "\r\n" || line == "\n" {
                break;
            }
            line.clear();
        }
        let mut body = format!("# TYPE {METRIC} gauge\n");
        for (app, value) in values.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            body.push_str(&format!("{METRIC}{{app=\"{app}\"}} {value}\n"));
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes());
    }
}

impl Prometheus {
    fn start() -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let exporter_port = listener.local_addr()?.port();
        let values: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
        {
            let values = Arc::clone(&values);
            std::thread::spawn(move || serve_exporter(listener, values));
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: tether-test
    scrape_interval: 1s
    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]
"
            ),
        )?;
        let port = peers::free_port();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let guard = Process::spawn_guarded("prometheus", cmd, &dir.path().join("prometheus.log"))?;
        let me = Self {
            address: format!("http://127.0.0.1:{port}"),
            values,
            _guard: Mutex::new(guard),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(port, "/-/ready").0 != 200 {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "Prometheus is not ready: {}",
                    me.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(me)
    }

    /// Prometheus's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Sets the error ratio the exporter reports for `app`.
    pub fn set_error_ratio(&self, app: &str, value: f64) {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(app.to_owned(), value);
    }

    /// The query an analysis runs for `app`.
    pub fn query_for(app: &str) -> String {
        format!("{METRIC}{{app=\"{app}\"}}")
    }

    /// Runs an instant query; the first sample's value.
    pub fn query(&self, query: &str) -> Option<f64> {
        let port: u16 = self.address.rsplit(':').next()?.parse().ok()?;
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (code, body) = http_get(port, &format!("/api/v1/query?query={encoded}"));
        if code != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json.pointer("/data/result/0/value/1")?
            .as_str()?
            .parse()
            .ok()
    }

    /// Waits (bounded) until Prometheus has scraped `value` for `app`.
    pub fn wait_scraped(&self, app: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.query(&Self::query_for(app)) == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not scrape {app}={value}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A GET on 127.0.0.1:`port`: the status and the body (empty on connection errors).
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}
