//! The command line (clap): every argument type of every command. Only src/cmd uses them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ml_connector::db::DbTarget;

#[derive(Debug, Parser)]
#[command(
    name = "ml-connector",
    version = ml_connector::VERSION_LINE,
    about = "Keeps Sage 100 and ShipStation in step: orders out, inventory out, tracking back.",
    long_about = "Keeps Sage 100 and ShipStation in step. Every order, shipment and scheduled sync is a \
                  durable workflow in PostgreSQL, advanced by a pool of workers.\n\n\
                  Without DATABASE_URL, a private PostgreSQL cluster is started from the server \
                  binaries installed on this machine."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// A TOML config file whose keys stand for the environment variables (see the README);
    /// a variable that is set wins over the file.
    #[arg(long, env = "ML_CONNECTOR_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// PostgreSQL server to use (e.g. postgres://user:pass@host/db). Unset: embedded PostgreSQL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Folder of the embedded PostgreSQL cluster (serve, worker, migrate without DATABASE_URL).
    #[arg(
        long,
        env = "ML_CONNECTOR_DATA_DIR",
        global = true,
        default_value = "ml-connector-data"
    )]
    pub data_dir: PathBuf,

    /// Load workflow definitions (*.toml) from this folder instead of the built-in ones.
    #[arg(long, env = "ML_CONNECTOR_WORKFLOWS_DIR", global = true)]
    pub workflows_dir: Option<PathBuf>,

    /// Register the generic sample step handlers (engine tests and benchmarks only).
    #[cfg(feature = "sim")]
    #[arg(long, global = true, hide = true)]
    pub sample_handlers: bool,

    /// Log format: human in a terminal, JSON lines otherwise (auto).
    #[arg(long, env = "ML_CONNECTOR_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Human,
    Json,
}

impl From<LogFormat> for ml_connector::telemetry::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Auto => Self::Auto,
            LogFormat::Human => Self::Human,
            LogFormat::Json => Self::Json,
        }
    }
}

impl GlobalArgs {
    /// The service's workflow definitions and handlers (plus the samples when asked for).
    pub fn load_workflows(&self) -> anyhow::Result<ml_connector::app::Workflows> {
        ml_connector::app::Workflows::load(self.workflows_dir.as_deref(), |_r| {
            #[cfg(feature = "sim")]
            if self.sample_handlers {
                ml_connector::testkit::sample::register(_r);
            }
        })
    }

