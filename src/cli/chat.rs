//! `openclaw chat [--session KEY]`: an interactive chat with an agent through the running
//! gateway. Three threads: the network thread owns the WebSocket (and reconnects after a
//! gateway restart), the input thread owns the line editor (so what is being typed survives
//! a reconnect), and the main thread reacts to both. On a terminal the answer is printed
//! above the prompt line by line as it streams; otherwise deltas are written as they come.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::client::{Client, ClientError, ConnectArgs};
use super::out::Paint;
use crate::config::LoadOptions;

/// How long the network thread waits for a frame before it looks for requests to send.
const POLL: Duration = Duration::from_millis(50);
/// Pause between reconnection attempts after the gateway went away.
const RECONNECT_EVERY: Duration = Duration::from_millis(300);
/// Messages of history shown on entry and after `/session`.
const HISTORY_SHOWN: u64 = 20;
const PROMPT: &str = "you> ";
/// Row width when the terminal does not say.
const DEFAULT_COLS: usize = 80;
/// Streamed text arriving faster than this is shown once per frame: each print redraws the
/// prompt, and a key typed meanwhile waits for it.
const FRAME: Duration = Duration::from_millis(16);
const HELP: &str = "/new  start the session over · /abort  stop the answer (or Ctrl-C) · /session KEY · \
/model NAME · /approve ID · /deny ID · /exit";

#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The session: a full key (agent:main:work) or a short name (work) under --agent
    /// [default: the agent's main session].
    #[arg(long, visible_alias = "session-id", value_name = "KEY")]
    pub session: Option<String>,
    /// The agent to talk to [default: main].
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// "provider/model" for this chat's messages instead of the configured one.
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

/// Everything the main thread reacts to.
enum Ui {
    /// A line the user entered.
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupt,
    /// Ctrl-D, or the end of piped input.
    Eof,
    Connected,
    Disconnected(String),
    /// The first connection failed: nothing to reconnect to.
    Fatal(ClientError),
    Frame(Value),
}

/// A request for the network thread.
struct Req {
    id: String,
    method: &'static str,
    params: Value,
}

/// What a request was for, to read its answer.
enum Purpose {
    History { show: bool },
    Send,
    Abort,
    Reset,
    Resolve { id: String, decision: &'static str },
    Pending,
}

/// Where output goes: above the line editor's prompt, or straight to stdout.
enum Printer {
    Tty {
        printer: Box<dyn rustyline::ExternalPrinter + Send>,
        /// The streamed line shown so far (no newline yet): rewritten as more arrives.
        partial: String,
        /// The terminal's width, to know how many rows `partial` takes.
        cols: usize,
        /// Streamed text not shown yet: it waits for the next frame.
        pending: String,
        /// When streamed text was last shown.
        shown_at: Instant,
    },
    Plain,
}

impl Printer {
    fn line(&mut self, s: &str) {
        self.end_stream();
        match self {
            Printer::Tty { printer, .. } => {
                let _ = printer.print(format!("{s}\n"));
            }
            Printer::Plain => println!("{s}"),
        }
    }

    /// Streamed text, shown as it comes (at most once a [`FRAME`] on a terminal). On a
    /// terminal the editor's prompt sits below the output, so an unfinished line is printed
    /// whole and rewritten in place as it grows.
    fn delta(&mut self, s: &str) {
        match self {
            Printer::Tty { pending, shown_at, .. } => {
                pending.push_str(s);
                if shown_at.elapsed() >= FRAME {
                    self.flush();
                }
            }
            Printer::Plain => {
                print!("{s}");
                let _ = std::io::stdout().flush();
            }
        }
    }

    /// How long streamed text may still wait to be shown, if some is waiting.
    fn due(&self) -> Option<Duration> {
        match self {
            Printer::Tty { pending, shown_at, .. } if !pending.is_empty() => {
                Some(FRAME.saturating_sub(shown_at.elapsed()))
            }
            _ => None,
        }
    }

    /// Shows the streamed text waiting for its frame.
    fn flush(&mut self) {
        if let Printer::Tty { printer, partial, cols, pending, shown_at } = self
            && !pending.is_empty()
        {
            // The width now: a resized terminal reflows what follows.
            *cols = super::out::width().unwrap_or(*cols);
            let (msg, rest) = rewrite(partial, pending, *cols);
            *partial = rest;
            pending.clear();
            *shown_at = Instant::now();
            let _ = printer.print(msg);
        }
    }

