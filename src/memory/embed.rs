//! Embeddings from any OpenAI-compatible `POST {baseUrl}/embeddings`: texts go in batches
//! (at most [`BATCH_CHARS`] characters or [`BATCH_INPUTS`] texts each), [`CONCURRENCY`]
//! requests at a time, each retried with backoff on connection failures, 429 and 5xx.

use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

/// Upstream's batch bound (it counts one character as one token here).
pub const BATCH_CHARS: usize = 8000;
pub const BATCH_INPUTS: usize = 128;
pub const CONCURRENCY: usize = 4;
const RETRIES: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where embeddings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Names the source in the cache and the index identity: a models.json provider id, or
    /// "remote".
    pub provider: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub model: String,
}

impl Endpoint {
    /// What makes vectors comparable: the same provider, model and endpoint.
    pub fn identity(&self) -> String {
        format!("{}|{}|{}", self.provider, self.model, self.base_url.trim_end_matches('/'))
    }
}

/// Splits `texts` (by index) into batches.
pub fn batches(texts: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (i, t) in texts.iter().enumerate() {
        let n = t.chars().count();
        if i > start && (chars + n > BATCH_CHARS || i - start >= BATCH_INPUTS) {
            out.push(start..i);
            (start, chars) = (i, 0);
        }
        chars += n;
    }
    if start < texts.len() {
        out.push(start..texts.len());
    }
    out
}

enum Failure {
    Retry(String),
    Fatal(String),
}

async fn request(client: &awc::Client, ep: &Endpoint, input: &[String]) -> Result<Vec<Vec<f32>>, Failure> {
    let url = format!("{}/embeddings", ep.base_url.trim_end_matches('/'));
    let mut req = client.post(&url).timeout(TIMEOUT).insert_header(("content-type", "application/json"));
    if let Some(k) = &ep.api_key {
        req = req.insert_header(("authorization", format!("Bearer {k}")));
    }
    for (k, v) in &ep.headers {
        req = req.insert_header((k.as_str(), v.as_str()));
    }
    let mut resp = req
        .send_json(&json!({"model": ep.model, "input": input}))
        .await
        .map_err(|e| Failure::Retry(format!("{url}: {e}")))?;
    let status = resp.status();
    let body = resp.body().limit(256 << 20).await.map_err(|e| Failure::Retry(format!("{url}: {e}")))?;
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(Failure::Retry(format!("{url}: HTTP {status}")));
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(Failure::Fatal(format!("{url}: HTTP {status}: {}", text.chars().take(300).collect::<String>())));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| Failure::Fatal(format!("{url}: not JSON: {e}")))?;
    let data = v["data"].as_array().ok_or_else(|| Failure::Fatal(format!("{url}: no data array in the answer")))?;
    let mut out = vec![Vec::new(); input.len()];
    for (pos, d) in data.iter().enumerate() {
        let i = d["index"].as_u64().map(|i| i as usize).unwrap_or(pos);
        let e = d["embedding"].as_array().ok_or_else(|| Failure::Fatal(format!("{url}: an entry has no embedding")))?;
        if i < out.len() {
            out[i] = e.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect();
        }
    }
    if out.iter().any(|v| v.is_empty()) || out.iter().any(|v| v.len() != out[0].len()) {
        return Err(Failure::Fatal(format!("{url}: {} inputs, answers missing or of different widths", input.len())));
    }
    Ok(out)
}

async fn with_retries(client: &awc::Client, ep: &Endpoint, input: &[String]) -> Result<Vec<Vec<f32>>, String> {
    let mut attempt = 0;
    loop {
        match request(client, ep, input).await {
            Ok(v) => return Ok(v),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(e)) if attempt >= RETRIES => return Err(e),
            Err(Failure::Retry(_)) => {
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
        }
    }
}

fn client() -> awc::Client {
    crate::net::client::shared(true)
}

/// Vectors for `texts`, in order. Must run inside an actix system (awc).
pub async fn embed(ep: &Endpoint, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let client = client();
    let parts: Vec<Result<Vec<Vec<f32>>, String>> = stream::iter(batches(texts))
        .map(|r| {
            let client = &client;
            async move { with_retries(client, ep, &texts[r]).await }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::with_capacity(texts.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_bounds_and_keep_every_text() {
        let texts: Vec<String> = (0..300).map(|i| "x".repeat(if i == 5 { 9000 } else { 10 })).collect();
        let b = batches(&texts);
        assert_eq!(b[0], 0..5);
        assert_eq!(b[1], 5..6, "an oversized text goes alone");
        assert_eq!(b[2], 6..134);
        assert_eq!(b.iter().map(|r| r.len()).sum::<usize>(), 300);
    }
}
