//! Analyses: a metric is measured `count` times, `interval` apart; each measurement is
//! Successful, Failed, Inconclusive or Error by its conditions, as Argo Rollouts decides
//! (`successCondition` alone: not holding is a failure; `failureCondition` alone: not holding
//! is a success; both: neither holding is inconclusive). The metric fails as soon as failures
//! exceed `failureLimit`, inconclusive measurements `inconclusiveLimit`, or errors in a row
//! `consecutiveErrorLimit`.

use super::config::{Metric, PrometheusProvider, WebProvider};
use super::expr::{Condition, Value};
use super::{GateResult, RolloutError, Verdict};
use std::time::Duration;

/// The largest answer read from a provider.
const MAX_BODY: usize = 1 << 20;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A measurement's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// The success condition held (or the failure condition did not).
    Successful,
    /// The failure condition held (or the success condition did not).
    Failed,
    /// Neither held.
    Inconclusive,
    /// The provider or the condition failed.
    Error,
}

/// The values `{{app}}`, `{{namespace}}` and `{{revision}}` stand for.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// The app.
    pub app: String,
    /// Its target namespace.
    pub namespace: String,
    /// The revision under analysis.
    pub revision: String,
}

impl Vars {
    fn expand(&self, text: &str) -> String {
        text.replace("{{app}}", &self.app)
            .replace("{{namespace}}", &self.namespace)
            .replace("{{revision}}", &self.revision)
    }
}

/// Decides a measurement's phase from its result and the metric's conditions.
pub fn decide(
    result: &Value,
    success: Option<&Condition>,
    failure: Option<&Condition>,
) -> Result<Phase, RolloutError> {
    let check = |c: &Condition| {
        c.holds(result)
            .map_err(|source| RolloutError::ConditionFailed {
                condition: c.text().to_owned(),
                source,
            })
    };
    let (ok, bad) = match (success, failure) {
        (None, None) => return Ok(Phase::Successful),
        (Some(s), None) => {
            let ok = check(s)?;
            (ok, !ok)
        }
        (None, Some(f)) => {
            let bad = check(f)?;
            (!bad, bad)
        }
        (Some(s), Some(f)) => (check(s)?, check(f)?),
    };
    Ok(if bad {
        Phase::Failed
    } else if ok {
        Phase::Successful
    } else {
        Phase::Inconclusive
    })
}

async fn body(response: reqwest::Response, what: &str) -> Result<Vec<u8>, RolloutError> {
    let failed = |message: String| RolloutError::MeasureFailed {
        what: what.to_owned(),
        message,
    };
    let mut response = response;
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(failed("the answer is larger than 1 MiB".into()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A URL as messages show it: no user, password, query or fragment (they may carry tokens).
fn shown_url(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            crate::text::clip_message(url.as_str()).into_owned()
        }
        Err(_) => "<an invalid URL>".to_owned(),
    }
}

/// Runs one Prometheus instant query: a vector is a list of numbers, a scalar a number.
pub async fn prometheus(
    http: &reqwest::Client,
    provider: &PrometheusProvider,
    vars: &Vars,
) -> Result<Value, RolloutError> {
    let what = format!("prometheus {}", shown_url(&provider.address));
    let failed = |message: String| RolloutError::MeasureFailed {
        what: what.clone(),
        message,
    };
    let base = format!("{}/api/v1/query", provider.address.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&base, &[("query", vars.expand(&provider.query))])
        .map_err(|e| failed(format!("bad address: {e}")))?;
    let response = http
        .get(url)
        .timeout(provider.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0))
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    let status = response.status();
    let bytes = body(response, &what).await?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| failed(format!("HTTP {status}: not JSON: {e}")))?;
    if json.get("status").and_then(serde_json::Value::as_str) != Some("success") {
        let error = json
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no error given");
        return Err(failed(format!(
            "HTTP {status}: {}",
            crate::text::clip_message(error)
        )));
    }
    let number = |v: &serde_json::Value| {
        v.get(1)
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
    };
    let data = json.get("data").cloned().unwrap_or_default();
    match data.get("resultType").and_then(serde_json::Value::as_str) {
        Some("vector") => {
            let samples = data
                .get("result")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            let values = samples
                .iter()
                .map(|s| s.get("value").and_then(number).map(Value::Number))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| failed("a sample without a numeric value".into()))?;
            Ok(Value::List(values))
        }
        Some("scalar") => data
            .get("result")
            .and_then(number)
            .map(Value::Number)
            .ok_or_else(|| failed("a scalar without a numeric value".into())),
        other => Err(failed(format!(
            "result type {} is not supported (vector or scalar)",
            other.unwrap_or("<none>")
        ))),
    }
}

