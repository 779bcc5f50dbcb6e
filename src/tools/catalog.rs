//! The tools as models see them (name, description, JSON schema for OpenAI's `tools`), and
//! [`call`]: one call from its name and raw argument text to its [`Output`], bounded by the
//! toolbox's timeout. Arguments that are not valid JSON for the tool come back as an error
//! result the model can correct, never as a failure of the run.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Output, Toolbox, Update, edit, exec, memory, policy, read, search, web, write};

/// How much longer than the tool timeout an `exec` may take before it is cut off from outside.
const EXEC_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(5);

/// One tool's declaration.
fn spec(name: &str) -> Option<(&'static str, Value)> {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let path = json!({"type": "string", "description": "A path; relative paths are in the workspace"});
    Some(match name {
        "read" => (
            "Read a text file. Long files are cut at 2000 lines or 50 KB; continue with offset.",
            s(
                json!({"path": path, "offset": {"type": "integer", "description": "First line, 1-based"},
                     "limit": {"type": "integer", "description": "Lines to read"}}),
                &["path"],
            ),
        ),
        "write" => (
            "Create or overwrite a file with the given content (parent directories are created).",
            s(json!({"path": path, "content": {"type": "string"}}), &["path", "content"]),
        ),
        "edit" => (
            "Replace one exact, unique occurrence of oldText with newText in a file.",
            s(
                json!({"path": path, "oldText": {"type": "string"}, "newText": {"type": "string"}}),
                &["path", "oldText", "newText"],
            ),
        ),
        "exec" => (
            "Run a shell command in the workspace. Output (stdout and stderr) is capped to its last 32 KB. \
             With background: true it keeps running as a job for the process tool.",
            s(
                json!({"command": {"type": "string"}, "workdir": path,
                     "env": {"type": "object", "additionalProperties": {"type": "string"}},
                     "timeout": {"type": "number", "description": "Seconds"},
                     "background": {"type": "boolean"}}),
                &["command"],
            ),
        ),
        "process" => (
            "Manage background jobs started by exec: list, poll (new output), log, write (stdin), kill.",
            s(
                json!({"action": {"type": "string", "enum": ["list", "poll", "log", "write", "kill"]},
                     "id": {"type": "string"}, "data": {"type": "string"}}),
                &["action"],
            ),
        ),
        "grep" => (
            "Search file contents with a regular expression (respects .gitignore); answers path:line:text.",
            s(
                json!({"pattern": {"type": "string"}, "path": path,
                     "glob": {"type": "string", "description": "Only files matching this glob, e.g. *.rs"}}),
                &["pattern"],
            ),
        ),
        "find" => (
            "Find files and directories whose path matches a glob (respects .gitignore).",
            s(json!({"glob": {"type": "string"}, "path": path}), &["glob"]),
        ),
        "ls" => ("List a directory.", s(json!({"path": path}), &[])),
        "web_fetch" => (
            "Fetch an http(s) URL and return its readable text. Private and local addresses are refused.",
            s(json!({"url": {"type": "string"}, "maxChars": {"type": "integer"}}), &["url"]),
        ),
        "memory_search" => (
            "Search the agent's memory (MEMORY.md, memory/*.md and other indexed notes) by meaning and keywords. \
             Answers ranked snippets with path and line range; read more with memory_get.",
            s(
                json!({"query": {"type": "string"},
                     "maxResults": {"type": "integer", "description": "At most this many results"},
                     "minScore": {"type": "number", "description": "Leave out results scoring below this (0..1)"}}),
                &["query"],
            ),
        ),
        "memory_get" => (
            "Read lines of a memory file (MEMORY.md, memory/**/*.md or a configured extra path).",
            s(
                json!({"path": {"type": "string", "description": "As memory_search gives it"},
                     "from": {"type": "integer", "description": "First line, 1-based"},
                     "lines": {"type": "integer", "description": "Lines to read"}}),
                &["path"],
            ),
        ),
        _ => return None,
    })
}

