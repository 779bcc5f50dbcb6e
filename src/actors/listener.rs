//! The Listener child: the actix-web server on the configured addresses, serving the routes
//! the gateway hands it (HTTP, `POST /rpc`, the WebSocket upgrade). Listening sockets are kept by the spec across incarnations, so a
//! restart of the listener never refuses a connection on an unchanged address.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use actix_codec::Framed;
use actix_http::{HttpService, Request, h1};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{App, web};
use futures_util::future::LocalBoxFuture;

use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use std::sync::Arc;

use tokio::sync::watch;

use super::children::ChildRegistry;
use crate::config::LoadOptions;
use crate::config::live::LiveConfig;
use crate::net::BoxIo;
use crate::net::conn::{Admission, Caps, Connections};
use crate::net::first_byte::{self, FirstByte};
use crate::net::tls::{self, TlsStore};
use crate::{exit, net};

/// The routes to serve (the HTTP edge's, handed down by the gateway with what they reach).
pub type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;
/// Serves an upgrade request (a WebSocket) on the connection the HTTP server hands over.
pub type Upgrade = Arc<dyn Fn(Request, Framed<BoxIo, h1::Codec>) -> LocalBoxFuture<'static, ()> + Send + Sync>;

/// What the listener serves: the routes, and upgraded connections.
#[derive(Clone)]
pub struct Edge {
    pub routes: Routes,
    pub upgrade: Upgrade,
}

/// What the listener reads, and the facts it alone publishes.
pub struct ListenerHandles {
    pub config: LiveConfig,
    pub options: Arc<LoadOptions>,
    /// To tell the ConfigActor to watch the certificate files.
    pub registry: Arc<ChildRegistry>,
    pub listen: watch::Sender<Vec<SocketAddr>>,
    pub tls: watch::Sender<Option<Arc<TlsStore>>>,
    /// Open connections and their caps, across incarnations (a draining server's count too).
    pub connections: Arc<Connections>,
    /// The current server, published so a reload can stop it accepting before replacing it.
    pub server: watch::Sender<Option<actix_web::dev::ServerHandle>>,
}

pub const ID: &str = "listener";
/// HTTP worker threads; the control plane is light, and each worker costs memory.
const MAX_WORKERS: usize = 2;
/// How long a stopped server lets its connections run. A replaced listener (port change,
/// restart after a panic) keeps serving its WebSocket sessions until their clients leave;
/// a process stop is bounded by `gateway.shutdownTimeoutMs` (sessions get `shutdown`/1012).
const DRAIN_SECS: u64 = 24 * 60 * 60;
/// A request's head (line and headers) must arrive within this time of the connection's first
/// byte: a client dribbling its headers (slowloris) is cut here.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

pub struct ListenerActor {
    handle: actix_web::dev::ServerHandle,
    stopping: bool,
    _watch: ExitWatch,
}

pub fn spec(edge: Edge, handles: ListenerHandles) -> ChildSpec {
    let sockets: Rc<RefCell<HashMap<SocketAddr, TcpListener>>> = Rc::default();
    ChildSpec::permanent(ID, Duration::from_secs(10), move |cx| start(cx, &handles, &sockets, edge.clone()))
}