    /// The database named by the options (DATABASE_URL, or the persistent embedded cluster).
    pub fn db_target(&self) -> DbTarget {
        match &self.database_url {
            Some(url) => DbTarget::Url(url.clone()),
            None => DbTarget::Embedded {
                root: self.data_dir.clone(),
                ephemeral: false,
            },
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything: workers, scheduler and the HTTP API (health checks).
    Serve(ServeArgs),
    /// Run only a worker pool (no HTTP, no scheduler).
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate,
    #[cfg(feature = "sim")]
    /// Run the connector end to end on embedded PostgreSQL and the Sage 100 / ShipStation simulators.
    Demo(DemoArgs),
    /// Manage connections (one Sage company × one ShipStation account).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Master keys for credential encryption.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The local agent that runs beside Sage 100: an HTTPS API over the Business Object Interface.
    Agent(AgentArgs),
    #[cfg(feature = "sim")]
    /// Run a simulator of an external system on loopback (for trials and outside tests).
    #[command(subcommand)]
    Sim(SimCommand),
    /// Run the embedded PostgreSQL in the foreground and print its DATABASE_URL (benchmarks, debugging).
    Postgres,
    #[cfg(feature = "sim")]
    /// Benchmarks (results belong in docs/benchmarks.md with the command that produced them).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Find, inspect, restart and replay workflows (the same services as the GraphQL API).
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// Bearer tokens for the GraphQL ops API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Alert notifications.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// The GraphQL schema (SDL), as kept in graphql/schema.graphql.
    GraphqlSchema,
    /// Probe a running `serve` (exit 0 when it answers 200): the container HEALTHCHECK.
    Health {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Workflows, newest first.
    List {
        #[arg(long)]
        kind: Option<String>,
        /// ready, running, waiting, failed, completed, cancelled
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        state: Option<String>,
        /// Connection id.
        #[arg(long)]
        connection: Option<i64>,
        /// e.g. a SalesOrderNo
        #[arg(long)]
        key: Option<String>,
        /// Part of the last error.
        #[arg(long)]
        error: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One workflow and its audit trail.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Resume a failed workflow at its failed step.
    Restart {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Wake a waiting workflow now (it re-checks, e.g. after tracking was entered in Sage by hand).
    Signal {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Re-run the step an audit event recorded.
    Replay {
        event_id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a sample notice through every configured channel and print each channel's result
    /// (exit 1 when one failed).
    Test {
        /// Only this connection's channels.
        #[arg(long)]
        connection: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored).
    Create {
        /// viewer (queries), operator (+ restart, retry, replay, syncs), admin (+ connections, keys)
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Step handlers running at once.
    #[arg(long, env = "ML_CONNECTOR_WORKERS", default_value_t = 16)]
    pub workers: usize,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for the HTTP API.
    #[arg(long, env = "ML_CONNECTOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Serve `/metrics` on this address only (not on --listen); unset: on --listen.
    #[arg(long, env = "ML_CONNECTOR_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Days webhook deliveries and the audit trail of finished workflows are kept (pruned hourly).
    #[arg(long, env = "ML_CONNECTOR_RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Sales orders the simulated distributor enters in Sage.
    #[arg(long, default_value_t = 300)]
    pub orders: usize,
    /// End after the summary once every order is completed or failed (the default for now).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Print one final JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Step handlers running at once (posts wait for their createorders batch, so use many).
    #[arg(long, default_value_t = 256)]
    pub workers: usize,
    /// After the summary, keep the connector, the simulators and the GraphQL API up until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Burn-down of N workflows of K no-op steps, then idle claim latency.
    Engine(BenchEngineArgs),
    /// Inventory sync on the simulators: SKUs per minute against the V2 limit, calls per changed SKU.
    Inventory(BenchInventoryArgs),
    /// Orders out and tracking back on the simulators: orders per minute against ShipStation's V1
    /// bound, calls per order, 429s, agent calls per order, latency from entry in Sage to
    /// ShipStation and from label to tracking in Sage.
    Sync(BenchSyncArgs),
    /// Memory of the real `serve` process: idle, and at peak while N workflows are in flight.
    Footprint(BenchFootprintArgs),
    /// Many connections on the default schedules: scheduling cost, PostgreSQL transactions per
    /// second and poll lag, for one replica or several.
    Scale(BenchScaleArgs),
    /// The agent's orders poll over a large company file: ODBC (SQL over unixODBC and the
    /// PostgreSQL driver) against browsing the simulated BOI, on the same data (`odbc` feature).
    Agent(BenchAgentArgs),
}

#[derive(Debug, Args)]
pub struct BenchAgentArgs {
    /// Sales orders on file (two lines each).
    #[arg(long, default_value_t = 50_000)]
    pub orders: usize,
    /// Orders changed since the watermark.
    #[arg(long, default_value_t = 100)]
    pub changed: usize,
    /// Orders per agent call (the connector's page size).
    #[arg(long, default_value_t = 100)]
    pub page: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchScaleArgs {
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Replicas (each a scheduler and a worker pool) sharing the connections.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Step handlers per replica.
    #[arg(long, default_value_t = 16)]
    pub workers: usize,
    /// How long the schedules run.
    #[arg(long, default_value_t = 180)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchFootprintArgs {
    /// Workflows (three no-op steps each) queued at once for the busy figure.
    #[arg(long, default_value_t = 10_000)]
    pub workflows: usize,
    /// Seconds the idle service runs before its memory is read.
    #[arg(long, default_value_t = 10)]
    pub settle_secs: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchSyncArgs {
    /// Sales orders entered in Sage.
    #[arg(long, default_value_t = 2000)]
    pub orders: usize,
    /// V1 requests per window of the simulated account (compressed window).
    #[arg(long, default_value_t = 40)]
    pub v1_limit: u32,
    /// The V1 window, in seconds (ShipStation's is 60).
    #[arg(long, default_value_t = 2)]
    pub v1_window_secs: u64,
    /// Step handlers running at once.
    #[arg(long, default_value_t = 64)]
    pub workers: usize,
    /// Production poll and probe intervals and ShipStation's own window (40 a minute); orders are
    /// entered one at a time, two a second, for the latency figure.
    #[arg(long)]
    pub default_schedules: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchInventoryArgs {
    /// SKUs, each stocked in the two seeded warehouses.
    #[arg(long, default_value_t = 200)]
    pub skus: usize,
    /// The simulated account's V2 requests per minute (ShipStation's default is 200).
    #[arg(long, default_value_t = 200)]
    pub v2_limit: u32,
    /// SKUs changed in Sage before the second sync.
    #[arg(long, default_value_t = 20)]
    pub changed: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchEngineArgs {
    #[arg(long, default_value_t = 50_000)]
    pub workflows: usize,
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Step handlers running at once.
    #[arg(long, default_value_t = 16)]
    pub workers: usize,
    /// Rows per claim query (the pool buffers up to twice this many claimed steps).
    #[arg(long, default_value_t = 5000)]
    pub claim_batch: usize,
    /// Outcomes per completion statement at most.
    #[arg(long, default_value_t = 5000)]
    pub complete_batch: usize,
    /// Completion statements in flight at once.
    #[arg(long, default_value_t = 2)]
    pub completers: usize,
    /// Finished workflows (two audit rows each) kept in the tables beside the burn-down, as after
    /// months of production: the step cycle's statements must not slow down as history grows.
    /// Created once and kept across runs (kind `bench_history`).
    #[arg(long, default_value_t = 0)]
    pub history: usize,
    /// Single workflows created one by one on the idle engine to measure claim latency.
    #[arg(long, default_value_t = 300)]
    pub idle_samples: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// ShipStation V1 + V2 simulator (control API under /__control, JWKS at /jwks).
    Shipstation(SimShipStationArgs),
    /// Sage 100 simulator: eBusiness Web Services (SOAP, WSDL at ?wsdl) and control API.
    Sage100(SimSage100Args),
}

#[derive(Debug, Args)]
pub struct SimSage100Args {
    #[arg(long, default_value_t = 8091)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The Sage user every SOAP call must log on as.
    #[arg(long, default_value = "integration")]
    pub username: String,
    #[arg(long, default_value = "sage-password")]
    pub password: String,
    /// Company codes (repeatable).
    #[arg(long = "company", default_value = "ABC")]
    pub companies: Vec<String>,
    /// Seed a small wholesale distributor (customers, items, two warehouses, stock).
    #[arg(long)]
    pub seed_demo: bool,
    /// The site's time zone for DateUpdated/TimeUpdated.
    #[arg(long, default_value = "America/Chicago")]
    pub zone: String,
    /// Also serve the local agent over the same data (plain HTTP on loopback) on this port.
    #[arg(long)]
    pub agent_port: Option<u16>,
    /// API key the agent started with --agent-port requires.
    #[arg(long, default_value = "sim-agent-key")]
    pub agent_api_key: String,
    /// The SOAP service namespace its WSDL publishes (a stand-in: Sage's real one is read by the
    /// connector from the customer's WSDL).
    #[arg(long, default_value = "urn:sim:sage100:ebusiness")]
    pub soap_namespace: String,
    /// The service contract (portType) name, part of every SOAPAction.
    #[arg(long, default_value = "IWebService")]
    pub soap_contract: String,
    /// The data contracts' namespace (Logon, SalesOrder, …).
    #[arg(
        long,
        default_value = "http://schemas.datacontract.org/2004/07/Sim.Sage100.Contracts"
    )]
    pub soap_data_namespace: String,
    /// Order of data contract members: `ordinal` (WCF's default) or `declared`.
    #[arg(long, default_value = "ordinal")]
    pub soap_member_order: String,
    /// The message of a record-lock fault.
    #[arg(long, default_value = "The record is in use by another user.")]
    pub lock_text: String,
    /// The fault code of a key that is not on file.
    #[arg(long, default_value = "CI_NoKey")]
    pub not_on_file_code: String,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Address to listen on.
    #[arg(long, env = "ML_AGENT_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// BOI backend: `sim` (simulated Sage 100, seeded) or `com` (Windows only).
    #[arg(long, env = "ML_AGENT_BACKEND", default_value = "sim")]
    pub backend: String,
    /// Company codes served (repeatable).
    #[arg(
        long = "company",
        env = "ML_AGENT_COMPANIES",
        value_delimiter = ',',
        default_value = "ABC"
    )]
    pub companies: Vec<String>,
    /// Sage user for BOI sessions; the password comes from ML_AGENT_SAGE_PASSWORD.
    #[arg(long, env = "ML_AGENT_SAGE_USER", default_value = "integration")]
    pub sage_user: String,
    /// Server certificate (PEM).
    #[arg(long, env = "ML_AGENT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "ML_AGENT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mTLS.
    #[arg(long, env = "ML_AGENT_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Serve plain HTTP (loopback addresses only).
    #[arg(long)]
    pub plain_http: bool,
    /// Concurrent BOI sessions.
    #[arg(long, env = "ML_AGENT_MAX_SESSIONS", default_value_t = 4)]
    pub max_sessions: usize,
}

#[derive(Debug, Args)]
pub struct SimShipStationArgs {
    /// Port to listen on (127.0.0.1); 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    #[arg(long, default_value = "sim-key")]
    pub v1_key: String,
    #[arg(long, default_value = "sim-secret")]
    pub v1_secret: String,
    #[arg(long, default_value = "sim-v2-key")]
    pub v2_key: String,
    /// V1 requests per window and key pair.
    #[arg(long, default_value_t = 40)]
    pub v1_limit: u32,
    #[arg(long, default_value_t = 60.0)]
    pub v1_window_secs: f64,
    /// V2 requests per minute.
    #[arg(long, default_value_t = 200)]
    pub v2_limit: u32,
    /// Webhook resource URLs use ssapiN.<domain>:<port>; map those names to this simulator.
    #[arg(long, default_value = "shipstation.test")]
    pub host_domain: String,
    /// How the simulated account behaves where real accounts may differ, as JSON (fields of
    /// `Behaviour`: jwks_path, webhooks_list, inventory_paging, inventory_page_max, auto_allocate,
    /// order_update, not_updatable_message, split_needs_order_id, extra_fields); also
    /// switchable at run time with POST /__control/behaviour.
    #[arg(long, value_name = "JSON")]
    pub behaviour_json: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Add a connection. Secrets come from ML_SECRET_<NAME> variables or, with --secrets-stdin, from
    /// `name=value` lines on stdin (never from arguments). Names: sage_password, agent_api_key,
    /// agent_client_identity, v1_key, v1_secret, v1_next_key, v1_next_secret, v2_key, webhook_token,
    /// and notify_<channel> (a notification channel's URL or SMTP password; stdin only).
    Add(ConnectionEdit),
    /// Change settings and/or secrets of a connection (same options as add).
    Set(ConnectionEdit),
    /// List connections (secrets: only whether each is set, its key id and expiry).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one connection.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a sync now (the worker pool of `serve`/`worker` picks it up): `orders`, `inventory` or `shipments`.
    Sync {
        name: String,
        #[arg(long, value_parser = ["orders", "inventory", "shipments"])]
        feed: String,
        /// Show what the sync would send (orders: each changed order as it would be posted, or
        /// why it would be skipped or refused) without changing anything in either system.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: the preview as one JSON object.
        #[arg(long, requires = "dry_run")]
        json: bool,
        /// With --dry-run: at most this many orders.
        #[arg(long, default_value_t = 100, requires = "dry_run")]
        limit: usize,
    },
    /// Check every endpoint of a connection: Sage SOAP, the agent, ShipStation V1 (and its
    /// webhooks) and V2.
    Test {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Before the first order moves: does the connector reach the company's systems, does its
    /// data fit the mapping, will ShipStation's budgets keep up. Read-only; ends with a verdict
    /// (fit, fits_with_changes, does_not_fit) and what to change. Exit 1 when it does not fit.
    Fit {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConnectionEdit {
    pub name: String,
    /// Settings as JSON (merged over the current ones), e.g. mappings and poll intervals.
    #[arg(long)]
    pub settings_json: Option<String>,
    /// Settings from a JSON file (merged like --settings-json).
    #[arg(long)]
    pub settings_file: Option<PathBuf>,
    #[arg(long)]
    pub sage_soap_url: Option<String>,
    #[arg(long)]
    pub sage_user: Option<String>,
    /// 3-character Sage company code.
    #[arg(long)]
    pub company: Option<String>,
    #[arg(long)]
    pub agent_url: Option<String>,
    /// The Sage site's time zone (IANA).
    #[arg(long)]
    pub zone: Option<String>,
    #[arg(long)]
    pub v1_base_url: Option<String>,
    #[arg(long)]
    pub v2_base_url: Option<String>,
    /// Expiry date (YYYY-MM-DD) of the active V1 key pair.
    #[arg(long)]
    pub v1_expires: Option<chrono::NaiveDate>,
    /// Expiry date of the next V1 key pair.
    #[arg(long)]
    pub v1_next_expires: Option<chrono::NaiveDate>,
    /// Read `name=value` secret lines from stdin.
    #[arg(long)]
    pub secrets_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random master key (`<id>:<base64>`) for ML_CONNECTOR_MASTER_KEY.
    Generate {
        #[arg(long, default_value_t = format!("k{}", chrono::Utc::now().format("%Y%m%d")))]
        id: String,
    },
    /// Re-wrap every stored credential under the primary (first) master key. Load the old key as a
    /// second key meanwhile (`ML_CONNECTOR_MASTER_KEY=new:…,old:…`); drop it afterwards.
    Rotate,
}