/// OpenAI `tools` for the given tool names.
pub fn declarations(tools: &[String]) -> Vec<Value> {
    tools
        .iter()
        .filter_map(|t| {
            let (description, parameters) = spec(t)?;
            Some(json!({"type": "function", "function": {"name": t, "description": description, "parameters": parameters}}))
        })
        .collect()
}

fn parse<T: DeserializeOwned>(name: &str, args: &str) -> Result<T, Output> {
    let text = if args.trim().is_empty() { "{}" } else { args };
    serde_json::from_str(text)
        .map_err(|e| Output::error(format!("invalid arguments for {name}: {e}; arguments were: {args}")))
}

/// Blocking file work off the async thread.
async fn blocking(f: impl FnOnce() -> Output + Send + 'static) -> Output {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Output::error(format!("the tool failed: {e}")))
}

/// Runs one call: `name` as the model sent it (aliases allowed), `args` its raw JSON text.
pub async fn call(tb: &Toolbox, name: &str, args: &str, update: Update<'_>) -> Output {
    let tool = policy::canonical(name);
    if !tb.policy.has(&tool) {
        return Output::error(format!(
            "tool {name:?} is not available to this agent (available: {})",
            tb.policy.tools.join(", ")
        ));
    }
    // exec enforces the limit itself and answers with the output so far; the outer bound is
    // only a backstop for it.
    let limit = if tool == "exec" { tb.timeout + EXEC_BACKSTOP } else { tb.timeout };
    match tokio::time::timeout(limit, dispatch(tb, &tool, args, update)).await {
        Ok(out) => out,
        Err(_) => Output::error(format!("{tool} timed out after {limit:?} (agents.defaults.toolTimeoutSeconds)")),
    }
}

async fn dispatch(tb: &Toolbox, tool: &str, args: &str, update: Update<'_>) -> Output {
    let files = tb.files.clone();
    macro_rules! fs_tool {
        ($module:ident :: $f:ident, $args:ty) => {
            match parse::<$args>(tool, args) {
                Ok(a) => blocking(move || $module::$f(&*files, a)).await,
                Err(e) => e,
            }
        };
    }
    match tool {
        "read" => fs_tool!(read::run, read::Args),
        "write" => fs_tool!(write::run, write::Args),
        "edit" => fs_tool!(edit::run, edit::Args),
        "grep" => fs_tool!(search::grep, search::GrepArgs),
        "find" => fs_tool!(search::find, search::FindArgs),
        "ls" => fs_tool!(search::ls, search::LsArgs),
        "exec" => match parse::<exec::Args>(tool, args) {
            Ok(a) => exec::run(tb, a, update).await,
            Err(e) => e,
        },
        "process" => match parse(tool, args) {
            Ok(a) => tb.processes.call(&tb.agent_id, a).await,
            Err(e) => e,
        },
        "web_fetch" => match parse(tool, args) {
            Ok(a) => web::run(a, tb.allow_private_web, tb.web_domains.as_deref()).await,
            Err(e) => e,
        },
        "memory_search" => match parse(tool, args) {
            Ok(a) => memory::search(tb.memory.as_deref(), a).await,
            Err(e) => e,
        },
        "memory_get" => match parse::<memory::GetArgs>(tool, args) {
            Ok(a) => {
                let recall = tb.memory.clone();
                blocking(move || memory::get(recall.as_deref(), a)).await
            }
            Err(e) => e,
        },
        other => Output::error(format!("tool {other:?} is not implemented by this gateway")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_tool_is_declared_with_an_object_schema() {
        let all: Vec<String> = policy::CORE.iter().map(|s| s.to_string()).collect();
        let d = declarations(&all);
        assert_eq!(d.len(), policy::CORE.len());
        for t in &d {
            assert_eq!(t["type"], "function");
            assert_eq!(t["function"]["parameters"]["type"], "object", "{t}");
        }
    }

    #[test]
    fn malformed_arguments_are_an_error_result_naming_the_tool() {
        let e = parse::<read::Args>("read", "{\"path\": ").unwrap_err();
        assert!(e.is_error && e.text.starts_with("invalid arguments for read"), "{}", e.text);
        let e = parse::<read::Args>("read", "{}").unwrap_err();
        assert!(e.text.contains("missing field `path`"), "{}", e.text);
    }
}