fn start(
    cx: &ChildContext,
    h: &ListenerHandles,
    cache: &RefCell<HashMap<SocketAddr, TcpListener>>,
    edge: Edge,
) -> Result<Child, StartError> {
    let live = h.config.get();
    let gateway = &live.loaded.config.gateway;
    let wanted = net::wanted(gateway).map_err(|e| StartError::new(e.code, e.message))?;
    let io_err = |e: std::io::Error| StartError::new(exit::SOFTWARE, format!("listener socket: {e}"));

    let mut sockets = Vec::new();
    let mut keep = HashMap::new();
    // Port 0: the first socket picks the port, the others (the other family) follow it.
    let mut picked: Option<u16> = None;
    for want in wanted {
        let mut addr = want.addr;
        if addr.port() == 0
            && let Some(p) = picked
        {
            addr.set_port(p);
        }
        let cached = cache.borrow().get(&want.addr).map(TcpListener::try_clone);
        let sock = match cached {
            Some(s) => s.map_err(io_err)?,
            None => match net::bind(addr) {
                Ok(s) => s,
                Err(e) if want.optional => {
                    tracing::warn!(address = %addr, error = %e.message, "not listening on this address (no IPv6 here?)");
                    continue;
                }
                Err(e) => return Err(StartError::new(e.code, e.message)),
            },
        };
        picked = picked.or_else(|| sock.local_addr().ok().map(|a| a.port()));
        keep.insert(want.addr, sock.try_clone().map_err(io_err)?);
        sockets.push(sock);
    }
    let actual: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    let tls = tls_store(h, &gateway.tls)?;

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS);
    let mut builder = actix_server::Server::build().workers(workers).disable_signals().shutdown_timeout(DRAIN_SECS);
    let shutdown = builder.graceful_shutdown_signal();
    for sock in sockets {
        let addr = sock.local_addr().map_err(io_err)?;
        let name = format!("openclaw-{addr}");
        let (edge, shutdown) = (edge.clone(), shutdown.clone());
        let (connections, config) = (h.connections.clone(), h.config.clone());
        // The same HTTP service over either stream type (the upgrade hands over the stream).
        macro_rules! http {
            ($io:ty, $secure:expr) => {{
                let (routes, upgrade, shutdown) = (edge.routes.clone(), edge.upgrade.clone(), shutdown.clone());
                let app = App::new().wrap(tracing_actix_web::TracingLogger::default()).configure(move |c| routes(c));
                HttpService::<$io, _, _>::build()
                    .graceful_shutdown_signal(move || {
                        let signal = shutdown.clone();
                        async move { signal.notified().await }
                    })
                    // The first request's head; later heads on a kept-alive connection are timed
                    // by the request guard (actix-http times only the first).
                    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    // Events stream out unasked (chat deltas, tool events): with Nagle on, each
                    // one after the first waited for the client's delayed ACK (about 40 ms).
                    .tcp_nodelay(true)
                    .local_addr(addr)
                    .on_connect_ext(move |io: &$io, ext: &mut actix_http::Extensions| {
                        // Admitted at accept (`first_byte`), parked until here.
                        if let Some(conn) = fd_of(io as &dyn std::any::Any).and_then(first_byte::take) {
                            ext.insert(conn);
                        }
                    })
                    .upgrade(fn_service(move |(req, framed): (Request, Framed<$io, h1::Codec>)| {
                        let upgrade = upgrade.clone();
                        async move {
                            upgrade(req, boxed(framed)).await;
                            Ok::<_, std::convert::Infallible>(())
                        }
                    }))
                    .finish(map_config(app.into_factory().map_err(|e| e.error_response()), move |_| {
                        // AppConfig's only public constructor that carries the scheme.
                        AppConfig::__priv_test_new($secure, addr.to_string(), addr)
                    }))
            }};
        }
        // Every connection is admitted at accept and built for HTTP (or TLS) at its first byte.
        let admitting = move || {
            let (connections, config) = (connections.clone(), config.clone());
            move |tcp: &actix_rt::net::TcpStream| admit(tcp, &connections, &config)
        };
        builder = match &tls {
            Some(store) => {
                let acceptor = store.acceptor().map_err(|e| StartError::new(exit::CONFIG, e.to_string()))?;
                let acceptor = tls::http_acceptor(acceptor).map_err(io_err)?;
                builder.listen(name, sock, move || {
                    let http = http!(actix_tls::accept::openssl::TlsStream<actix_rt::net::TcpStream>, true)
                        .openssl(acceptor.clone());
                    FirstByte::new(http, REQUEST_HEAD_TIMEOUT, shutdown.clone(), admitting())
                })
            }
            None => builder.listen(name, sock, move || {
                FirstByte::new(
                    http!(actix_rt::net::TcpStream, false).tcp(),
                    REQUEST_HEAD_TIMEOUT,
                    shutdown.clone(),
                    admitting(),
                )
            }),
        }
        .map_err(io_err)?;
    }
    h.tls.send_replace(tls);
    if let Some(config) = h.registry.get::<super::config::ConfigActor>(super::config::ID) {
        config.do_send(super::config::Rearm);
    }
    let server = builder.run();
    let handle = server.handle();
    h.server.send_replace(Some(handle.clone()));
    *cache.borrow_mut() = keep;
    h.listen.send_replace(actual.clone());
    tracing::info!(addresses = %actual.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), "listening");

    let watch = cx.watch();
    Ok(cx.spawn(move |ctx| {
        // The server runs as its own task, not in this actor's context: if the actor dies,
        // the server (and the sessions on it) keeps running until it is drained.
        let me = ctx.address();
        actix_rt::spawn(async move {
            let mut server = std::pin::pin!(server);
            let mut first = true;
            let result = std::future::poll_fn(|cx| {
                let poll = server.as_mut().poll(cx);
                // The first poll has started the workers and the accept thread.
                if std::mem::take(&mut first) && poll.is_pending() {
                    #[cfg(target_os = "linux")]
                    actix_rt::spawn(lower_accept_thread());
                }
                poll
            })
            .await;
            me.do_send(ServerEnded(result.map_err(|e| e.to_string())));
        });
        ListenerActor { handle, stopping: false, _watch: watch }
    }))
}

/// Puts the new server's accept thread below the workers (`net::acceptor`); a gateway that
/// cannot still serves, at one priority. The thread names itself once it runs, a moment after
/// it is spawned: it is looked for again, every millisecond, for up to 100 ms.
#[cfg(target_os = "linux")]
async fn lower_accept_thread() {
    for _ in 0..100 {
        match net::acceptor::lower() {
            Ok(0) => actix_rt::time::sleep(Duration::from_millis(1)).await,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not lower the HTTP accept thread's priority; it runs at the workers'");
                return;
            }
        }
    }
    tracing::warn!("the HTTP accept thread was not found; it runs at the workers' priority");
}