/// Reads `{$.a.b[0]}` / `$.a.b[0]` / `a.b` out of `json`.
pub fn json_path(json: &serde_json::Value, path: &str) -> Option<serde_json::Value> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current = json;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.strip_suffix(']')?.parse().ok()?;
            current = current.get(i)?;
        }
    }
    Some(current.clone())
}

/// One web check: GET, 2xx required, the JSON value at `jsonPath`.
pub async fn web(
    http: &reqwest::Client,
    provider: &WebProvider,
    vars: &Vars,
) -> Result<Value, RolloutError> {
    let url = vars.expand(&provider.url);
    let what = format!("web {}", shown_url(&url));
    let failed = |message: String| RolloutError::MeasureFailed {
        what: what.clone(),
        message,
    };
    let mut request = http
        .get(&url)
        .timeout(provider.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0));
    for (name, value) in &provider.headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("HTTP {status}")));
    }
    let bytes = body(response, &what).await?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| failed(format!("not JSON: {e}")))?;
    let value = match &provider.json_path {
        Some(path) => json_path(&json, path)
            .ok_or_else(|| failed(format!("nothing at {}", crate::text::clip_message(path))))?,
        None => json,
    };
    Ok(Value::from_json(&value))
}

/// How many measurements of each phase a metric kept, and the last values.
#[derive(Debug, Default)]
struct Tally {
    failed: u32,
    inconclusive: u32,
    errors_in_a_row: u32,
}

impl Tally {
    /// Counts one measurement; the reason the metric fails when a limit is passed.
    fn add(&mut self, phase: Phase, metric: &Metric, shown: &str) -> Option<String> {
        match phase {
            Phase::Successful => self.errors_in_a_row = 0,
            Phase::Failed => {
                self.failed += 1;
                self.errors_in_a_row = 0;
            }
            Phase::Inconclusive => {
                self.inconclusive += 1;
                self.errors_in_a_row = 0;
            }
            Phase::Error => self.errors_in_a_row += 1,
        }
        if self.failed > metric.failure_limit {
            Some(format!(
                "{} failed measurement(s), more than failureLimit {}; last: {}",
                self.failed, metric.failure_limit, shown
            ))
        } else if self.inconclusive > metric.inconclusive_limit {
            Some(format!(
                "{} inconclusive measurement(s), more than inconclusiveLimit {}; last: {}",
                self.inconclusive, metric.inconclusive_limit, shown
            ))
        } else if self.errors_in_a_row > metric.consecutive_error_limit {
            Some(format!(
                "{} errors in a row, more than consecutiveErrorLimit {}; last: {}",
                self.errors_in_a_row, metric.consecutive_error_limit, shown
            ))
        } else {
            None
        }
    }
}

/// One measurement of `metric`: its phase, and the value (or error) to show.
async fn measure(
    http: &reqwest::Client,
    metric: &Metric,
    vars: &Vars,
    success: Option<&Condition>,
    failure: Option<&Condition>,
) -> (Phase, String) {
    let measured = match (&metric.provider.prometheus, &metric.provider.web) {
        (Some(p), _) => prometheus(http, p, vars).await,
        (None, Some(w)) => web(http, w, vars).await,
        (None, None) => Err(RolloutError::MeasureFailed {
            what: metric.name.clone(),
            message: "no provider".into(),
        }),
    };
    match measured {
        Ok(value) => match decide(&value, success, failure) {
            Ok(phase) => (phase, value.to_string()),
            Err(err) => (Phase::Error, format!("{value}: {err}")),
        },
        Err(err) => (Phase::Error, err.to_string()),
    }
}