    /// Ends streamed text: all of it shown, and the next text starts a new row. (On a
    /// terminal every print already ends its row.)
    fn end_stream(&mut self) {
        self.flush();
        if let Printer::Tty { partial, .. } = self {
            partial.clear();
        }
    }
}

/// What to print for `delta` arriving after `shown`, the unfinished last row (printed, then a
/// newline, right above the prompt): back up over that row, clear it, and print the rows the
/// text now fills, then what is left of it with a newline. Rows that fill up are printed for
/// good, so only one row is ever rewritten (a line taller than the screen could not be).
/// Returns that and the new unfinished row.
fn rewrite(shown: &str, delta: &str, cols: usize) -> (String, String) {
    let mut msg = if shown.is_empty() { String::new() } else { "\x1b[1A\r\x1b[J".to_string() };
    let mut rest = format!("{shown}{delta}");
    while let Some(row) = next_row(&mut rest, cols) {
        msg.push_str(&row);
    }
    if !rest.is_empty() {
        msg.push_str(&rest);
        msg.push('\n');
    }
    (msg, rest)
}

/// Takes the next complete row off the front of `partial`: up to a newline, or as many
/// terminal cells as `cols`, cut after the last space in them (a longer word is cut anywhere).
fn next_row(partial: &mut String, cols: usize) -> Option<String> {
    let mut width = 0;
    for (i, c) in partial.char_indices() {
        if c == '\n' {
            return Some(partial.drain(..=i).collect());
        }
        width += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if width > cols {
            let cut = match partial[..i].rfind(' ') {
                Some(sp) => sp + 1,
                // A character wider than the whole row still moves on.
                None if i == 0 => c.len_utf8(),
                None => i,
            };
            let row: String = partial.drain(..cut).collect();
            return Some(format!("{}\n", row.trim_end()));
        }
    }
    None
}

pub fn run(a: ChatArgs, opts: &LoadOptions) -> i32 {
    let session = super::agent::session_key(a.agent.as_deref(), a.session.as_deref().unwrap_or("main"));
    let (ui_tx, ui_rx) = mpsc::channel::<Ui>();
    let (req_tx, req_rx) = mpsc::channel::<Req>();
    {
        let (tx, conn, opts) = (ui_tx.clone(), a.conn.clone(), opts.clone());
        std::thread::spawn(move || network(conn, opts, req_rx, tx));
    }
    // Nothing is read from the user before the first connection: a gateway that is not
    // there is an error at once, with its explanation.
    match ui_rx.recv() {
        Ok(Ui::Connected) => {}
        Ok(Ui::Fatal(e)) => {
            eprintln!("openclaw: {e}");
            return e.exit_code();
        }
        _ => return crate::exit::SOFTWARE,
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (printer, input) = if tty {
        match line_editor(ui_tx.clone()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("openclaw: cannot start the line editor: {e}");
                return crate::exit::SOFTWARE;
            }
        }
    } else {
        let tx = ui_tx.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if tx.send(Ui::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Ui::Eof);
        });
        (Printer::Plain, None)
    };
    let mut chat = Chat {
        session,
        model: a.model,
        printer,
        paint: Paint::stdout(),
        req: req_tx,
        next: 0,
        waiting: HashMap::new(),
        runs: HashSet::new(),
        quit_after_runs: false,
        connected: true,
    };
    chat.printer.line(&format!("session {} · {HELP}", chat.session));
    chat.request(
        "chat.history",
        json!({"sessionKey": chat.session, "limit": HISTORY_SHOWN}),
        Purpose::History { show: true },
    );
    chat.request("exec.approval.list", json!({}), Purpose::Pending);
    let code = chat.run(&ui_rx, input.as_ref());
    if let Some(input) = input {
        let _ = input.send(false);
    }
    code
}

