//! `bench footprint`: the memory of the real `serve` process (this binary, as a child), read from
//! the kernel (/proc: resident set now, and its high-water mark). Idle: the built-in workflows, no
//! connection, after it has settled. Busy: N workflows of three steps queued at once, burned down
//! by the default worker pool; the peak while they are in flight.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cmd::args::{BenchFootprintArgs, GlobalArgs};
use crate::cmd::Interrupted;
use ml_connector::db::{Database, DbTarget};
use ml_connector::engine::store::{self, NewWorkflow};
use ml_connector::engine::Shutdown;
use ml_connector::pg::StartOptions;

const KIND: &str = "bench_footprint";

/// `VmRSS` or `VmHWM` of a process, in MiB (Linux).
fn memory_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("{field} not in /proc/{pid}/status"))?;
    Ok((kib / 1024.0 * 10.0).round() / 10.0)
}

/// `serve` on a loopback port against `url`; extra global options before the subcommand.
fn serve(url: &str, extra: &[&str]) -> anyhow::Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(extra)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", url)
        .env(
            "ML_CONNECTOR_MASTER_KEY",
            ml_connector::vault::Vault::generate_spec("bench"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(cmd.spawn()?)
}

fn stop(mut child: Child) {
    // SIGTERM: the service's own clean stop.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn pause(shutdown: &Shutdown, d: Duration) -> anyhow::Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = shutdown.wait() => Err(Interrupted.into()),
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: &BenchFootprintArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let target = match &global.database_url {
        Some(url) => DbTarget::Url(url.clone()),
        None => DbTarget::Embedded {
            root: StartOptions::ephemeral("footprint", false).root,
            ephemeral: true,
        },
    };
    let db = Database::open(&target, 8).await?;
    let result = measure(&db, args, &shutdown).await;
    db.close().await;
    let report = result?;
    if args.json {
        println!("{report}");
    } else {
        println!(
            "serve idle: {} MiB resident; with {} workflows in flight: peak {} MiB ({} s to burn down)",
            report["idle_rss_mib"], report["workflows"], report["busy_peak_rss_mib"], report["burn_down_s"]
        );
    }
    Ok(())
}

async fn measure(
    db: &Database,
    args: &BenchFootprintArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<serde_json::Value> {
    // Idle: the production configuration, nothing to do.
    let mut idle = serve(&db.url, &[])?;
    let pid = idle.id();
    if let Err(e) = pause(shutdown, Duration::from_secs(args.settle_secs)).await {
        stop(idle);
        return Err(e);
    }
    if let Some(status) = idle.try_wait()? {
        anyhow::bail!("serve stopped early ({status}): run it by hand to see why");
    }
    let idle_rss = memory_mib(pid, "VmRSS:");
    let idle_peak = memory_mib(pid, "VmHWM:");
    stop(idle);
    let (idle_rss, idle_peak) = (idle_rss?, idle_peak?);

    // Busy: N three-step workflows queued before the service starts.
    let dir = tempfile_dir()?;
    std::fs::write(
        dir.join(format!("{KIND}.toml")),
        format!(
            "kind = \"{KIND}\"\ninitial = \"s1\"\nlease_secs = 60\n\
             [states.s1]\nhandler = \"sample.noop\"\nnext = [\"s2\"]\n\
             [states.s2]\nhandler = \"sample.noop\"\nnext = [\"s3\"]\n\
             [states.s3]\nhandler = \"sample.noop\"\nnext = [\"done\"]\n\
             [states.done]\nterminal = true\n"
        ),
    )?;
    store::purge_kind(&db.pool, KIND).await?;
    for start in (0..args.workflows).step_by(5000) {
        let items: Vec<NewWorkflow> = (start..(start + 5000).min(args.workflows))
            .map(|i| NewWorkflow {
                kind: KIND.into(),
                connection_id: 0,
                business_key: format!("footprint-{i}"),
                initial_state: "s1".into(),
                context: json!({"payload": "x".repeat(200)}),
                run_at: None,
            })
            .collect();
        store::create_many(&db.pool, &items, "bench").await?;
    }
    let dir_arg = dir.display().to_string();
    let mut busy = serve(
        &db.url,
        &["--sample-handlers", "--workflows-dir", dir_arg.as_str()],
    )?;
    let pid = busy.id();
    let t0 = Instant::now();
    let done = loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM workflows WHERE kind = $1 AND status = 'completed'",
        )
        .bind(KIND)
        .fetch_one(&db.pool)
        .await?;
        if n as usize >= args.workflows || t0.elapsed() > Duration::from_secs(600) {
            break n;
        }
        if let Some(status) = busy.try_wait()? {
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("serve stopped early ({status}) with {n} workflows completed");
        }
        if let Err(e) = pause(shutdown, Duration::from_millis(200)).await {
            stop(busy);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let burn_s = t0.elapsed().as_secs_f64();
    let busy_peak = memory_mib(pid, "VmHWM:");
    let busy_after = memory_mib(pid, "VmRSS:");
    stop(busy);
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        done as usize >= args.workflows,
        "only {done} of {} workflows completed in 10 minutes",
        args.workflows
    );
    Ok(json!({
        "bench": "footprint",
        "idle_rss_mib": idle_rss, "idle_peak_rss_mib": idle_peak,
        "workflows": args.workflows,
        "busy_peak_rss_mib": busy_peak?, "busy_rss_after_mib": busy_after?,
        "burn_down_s": (burn_s * 10.0).round() / 10.0,
    }))
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mlc-footprint-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