/// Runs one metric to its verdict.
pub async fn run(http: &reqwest::Client, metric: &Metric, vars: &Vars) -> GateResult {
    let kind = if metric.provider.prometheus.is_some() {
        "prometheus"
    } else {
        "web"
    };
    let mut result = GateResult::new(&metric.name, kind);
    // Validated at load; a condition that does not parse here fails the metric.
    let parse = |c: &Option<String>| c.as_deref().map(Condition::parse).transpose();
    let (success, failure) = match (
        parse(&metric.success_condition),
        parse(&metric.failure_condition),
    ) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(e), _) | (_, Err(e)) => {
            result.finish(Verdict::Failed, format!("invalid condition: {e}"));
            return result;
        }
    };
    if let Some(delay) = metric.initial_delay {
        tokio::time::sleep(delay.0).await;
    }
    let count = metric.count.unwrap_or(1);
    let mut tally = Tally::default();
    for n in 0..count {
        if n > 0 {
            tokio::time::sleep(metric.interval.map_or(Duration::ZERO, |i| i.0)).await;
        }
        let (phase, shown) = measure(http, metric, vars, success.as_ref(), failure.as_ref()).await;
        tracing::info!(metric = %metric.name, measurement = n + 1, phase = ?phase, value = %crate::text::clip_message(&shown), "measured");
        result.measure(phase, &shown);
        let verdict = tally.add(phase, metric, &shown);
        if let Some(message) = verdict {
            result.finish(Verdict::Failed, message);
            return result;
        }
    }
    if tally.errors_in_a_row > 0 && tally.errors_in_a_row == count {
        result.finish(Verdict::Failed, "every measurement failed".into());
    } else {
        result.finish(
            Verdict::Passed,
            format!("{count} measurement(s), {} failed", tally.failed),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn measurements_are_decided_as_argo_rollouts_decides_them() {
        let ok = Condition::parse("result[0] >= 0.99").ok();
        let bad = Condition::parse("result[0] < 0.9").ok();
        let v = |x: f64| Value::List(vec![Value::Number(x)]);
        assert_eq!(
            decide(&v(0.995), ok.as_ref(), None).ok(),
            Some(Phase::Successful)
        );
        assert_eq!(
            decide(&v(0.95), ok.as_ref(), None).ok(),
            Some(Phase::Failed)
        );
        assert_eq!(
            decide(&v(0.95), None, bad.as_ref()).ok(),
            Some(Phase::Successful)
        );
        assert_eq!(
            decide(&v(0.95), ok.as_ref(), bad.as_ref()).ok(),
            Some(Phase::Inconclusive)
        );
        assert_eq!(
            decide(&v(0.5), ok.as_ref(), bad.as_ref()).ok(),
            Some(Phase::Failed)
        );
        assert_eq!(decide(&v(0.5), None, None).ok(), Some(Phase::Successful));
        assert!(decide(&Value::List(vec![]), ok.as_ref(), None).is_err());
    }

    #[test]
    fn json_paths_read_fields_and_indexes() {
        let doc = json!({"data": {"checks": [{"ok": true}, {"ok": false}]}, "status": "up"});
        assert_eq!(json_path(&doc, "{$.status}"), Some(json!("up")));
        assert_eq!(json_path(&doc, "$.data.checks[1].ok"), Some(json!(false)));
        assert_eq!(json_path(&doc, "data.checks[0]"), Some(json!({"ok": true})));
        assert_eq!(json_path(&doc, "$.data.missing"), None);
        assert_eq!(json_path(&doc, "$.data.checks[9]"), None);
        assert_eq!(json_path(&doc, "$"), Some(doc.clone()));
    }

    /// Serves `answers` (status line and body), one per connection, on a loopback port.
    async fn serve(answers: Vec<(&'static str, &'static str)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            for (status, body) in answers {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0_u8; 4096];
                let _ = stream.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        address
    }

    fn web_metric(url: &str, yaml: &str) -> Metric {
        let text = format!(
            "name: ready\nprovider: {{web: {{url: '{url}', jsonPath: '{{$.status}}'}}}}\n{yaml}"
        );
        serde_saphyr::from_str(&text).expect("a metric")
    }

    #[tokio::test]
    async fn a_web_check_passes_on_2xx_with_the_condition_and_fails_on_errors() {
        let http = reqwest::Client::new();
        let vars = Vars::default();
        let url = serve(vec![("200 OK", r#"{"status": "ok"}"#)]).await;
        let passed = run(
            &http,
            &web_metric(&url, "successCondition: result == 'ok'"),
            &vars,
        )
        .await;
        assert_eq!(passed.verdict, Verdict::Passed, "{passed:?}");
        let url = serve(vec![("200 OK", r#"{"status": "starting"}"#)]).await;
        let failed = run(
            &http,
            &web_metric(&url, "successCondition: result == 'ok'"),
            &vars,
        )
        .await;
        assert_eq!(failed.verdict, Verdict::Failed, "{failed:?}");
        assert!(
            failed.measurements[0].value.contains("starting"),
            "{failed:?}"
        );
        // Errors are tolerated up to consecutiveErrorLimit, then fail the metric.
        let url = serve(vec![
            ("503 Service Unavailable", "{}"),
            ("500 Internal Server Error", "{}"),
        ])
        .await;
        let metric = web_metric(
            &url,
            "successCondition: result == 'ok'\ncount: 2\ninterval: 10ms\nconsecutiveErrorLimit: 1",
        );
        let errors = run(&http, &metric, &vars).await;
        assert_eq!(errors.verdict, Verdict::Failed, "{errors:?}");
        assert!(errors.message.contains("errors in a row"), "{errors:?}");
        assert!(
            errors.measurements[0].value.contains("HTTP 503"),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn prometheus_answers_become_lists_or_numbers_and_bad_ones_are_errors() {
        let http = reqwest::Client::new();
        let vars = Vars::default();
        let provider = |address: String| PrometheusProvider {
            address,
            query: "up".into(),
            timeout: None,
        };
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.25"]}]}}"#;
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}"#;
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let failed = r#"{"status":"error","error":"parse error"}"#;
        let address = serve(vec![
            ("200 OK", vector),
            ("200 OK", scalar),
            ("200 OK", matrix),
            ("400 Bad Request", failed),
        ])
        .await;
        let p = provider(address);
        assert_eq!(
            prometheus(&http, &p, &vars).await.ok(),
            Some(Value::List(vec![Value::Number(0.25)]))
        );
        assert_eq!(
            prometheus(&http, &p, &vars).await.ok(),
            Some(Value::Number(3.0))
        );
        let err = prometheus(&http, &p, &vars).await.expect_err("matrix");
        assert!(err.to_string().contains("matrix"), "{err}");
        let err = prometheus(&http, &p, &vars).await.expect_err("error");
        assert!(err.to_string().contains("parse error"), "{err}");
    }

    #[test]
    fn urls_in_messages_carry_no_credentials_or_query() {
        assert_eq!(
            shown_url("https://user:s3cret@prom.example:9090/api?token=abc#x"),
            "https://prom.example:9090/api"
        );
        assert_eq!(shown_url("not a url"), "<an invalid URL>");
    }

    #[test]
    fn templates_are_expanded() {
        let vars = Vars {
            app: "web".into(),
            namespace: "shop".into(),
            revision: "abc".into(),
        };
        assert_eq!(
            vars.expand("errors{app=\"{{app}}\",ns=\"{{namespace}}\"} # {{revision}}"),
            "errors{app=\"web\",ns=\"shop\"} # abc"
        );
    }
}