/// Starts the line editor's thread; returns the printer that writes above its prompt and the
/// channel that lets it read the next line (`true`) or stop (`false`).
fn line_editor(tx: Sender<Ui>) -> Result<(Printer, Option<Sender<bool>>), String> {
    let (printer_tx, printer_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<bool>();
    std::thread::spawn(move || {
        let mut ed = match rustyline::DefaultEditor::new() {
            Ok(ed) => ed,
            Err(e) => {
                let _ = printer_tx.send(Err(e.to_string()));
                return;
            }
        };
        match ed.create_external_printer() {
            Ok(p) => {
                let _ = printer_tx.send(Ok(Box::new(p) as Box<dyn rustyline::ExternalPrinter + Send>));
            }
            Err(e) => {
                let _ = printer_tx.send(Err(e.to_string()));
                return;
            }
        }
        loop {
            let ui = match ed.readline(PROMPT) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = ed.add_history_entry(line.as_str());
                    }
                    Ui::Line(line)
                }
                Err(rustyline::error::ReadlineError::Interrupted) => Ui::Interrupt,
                Err(_) => {
                    let _ = tx.send(Ui::Eof);
                    return;
                }
            };
            // The main thread answers each line before the editor takes the terminal again,
            // so `/exit` leaves the terminal as it found it.
            if tx.send(ui).is_err() || go_rx.recv() != Ok(true) {
                return;
            }
        }
    });
    let printer = printer_rx.recv().map_err(|e| e.to_string())??;
    let cols = super::out::width().unwrap_or(DEFAULT_COLS);
    let shown_at = Instant::now().checked_sub(FRAME).unwrap_or_else(Instant::now);
    Ok((Printer::Tty { printer, partial: String::new(), cols, pending: String::new(), shown_at }, Some(go_tx)))
}

