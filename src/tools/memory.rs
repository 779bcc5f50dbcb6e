//! memory_search and memory_get: the agent's recall of its notes. The index lives elsewhere
//! (the gateway's memory); tools reach it through [`Recall`].

use std::future::Future;
use std::pin::Pin;

use serde::Deserialize;
use serde_json::Value;

use super::Output;

/// The agent's memory, as its tools see it.
pub trait Recall: Send + Sync {
    /// `{results: [{path, startLine, endLine, score, snippet, source}], provider, model, mode}`.
    fn search(
        &self,
        query: String,
        max_results: Option<usize>,
        min_score: Option<f64>,
    ) -> Pin<Box<dyn Future<Output = Result<Value, String>> + 'static>>;
    /// `{path, from, lines, text}` of a memory file; an error for anything else.
    fn get(&self, path: &str, from: Option<usize>, lines: Option<usize>) -> Result<Value, String>;
}

/// Every agent's memory: the gateway's, handed to the agent loop.
pub trait Memories: Send + Sync {
    /// `agent_id`'s memory; none when memory is off.
    fn recall(&self, agent_id: &str) -> Option<std::sync::Arc<dyn Recall>>;
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchArgs {
    pub query: String,
    pub max_results: Option<usize>,
    pub min_score: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetArgs {
    pub path: String,
    pub from: Option<usize>,
    pub lines: Option<usize>,
}

fn answer(r: Result<Value, String>) -> Output {
    match r {
        Ok(v) => Output::ok(v.to_string()),
        Err(e) => Output::error(e),
    }
}

pub async fn search(recall: Option<&dyn Recall>, a: SearchArgs) -> Output {
    match recall {
        Some(r) => answer(r.search(a.query, a.max_results, a.min_score).await),
        None => Output::error("memory is off for this gateway (memory.indexEnabled: false)"),
    }
}

pub fn get(recall: Option<&dyn Recall>, a: GetArgs) -> Output {
    match recall {
        Some(r) => answer(r.get(&a.path, a.from, a.lines)),
        None => Output::error("memory is off for this gateway (memory.indexEnabled: false)"),
    }
}