/// An upgraded connection with its stream type erased (the session serves plain and TLS alike).
fn boxed<T: crate::net::Io>(framed: Framed<T, h1::Codec>) -> Framed<BoxIo, h1::Codec> {
    let parts = framed.into_parts();
    let mut erased = actix_codec::FramedParts::with_read_buf(Box::new(parts.io) as BoxIo, parts.codec, parts.read_buf);
    erased.write_buf = parts.write_buf;
    Framed::from_parts(erased)
}

/// The socket under a plain or TLS stream the HTTP server hands its connect hook.
fn fd_of(io: &dyn std::any::Any) -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    type Tls = actix_tls::accept::openssl::TlsStream<actix_rt::net::TcpStream>;
    match io.downcast_ref::<actix_rt::net::TcpStream>() {
        Some(t) => Some(t.as_raw_fd()),
        None => io.downcast_ref::<Tls>().map(|t| t.get_ref().as_raw_fd()),
    }
}

/// Counts a new connection against the caps, at accept. Its admission and peer become the
/// connection's `Conn` at its first byte (`first_byte`), in the connection's data, where the
/// request guard and the session read it.
fn admit(
    tcp: &actix_rt::net::TcpStream,
    set: &Arc<Connections>,
    config: &LiveConfig,
) -> Option<(Admission, SocketAddr)> {
    let peer = tcp.peer_addr().ok()?;
    let live = config.get();
    let gw = &live.loaded.config.gateway;
    let exempt = gw.trusted_proxies.iter().any(|t| crate::auth::peer::matches(t, peer.ip()));
    let caps = Caps { total: gw.max_connections, per_address: gw.max_connections_per_address };
    let admission = set.admit(peer.ip(), caps, exempt);
    if let Some((limit, cap)) = admission.refused {
        // Logged at the 1st, 2nd, 4th, 8th... refusal: a flood does not become a log flood.
        let n = set.refused(limit);
        if n.is_power_of_two() {
            tracing::warn!(peer = %peer.ip(), limit = limit.label(), cap, refused = n, "connection refused: over the cap");
        }
    }
    Some((admission, peer))
}

/// The certificate store for this incarnation: the current one when its files and minimum
/// version are unchanged in the config (refreshed), else opened anew (the version is built into
/// the store's contexts, so a `minVersion` change needs a new one). A bad pair fails the start
/// with its file.
fn tls_store(h: &ListenerHandles, cfg: &crate::config::model::Tls) -> Result<Option<Arc<TlsStore>>, StartError> {
    if !cfg.enabled {
        return Ok(None);
    }
    let paths = &h.options.paths;
    let (cert, key, _) = tls::pair_paths(cfg, paths).map_err(|e| StartError::new(exit::CONFIG, e.to_string()))?;
    let current = h.tls.borrow().clone();
    if let Some(store) = current
        && store.files() == (cert.clone(), key.clone())
        && store.min_version() == cfg.min_version
    {
        tls::refresh(&store);
        return Ok(Some(store));
    }
    TlsStore::open(cfg, paths).map(Some).map_err(|e| StartError::new(exit::CONFIG, e.to_string()))
}

/// Internal: the HTTP server has stopped.
#[derive(Message)]
#[rtype(result = "()")]
struct ServerEnded(Result<(), String>);

impl Handler<ServerEnded> for ListenerActor {
    type Result = ();

    fn handle(&mut self, msg: ServerEnded, ctx: &mut Context<Self>) {
        if !self.stopping {
            tracing::error!(result = ?msg.0, "HTTP server ended on its own");
        }
        ctx.stop();
    }
}

impl Actor for ListenerActor {
    type Context = Context<Self>;
}

impl Handler<StopChild> for ListenerActor {
    type Result = ();

    /// Stop accepting (the listening sockets close), let open connections finish; the server future
    /// ending then stops the actor.
    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        self.stopping = true;
        let handle = self.handle.clone();
        ctx.spawn(actix::fut::wrap_future(async move {
            #[cfg(feature = "fault-injection")]
            fault_stop_delay().await;
            handle.stop(true).await
        }));
    }
}

impl Drop for ListenerActor {
    fn drop(&mut self) {
        if !self.stopping {
            // Died without being asked (a panic): the replacement listens already (the sockets
            // are kept by the spec); this server stops accepting and drains like any other.
            actix_rt::spawn(self.handle.stop(true));
        }
    }
}

/// Test builds only: `OPENCLAW_FAULT_STOP_DELAY_MS` holds the listener open while stopping,
/// so tests can observe the draining phase and a second signal.
#[cfg(feature = "fault-injection")]
async fn fault_stop_delay() {
    if let Some(ms) = std::env::var("OPENCLAW_FAULT_STOP_DELAY_MS").ok().and_then(|v| v.parse().ok()) {
        actix_rt::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(feature = "fault-injection")]
impl Handler<super::config::InjectPanic> for ListenerActor {
    type Result = ();

    fn handle(&mut self, _: super::config::InjectPanic, _: &mut Context<Self>) {
        panic!("injected fault in the listener");
    }
}