/// The network thread: connects, forwards frames, sends requests; after a lost connection
/// it connects again (and again) until it is back.
fn network(conn: ConnectArgs, opts: LoadOptions, req: Receiver<Req>, ui: Sender<Ui>) {
    let mut first = true;
    loop {
        let mut client = match Client::connect(&conn, &opts) {
            Ok(c) => c,
            Err(e) if first => {
                let _ = ui.send(Ui::Fatal(e));
                return;
            }
            Err(_) => {
                std::thread::sleep(RECONNECT_EVERY);
                continue;
            }
        };
        first = false;
        if ui.send(Ui::Connected).is_err() {
            return;
        }
        let lost = loop {
            match req.try_recv() {
                Ok(r) => {
                    if let Err(e) = client.send(&r.id, r.method, r.params) {
                        break e;
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            match client.next_frame(POLL) {
                Ok(Some(v)) => {
                    if ui.send(Ui::Frame(v)).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => break e,
            }
        };
        if ui.send(Ui::Disconnected(lost.to_string())).is_err() {
            return;
        }
    }
}

struct Chat {
    session: String,
    /// The `/model` (or `--model`) for the next messages.
    model: Option<String>,
    printer: Printer,
    paint: Paint,
    req: Sender<Req>,
    next: u64,
    /// Requests sent and not answered yet, by id.
    waiting: HashMap<String, Purpose>,
    /// This chat's runs still streaming.
    runs: HashSet<String>,
    /// The input ended: leave once the runs are over.
    quit_after_runs: bool,
    connected: bool,
}

impl Chat {
    fn request(&mut self, method: &'static str, params: Value, purpose: Purpose) {
        self.next += 1;
        let id = format!("chat-{}", self.next);
        self.waiting.insert(id.clone(), purpose);
        let _ = self.req.send(Req { id, method, params });
    }

    fn note(&mut self, s: &str) {
        let s = self.paint.dim(s);
        self.printer.line(&s);
    }

    /// The main loop; returns the exit code.
    fn run(&mut self, ui: &Receiver<Ui>, input: Option<&Sender<bool>>) -> i32 {
        loop {
            let ev = match self.printer.due() {
                Some(wait) => match ui.recv_timeout(wait) {
                    Ok(ev) => ev,
                    Err(RecvTimeoutError::Timeout) => {
                        self.printer.flush();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match ui.recv() {
                    Ok(ev) => ev,
                    Err(_) => break,
                },
            };
            match ev {
                Ui::Line(line) => {
                    // The entered line now sits below any unfinished streamed row.
                    self.printer.end_stream();
                    let go_on = self.line(line.trim());
                    if let Some(input) = input {
                        let _ = input.send(go_on);
                    }
                    if !go_on {
                        return crate::exit::OK;
                    }
                }
                Ui::Interrupt => {
                    if self.runs.is_empty() {
                        self.note("(Ctrl-D or /exit leaves)");
                    } else {
                        self.abort();
                    }
                    if let Some(input) = input {
                        let _ = input.send(true);
                    }
                }
                Ui::Eof => {
                    if self.runs.is_empty() {
                        return crate::exit::OK;
                    }
                    self.quit_after_runs = true;
                }
                Ui::Connected => {
                    self.connected = true;
                    self.note("reconnected");
                    // A new connection follows the session again (chat.history subscribes it).
                    self.request(
                        "chat.history",
                        json!({"sessionKey": self.session, "limit": 1}),
                        Purpose::History { show: false },
                    );
                }
                Ui::Disconnected(why) => {
                    if self.connected {
                        self.connected = false;
                        self.printer.end_stream();
                        self.note(&format!("connection lost ({why}); reconnecting… (what you type is kept)"));
                    }
                    if !self.runs.is_empty() {
                        self.runs.clear();
                        self.note("(the answer in progress was cut off)");
                    }
                }
                Ui::Fatal(e) => {
                    self.printer.line(&format!("openclaw: {e}"));
                    return e.exit_code();
                }
                Ui::Frame(v) => self.frame(&v),
            }
            if self.quit_after_runs && self.runs.is_empty() {
                return crate::exit::OK;
            }
        }
        self.printer.end_stream();
        crate::exit::OK
    }

    /// One entered line; `false` to leave.
    fn line(&mut self, line: &str) -> bool {
        if line.is_empty() {
            return true;
        }
        let (cmd, arg) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        if !line.starts_with('/') {
            self.send(line);
            return true;
        }
        match (cmd, arg) {
            ("/exit" | "/quit", _) => return false,
            ("/help", _) => self.note(HELP),
            ("/abort", _) => self.abort(),
            ("/new" | "/reset", _) => {
                let key = self.session.clone();
                self.request("sessions.reset", json!({"key": key}), Purpose::Reset);
            }
            ("/session", "") => self.note(&format!("session {}", self.session)),
            ("/session", key) => {
                self.session = super::agent::session_key(None, key);
                self.note(&format!("session {}", self.session));
                let params = json!({"sessionKey": self.session, "limit": HISTORY_SHOWN});
                self.request("chat.history", params, Purpose::History { show: true });
            }
            ("/model", "") => {
                let m = self.model.clone().unwrap_or_else(|| "the configured one".into());
                self.note(&format!("model: {m}"));
            }
            ("/model", name) => {
                self.model = Some(name.to_string());
                self.note(&format!("model {name} for the next messages"));
            }
            ("/approve" | "/deny", "") => self.note(&format!("{cmd} needs the approval's ID")),
            ("/approve" | "/deny", id) => {
                let decision = if cmd == "/approve" { "allow-once" } else { "deny" };
                let params = json!({"id": id, "decision": decision});
                self.request("exec.approval.resolve", params, Purpose::Resolve { id: id.to_string(), decision });
            }
            _ => self.note(&format!("unknown command {cmd}; {HELP}")),
        }
        true
    }

    fn send(&mut self, text: &str) {
        if !self.connected {
            self.note("(not connected yet: the message goes out once the gateway is back)");
        }
        let run = uuid::Uuid::new_v4().to_string();
        let mut params = json!({"sessionKey": self.session, "message": text, "idempotencyKey": run});
        if let Some(m) = &self.model {
            params["model"] = json!(m);
        }
        self.runs.insert(run);
        self.request("chat.send", params, Purpose::Send);
    }

    fn abort(&mut self) {
        if self.runs.is_empty() {
            self.note("nothing to abort");
            return;
        }
        let key = self.session.clone();
        self.request("chat.abort", json!({"sessionKey": key}), Purpose::Abort);
    }

    fn frame(&mut self, v: &Value) {
        if v["type"] == "res" {
            let Some(purpose) = v["id"].as_str().and_then(|id| self.waiting.remove(id)) else { return };
            self.answer(purpose, v);
            return;
        }
        let p = &v["payload"];
        let ours = p["runId"].as_str().is_some_and(|r| self.runs.contains(r));
        match v["event"].as_str() {
            Some("agent") if ours && p["stream"] == "assistant" => {
                self.printer.delta(p["data"]["delta"].as_str().unwrap_or(""));
            }
            Some("agent") if ours && p["stream"] == "tool" => {
                if let Some(line) = super::agent::tool_line(&p["data"]) {
                    self.note(&line);
                }
            }
            Some("chat") if ours => {
                let state = p["state"].as_str().unwrap_or("");
                if matches!(state, "final" | "aborted" | "error") {
                    self.printer.end_stream();
                    if let Some(r) = p["runId"].as_str() {
                        self.runs.remove(r);
                    }
                }
                match state {
                    "aborted" => self.note("(aborted)"),
                    "error" => {
                        let msg = p["errorMessage"].as_str().unwrap_or("the run failed");
                        let line = self.paint.yellow(&format!("error: {msg}"));
                        self.printer.line(&line);
                    }
                    _ => {}
                }
            }
            Some("exec.approval.requested") => self.approval(p),
            Some("exec.approval.resolved") => {
                let line =
                    format!("approval {} → {}", p["id"].as_str().unwrap_or("?"), p["decision"].as_str().unwrap_or("?"));
                self.note(&line);
            }
            _ => {}
        }
    }

    fn approval(&mut self, p: &Value) {
        let r = &p["request"];
        let id = p["id"].as_str().unwrap_or("?");
        let line = format!(
            "approval needed {id}: $ {} (in {}) — /approve {id} or /deny {id}",
            r["command"].as_str().unwrap_or("?"),
            r["cwd"].as_str().unwrap_or("?")
        );
        let line = self.paint.yellow(&line);
        self.printer.line(&line);
    }

    fn answer(&mut self, purpose: Purpose, v: &Value) {
        let ok = v["ok"] == true;
        let err = v["error"]["message"].as_str().unwrap_or("failed").to_string();
        let p = &v["payload"];
        match purpose {
            Purpose::History { show } if ok => {
                if show {
                    self.history(p);
                }
            }
            Purpose::History { .. } => self.note(&format!("history: {err}")),
            Purpose::Send if ok => {}
            Purpose::Send => {
                if let Some(r) = v["payload"]["runId"].as_str() {
                    self.runs.remove(r);
                } else {
                    self.runs.clear();
                }
                let line = self.paint.yellow(&format!("error: {err}"));
                self.printer.line(&line);
            }
            Purpose::Abort if ok && p["aborted"] == true => {}
            Purpose::Abort if ok => self.note("nothing was running"),
            Purpose::Abort => self.note(&format!("abort: {err}")),
            Purpose::Reset if ok || err.contains("no session") => {
                self.note(&format!("new session: {} starts over", self.session));
            }
            Purpose::Reset => self.note(&format!("/new: {err}")),
            Purpose::Resolve { id, decision } if ok => self.note(&format!("{id}: {decision}")),
            Purpose::Resolve { id, .. } => self.note(&format!("{id}: {err}")),
            Purpose::Pending if ok => {
                for a in p["pending"].as_array().into_iter().flatten() {
                    self.approval(a);
                }
            }
            Purpose::Pending => {}
        }
    }

    fn history(&mut self, p: &Value) {
        let messages = p["messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            self.note("(no messages yet)");
            return;
        }
        for m in &messages {
            let role = m["role"].as_str().unwrap_or("?");
            let text = text_of(&m["content"]);
            if text.is_empty() || !matches!(role, "user" | "assistant") {
                continue;
            }
            let who = if role == "user" { "you" } else { "assistant" };
            let label = self.paint.bold(&format!("{who}:"));
            self.printer.line(&format!("{label} {text}"));
        }
        self.note("──");
    }
}

/// A message's text: a string, or the text parts of a content array.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_row_is_rewritten_in_place_as_it_grows() {
        // Nothing shown yet: the delta and a newline (the prompt goes below it).
        assert_eq!(rewrite("", "Hel", 80), ("Hel\n".into(), "Hel".into()));
        // A row shown: back up over it, clear, print it longer.
        assert_eq!(rewrite("Hel", "lo", 80), ("\x1b[1A\r\x1b[JHello\n".into(), "Hello".into()));
        // A finished line stays; only what follows its newline is rewritten next time.
        assert_eq!(
            rewrite("Hello", ", world\nNext", 80),
            ("\x1b[1A\r\x1b[JHello, world\nNext\n".into(), "Next".into())
        );
        assert_eq!(rewrite("Next", " line\n", 80), ("\x1b[1A\r\x1b[JNext line\n".into(), String::new()));
        // Rows that fill up are printed for good, cut after a word: one row is ever rewritten.
        assert_eq!(
            rewrite("one two", " three four", 10),
            ("\x1b[1A\r\x1b[Jone two\nthree four\n".into(), "three four".into())
        );
        assert_eq!(rewrite("", "abcdefghijkl", 5), ("abcde\nfghij\nkl\n".into(), "kl".into()));
        // Cells, not characters: a wide character takes two.
        assert_eq!(rewrite("", "记忆索引", 5), ("记忆\n索引\n".into(), "索引".into()));
        assert_eq!(rewrite("", "记", 1), ("记\n".into(), String::new()));
    }
}
