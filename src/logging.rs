//! Tracing setup: console (pretty on a TTY, plain, or JSON), an optional JSON-lines file
//! reopened on SIGHUP (logrotate without copytruncate), and a hot-reloadable level.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::Paths;
use crate::config::model::{self, Config, LogFormat, LogLevel};

type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

/// Handle to the live logging setup.
#[derive(Clone)]
pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
    file: Arc<LogFile>,
    /// `RUST_LOG` wins over the configured level (fine-grained filters), unless a flag was given.
    rust_log: Option<String>,
}

impl Logging {
    /// Installs the global subscriber. `rust_log` is honoured only when `level_from_flag` is false.
    pub fn init(level: LogLevel, format: Option<LogFormat>, file: Option<PathBuf>, level_from_flag: bool) -> Self {
        let rust_log = std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty() && !level_from_flag);
        let directives = rust_log.clone().unwrap_or_else(|| directives(level));
        let (filter, handle) =
            reload::Layer::new(EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info")));
        let console: BoxedLayer = match format {
            Some(LogFormat::Json) => tracing_subscriber::fmt::layer().json().with_current_span(false).boxed(),
            _ if std::io::stdout().is_terminal() => tracing_subscriber::fmt::layer().with_ansi(true).boxed(),
            _ => tracing_subscriber::fmt::layer().with_ansi(false).boxed(),
        };
        let log_file = Arc::new(LogFile::default());
        let file_layer: BoxedLayer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_writer(FileWriter(log_file.clone()))
            .boxed();
        let _ = tracing_subscriber::registry().with(filter).with(vec![console, file_layer]).try_init();
        let me = Self { filter: handle, file: log_file, rust_log };
        me.set_file(file);
        me
    }

    /// Applies a new level (hot reload). No effect while `RUST_LOG` is in charge.
    pub fn set_level(&self, level: LogLevel) {
        if let Some(rl) = &self.rust_log {
            tracing::info!(rust_log = %rl, "RUST_LOG is set, so the configured log level is not applied");
            return;
        }
        match self.filter.reload(EnvFilter::new(directives(level))) {
            Ok(()) => tracing::info!(level = level.as_str(), "log level changed"),
            Err(e) => tracing::warn!(error = %e, "could not change the log level"),
        }
    }

    /// Points the file log at `path` (None: no file log).
    pub fn set_file(&self, path: Option<PathBuf>) {
        if let Err(e) = self.file.open(path.clone()) {
            tracing::warn!(path = %path.unwrap_or_default().display(), error = %e, "file logging disabled: cannot open the log file");
        }
    }

    /// Reopens the log file at the same path (after logrotate moved it).
    pub fn reopen(&self) {
        let path = self.file.path();
        if path.is_some() {
            self.set_file(path);
        }
    }
}

fn directives(level: LogLevel) -> String {
    match level {
        LogLevel::Trace | LogLevel::Debug => level.as_str().to_string(),
        // actix-server announces every worker at info; keep the default console readable.
        _ => format!("{},actix_server=warn,{}=info", level.as_str(), crate::lifecycle::LIFECYCLE),
    }
}

/// The log file, swapped under a lock when reopened.
#[derive(Default)]
pub struct LogFile {
    inner: Mutex<Option<(PathBuf, File)>>,
}

impl LogFile {
    fn open(&self, path: Option<PathBuf>) -> std::io::Result<()> {
        let Some(path) = path else {
            *self.inner.lock() = None;
            return Ok(());
        };
        let opened = open_append(&path);
        let mut guard = self.inner.lock();
        match opened {
            Ok(f) => {
                *guard = Some((path, f));
                Ok(())
            }
            Err(e) => {
                *guard = None;
                Err(e)
            }
        }
    }

    fn path(&self) -> Option<PathBuf> {
        self.inner.lock().as_ref().map(|(p, _)| p.clone())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        crate::state::ensure_dir(dir).map_err(|e| e.source)?;
    }
    OpenOptions::new().create(true).append(true).mode(crate::state::FILE_MODE).open(path)
}

impl Write for &LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some((_, f)) = self.inner.lock().as_mut() {
            // A full disk must not take the gateway down: drop the line.
            let _ = f.write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct FileWriter(Arc<LogFile>);

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = &'a LogFile;
    fn make_writer(&'a self) -> Self::Writer {
        &self.0
    }
}
/// The file log path `logging.file` asks for (the log file is this module's to write).
pub fn log_file_path(cfg: &Config, paths: &Paths) -> Option<PathBuf> {
    match &cfg.logging.file {
        model::LogFile::Enabled(true) => Some(paths.default_log_file()),
        model::LogFile::Enabled(false) => None,
        model::LogFile::Path(p) => Some(paths.state_dir.join(p)),
    }
}
